"""Streaming summary of a source: counts, time span and event rates, in one pass, flat memory."""
from __future__ import annotations

import numpy as np

from stream.binner import DVSLIP_BIN_US
from stream.sources.base import EventSource


def summarize(source: EventSource, bin_us: float = DVSLIP_BIN_US) -> dict:
    """What `spikelip inspect` reports: the JSON fields are part of the CLI contract."""
    n = on = 0
    first = last = None
    peak = 0
    open_bin, open_count = None, 0  # the rate bin still being filled, carried across batches
    for batch in source:
        if len(batch) == 0:
            continue
        t = batch["t"]
        if first is None:
            first = int(t[0])
        last = int(t[-1]) if last is None else max(last, int(t[-1]))
        n += len(batch)
        on += int(np.count_nonzero(batch["p"] == 1))
        idx = ((t - first) // bin_us).astype(np.int64)
        lo = int(idx.min())
        counts = np.bincount(idx - lo)
        if open_bin is not None and open_bin >= lo:
            counts[open_bin - lo] += open_count
        peak = max(peak, int(counts.max()))
        open_bin, open_count = lo + len(counts) - 1, int(counts[-1])
    duration = 0.0 if first is None else (last - first) / 1e6
    return {
        "camera": source.name,
        "width": source.sensor.width,
        "height": source.sensor.height,
        "events": n,
        "on": on,
        "off": n - on,
        "first_t_us": first,
        "last_t_us": last,
        "duration_s": duration,
        "mean_rate_eps": n / duration if duration > 0 else 0.0,
        "peak_rate_eps": peak / (bin_us / 1e6),
        "streams": list(source.streams),
        "warnings": list(source.warnings),
    }
