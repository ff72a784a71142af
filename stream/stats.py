"""Streaming summary of a source: counts, time span and event rates, in one pass, flat memory."""
from __future__ import annotations

import numpy as np

from stream.binner import MAX_GAP_BINS
from stream.constants import BIN_US
from stream.sources.base import EventSource

GAP_US = MAX_GAP_BINS * BIN_US  # pauses the binner skips; reported


def summarize(source: EventSource, bin_us: float = BIN_US) -> dict:
    """What `spikelip inspect` reports: the JSON fields are part of the CLI contract."""
    n = on = 0
    first = last = None
    peak = 0
    open_bin, open_count = None, 0  # the rate bin still being filled, carried across batches
    gaps, longest_gap, gap_at = 0, 0, 0
    for batch in source:
        if len(batch) == 0:
            continue
        t = batch["t"]
        if first is None:
            first = int(t[0])
        steps = np.diff(t, prepend=t[0] if last is None else last)
        long = np.flatnonzero(steps > GAP_US)
        if len(long):
            gaps += len(long)
            k = int(long[np.argmax(steps[long])])
            if steps[k] > longest_gap:
                longest_gap, gap_at = int(steps[k]), int(t[k]) - int(steps[k])
        last = int(t[-1]) if last is None else max(last, int(t[-1]))
        n += len(batch)
        on += int(np.count_nonzero(batch["p"] == 1))
        idx = ((t - first) // bin_us).astype(np.int64)
        lo, hi = int(idx.min()), int(idx.max())
        if hi - lo <= 4 * len(idx) + 1024:
            counts = np.bincount(idx - lo)
            bins = np.flatnonzero(counts) + lo
            counts = counts[bins - lo]
        else:  # a batch spanning a long pause: count sparsely instead of allocating every bin
            bins, counts = np.unique(idx, return_counts=True)
        if open_bin is not None and bins[0] == open_bin:
            counts[0] += open_count
        peak = max(peak, int(counts.max()))
        open_bin, open_count = int(bins[-1]), int(counts[-1])
    duration = 0.0 if first is None else (last - first) / 1e6
    warnings = list(source.warnings)
    if gaps:
        warnings.append(
            f"{getattr(source, 'path', source.name)}: the events pause {gaps:,} time(s) for over {GAP_US / 1e6:g} s "
            f"(longest {_span(longest_gap)}, at {(gap_at - first) / 1e6:,.1f} s); replay skips such pauses"
        )
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
        "warnings": warnings,
    }


def _span(us: int) -> str:
    s = us / 1e6
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"
