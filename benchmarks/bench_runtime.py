"""Batch-1 step latency: eager PyTorch `Network.step` vs the onnxruntime `OnnxRunner`, same run.

Random weights, sparse random events (~3 % active pixels per polarity, counts 1-2), 2 threads,
after warm-up. Each model is exported to a temporary directory (paper-causal is ~109 MB: never
written into the repository). Paths and configs are measured in interleaved rounds, because
shared machines drift by 2-3x over minutes; "ort session.run" is the bare session call with a
fixed feed, so runner minus it is the runner's own overhead. A last section times the GRU
layers alone: dense `layer.step` vs `model.runtime.GatherGRU` on 10 %-active signed spikes.

    .venv/bin/python benchmarks/bench_runtime.py [--steps 200] [--rounds 4] [--configs small paper-causal]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_model_step import frames  # noqa: E402
from benchmarks.common import machine, write_result  # noqa: E402
from model import build  # noqa: E402
from model.onnx_export import export_onnx, flatten_leaves  # noqa: E402
from model.recurrent import SpikGRUState  # noqa: E402
from model.runtime import GatherGRU, OnnxRunner  # noqa: E402

CONFIGS = ("small", "paper-causal")
PATHS = ("pytorch eager", "onnx runner", "ort session.run")
BIN_MS = 40.0 / 3.0


def time_steps(step, x: torch.Tensor, state):
    times = []
    for t in range(x.shape[0]):
        start = time.perf_counter()
        _, state = step(x[t], state)
        times.append((time.perf_counter() - start) * 1e3)
    return times, state


def raw_step(runner: OnnxRunner):
    """session.run alone with a prebuilt feed (the state is carried, inputs converted once)."""
    names = runner._output_names

    def step(x, state):
        feed = state
        feed["x"] = x.numpy()
        out = runner.session.run(names, feed)
        return out[0], dict(zip(runner._state_names, out[1:]))

    return step


def backend_only(runs: dict, steps: int, density: float = 0.1) -> dict:
    """The recurrent layers alone on signed spikes at `density`: dense step vs GatherGRU."""
    out = {}
    g = torch.Generator().manual_seed(1)

    def spikes(n):
        on = (torch.rand(1, n, generator=g) < density).float()
        return on * torch.where(torch.rand(1, n, generator=g) < 0.5, -1.0, 1.0)

    print(f"\nbackend only (all GRU layers), inputs and previous spikes {density:.0%} active")
    with torch.inference_mode():
        for name, run in runs.items():
            layers = list(run["net"].backend)
            fast = [GatherGRU(layer) for layer in layers]
            cases = [[(spikes(l.w.in_features), SpikGRUState(torch.zeros(1, l.hidden_size),
                      torch.zeros(1, l.hidden_size), spikes(l.hidden_size))) for l in layers] for _ in range(8)]
            times = {"dense": [], "gather": []}
            for i in range(steps + 20):
                case = cases[i % len(cases)]
                for path, impl in (("dense", layers), ("gather", fast)) if i % 2 else (("gather", fast), ("dense", layers)):
                    start = time.perf_counter()
                    for layer, (x, st) in zip(impl, case):
                        layer.step(x, st)
                    if i >= 20:
                        times[path].append((time.perf_counter() - start) * 1e3)
            out[name] = {}
            for path, t in times.items():
                out[name][path] = {"p50_ms": round(float(np.percentile(t, 50)), 3),
                                   "p99_ms": round(float(np.percentile(t, 99)), 3)}
                print(f"{name:13s} {path:16s} {out[name][path]['p50_ms']:8.2f} {out[name][path]['p99_ms']:8.2f}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per config and path")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    runs, export_s, sizes = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="spikelip-bench-") as tmp:
        for name in args.configs:
            net = build(name).eval()
            start = time.perf_counter()
            path = export_onnx(net, Path(tmp) / f"{name}.onnx")
            export_s[name] = round(time.perf_counter() - start, 1)
            sizes[name] = round(path.stat().st_size / 1e6, 1)
            runner = OnnxRunner(path, threads=args.threads)
            x = frames(args.warmup + args.steps, net.config["input_size"])
            raw0 = {k: np.zeros(s, np.float32) for k, s in zip(runner._state_names, runner.state_shapes)}
            runs[name] = {
                "x": x,
                "net": net,
                "steps": {"pytorch eager": net.step, "onnx runner": runner.step, "ort session.run": raw_step(runner)},
                "state": {"pytorch eager": net.initial_state(1), "onnx runner": runner.initial_state(1),
                          "ort session.run": raw0},
                "times": {p: [] for p in PATHS},
            }
            print(f"exported {name}: {sizes[name]} MB in {export_s[name]} s", flush=True)

        with torch.inference_mode():
            for name, run in runs.items():
                for p in PATHS:
                    _, run["state"][p] = time_steps(run["steps"][p], run["x"][: args.warmup], run["state"][p])
            per_round = args.steps // args.rounds
            for r in range(args.rounds):
                lo = args.warmup + r * per_round
                for name, run in runs.items():
                    order = PATHS if r % 2 == 0 else PATHS[::-1]
                    for p in order:
                        t, run["state"][p] = time_steps(run["steps"][p], run["x"][lo : lo + per_round], run["state"][p])
                        run["times"][p].append(t)

    results = {}
    print(f"\n{'config':13s} {'path':16s} {'p50 ms':>8s} {'p99 ms':>8s} {'mean ms':>8s}  round p50s")
    for name, run in runs.items():
        results[name] = {"params": run["net"].parameter_counts(), "onnx_mb": sizes[name], "export_s": export_s[name]}
        for p in PATHS:
            flat = np.concatenate(run["times"][p])
            res = {
                "steps": int(flat.size),
                "p50_ms": round(float(np.percentile(flat, 50)), 3),
                "p99_ms": round(float(np.percentile(flat, 99)), 3),
                "mean_ms": round(float(flat.mean()), 3),
                "round_p50_ms": [round(float(np.median(t)), 3) for t in run["times"][p]],
                "real_time": bool(np.percentile(flat, 99) < BIN_MS),
            }
            results[name][p] = res
            print(f"{name:13s} {p:16s} {res['p50_ms']:8.2f} {res['p99_ms']:8.2f} {res['mean_ms']:8.2f}  {res['round_p50_ms']}")
        eager, onnx_ = results[name]["pytorch eager"]["p50_ms"], results[name]["onnx runner"]["p50_ms"]
        results[name]["speedup_p50"] = round(eager / onnx_, 2)
        print(f"{name:13s} onnx runner speed-up at p50: {eager / onnx_:.2f}x")
    backend = backend_only(runs, args.steps)
    import onnxruntime

    write_result(
        "runtime",
        {
            "what": "batch-1 step latency, eager PyTorch Network.step vs onnxruntime OnnxRunner.step "
                    "(and the bare session.run), interleaved rounds, one process",
            "cpu": machine()["cpu"],
            "threads": args.threads,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "input": "sparse random events, ~3 % active pixels per polarity, counts 1-2; random weights",
            "bin_ms": round(BIN_MS, 3),
            "results": results,
            "backend_only": backend,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
