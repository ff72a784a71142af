"""Batch-1 step latency: eager PyTorch `Network.step`, the onnxruntime `OnnxRunner` and the
`HybridRunner` (dense convolutions + gather-sparse GRU layers in one onnxruntime graph), same
run; then how closely each runner's predictions follow eager PyTorch.

Sparse random events (~3 % active pixels per polarity, counts 1-2), 2 threads, after warm-up.
Random weights with every BatchNorm's statistics taken from the input (as training sets them),
so that every layer spikes: the hybrid runner's cost depends on the backend's spike density,
recorded per config (`--random-weights` skips that: deep layers and backend then stay silent,
the hybrid runner's best case); trained weights replace them where `--checkpoint` exists (by
default runs/small/model.json). Each model is exported to a temporary directory (paper-causal is
~109 MB: never written into the repository). Paths and configs are measured in interleaved
rounds, because shared machines drift by 2-3x over minutes; "ort session.run" is the bare
session call with a fixed feed, so runner minus it is the runner's own overhead. Then the GRU
layers alone: dense `layer.step` vs `model.runtime.GatherGRU` (PyTorch) on 10 %-active signed
spikes. Last, every runner steps freely through assets/samples/sample.aedat4 next to eager
PyTorch (top-1 agreement, largest logit differences): random spiking networks are chaotic, so
even float rounding flips spikes now and then.

    .venv/bin/python benchmarks/bench_runtime.py [--steps 200] [--rounds 4] [--configs small paper-causal]
"""
from __future__ import annotations

import argparse
import json
import os
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
from model.onnx_export import export_onnx  # noqa: E402
from model.recurrent import SpikGRUState  # noqa: E402
from model.runtime import GatherGRU, HybridRunner, OnnxRunner  # noqa: E402
from stream.constants import BIN_MS, INPUT_SIDE  # noqa: E402

CONFIGS = ("small", "paper-causal")
PATHS = ("pytorch eager", "onnx runner", "ort session.run", "hybrid runner")
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "assets" / "samples"
TRAINED_SMALL = ROOT / "runs" / "small" / "model.json"


def time_steps(step, x: torch.Tensor, state, before=None):
    """Milliseconds of each step over x's bins; `before()` runs untimed ahead of each step."""
    times = []
    for t in range(x.shape[0]):
        if before is not None:
            before()
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


