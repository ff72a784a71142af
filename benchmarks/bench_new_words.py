"""New words with no recordings: `spikelip synth` takes of them, `spikelip adapt`, other speakers' score.

    python benchmarks/bench_new_words.py [--seeds 0,1,2] [--views 0,3]

Synthesises the words (60 takes a word of train speakers, seed 1; 20 of test speakers, seed 2)
in a temporary folder, adapts the base model to them with `adapt`'s defaults once per adapt seed
and `--views` value, and records each run's top-1 on the test speakers and its time.
Results: `results/new_words.json` (issue 22's goal: >= 95 % top-1 in <= 10 minutes).
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.models import BUNDLED_MODEL  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from model.adapt import AdaptConfig, adapt  # noqa: E402
from stream.synthlip import generate_dataset  # noqa: E402

WORDS = "yes,no,left,right,stop,go,lights,music,volume,hello"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--words", default=WORDS, help="comma-separated words (default: ten not in DVS-Lip)")
    p.add_argument("--clips-per-word", type=int, default=60, help="synthesised train takes a word")
    p.add_argument("--test-clips-per-word", type=int, default=20, help="synthesised takes a word of test speakers")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated adapt seeds")
    p.add_argument("--views", default="3", help="comma-separated values of adapt's --views to compare")
    p.add_argument("--model", default=None, help="base model (default: the bundled one)")
    p.add_argument("--name", default="new_words", help="results/NAME.json")
    args = p.parse_args()
    words = args.words.split(",")
    runs = []
    with tempfile.TemporaryDirectory(prefix="spikelip-new-words-") as tmp:
        data = Path(tmp) / "mine"
        t0 = time.perf_counter()
        generate_dataset(data, args.clips_per_word, seed=1, split="train", progress=False, words=words)
        generate_dataset(data, args.test_clips_per_word, seed=2, split="test", progress=False, words=words)
        synth_s = time.perf_counter() - t0
        for views in [int(v) for v in args.views.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                print(f"--- views {views}, seed {seed}", flush=True)
                t0 = time.perf_counter()
                cfg = AdaptConfig(data=str(data), out=str(Path(tmp) / f"run-{views}-{seed}"),
                                  model=args.model or str(BUNDLED_MODEL), views=views, seed=seed, progress=False)
                result = adapt(cfg, log=lambda line: None if line.startswith("epoch") else print("  " + line, flush=True))
                m, a = result["metrics"], result["adapt"]
                runs.append({"views": views, "seed": seed, "before": m["before"]["top1"], "after": m["after"],
                             "epochs": a["epochs"], "best_epoch": a["best_epoch"],
                             "mouth": a.get("mouth"), "pace": a.get("pace"), "seconds": round(time.perf_counter() - t0, 1)})
    summary = {}
    for views in sorted({r["views"] for r in runs}):
        top1 = [r["after"]["top1"] for r in runs if r["views"] == views]
        summary[str(views)] = {"runs": len(top1), "top1_mean": round(statistics.mean(top1), 4),
                               "top1_min": min(top1), "top1_max": max(top1)}
    write_result(args.name, {
        "command": "python benchmarks/bench_new_words.py " + shlex.join(sys.argv[1:]),
        "words": words, "train_clips": args.clips_per_word * len(words),
        "test_clips": args.test_clips_per_word * len(words), "synth_seconds": round(synth_s, 1),
        "model": args.model or "bundled", "summary": summary, "runs": runs,
    })


if __name__ == "__main__":
    main()
