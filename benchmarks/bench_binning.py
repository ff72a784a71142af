"""Binning throughput on one core and memory over a 10-minute synthetic stream.

Claims checked: binning >= 50 M events/s on one core; peak RSS stays under 300 MB and flat
while 10 minutes of synthetic events pass through crop + binner.
Run: .venv/bin/python benchmarks/bench_binning.py [--minutes 10]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import write_result  # noqa: E402
from stream.binner import Binner  # noqa: E402
from stream.events import SensorSize, make_events  # noqa: E402
from stream.roi import Crop  # noqa: E402
from stream.sources.synthetic import SyntheticSource  # noqa: E402


def binning_throughput(batch: int, total: int = 20_000_000, sensor=SensorSize(128, 128), repeats: int = 3) -> float:
    rng = np.random.default_rng(0)
    n = 2_000_000
    t = np.arange(n) // 12  # 12 M events/s of stream time: the DAVIS346 peak rate
    ev = make_events(t, rng.integers(0, sensor.width, n), rng.integers(0, sensor.height, n), rng.integers(0, 2, n))
    best = 0.0
    for _ in range(repeats):
        binner = Binner(sensor)
        done = 0
        t0 = time.perf_counter()
        while done < total:
            for i in range(0, n, batch):
                binner.push(ev[i : i + batch])
            done += n
            ev["t"] += int(ev["t"][-1]) + 1
        dt = time.perf_counter() - t0
        best = max(best, done / dt)
    return best / 1e6


def memory_soak(minutes: float, rate_eps: float = 300_000) -> dict:
    proc = psutil.Process()
    sensor = SensorSize(346, 260)
    crop = Crop(sensor)
    binner = Binner(crop.sensor)
    source = SyntheticSource(rate_eps=rate_eps, duration_s=minutes * 60, sensor=sensor, batch_us=20_000)
    rss = []
    events = bins = 0
    t0 = time.perf_counter()
    for i, batch in enumerate(source):
        bins += len(binner.push(crop(batch)))
        events += len(batch)
        if i % 500 == 0:
            rss.append(proc.memory_info().rss / 2**20)
    rss.append(proc.memory_info().rss / 2**20)
    n = len(rss)
    return {
        "stream_minutes": minutes,
        "events": events,
        "bins": bins,
        "wall_s": round(time.perf_counter() - t0, 1),
        "rss_mb_after_first_10pct": round(float(np.mean(rss[n // 10 : n // 10 + 3])), 1),
        "rss_mb_end": round(rss[-1], 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0, help="stream minutes for the memory run")
    args = ap.parse_args()
    mem = memory_soak(args.minutes)  # first, so peak RSS is the soak's alone
    print(f"memory over {args.minutes:g} min of synthetic events: {mem}")
    rates = {f"batch_{b}": round(binning_throughput(b), 1) for b in (10_000, 100_000)}
    for k, v in rates.items():
        print(f"binning, {k} events: {v:.1f} M events/s (one core, 128x128)")
    write_result("binning", {"binning_meps": rates, "goal_meps": 50, "memory": mem, "goal_peak_rss_mb": 300})


if __name__ == "__main__":
    main()
