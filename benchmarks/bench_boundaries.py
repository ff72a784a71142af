"""Where words end in continuous speech: the bundled model's learnt word boundaries against the
activity segmenter, side by side, through the app's own `Pipeline` (as `spikelip replay
--headless --speed 0` reads), on held-out SynthLip sentences (seeds the head never saw, speakers
of their own):

- continuous: 30 sentences of 10 words, rests of 0.3-0.7 s (300 words);
- fast speech: 10 sentences of 10 words at 1.3 x the speaker's rate, rests of 0.15-0.4 s;
- 8 s rests: 8 sentences of 6 words, 8 s at rest between words (the head wandering as in
  SynthLip, 0.4-2.5 px);
- 8 s rests, fidgeting: the same with the head wandering 5 px, and 8 px.

Scored against the ground truth: true words read right (each once; after the pipeline has read
each word on and maybe revised it, and as first committed), words missed, split in
two, merged with a neighbour, words started during rests (no word there), and when each word was
committed after its end (its committing bin's end; p50, p90). Beside them, what the classifier
reads with the true boundaries: each word read by a fresh model from the middle of the rest before
it (at most 0.3 s before), its readout from 5 bins before its start to 4 bins (53 ms) or 30 bins
(0.4 s, the whole word) after its end.

    .venv/bin/python benchmarks/bench_boundaries.py [--keep DIR] [--model SPEC] [--json NAME]
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.models import load_model, use_streaming_threads  # noqa: E402
from app.pipeline import Pipeline  # noqa: E402
from app.segment import WordSegmenter, segmenter_for  # noqa: E402
from app.truth import read_sentence, spoken_at  # noqa: E402
from benchmarks.common import add_window_offsets, window_offsets, write_result  # noqa: E402
from model import Readout  # noqa: E402
from model.boundary import score_segments  # noqa: E402
from model.data import step_input  # noqa: E402
from stream.binner import bin_recording  # noqa: E402
from stream.constants import BIN_US  # noqa: E402
from stream.roi import Crop  # noqa: E402
from stream.sources import open_file  # noqa: E402
from stream.synthlip import generate_sentences  # noqa: E402

TRUE_READS = {"true boundaries, +53 ms": 4, "true boundaries, whole word": 30}  # bins read after each end
SETS = {  # name: (first seed, sentences, words each, options)
    "continuous": (3001, 30, 10, {}),
    "fast speech": (3101, 10, 10, {"rate": 1.3, "pause_s": (0.15, 0.4)}),
    "8 s rests": (3201, 8, 6, {"pause_s": (8.0, 8.0)}),
    "8 s rests, fidgeting 5 px": (3301, 8, 6, {"pause_s": (8.0, 8.0), "head_motion_px": 5.0}),
    "8 s rests, fidgeting 8 px": (3401, 8, 6, {"pause_s": (8.0, 8.0), "head_motion_px": 8.0}),
}


def read(path: Path, net, words, segmenter) -> dict:
    """Words committed by the pipeline on one recording, scored."""
    origin, truth = read_sentence(path)
    with open_file(path) as source:
        pipeline = Pipeline(source, net, Readout(words), speed=None, segmenter=segmenter)
        committed, final = [], []  # (word, commit time) as committed; the words after reading on
        for r in pipeline:
            if r.revised is not None:
                final[-1] = r.revised
            if r.word is not None:
                committed.append((r.word, r.t_us + BIN_US))
                final.append(r.word)
        if (last := pipeline.finish()) is not None:
            committed.append((last, pipeline.origin_us + last.end_s * 1e6))
            final.append(last)
        zero = pipeline.origin_us
    spans = [(w.start, w.end) for w in truth]
    found = [(zero + w.start_s * 1e6, zero + w.end_s * 1e6, commit) for w, commit in committed]
    result = score_segments(found, spans)

    def right(read) -> int:
        return len({said for (a, b, _), w in zip(found, read) if (said := spoken_at(truth, a, b)) is not None
                    and said.word == w.word})

    result["right"] = right(final)
    result["right_at_commit"] = right([w for w, _ in committed])
    return result


def read_true(path: Path, net, words, after_bins: tuple[int, ...]) -> dict[int, int]:
    """Words read right with the true boundaries, committing `after_bins` bins after each end."""
    truth = json.loads(path.with_suffix(".json").read_text())["words"]
    with open_file(path) as source:
        binner, parts = bin_recording(source, Crop(source.sensor))
    frames = [f for bins in parts for f in bins.frames]
    starts = np.asarray([float(binner.bin_start_us(i)) for bins in parts for i in bins.index])
    right = dict.fromkeys(after_bins, 0)
    previous_end = -np.inf
    for w in truth:
        first = int(np.searchsorted(starts, max(w["start_us"] - 300_000, (previous_end + w["start_us"]) / 2)))
        onset = max(int(np.searchsorted(starts, w["start_us"])) - 5, first)
        end = int(np.searchsorted(starts, w["end_us"]))
        state, logits = net.initial_state(batch_size=1), []
        with torch.inference_mode():
            for frame in frames[first:end + max(after_bins)]:
                y, state = net.step(step_input(frame), state)
                logits.append(np.asarray(y[0], np.float64))
        for after in after_bins:
            mean = np.mean(logits[onset - first:end + after - first], axis=0)
            right[after] += words[int(np.argmax(mean))] == w["word"]
        previous_end = w["end_us"]
    return right


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="write (and reuse) the recordings here")
    parser.add_argument("--model", help="a model with a word-boundary head (default the bundled one)")
    add_window_offsets(parser)
    parser.add_argument("--json", default="boundaries", help="result name under benchmarks/results (default boundaries)")
    args = parser.parse_args(argv)
    use_streaming_threads()
    overrides, reading = window_offsets(args)
    net, words, description, _ = load_model(args.model, runtime="sparse", quiet=True, overrides=overrides)
    if net.boundary is None:
        raise SystemExit(f"{args.model or 'the bundled model'} has no word-boundary head: train one with `spikelip boundary`")
    ways = {"activity segmenter": WordSegmenter, "learnt boundaries": lambda: segmenter_for(net)}
    start = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        for name, (seed, count, per, options) in SETS.items():
            sub = folder / name.replace(" ", "-").replace(",", "")
            if not sub.is_dir() or len(list(sub.glob("*.aedat4"))) < count:
                generate_sentences(sub, count, seed, per, workers=2, **options)
            paths = sorted(sub.glob("*.aedat4"))[:count]
            results[name] = {}
            for way, make in ways.items():
                totals, commit = {}, []
                for path in paths:
                    r = read(path, net, words, make())
                    commit += r.pop("commit_ms")
                    for k, v in r.items():
                        totals[k] = totals.get(k, 0) + v
                p50, p90 = (round(float(v), 1) for v in np.percentile(commit, [50, 90])) if commit else (None, None)
                results[name][way] = {**totals, "commit_ms_p50": p50, "commit_ms_p90": p90}
                t = results[name][way]
                print(f"{name:22s} {way:20s} right {t['right']:3d}/{t['words']} ({t['right_at_commit']} at commit)  missed {t['missed']:2d} split "
                      f"{t['split']:2d} merged {t['merged']:2d} in rests {t['spurious']:2d}  commit p50 {p50} ms, "
                      f"p90 {p90} ms", flush=True)
            right = dict.fromkeys(TRUE_READS.values(), 0)
            for path in paths:
                for after, n in read_true(path, net, words, tuple(right)).items():
                    right[after] += n
            for way, after in TRUE_READS.items():
                ms = round(after * BIN_US / 1e3, 1)
                results[name][way] = {"words": results[name]["learnt boundaries"]["words"], "right": right[after],
                                      "right_at_commit": right[after],
                                      "missed": None, "split": None, "merged": None, "spurious": None,
                                      "errors": None, "commit_ms_p50": ms, "commit_ms_p90": ms}
                print(f"{name:22s} {way:20s} right {right[after]:3d}/{results[name][way]['words']}", flush=True)
    write_result(args.json, {
        "command": shlex.join(["python", "benchmarks/bench_boundaries.py", *(argv if argv is not None else sys.argv[1:])]),
        "model": description + reading,
        "sets": {name: {"seeds": [seed, seed + count - 1], "words_per_sentence": per,
                        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}}
                 for name, (seed, count, per, options) in SETS.items()},
        "results": results, "seconds": round(time.perf_counter() - start, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
