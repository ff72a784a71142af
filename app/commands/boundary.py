"""`spikelip boundary`: teach a model where words end (a word-boundary head over its logits),
trained on continuous SynthLip sentences with known word times."""
from __future__ import annotations

import multiprocessing
import random
import shutil
import sys
import time
from pathlib import Path

from app.models import BUNDLED_MODEL, load_model
from app.options import existing_dir, output_file, positive_int, seed, trained_model
from stream.constants import BIN_MS
from stream.errors import SpikeLipError

NAME = "boundary"
HELP = "teach a model where words end (commits ~60 ms after a word instead of ~160), from sentence recordings"


def add_arguments(p) -> None:
    p.epilog = ("example:\n"
                "  spikelip synth data/sentences --sentences 120 --seed 2001\n"
                "  spikelip boundary --data data/sentences --out runs/boundary/model.json")
    p.add_argument("--data", required=True, type=existing_dir, metavar="DIR",
                   help="SynthLip sentence recordings with their word times (DIR/**/<name>.aedat4 + .json, as "
                        "`spikelip synth DIR --sentences N` writes them); every fifth is held out to score the head")
    p.add_argument("--out", required=True, metavar="OUT.json", type=output_file(".json", create_folders=True, what="checkpoint"),
                   help="the checkpoint to write: the base model with the head (OUT.json, OUT.safetensors and "
                        "OUT-boundary.safetensors); the base's own JSON adds the head in place")
    p.add_argument("--model", type=trained_model, metavar="CHECKPOINT",
                   help="the trained checkpoint to add the head to (default: the bundled model)")
    p.add_argument("--epochs", type=positive_int, default=40, metavar="N", help="training epochs (default 40)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=positive_int, default=2, metavar="N",
                   help="processes reading the sentences through the model, >= 1 (default 2)")


def run(args) -> int:
    from model.boundary import (
        Decision, head_edges, min_word_steps, save_head, score_sequences, sentence_files, sentence_sequence,
        train_head,
    )
    from model.checkpoint import find_checkpoint

    base = find_checkpoint(args.model or BUNDLED_MODEL)
    files = sentence_files(args.data)
    if len(files) < 2:
        raise SpikeLipError(f"{args.data}: needs at least 2 sentence recordings with their .json (found {len(files)}); "
                            f"make them with `spikelip synth {args.data} --sentences 100`")
    net, words, description, _ = load_model(str(base), quiet=True, runtime="fastest")
    start = time.perf_counter()
    sequences = []
    for i, sequence in enumerate(_read(base, files, args.seed, args.workers, net), 1):
        sequences.append(sequence)
        if sys.stderr.isatty():
            print(f"\rreading sentences through {description}: {i}/{len(files)}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    held = sequences[4::5]
    train = [s for i, s in enumerate(sequences) if i % 5 != 4]
    words_in = sum(len(s.spans) for s in sequences)
    print(f"{len(files)} sentences ({words_in} words) read in {time.perf_counter() - start:.0f} s; "
          f"training on {len(train)}, scoring on {len(held)}", flush=True)
    head = train_head(train, len(words), epochs=args.epochs, seed=args.seed, log=lambda line: print(line, flush=True))
    decision = Decision(min_steps=min_word_steps(train))
    print(f"stretches under {decision.min_steps} bins ({decision.min_steps * BIN_MS:.0f} ms) are not words "
          "(0.9 x the shortest training word)", flush=True)
    from app.segment import WordSegmenter

    def activity_edges(sequence):
        seg = WordSegmenter()
        return [seg.update(float(c)) for c in sequence.events]

    ref = WordSegmenter()
    learnt = score_sequences(held, head_edges(head, decision), decision.on_steps + 1, decision.off_steps)
    activity = score_sequences(held, activity_edges, ref.onset_lookback, ref.hangover_steps)
    for name, r in (("learnt boundaries", learnt), ("activity segmenter", activity)):
        print(f"held out, {name}: {r['errors']} of {r['words']} words wrong (missed {r['missed']}, split "
              f"{r['split']}, merged {r['merged']}, spurious {r['spurious']})" + (
                  f"; committed p50 {r['commit_ms_p50']:g} ms, p90 {r['commit_ms_p90']:g} ms after the word's end"
                  if r["commit_ms_p50"] is not None else ""), flush=True)
    out = Path(args.out)
    if out.resolve() != base.resolve():
        _copy_checkpoint(base, out)
    save_head(head, out, decision, metrics={"held_out": learnt, "activity_segmenter_same_data": activity},
              trained_on=f"{len(train)} SynthLip sentences ({sum(len(s.spans) for s in train)} words) in {args.data}, "
                         f"{args.epochs} epochs, seed {args.seed}; scored on {len(held)} held-out sentences")
    print(f"wrote {out} with its word-boundary head; use it: spikelip replay --model {out}")
    return 0


def _read(base: Path, files: list[Path], seed: int, workers: int, net):
    """Each sentence read through the model (`model.boundary.sentence_sequence`), in order, by
    `workers` processes of one thread each; sentence i's restarts drawn from (seed, i) alone, so
    the result does not depend on the number of workers."""
    jobs = [(path, seed * 1_000_003 + i) for i, path in enumerate(files)]
    if workers == 1:
        _Reader.net = net
        yield from map(_Reader.read, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(min(workers, len(files)), _Reader.load, (str(base),)) as pool:
        yield from pool.imap(_Reader.read, jobs)


class _Reader:
    """A worker process's model, loaded once."""

    net = None

    @classmethod
    def load(cls, base: str) -> None:
        import torch

        torch.set_num_threads(1)
        cls.net = load_model(base, quiet=True, runtime="fastest").net

    @classmethod
    def read(cls, job):
        from model.boundary import sentence_sequence

        path, sentence_seed = job
        return sentence_sequence(cls.net, path, random.Random(sentence_seed))


def _copy_checkpoint(src: Path, dst: Path) -> None:
    """The checkpoint `src` (JSON + weights) as `dst`, its JSON naming the copied weights."""
    import json

    info = json.loads(src.read_text())
    weights = dst.with_suffix(".safetensors")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.parent / info["weights"], weights)
    info["weights"] = weights.name
    info.pop("boundary", None)
    dst.write_text(json.dumps(info, indent=2) + "\n")