@torch.no_grad()
def calibrate_batchnorm(net, x: torch.Tensor):
    """BatchNorm statistics of x's clip (one training-mode pass, momentum 1); net back in eval."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    net.train()
    net(x.transpose(0, 1))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    return net.eval()


def spike_density(net, x: torch.Tensor) -> dict:
    """Mean share of non-zero spikes of the frontend's last stage and each backend layer over x
    (the gather-sparse layers read the rows of these)."""
    sums, state = {}, net.initial_state(1)
    for t in range(x.shape[0]):
        _, state, rec = net.step(x[t], state, record=True)
        for k, s in rec.items():
            if k.startswith("backend") or k == "frontend.head":
                sums[k] = sums.get(k, 0.0) + float((s != 0).float().mean())
    return {k: round(v / x.shape[0], 3) for k, v in sums.items()}


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


def recording_frames(name: str = "sample", side: int = INPUT_SIDE) -> list[torch.Tensor]:
    """Model inputs of a bundled SynthLip recording: mouth ROI, 13.3 ms bins, centre crop `side`."""
    from app.latency import binned_frames
    from model.data import step_input
    from stream.roi import Crop, Roi
    from stream.sources import open_file

    meta = json.loads((SAMPLES / f"{name}.json").read_text())
    with open_file(SAMPLES / f"{name}.aedat4") as source:
        frames_, _ = binned_frames(source, Crop(source.sensor, Roi(*meta["mouth_roi"])))
    return [step_input(f, side) for f in frames_]


def mean(logits: np.ndarray) -> np.ndarray:
    """Running mean over steps (axis 0) of per-step logits."""
    return np.cumsum(logits, 0) / np.arange(1, len(logits) + 1)[:, None]


def agreement(run: dict, x: list[torch.Tensor]) -> dict:
    """Each runner stepped freely over x vs eager PyTorch: top-1 of each step's logits and of
    their running mean (the app's readout, never reset here), and the largest differences."""
    logits = {}
    for p, model in run["models"].items():
        state, out = model.initial_state(1), []
        for x_t in x:
            y, state = model.step(x_t, state)
            out.append(y[0].numpy())
        logits[p] = np.array(out)
    ref = logits.pop("pytorch eager")
    result = {}
    for p, y in logits.items():
        result[p] = {
            "steps": len(x),
            "top1_step": round(float((y.argmax(1) == ref.argmax(1)).mean()), 3),
            "top1_running_mean": round(float((mean(y).argmax(1) == mean(ref).argmax(1)).mean()), 3),
            "max_abs_logit_diff": round(float(np.abs(y - ref).max()), 4),
            "max_abs_running_mean_diff": round(float(np.abs(mean(y) - mean(ref)).max()), 4),
            "max_abs_logit": round(float(np.abs(ref).max()), 4),
        }
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per config and path")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--random-weights", action="store_true", help="skip the BatchNorm calibration")
    parser.add_argument("--checkpoint", type=Path, default=TRAINED_SMALL,
                        help="trained weights for the config they name (default: %(default)s if it exists)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    trained = build(args.checkpoint) if args.checkpoint.exists() else None

    runs, export_s, sizes = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="spikelip-bench-") as tmp:
        for name in args.configs:
            net = trained if trained is not None and trained.name == name else build(name).eval()
            x = frames(args.warmup + args.steps, net.config["input_size"])
            if net is not trained and not args.random_weights:
                calibrate_batchnorm(net, x[: args.warmup])
            start = time.perf_counter()
            path = export_onnx(net, Path(tmp) / f"{name}.onnx")
            export_s[name] = round(time.perf_counter() - start, 1)
            sizes[name] = round(path.stat().st_size / 1e6, 1)
            runner = OnnxRunner(path, threads=args.threads)
            models = {"pytorch eager": net, "onnx runner": runner,
                      "hybrid runner": HybridRunner(net, threads=args.threads)}
            raw0 = {k: np.zeros(s, np.float32) for k, s in zip(runner._state_names, runner.state_shapes)}
            runs[name] = {
                "x": x,
                "net": net,
                "weights": str(args.checkpoint) if net is trained else "random" + ("" if args.random_weights else
                                                                                 ", BatchNorm calibrated"),
                "models": models,
                "steps": {**{p: m.step for p, m in models.items()}, "ort session.run": raw_step(runner)},
                "state": {**{p: m.initial_state(1) for p, m in models.items()}, "ort session.run": raw0},
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
        with torch.inference_mode():
            density = spike_density(run["net"], run["x"])
        results[name] = {"params": run["net"].parameter_counts(), "onnx_mb": sizes[name], "export_s": export_s[name],
                         "weights": run["weights"], "spike_density": density}
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
        print(f"{name:13s} onnx runner speed-up at p50: {eager / onnx_:.2f}x; spike density {density}")
        hybrid, onnx_res = results[name]["hybrid runner"], results[name]["onnx runner"]
        for q in ("p50", "p99"):
            hybrid[f"speedup_vs_onnx_{q}"] = round(onnx_res[f"{q}_ms"] / hybrid[f"{q}_ms"], 2)
        print(f"{name:13s} hybrid runner vs onnx runner: {hybrid['speedup_vs_onnx_p50']:.2f}x at p50, "
              f"{hybrid['speedup_vs_onnx_p99']:.2f}x at p99")
    backend = backend_only(runs, args.steps)

    recording = recording_frames()
    print(f"\nagreement with eager PyTorch, free-running over {len(recording)} bins of assets/samples/sample.aedat4")
    agree = {}
    with torch.inference_mode():
        for name, run in runs.items():
            agree[name] = agreement(run, recording)
            for p, a in agree[name].items():
                print(f"{name:13s} {p:16s} top-1 per step {a['top1_step']:.3f}, of the running mean "
                      f"{a['top1_running_mean']:.3f}; max |logit diff| {a['max_abs_logit_diff']:.3g} "
                      f"(running mean {a['max_abs_running_mean_diff']:.3g}, |logit| up to {a['max_abs_logit']:.3g})")
    import onnxruntime

    write_result(
        "runtime",
        {
            "what": "batch-1 step latency, eager PyTorch Network.step vs onnxruntime OnnxRunner.step "
                    "(and the bare session.run) vs HybridRunner.step, interleaved rounds, one process; "
                    "then each runner's agreement with eager PyTorch",
            "cpu": machine()["cpu"],
            "threads": args.threads,
            "load_avg_1min": round(os.getloadavg()[0], 2),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "input": "sparse random events, ~3 % active pixels per polarity, counts 1-2; weights per config "
                     "in results.*.weights",
            "rounds": args.rounds,
            "bin_ms": round(BIN_MS, 3),
            "results": results,
            "backend_only": backend,
            "agreement_input": "assets/samples/sample.aedat4 (SynthLip), mouth ROI, 13.3 ms bins, centre crop 88",
            "agreement": agree,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
