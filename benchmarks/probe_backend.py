"""Does a model's recurrent layer or its frontend limit what it reads? Train only the part after
the frontend on its fixed features and see whether held-out speakers read better.

The frontend's features of every clip (both readings of a mirror model) are computed once
(`model.adapt.frontend_features`); then the recurrent layer and readout are trained on them:
the model's own (`--widen 1`), or a layer `--widen` times as wide that starts as the same
function (every unit k times, its outgoing weights divided by k: Net2Net's widening, Chen et al.
2016, plus 1 % noise so the copies can part). Test splits are scored (whole-clip top-1, and the
app's readout 100 ms after the word's end) before training and after every epoch.

    .venv/bin/python benchmarks/probe_backend.py --model assets/models/small.json \
        --train data data-seed3 --test data-seed2 data-seed8 --widen 2 --epochs 8 --lr 3e-4

Writes benchmarks/results/backend-<name>.json. On a 2-core CPU the features take ~2 minutes per
6,000 clips and an epoch of 12,000 clips 1-2.5 minutes (own width - twice as wide).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.common import write_result  # noqa: E402
from model import build  # noqa: E402
from model.adapt import frontend_features, training_loss  # noqa: E402
from model.data import DvsLipDataset, input_side  # noqa: E402
from model.evaluate import running_mean_since_onset  # noqa: E402
from model.network import Network  # noqa: E402
from model.recurrent import SpikGRU  # noqa: E402
from stream.constants import BIN_MS  # noqa: E402


@torch.no_grad()
def widened(net: Network, k: int, noise: float = 0.01) -> Network:
    """`net` with its one SpikGRU-family layer k times as wide, computing the same logits (before
    `noise`): unit j + m H copies unit j's incoming weights, and every weight reading those units
    (recurrent, readout) is split evenly among the k copies, which spike alike."""
    old = net.backend[0]
    if len(net.backend) != 1 or not isinstance(old, SpikGRU):
        raise SystemExit("--widen works on models with one SpikGRU-family layer")
    wide = Network({**net.config, "hidden_size": k * old.hidden_size}, net.words).eval()
    wide.frontend.load_state_dict(net.frontend.state_dict())
    new, h = wide.backend[0], old.hidden_size
    rows = torch.cat([torch.arange(g * h, (g + 1) * h).repeat(k) for g in range(old.gates + 1)])
    new.w.weight.copy_(old.w.weight[rows])
    new.w.bias.copy_(old.w.bias[rows])
    new.u.weight.copy_(old.u.weight[rows].repeat(1, k) / k)
    new.alpha.copy_(old.alpha.repeat(k))
    if hasattr(old, "b_ri"):
        new.b_ri.copy_(old.b_ri.repeat(k))
    wide.readout.weight.copy_(net.readout.weight.repeat(1, k) / k)
    wide.readout.bias.copy_(net.readout.bias)
    for p in (new.w.weight, new.u.weight):
        p.add_(torch.randn_like(p) * noise * p.std())
    return wide


@torch.no_grad()
def score(net: Network, features) -> dict:
    """Whole-clip top-1 and the running mean since onset 100 ms after the word's end (%)."""
    net.eval()
    f, spans, y = features.tensors
    logits = torch.cat([net.after_features(f[i:i + 100]) for i in range(0, len(y), 100)])
    after = math.ceil(100 / BIN_MS)
    k = (spans[:, 1] + after).clamp(max=logits.shape[1] - 1)
    running = running_mean_since_onset(logits, spans[:, 0])[torch.arange(len(y)), k]
    return {"top1": round(100 * float((logits.mean(1).argmax(1) == y).float().mean()), 2),
            "after_100ms": round(100 * float((running.argmax(1) == y).float().mean()), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="assets/models/small.json")
    ap.add_argument("--train", nargs="+", required=True, help="folders whose train splits are trained on")
    ap.add_argument("--test", nargs="+", required=True, help="folders whose test splits are scored")
    ap.add_argument("--widen", type=int, default=1, help="the recurrent layer this many times as wide (1: the model's own)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-4, help="Adam, 200 steps of warm-up, then cosine decay to 0")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--cache", default=None, help="binned-clip cache folder, as `spikelip train --cache`")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="", help="result file backend-NAME.json (default: widen<K>)")
    args = ap.parse_args(argv)
    if args.widen < 1 or args.epochs < 0 or args.lr <= 0:
        raise SystemExit("--widen must be >= 1, --epochs >= 0 and --lr > 0")
    torch.manual_seed(args.seed)
    net = build(args.model).eval()
    side = input_side(net.config)
    t0 = time.time()

    def features(folder: str, split: str):
        return frontend_features(net, DvsLipDataset(folder, split, net.words, cache=args.cache, side=side), args.batch_size, 1)

    train = torch.utils.data.ConcatDataset([features(d, "train") for d in args.train])
    tests = {Path(d).name: features(d, "test") for d in args.test}
    features_s = time.time() - t0
    if args.widen > 1:
        net = widened(net, args.widen)
    epochs = [{"epoch": 0, **{name: score(net, t) for name, t in tests.items()}}]
    print(epochs[-1], flush=True)
    params = [*net.backend.parameters(), *net.readout.parameters()]
    opt = torch.optim.Adam(params, lr=args.lr)
    steps, step, t1 = args.epochs * math.ceil(len(train) / args.batch_size), 0, time.time()
    for epoch in range(args.epochs):
        net.train()
        net.frontend.eval()  # fixed: its features were computed once
        for f, spans, y in torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True):
            for group in opt.param_groups:
                group["lr"] = args.lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / steps))
            logits = net.after_features(f)
            loss = training_loss(logits, spans, y)  # adapt's: the clip's mean and the readout from 50 ms after the end
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.clamp_()
            step += 1
        epochs.append({"epoch": epoch + 1, "seconds": round(time.time() - t1), **{n: score(net, t) for n, t in tests.items()}})
        print(epochs[-1], flush=True)
    write_result(f"backend-{args.name or f'widen{args.widen}'}", {
        "command": "python benchmarks/probe_backend.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": args.model, "widen": args.widen, "hidden_size": net.backend[0].hidden_size,
        "train": [Path(d).name for d in args.train], "train_clips": len(train),
        "parameters_trained": sum(p.numel() for p in params), "lr": args.lr,
        "features_s": round(features_s), "epochs": epochs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
