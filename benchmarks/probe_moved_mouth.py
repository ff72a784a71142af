"""Which part of "mouth 1.2 x, moved 10 px right and 10 px down" costs a model its points: the
size, the move right, the move down, apart and together (issue 22), on held-out clips.

    spikelip synth data-seed2 --clips-per-word 10 --seed 2 --split test
    python benchmarks/probe_moved_mouth.py --data data-seed2 [--model M] [--no-mirror]

Prints top-1 per shift, as `bench_robustness.py` scores them (same clips, same seeds).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.models import BUNDLED_MODEL  # noqa: E402
from benchmarks.bench_robustness import robustness  # noqa: E402
from model.checkpoint import find_checkpoint, load_checkpoint  # noqa: E402
from stream.transforms import Affine, Compose  # noqa: E402

PARTS = {
    "clean": Compose(),
    "1.2 x": Compose(Affine(1.2)),
    "moved 10 px right": Compose(Affine(1.0, dx=10)),
    "moved 10 px down": Compose(Affine(1.0, dy=10)),
    "moved 10 px right and 10 px down": Compose(Affine(1.0, dx=10, dy=10)),
    "1.2 x, moved 5 px right and 5 px down": Compose(Affine(1.2, dx=5, dy=5)),
    "1.2 x, moved 10 px right and 10 px down": Compose(Affine(1.2, dx=10, dy=10)),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, type=Path, help="a DVS-Lip-style folder whose test split is scored")
    p.add_argument("--model", default=None, help="model to score (default: the bundled model)")
    p.add_argument("--no-mirror", action="store_true", help="read each bin only as it comes (config mirror off)")
    args = p.parse_args()
    path = find_checkpoint(args.model or BUNDLED_MODEL)
    net = load_checkpoint(path, **({"mirror": False} if args.no_mirror else {})).network
    print(f"{path}{', mirror off' if args.no_mirror else ''} on {args.data}/test", flush=True)
    robustness(net, net.words, args.data, shifts=PARTS)


if __name__ == "__main__":
    main()
