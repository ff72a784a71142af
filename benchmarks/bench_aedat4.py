"""AEDAT4 read throughput: decode-only and decode + binning, on one core, and peak memory.

Writes a synthetic events-only LZ4 recording (DAVIS346, a moving mouth-sized blob plus
background noise, ~2 M events/s: a busy close-up) with `stream.writer.AedatWriter`, then
measures, each in a fresh single-threaded process (best of `--repeat` runs by CPU time):

* decode: `AedatFileSource` batches (EVENT_DTYPE) with the native and the `aedat` decoder,
  and for reference dv-processing's own reader (unguarded; converted to EVENT_DTYPE);
* decode + bin: the same batches pushed into `stream.binner.Binner(SensorSize, "floor")`;
* binning alone (batches decoded into memory first), to show where the time goes;
* peak RSS of the decoding process, and its RSS before reading (imports only).

Results go to benchmarks/results/aedat4.json and a table on stdout.

    .venv/bin/python benchmarks/bench_aedat4.py [--events 12000000] [--rate 2e6] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.common import machine, write_result  # noqa: E402
from stream.events import SensorSize, make_events  # noqa: E402

SENSOR = SensorSize(346, 260)


def synth_batches(n_events: int, rate: float, per_batch: int, seed: int = 0):
    """A blob moving like a speaking mouth (ON/OFF by direction) plus 10 % uniform noise."""
    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000_000_000
    t_next = 0.0
    made = 0
    while made < n_events:
        n = min(per_batch, n_events - made)
        dt = rng.exponential(1e6 / rate, n)
        t_rel = t_next + np.cumsum(dt)
        t_next = float(t_rel[-1])
        phase = 2 * np.pi * 3.0 * t_rel / 1e6
        noise = rng.random(n) < 0.1
        x = np.where(noise, rng.integers(0, SENSOR.width, n), 173 + 40 * np.sin(phase) + rng.normal(0, 18, n))
        y = np.where(noise, rng.integers(0, SENSOR.height, n), 180 + 12 * np.cos(phase) + rng.normal(0, 8, n))
        p = np.where(noise, rng.integers(0, 2, n), (np.cos(phase) > 0).astype(np.int64) ^ (rng.random(n) < 0.2))
        ev = make_events(
            t0 + t_rel.astype(np.int64),
            np.clip(x, 0, SENSOR.width - 1).astype(np.int16),
            np.clip(y, 0, SENSOR.height - 1).astype(np.int16),
            p,
        )
        made += n
        yield ev


def write_file(path: Path, n_events: int, rate: float, per_batch: int) -> dict:
    from stream.writer import AedatWriter

    t_gen = 0.0
    t0 = time.perf_counter()
    with AedatWriter(path, SENSOR, "DAVIS346_bench") as w:
        gen = synth_batches(n_events, rate, per_batch)
        while True:
            g = time.perf_counter()
            ev = next(gen, None)
            t_gen += time.perf_counter() - g
            if ev is None:
                break
            w.write(ev)
    total = time.perf_counter() - t0
    return {
        "events": n_events,
        "bytes": path.stat().st_size,
        "bytes_per_event": path.stat().st_size / n_events,
        "write_events_per_s": n_events / (total - t_gen),
    }


# --------------------------------------------------------------------------- measuring child


def _status_mb(key: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process; unlike ru_maxrss not inherited over exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if key == "VmHWM" else float("nan")


def measure(path: str, reader: str, task: str) -> dict:
    from stream.binner import Binner
    from stream.events import EVENT_DTYPE
    from stream.sources.aedat4 import AedatFileSource

    if reader == "dv-processing":
        import dv_processing as dv

        def batches():
            rec = dv.io.MonoCameraRecording(path)
            while True:
                store = rec.getNextEventBatch()
                if store is None:
                    return
                a = store.numpy()
                out = np.empty(len(a), EVENT_DTYPE)
                out.view("V13")[...] = np.ndarray((len(a),), "V13", buffer=a, strides=(a.dtype.itemsize,))
                yield out
    else:

        def batches():
            yield from AedatFileSource(path, decoder=reader)

    rss0 = _status_mb("VmRSS")
    source = batches()
    if task == "bin only":  # decode everything first, time the binner alone
        source = list(source)
        rss0 = _status_mb("VmRSS")
    binner = Binner(SENSOR, rounding="floor") if task != "decode" else None
    n = bins = 0
    c0, w0 = time.process_time(), time.perf_counter()
    for b in source:
        n += len(b)
        if binner is not None:
            bins += len(binner.push(b))
    if binner is not None:
        bins += len(binner.flush())
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"events": n, "bins": bins, "cpu_s": cpu, "wall_s": wall, "rss_before_mb": rss0, "peak_rss_mb": _status_mb("VmHWM")}


def run_child(path: Path, reader: str, task: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), reader, task],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=12_000_000)
    ap.add_argument("--rate", type=float, default=2e6, help="events per second of recording")
    ap.add_argument("--packet-ms", type=float, default=10.0, help="recording time per written packet")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return

    from stream.sources.aedat4 import liblz4_available

    load_at_start = os.getloadavg()
    readers = (["native"] if liblz4_available() else []) + ["aedat", "dv-processing"]
    per_batch = max(1, int(args.rate * args.packet_ms / 1000))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.aedat4"
        print(f"writing {args.events:,} events ({args.rate / 1e6:g} M ev/s, {per_batch:,} per packet) ...", flush=True)
        written = write_file(path, args.events, args.rate, per_batch)
        rows = []
        plan = [(r, t) for r in readers for t in ("decode", "decode + bin")] + [(readers[0], "bin only")]
        for reader, task in plan:
            runs = [run_child(path, reader, task) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["cpu_s"])
            assert best["events"] == args.events, (reader, best)
            rows.append(
                {
                    "reader": reader if task != "bin only" else "(in memory)",
                    "task": task,
                    "M_events_per_s_cpu": args.events / best["cpu_s"] / 1e6,
                    "M_events_per_s_wall": args.events / best["wall_s"] / 1e6,
                    "runs_cpu_s": [round(r["cpu_s"], 3) for r in runs],
                    "bins": best["bins"],
                    "rss_before_mb": round(best["rss_before_mb"], 1),
                    "peak_rss_mb": round(best["peak_rss_mb"], 1),
                }
            )
            r = rows[-1]
            print(
                f"  {r['reader']:14s} {r['task']:13s} {r['M_events_per_s_cpu']:6.1f} M ev/s (cpu)"
                f" {r['M_events_per_s_wall']:6.1f} (wall)  peak RSS {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    result = {
        "machine": {
            **machine(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
            "numpy": np.__version__,
        },
        "file": {
            "sensor": str(SENSOR),
            "rate_events_per_s": args.rate,
            "events_per_packet": per_batch,
            "compression": "LZ4",
            "streams": "events only",
            **written,
        },
        "method": "each row: a fresh single-threaded process, best of repeats by its CPU time (one core's worth); "
        "decode = iterate EVENT_DTYPE batches (100k events); decode + bin = each batch pushed into "
        "Binner(SensorSize(346, 260), rounding='floor'); bin only = the same binning of batches decoded beforehand; "
        "peak RSS = VmHWM of that process, RSS before = after imports",
        "rows": rows,
    }
    write_result("aedat4", result)
    print()
    print(f"{'reader':14s} {'task':13s} {'M ev/s cpu':>10s} {'M ev/s wall':>11s} {'RSS before':>10s} {'peak RSS':>9s}")
    for r in rows:
        print(
            f"{r['reader']:14s} {r['task']:13s} {r['M_events_per_s_cpu']:10.1f} {r['M_events_per_s_wall']:11.1f}"
            f" {r['rss_before_mb']:8.0f}MB {r['peak_rss_mb']:7.0f}MB"
        )
    print(
        f"\nfile: {written['events']:,} events, {written['bytes'] / 1e6:.0f} MB ({written['bytes_per_event']:.1f} B/event); "
        f"writer (numpy -> dv-processing): {written['write_events_per_s'] / 1e6:.2f} M ev/s"
    )


if __name__ == "__main__":
    main()
