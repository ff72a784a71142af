"""Which parts of the network slow learning down: a few epochs on a small word subset, per variant.

Each variant is the bundled `small` shape (88 px input summed to 22 px, widths 8/16/32/64,
recurrent layers of 256) with one thing changed: ReLU instead of PLIF in the frontend, a GRU
instead of SpikGRU2+, 1-3 recurrent layers. Plain Adam, no dropout but 0.2 before the readout,
flip only; test top-1 after every epoch on the same words' test clips. One core per run.

    .venv/bin/python benchmarks/probe_trainability.py --data data --words 10 --epochs 4

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

VARIANTS = {
    "ann (relu + gru, 3 layers)": {"frontend_neuron": "relu", "backend": "gru"},
    "relu + spikgru2+, 3 layers": {"frontend_neuron": "relu"},
    "plif + gru, 3 layers": {"backend": "gru"},
    "snn, 3 layers": {},
    "snn, 2 layers": {"num_layers": 2},
    "snn, 1 layer (bundled small)": {"num_layers": 1},
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
    args = ap.parse_args()
    torch.set_num_threads(1)
    words = default_words(100)[: args.words]
    train = DvsLipDataset(args.data, "train", words, Compose(eval_transform(), HorizontalFlip(0.5)), cache=args.cache)
    test = DvsLipDataset(args.data, "test", words, eval_transform(), cache=args.cache)
    results = {}
    for name, variant in VARIANTS.items():
        print(name, flush=True)
        results[name] = run(variant, args.words, train, test, args.epochs, args.lr)
    write_result("trainability", {"data": args.data, "words": args.words, "train_clips": len(train),
                                  "test_clips": len(test), "lr": args.lr, "variants": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
