"""Soak: replay a recording at max speed through the whole pipeline for a long time, and watch for leaks.

A generated recording (benchmarks/bench_aedat4.py's mouth-like blob plus noise, DAVIS346) is
replayed over and over, each pass re-opening the file with timestamps moved on, through one
`app.pipeline.Pipeline` (default crop, binner, the bundled model or an untrained `small`, one
torch thread, as `spikelip replay --speed 0 --headless` runs it). Sampled over the run: RSS,
threads and open file descriptors (psutil), and each step's processing time (binned -> published).

Pass: RSS growth from the end of the first tenth of the run (warm-up: allocator pools, the
first passes over the file) to the last tenth <= 50 MB, median step time in the last tenth
at most 25 % above the first tenth, as many threads and file descriptors after as before.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 60]     # make soak: --minutes $(SOAK_MINUTES), 3 by default

Writes benchmarks/results/soak-<minutes>min.json (so the nightly run keeps the hour's figures);
exits 1 if a check fails.
"""
from __future__ import annotations

import argparse
import array
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from benchmarks.bench_aedat4 import write_file  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from stream.sources.aedat4 import AedatFileSource  # noqa: E402
from stream.sources.base import EventSource  # noqa: E402

MAX_RSS_GROWTH_MB = 50
MAX_STEP_DRIFT = 1.25


class Looped(EventSource):
    """The recording again and again, each pass `span` later, so stream time only goes forward."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        with AedatFileSource(path) as source:
            self.sensor, self.name = source.sensor, source.name
            first = next(iter(source))
            self._t0 = int(first["t"][0])
        self.passes = 0
        self.span_us = 0

    def __iter__(self):
        while True:
            shift = self.passes * self.span_us
            with AedatFileSource(self.path) as source:
                for batch in source:
                    if shift:
                        batch["t"] += shift
                    last = int(batch["t"][-1])
                    yield batch
            self.span_us = max(self.span_us, last - shift - self._t0 + 1_000)
            self.passes += 1


def snapshot(process: psutil.Process) -> dict:
    return {"rss_mb": process.memory_info().rss / 2**20, "threads": process.num_threads(), "fds": process.num_fds()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 60)),
                    help="wall-clock length of the run (default: $SOAK_MINUTES or 60)")
    ap.add_argument("--rate", type=float, default=1e5, help="events per second in the recording")
    ap.add_argument("--file-seconds", type=float, default=20.0, help="length of the recording that is looped")
    ap.add_argument("--samples", type=int, default=60, help="resource samples over the run")
    args = ap.parse_args()

    from app.models import load_model, use_streaming_threads
    from app.pipeline import Pipeline
    from model import Readout

    use_streaming_threads()
    process = psutil.Process()
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="spikelip-soak-") as tmp:
        path = Path(tmp) / "soak.aedat4"
        n_events = int(args.rate * args.file_seconds)
        print(f"writing a {args.file_seconds:g} s recording ({n_events:,} events) ...", flush=True)
        written = write_file(path, n_events, args.rate, max(1, int(args.rate / 100)))
        net, words, description, _ = load_model(quiet=True)
        source = Looped(path)
        pipeline = Pipeline(source, net, Readout(words), speed=None)
        gc.collect()
        before = snapshot(process)
        print(f"replaying at max speed for {args.minutes:g} min with {description} ...", flush=True)
        step_ms, samples = array.array("f"), []  # 4 bytes a step: a list of floats alone grows ~18 MB an hour
        every_s = args.minutes * 60 / args.samples
        t0 = time.perf_counter()
        next_sample = t0
        for r in pipeline:
            step_ms.append((r.t_published - r.t_binned) * 1e3)
            now = time.perf_counter()
            if now >= next_sample:
                samples.append({"t_s": round(now - t0, 1), "steps": len(step_ms), "passes": source.passes,
                                **{k: round(v, 1) for k, v in snapshot(process).items()}})
                print(f"  {samples[-1]}", flush=True)
                next_sample += every_s
                if now - t0 >= args.minutes * 60:
                    break
        wall = time.perf_counter() - t0
        at_end = snapshot(process)
        bin_s, events = pipeline.binner.bin_us / 1e6, pipeline.events_in
        del pipeline
        gc.collect()
        after = snapshot(process)

    tenth = max(1, len(samples) // 10)
    warm_rss = max(s["rss_mb"] for s in samples[: tenth + 1])  # up to the end of the first tenth
    end_rss = max(s["rss_mb"] for s in samples[-tenth:] + [at_end])
    k = max(1, len(step_ms) // 10)
    first, last = np.percentile(step_ms[:k], [50, 99]).tolist(), np.percentile(step_ms[-k:], [50, 99]).tolist()
    first, last = [float(v) for v in first], [float(v) for v in last]
    drift = last[0] / first[0]
    checks = {
        "rss_growth_ok": end_rss - warm_rss <= MAX_RSS_GROWTH_MB,
        "step_time_ok": drift <= MAX_STEP_DRIFT,
        "threads_ok": after["threads"] <= before["threads"],
        "fds_ok": after["fds"] <= before["fds"],
    }
    result = {
        "minutes": round(wall / 60, 2),
        "steps": len(step_ms),
        "stream_seconds": round(len(step_ms) * bin_s, 1),
        "events": events,
        "passes": source.passes,
        "realtime_factor": round(len(step_ms) * bin_s / wall, 2),
        "model": description,
        "file": {**written, "seconds": args.file_seconds, "rate_events_per_s": args.rate},
        "rss_mb": {"before": round(before["rss_mb"], 1), "after_first_tenth": round(warm_rss, 1),
                   "last_tenth": round(end_rss, 1), "max": round(max(s["rss_mb"] for s in samples), 1)},
        "rss_growth_mb": round(end_rss - warm_rss, 1),
        "rss_growth_from_start_mb": round(end_rss - before["rss_mb"], 1),
        "step_ms": {"first_tenth_p50": round(first[0], 3), "first_tenth_p99": round(first[1], 3),
                    "last_tenth_p50": round(last[0], 3), "last_tenth_p99": round(last[1], 3),
                    "p50_ratio_last_to_first": round(drift, 3)},
        "threads": {"before": before["threads"], "at_end": at_end["threads"], "after": after["threads"],
                    "max": max(s["threads"] for s in samples)},
        "open_fds": {"before": before["fds"], "at_end": at_end["fds"], "after": after["fds"],
                     "max": max(s["fds"] for s in samples)},
        "checks": checks,
        "limits": {"rss_growth_mb": MAX_RSS_GROWTH_MB, "step_p50_ratio": MAX_STEP_DRIFT},
        "load_average": {"start": load_at_start, "end": os.getloadavg()},
        "samples": samples,
    }
    write_result(f"soak-{args.minutes:g}min", result)
    print(f"\n{result['minutes']:.1f} min, {len(step_ms):,} steps ({result['stream_seconds']:,.0f} s of stream, "
          f"{source.passes} passes): RSS {warm_rss:.0f} -> {end_rss:.0f} MB (growth {end_rss - warm_rss:+.1f} MB); "
          f"step p50 {first[0]:.2f} -> {last[0]:.2f} ms (x{drift:.2f}); threads {before['threads']} -> {after['threads']}, "
          f"fds {before['fds']} -> {after['fds']}")
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
