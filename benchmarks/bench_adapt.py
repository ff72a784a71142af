"""Which adaptation works: each `spikelip adapt --method` on a shifted copy of a user's clips.

    spikelip synth data-user --clips-per-word 3 --seed 5 --split train      # a "user": 3 takes a word
    spikelip synth data-heldout --clips-per-word 3 --seed 2 --split test    # other speakers
    python benchmarks/bench_adapt.py --train data-user --test data-heldout

Both folders are copied with the same camera/face shift (`--shift`, one of
`stream.transforms.SHIFTS` or `FAR_SHIFTS`; different draws per clip), the base model is adapted
on the train copy with each method, with and without moving the mouth back and matching the pace (`--mouth-move`),
and every result is scored on the test copy's held-out speakers.
Results: `results/adapt.json` (issue 22's goal: >= 90 % top-1 after adapting to the combined shift).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.models import BUNDLED_MODEL  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from model.adapt import METHODS, AdaptConfig, adapt  # noqa: E402
from stream.transforms import FAR_SHIFTS, SHIFTS, shift_folder  # noqa: E402

COMBINED = "combined: 1.15 x, 40 % lost, 20 % noise"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True, type=Path, help="a folder whose train split is the user's clips")
    p.add_argument("--test", required=True, type=Path, help="a folder whose test split holds other speakers")
    shifts = {**SHIFTS, **FAR_SHIFTS}
    p.add_argument("--shift", default=COMBINED, choices=list(shifts), help="the shift applied to both")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods to compare")
    p.add_argument("--lr", default="1e-4", help="comma-separated learning rates to try for each method but bn")
    p.add_argument("--minutes", type=float, default=10.0, help="each run's time budget")
    p.add_argument("--model", default=None, help="base model (default: the bundled one)")
    p.add_argument("--mouth-move", default="on", choices=["on", "off", "on,off"],
                   help="move the mouth back and match the pace (on, adapt's default), read the clips as they are (off), or both")
    p.add_argument("--name", default="adapt", help="results/NAME.json")
    args = p.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="spikelip-adapt-") as tmp:
        data = Path(tmp) / "shifted"
        shift_folder(args.train, data, shifts[args.shift], seed=11, splits=("train",))
        shift_folder(args.test, data, shifts[args.shift], seed=12, splits=("test",))
        before = None
        for method in args.methods.split(","):
            for lr in ([1e-4] if method == "bn" else [float(v) for v in args.lr.split(",")]):
                for move in [m == "on" for m in args.mouth_move.split(",")]:
                    print(f"--- {method}, lr {lr:g}, mouth moved back: {'yes' if move else 'no'}", flush=True)
                    t0 = time.perf_counter()
                    cfg = AdaptConfig(data=str(data), out=str(Path(tmp) / f"{method}-{lr:g}-{move}"),
                                      model=args.model or str(BUNDLED_MODEL),
                                      minutes=args.minutes, method=method, lr=lr, progress=False, move_mouth=move,
                                      match_pace=move)
                    result = adapt(cfg, log=lambda line: print("  " + line, flush=True))
                    m, a = result["metrics"], result["adapt"]
                    before = m["before"]
                    runs.append({"method": method, "lr": None if method == "bn" else lr, "mouth_move": move,
                                 "after": m["after"], "epochs": a["epochs"], "best_epoch": a.get("best_epoch", 0),
                                 "mouth": a.get("mouth"), "pace": a.get("pace"), "seconds": round(time.perf_counter() - t0, 1)})
    write_result(args.name, {
        "command": "python benchmarks/bench_adapt.py " + shlex.join(sys.argv[1:]),
        "shift": args.shift, "train": str(args.train), "test": str(args.test),
        "model": args.model or "bundled", "before": before, "runs": runs,
    })


if __name__ == "__main__":
    main()
