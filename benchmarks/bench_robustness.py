"""How much each camera/face shift costs a model: top-1 on held-out clips, clean and shifted.

    spikelip synth data-heldout --clips-per-word 3 --seed 2 --split test
    python benchmarks/bench_robustness.py --data data-heldout [--model assets/models/small.json]

Each shift of `stream.transforms.SHIFTS` is applied to every clip's events before binning, with
the same seed per clip, so every model meets the same shifted clips. The goal (issue 22): no
single shift costs more than 3 points against clean. Results: `results/robustness.json`.

With `--calibrate USER` each shift's mouth and pace are first found on USER's train clips under
the same shift (a user's takes, as `spikelip adapt` finds them, no training): the test clips are
read with the mouth moved back to where the model learnt it and stretched to the pace it learnt
(`--no-pace`: the mouth only). `--whole-clips` reads every clip to its end, as the app reads a
stream (the reference drops what is after 1.2 s, which cuts a slowed word); `--no-centre` reads
a model that centres the mouth (config input_centre) through the fixed view.
`--window-offsets '[[1, 1], [1, -1], ...]'` reads each bin through the model's window at those
offsets too (config "window_offsets", same weights).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.models import BUNDLED_MODEL, load_model  # noqa: E402
from benchmarks.common import add_window_offsets, window_offsets, write_result  # noqa: E402
from model.data import DvsLipDataset, clip_events, input_side, whole_clips  # noqa: E402
from model.evaluate import evaluate  # noqa: E402
from model.checkpoint import find_checkpoint  # noqa: E402
from model.config import read_json, set_input_affine, set_input_pace  # noqa: E402
from stream.mouth_place import MouthPlace, place_of_clips, undo_move  # noqa: E402
from stream.pace import pace_of_clips  # noqa: E402
from stream.sources.npy import list_clips  # noqa: E402
from stream.transforms import SHIFTS  # noqa: E402


def robustness(net, words, data: Path, shifts=SHIFTS, seed: int = 0, workers: int = 2,
               calibrate: tuple[list[tuple[Path, str]], MouthPlace, dict | None] | None = None,
               whole: bool = False) -> dict:
    """{shift name: {top1, top5, clips}} for each shift, on `data`'s test split; `calibrate` =
    (a user's (clip, word)s, where the model learnt the mouth, its learnt pace or None): each
    shift's mouth moved back and pace undone first, as found on the user's clips ("found");
    `whole`: every clip read to its end, not the reference's first 1.2 s."""
    table = {}
    for name, shift in shifts.items():
        config, found = dict(net.config), {}
        if calibrate is not None:  # as `spikelip adapt` sets them: read through the config, as the app reads
            user, mouth, pace = calibrate
            move = undo_move(place_of_clips([path for path, _ in user], shift, seed=seed), mouth)
            set_input_affine(config, move)
            found["mouth_scale"] = round(1 / move.scale, 3)
            if pace:
                seen = pace_of_clips(user, pace, shift, seed=seed)
                set_input_pace(config, seen.to_match)
                found["pace"] = round(seen.pace, 3)
        moves = clip_events(config, shift)
        dataset = DvsLipDataset(data, "test", words, event_transform=moves, seed=seed, side=input_side(net.config),
                                **whole_clips(whole))
        t0 = time.perf_counter()
        r = evaluate(net, dataset, workers=workers, progress=False)
        table[name] = {"top1": round(r["top1"], 4), "top5": round(r["top5"], 4), "clips": r["clips"],
                       **({"found": found} if found else {})}
        print(f"  {name:<42} top-1 {r['top1']:6.1%}  top-5 {r['top5']:6.1%}  ({time.perf_counter() - t0:.0f} s)"
              + (f"  found {found}" if found else ""), flush=True)
    clean = table["clean"]["top1"]
    for row in table.values():
        row["drop_points"] = round(100 * (clean - row["top1"]), 1)
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, type=Path, help="a DVS-Lip-style folder whose test split is scored")
    p.add_argument("--model", default=None, help="model to score (default: the bundled model)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shifts' random draws")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--calibrate", type=Path, metavar="USER",
                   help="a folder whose train split stands for a user's takes: each shift's mouth and pace found there first")
    p.add_argument("--no-pace", action="store_true", help="with --calibrate: move the mouth back only, not the pace")
    p.add_argument("--whole-clips", action="store_true",
                   help="read every clip to its last event (at least 90 bins), as the app reads a stream, not the "
                        "reference's first 1.2 s: a word said slower is not cut")
    p.add_argument("--no-centre", action="store_true",
                   help="a model that keeps the mouth centred (config input_centre) read through the fixed view instead")
    add_window_offsets(p)
    p.add_argument("--name", default="robustness", help="results/NAME.json")
    args = p.parse_args()
    overrides, reading = window_offsets(args)
    net, words, description, _ = load_model(args.model, runtime="torch", overrides=overrides)
    description += reading
    if args.no_centre and net.config.pop("input_centre", None):
        description = description.replace(", mouth kept centred", "") + ", through the fixed view"
    if args.whole_clips:
        description += ", every clip read whole"
    print(f"robustness of {description} on {args.data}/test", flush=True)
    calibrate = None
    if args.calibrate:
        learnt = read_json(find_checkpoint(args.model or BUNDLED_MODEL))  # the weights are loaded already
        pace = None if args.no_pace else learnt.get("pace")
        user = [(path, words[label]) for path, label in list_clips(args.calibrate, "train", words)]
        calibrate = (user, MouthPlace.from_dict(learnt["mouth"]), pace)
        description += f", mouth moved back{' and pace undone' if pace else ''} as found on {args.calibrate}"
    table = robustness(net, words, args.data, seed=args.seed, workers=args.workers, calibrate=calibrate,
                       whole=args.whole_clips)
    worst = max((r["drop_points"], name) for name, r in table.items() if name != "clean")
    write_result(args.name, {
        "command": "python benchmarks/bench_robustness.py " + shlex.join(sys.argv[1:]),
        "model": description, "data": str(args.data), "shifts": table,
        "worst_single_shift": {"name": worst[1], "drop_points": worst[0]},
    })


if __name__ == "__main__":
    main()
