"""Which parts of the network slow learning down: a few epochs on a small word subset, per variant.

Each variant is the bundled `small` shape (88 px input summed to 22 px, widths 8/16/32/64,
recurrent layers of 256) with one thing changed: ReLU instead of PLIF in the frontend, a GRU
instead of SpikGRU2+, 1-3 recurrent layers, a wider frontend (its last stage feeds the GRU) or
GRU. Plain Adam, no dropout but 0.2 before the readout, flip only; test top-1 after every epoch
on the same words' test clips. One core per run.

    .venv/bin/python benchmarks/probe_trainability.py --data data --words 10 --epochs 4 [--variants snn-1 wide-1]

Writes benchmarks/results/trainability.json. Takes about 3 min a variant on one core.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.common import write_result  # noqa: E402
from model import build  # noqa: E402
from model.config import default_words  # noqa: E402
from model.data import Compose, DvsLipDataset, HorizontalFlip, eval_transform  # noqa: E402

VARIANTS = {  # name: (what it is, config changes)
    "ann-3": ("relu + gru, 3 layers", {"frontend_neuron": "relu", "backend": "gru"}),
    "relu-3": ("relu + spikgru2+, 3 layers", {"frontend_neuron": "relu"}),
    "gru-3": ("plif + gru, 3 layers", {"backend": "gru"}),
    "snn-3": ("snn, 3 layers", {}),
    "snn-2": ("snn, 2 layers", {"num_layers": 2}),
    "snn-1": ("snn, 1 layer (the bundled small)", {"num_layers": 1}),
    "wide-1": ("snn, 1 layer, frontend widths 16/32/64/128", {"num_layers": 1, "frontend_widths": [16, 32, 64, 128]}),
    "gru512-1": ("snn, 1 layer of 512", {"num_layers": 1, "hidden_size": 512}),
}


def run(variant: dict, words: int, train, test, epochs: int, lr: float) -> list[dict]:
    torch.manual_seed(0)
    net = build("small", **{"num_classes": words, "num_layers": 3, "dropout_frontend": 0.0, "dropout_backend": 0.0,
                            "dropout_readout": 0.2, **variant})
    opt = torch.optim.Adam(net.parameters(), lr)
    rows, t0 = [], time.perf_counter()
    for epoch in range(epochs):
        net.train()
        correct = total = 0
        for x, y in torch.utils.data.DataLoader(train, batch_size=32, shuffle=True):
            logits = net(x).mean(1)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.clamp_()
            correct, total = correct + int((logits.argmax(1) == y).sum()), total + len(y)
        net.eval()
        with torch.no_grad():
            hits = sum(int((net(x).mean(1).argmax(1) == y).sum()) for x, y in torch.utils.data.DataLoader(test, 50))
        rows.append({"epoch": epoch + 1, "train_top1": round(correct / total, 3), "test_top1": round(hits / len(test), 3),
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(f"  {rows[-1]}", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="DVS-Lip style folder (e.g. from `spikelip synth`)")
    ap.add_argument("--words", type=int, default=10, help="the first N words of the word list")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--cache", default="runs/cache", help="binned-clip cache folder (see model.data.BinnedCache)")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--out", default="trainability", help="result name under benchmarks/results/")
    args = ap.parse_args()
    torch.set_num_threads(1)
    words = default_words(100)[: args.words]
    train = DvsLipDataset(args.data, "train", words, Compose(eval_transform(), HorizontalFlip(0.5)), cache=args.cache)
    test = DvsLipDataset(args.data, "test", words, eval_transform(), cache=args.cache)
    results = {}
    for name in args.variants:
        what, variant = VARIANTS[name]
        print(f"{name}: {what}", flush=True)
        results[name] = {"what": what, "config": variant,
                         "epochs": run(variant, args.words, train, test, args.epochs, args.lr)}
    write_result(args.out, {"data": args.data, "words": args.words, "train_clips": len(train),
                                  "test_clips": len(test), "lr": args.lr, "variants": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
