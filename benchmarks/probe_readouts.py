"""Which streaming readout of the same per-step logits is most accurate 100 ms after a word ends?

The app shows the running mean of the logits since the word's onset (`model.evaluate`); this
probe scores alternatives at the first bin >= 100 ms after the end of the lips' movement, on
every k-th clip of a test split, so a readout change is chosen on data, not on the held-out set.

    .venv/bin/python benchmarks/probe_readouts.py --model assets/models/small.json --data data --every 6

Writes benchmarks/results/readouts.json. About a minute for 1,000 clips with the bundled model.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.common import write_result  # noqa: E402
from model import build  # noqa: E402
from model.data import DvsLipDataset, input_side  # noqa: E402
from model.evaluate import activity_span
from stream.constants import BIN_MS  # noqa: E402


def _ema(alpha: float):
    def readout(logits: torch.Tensor, onset: int, k: int) -> torch.Tensor:
        mean = logits[onset]
        for t in range(onset + 1, k + 1):
            mean = (1 - alpha) * mean + alpha * logits[t]
        return mean
    return readout


READOUTS = {  # name: scores of the word at bin k from a clip's (T, C) logits and its onset bin
    "mean since onset (the app's)": lambda l, o, k: l[o:k + 1].mean(0),
    "mean since clip start": lambda l, o, k: l[:k + 1].mean(0),
    "latest bin alone": lambda l, o, k: l[k],
    "mean of the last 8 bins": lambda l, o, k: l[max(o, k - 7):k + 1].mean(0),
    "mean of the last 16 bins": lambda l, o, k: l[max(o, k - 15):k + 1].mean(0),
    "mean since onset + 8 bins": lambda l, o, k: l[min(o + 8, k):k + 1].mean(0),
    "time-weighted mean since onset": lambda l, o, k: (l[o:k + 1] * torch.arange(1, k - o + 2).unsqueeze(1)).sum(0),
    "exponential average, alpha 0.05": _ema(0.05),
    "exponential average, alpha 0.2": _ema(0.2),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(REPO / "assets/models/small.json"))
    p.add_argument("--data", required=True, help="a DVS-Lip style folder (not the held-out set)")
    p.add_argument("--split", default="test")
    p.add_argument("--every", type=int, default=6, help="score every k-th clip")
    p.add_argument("--cache", default="", help="binned-clip cache folder, as for `spikelip train --cache`")
    args = p.parse_args()
    torch.set_num_threads(1)
    net = build(args.model).eval()
    ds = DvsLipDataset(args.data, args.split, net.words, cache=args.cache or None, side=input_side(net.config))
    after = math.ceil(100 / BIN_MS)  # the first bin at least 100 ms after the end, as `eval` reports
    hits = dict.fromkeys(READOUTS, 0)
    clip_hits = clips = 0
    with torch.no_grad():
        for i in range(0, len(ds), args.every):
            x, y = ds[i]
            logits = net(x.unsqueeze(0))[0]
            onset, end = activity_span(x)
            k = min(end + after, len(logits) - 1)
            for name, readout in READOUTS.items():
                hits[name] += int(readout(logits, onset, k).argmax() == y)
            clip_hits += int(logits.mean(0).argmax() == y)
            clips += 1
    result = {"model": args.model, "data": f"{args.data} ({args.split}, every {args.every}th clip)", "clips": clips,
              "whole_clip_top1": clip_hits / clips,
              "top1_100ms_after_end": {name: h / clips for name, h in hits.items()}}
    for name, acc in result["top1_100ms_after_end"].items():
        print(f"{acc:6.1%}  {name}")
    print(f"{result['whole_clip_top1']:6.1%}  whole clip (the final prediction)")
    write_result("readouts", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
