"""onnxruntime intra-op threads per model: the ONNX step alone, 1 vs 2 threads, over the sample's bins.

Backs `model.runtime.default_threads`: a short step loses more to thread hand-offs than a second
core gives it. Bundled `small` (or an untrained one; it reads through its window at the four
offsets of `model.config.FOUR_PHASES`, 8 readings), the same weights through the centred window
only (2 readings, the bundled reading until 2026-12-06), and `paper-causal` (random weights),
dense and sparse exports, each stepped over the 398 bins twice (the first pass warms up).

    .venv/bin/python benchmarks/bench_onnx_threads.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.models import load_model, onnx_file_for  # noqa: E402
from benchmarks.bench_runtime import recording_frames, time_steps  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from model.runtime import OnnxRunner, default_threads  # noqa: E402


CENTRED = [[0, 0]]  # one window, not moved


def step_ms(runner: OnnxRunner, frames: torch.Tensor) -> np.ndarray:
    time_steps(runner.step, frames, runner.initial_state(1))  # warm-up pass
    return np.array(time_steps(runner.step, frames, runner.initial_state(1))[0])


def main() -> int:
    frames = torch.stack(recording_frames())
    result = {"steps": len(frames), "models": {}}
    for spec, overrides, suffix in ((None, None, ""), (None, {"window_offsets": CENTRED}, ", centred window"),
                                    ("paper-causal", None, "")):
        loaded = load_model(spec, quiet=True, overrides=overrides)
        for sparse in (False, True):
            path = onnx_file_for(loaded.net, quiet=True, sparse=sparse)
            key = f"{loaded.description.split(f' ({loaded.runtime})')[0]}{suffix} / {'sparse' if sparse else 'onnx'}"
            runs = {}
            for threads in (1, 2):
                ms = step_ms(OnnxRunner(path, threads=threads), frames)
                runs[str(threads)] = {"p50_ms": round(float(np.percentile(ms, 50)), 3),
                                      "p99_ms": round(float(np.percentile(ms, 99)), 3)}
                print(f"{key}, {threads} thread(s): p50 {runs[str(threads)]['p50_ms']:.3f} ms, "
                      f"p99 {runs[str(threads)]['p99_ms']:.3f} ms", flush=True)
            result["models"][key] = {"file_mb": round(path.stat().st_size / 1e6, 1),
                                     "default_threads": default_threads(path), "threads": runs}
    write_result("onnx_threads", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
