"""Why a live step costs more than a step in a tight loop: the bundled `small`'s ONNX steps over
the sample's bins back to back, and with the core idle 12 ms before each step (as between
13.3 ms bins at 1 x), or idle 11 ms then spinning 1 ms (is it the core waking up, or caches?).

    .venv/bin/python benchmarks/probe_idle.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.models import load_model, onnx_file_for  # noqa: E402
from benchmarks.bench_runtime import recording_frames, time_steps  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from model.runtime import OnnxRunner  # noqa: E402


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


WAITS = {
    "back to back": None,
    "idle 12 ms": lambda: time.sleep(0.012),
    "idle 11 ms + spin 1 ms": lambda: (time.sleep(0.011), spin(0.001)),
}


def main() -> int:
    frames = torch.stack(recording_frames())
    loaded = load_model(None, quiet=True)
    model = loaded.description.removesuffix(f" ({loaded.runtime})")  # the ONNX runtimes are timed, not this one
    result = {"steps": len(frames), "model": model, "runtimes": {}}
    for sparse in (True, False):
        runner = OnnxRunner(onnx_file_for(loaded.net, quiet=True, sparse=sparse))
        time_steps(runner.step, frames, runner.initial_state(1))  # warm-up pass
        times = {name: [] for name in WAITS}
        for _ in range(2):  # interleaved passes, so a noisy neighbour hits every mode alike
            for name, wait in WAITS.items():
                times[name] += time_steps(runner.step, frames, runner.initial_state(1), before=wait)[0]
        key = "sparse" if sparse else "onnx"
        result["runtimes"][key] = {}
        for name, ms in times.items():
            p50, p99 = (round(float(np.percentile(ms, q)), 3) for q in (50, 99))
            result["runtimes"][key][name] = {"p50_ms": p50, "p99_ms": p99}
            print(f"{key}, {name}: p50 {p50:.3f} ms, p99 {p99:.3f} ms", flush=True)
    write_result("idle", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
