"""Latency of one eager PyTorch `Network.step` at batch 1: can the model keep up with 13.3 ms bins?

Random weights on sparse random events (~3 % active pixels per polarity, counts 1-2): the dense
eager computation costs the same whatever the spike activity. 2 threads, inference mode, after
warm-up. Configs are measured in interleaved rounds, because shared machines drift by 2-3x
over minutes; the per-round medians show how much.

    .venv/bin/python benchmarks/bench_model_step.py [--steps 300] [--rounds 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import write_result  # noqa: E402
from model import build  # noqa: E402
from stream.constants import BIN_MS  # noqa: E402

CONFIGS = ("small", "paper-causal")


def frames(steps: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (steps, 1, 1, size, size)
    on = (torch.rand(shape, generator=g) < 0.03) * torch.randint(1, 3, shape, generator=g)
    off = (torch.rand(shape, generator=g) < 0.03) * torch.randint(1, 3, shape, generator=g)
    return torch.cat([on, -off], 2).float()


def time_steps(net, x: torch.Tensor, state):
    """Per-step wall times in ms; returns them and the state after the last step."""
    times = []
    for t in range(x.shape[0]):
        start = time.perf_counter()
        _, state = net.step(x[t], state)
        times.append((time.perf_counter() - start) * 1e3)
    return times, state


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps per config (all rounds)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(0)

    nets, states, inputs, times = {}, {}, {}, {}
    with torch.inference_mode():
        for name in CONFIGS:
            net = build(name).eval()
            nets[name] = net
            inputs[name] = frames(args.warmup + args.steps, net.config["input_size"])
            _, states[name] = time_steps(net, inputs[name][: args.warmup], net.initial_state(1))
            times[name] = []
        per_round = args.steps // args.rounds
        for r in range(args.rounds):
            for name in CONFIGS:
                lo = args.warmup + r * per_round
                t, states[name] = time_steps(nets[name], inputs[name][lo : lo + per_round], states[name])
                times[name].append(t)

    results = {}
    for name in CONFIGS:
        flat = np.concatenate(times[name])
        results[name] = {
            "params": nets[name].parameter_counts(),
            "steps": int(flat.size),
            "p50_ms": round(float(np.percentile(flat, 50)), 3),
            "p99_ms": round(float(np.percentile(flat, 99)), 3),
            "mean_ms": round(float(flat.mean()), 3),
            "round_p50_ms": [round(float(np.median(t)), 3) for t in times[name]],
            "real_time": bool(np.percentile(flat, 99) < BIN_MS),
        }
        r = results[name]
        print(
            f"{name:13s} {r['params']['total'] / 1e6:6.2f}M params  p50 {r['p50_ms']:7.2f} ms  "
            f"p99 {r['p99_ms']:7.2f} ms  (rounds p50 {r['round_p50_ms']})  "
            f"{'within' if r['real_time'] else 'over'} the {BIN_MS:.1f} ms bin at p99"
        )
    write_result(
        "model_step",
        {
            "what": "eager PyTorch Network.step at batch 1 under torch.inference_mode",
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "input": "sparse random events, ~3 % active pixels per polarity, counts 1-2; random weights",
            "bin_ms": round(BIN_MS, 3),
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
