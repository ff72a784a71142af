"""Training throughput (issue 26): clips a second and peak memory of `spikelip train`'s optimiser
step for `paper-offline`, `paper-causal`, `small` and `wide` (batch 32, 90 bins; bfloat16 autocast
on a GPU), and what the paper's 200 epochs of DVS-Lip (14,896 training clips) would take at that pace.

    python benchmarks/bench_gpu_train.py                      # on a CUDA GPU: results/gpu_train.json
    python benchmarks/bench_gpu_train.py --device cpu --models small --steps 5   # results/gpu_train-cpu.json

The step is `model.train.optimizer_step` with the loss `spikelip train` builds (`batch_loss`), so
what runs here is what a training run steps. The batches are drawn on the device with as many
events as SynthLip clips hold (Poisson counts, about 250 events a bin in the 88 x 88 crop): a
dense network's step costs the same whatever the events, and no data loader is timed. Without a
GPU and without `--device cpu` it says so and measures nothing.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import write_result  # noqa: E402
from model.train import Process, TrainConfig, make_learner, optimizer_step  # noqa: E402

MODELS = ("paper-offline", "paper-causal", "small", "wide")
DVSLIP_TRAIN_CLIPS = 14_896
PAPER_EPOCHS = 200
EVENTS_PER_PIXEL_BIN = 0.02  # per polarity: ~250 events a bin in 88 x 88, as SynthLip clips hold


def synthetic_batch(batch: int, bins: int, side: int, classes: int, device: torch.device, seed: int = 0):
    """(x, y): ON and -OFF Poisson counts (B, T, 2, side, side) and random labels, made on `device`."""
    g = torch.Generator(device=device).manual_seed(seed)
    rate = torch.full((batch, bins, 2, side, side), EVENTS_PER_PIXEL_BIN, device=device)
    counts = torch.poisson(rate, generator=g)
    x = torch.stack([counts[:, :, 0], -counts[:, :, 1]], dim=2)
    y = torch.randint(0, classes, (batch,), device=device, generator=g)
    return x, y


def measure(model: str, device: torch.device, batch: int, bins: int, steps: int, warmup: int,
            spike_loss: float = 0.0) -> dict:
    """Time `steps` optimiser steps of `model` (a config name or file) after `warmup` untimed ones."""
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(model=model, out=out, batch_size=batch, bins=bins, spike_loss=spike_loss)
        learner = make_learner(cfg, Process(0, 1, device))
    config = learner.net.config
    x, y = synthetic_batch(batch, bins, config["input_size"], config["num_classes"], device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    learner.net.train()
    losses, times = [], []
    for k in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        _, loss = optimizer_step(learner, x, y, lr=1e-4)
        losses.append(float(loss.detach()))
        sync()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    seconds = sum(times)
    clips_per_s = batch * steps / seconds
    row = {
        "name": config["name"],
        "parameters": sum(p.numel() for p in learner.net.parameters()),
        "step_ms_p50": round(1000 * statistics.median(times), 1),
        "clips_per_s": round(clips_per_s, 2),
        "paper_epochs_hours": round(PAPER_EPOCHS * DVSLIP_TRAIN_CLIPS / clips_per_s / 3600, 2),
        "losses": [round(v, 4) for v in losses],
    }
    if device.type == "cuda":
        row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    else:  # the process's peak so far (Linux: KiB): an upper bound for the models measured after the first
        row["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when there is one, else nothing is measured)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated config names (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--bins", type=int, default=90, help="13.3 ms bins a clip (90: DVS-Lip's 1.2 s)")
    p.add_argument("--steps", type=int, default=20, help="timed optimiser steps a model")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (cuDNN's choices, the allocator)")
    p.add_argument("--spike-loss", type=float, default=0.0, help="train with the spike loss of this weight (paper-causal's sparsity)")
    p.add_argument("--name", default=None, help="results/NAME.json (default: gpu_train, or gpu_train-cpu on the CPU)")
    args = p.parse_args(argv)
    if args.device is None and not torch.cuda.is_available():
        print("no CUDA GPU here: nothing measured (--device cpu times the same steps on the CPU)")
        return 0
    device = torch.device(args.device or "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: PyTorch sees no CUDA GPU here")
    models = [m for m in args.models.split(",") if m]
    name = args.name or ("gpu_train" if device.type == "cuda" else "gpu_train-cpu")
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"training steps on {what}: batch {args.batch_size}, {args.bins} bins", flush=True)
    table = {}
    for model in models:
        r = measure(model, device, args.batch_size, args.bins, args.steps, args.warmup, args.spike_loss)
        model = r.pop("name")  # a config file's name, not its path
        table[model] = r
        memory = f"{r['peak_memory_gib']} GiB" if "peak_memory_gib" in r else f"peak RSS {r['peak_rss_gib']} GiB"
        print(f"  {model:<14} {r['clips_per_s']:8.1f} clips/s  step p50 {r['step_ms_p50']:8.1f} ms  {memory}  "
              f"200 DVS-Lip epochs {r['paper_epochs_hours']:.1f} h", flush=True)
    command = "python benchmarks/bench_gpu_train.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and v != p.get_default(k))
    write_result(name, {
        "command": command, "device": what, "torch": torch.__version__, "bf16_autocast": device.type == "cuda",
        "batch_size": args.batch_size, "bins": args.bins, "steps": args.steps, "spike_loss": args.spike_loss,
        "dvslip_train_clips": DVSLIP_TRAIN_CLIPS, "paper_epochs": PAPER_EPOCHS, "models": table,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
