"""Whole datasets in the DVS-Lip layout: `<out>/{train,test}/<word>/<k>.npy`.

Clip k of word w in a split is a pure function of (seed, split, w, k): its speaker is drawn from
the split's speakers (a seeded permutation per word, so every speaker says every word about
equally often) and everything else from the clip's own seed stream. Worker processes only
change the order files appear in, never their bytes. The word enters the seeds as its
`lexicon.word_key`: its DVS-Lip label for the 100 words, a hash of the word for any other, so a
word's clips are the same whichever other words the dataset has.

Any words with a pronunciation can be made (see `lexicon`). A dataset whose words are not
exactly the DVS-Lip 100 records them in `<out>/words.txt`, one a line in label order, which
`stream.sources.npy.folder_words` reads back.
"""
from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from stream.errors import SpikeLipError
from stream.sources.npy import FOLDER_WORDS, folder_words, save_clip
from stream.synthlip.lexicon import (
    is_dvslip,
    pronunciations,
    remember,
    vocabulary,
    word_key,
)
from stream.synthlip.phonemes import load_words
from stream.synthlip.render import render_word
from stream.synthlip.speakers import (
    N_TEST_SPEAKERS,
    N_TRAIN_SPEAKERS,
    SPLITS,
    STREAM_ASSIGN,
    STREAM_CLIP,
    make_speaker,
    rng_for,
    split_speaker_ids,
)

MANIFEST = "synthlip.json"


def clip_speaker_id(seed: int, split: str, label: int, k: int, n_train: int = N_TRAIN_SPEAKERS,
                    n_test: int = N_TEST_SPEAKERS) -> int:
    """Which speaker says clip `k` of word `label` in `split`."""
    ids = split_speaker_ids(split, n_train, n_test)
    cycle, pos = divmod(k, len(ids))
    perm = rng_for(seed, STREAM_ASSIGN, SPLITS.index(split), label, cycle).permutation(len(ids))
    return ids[int(perm[pos])]


def clip_seed(seed: int, split: str, label: int, k: int) -> list[int]:
    return [int(seed) & 0xFFFFFFFF, STREAM_CLIP, SPLITS.index(split), label, k]


def make_clip(seed: int, split: str, word: str | int, k: int, n_train: int = N_TRAIN_SPEAKERS,
              n_test: int = N_TEST_SPEAKERS):
    """The `Rendered` clip k of `word` in `split` (an int: the DVS-Lip word of that label)."""
    if not isinstance(word, str):
        word = load_words()[word]
    key = word_key(word)
    speaker = make_speaker(seed, clip_speaker_id(seed, split, key, k, n_train, n_test))
    return render_word(word, speaker, clip_seed(seed, split, key, k))


def _job(task) -> tuple:
    out_dir, seed, split, label, word, k, n_train, n_test = task
    r = make_clip(seed, split, word, k, n_train, n_test)
    save_clip(Path(out_dir) / split / word / f"{k}.npy", r.events)
    return split, label, k, len(r.events), r.duration_us, r.speaker.id


def _init_worker(known: dict | None = None) -> None:
    import cv2

    cv2.setNumThreads(1)
    remember(known or {})  # the parent's dictionary look-ups: workers need not load the dictionary


def _run_pool(tasks: list, workers: int, known: dict | None = None):
    """Run `_job` over `tasks` in `workers` fresh (spawned) processes, yielding results as they come."""
    chunks = [tasks[i:i + 4] for i in range(0, len(tasks), 4)]
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(known,))
    try:
        pending = {pool.submit(_jobs, chunk) for chunk in chunks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield from fut.result()
    except BrokenProcessPool:
        raise SpikeLipError(
            "a SynthLip worker process died; when calling generate_dataset from a script, put the call "
            "under `if __name__ == \"__main__\":` (workers are spawned), or use workers=1") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _jobs(chunk: list) -> list:
    return [_job(task) for task in chunk]


def generate_dataset(out_dir, clips_per_word: int, seed: int, split: str = "both", workers: int = 2,
                     progress: bool = True, words=None, n_train_speakers: int = N_TRAIN_SPEAKERS,
                     n_test_speakers: int = N_TEST_SPEAKERS) -> dict:
    """Write `clips_per_word` clips of each word to each requested split; returns a summary.

    `split` is "train", "test" or "both"; `words` (default: the 100 DVS-Lip words) are any words
    with a pronunciation (`lexicon.vocabulary`: lower-cased, repeats dropped; the order given,
    but the DVS-Lip order when all are DVS-Lip words, as before). Unless they are exactly the 100, they are
    written to `<out_dir>/words.txt` in label order (a folder that already has a different
    words.txt is refused). The same seed gives byte-identical
    files for any `workers` (1 = no subprocesses). Also writes `<out_dir>/synthlip.json`
    (`synthlip-<split>.json` for one split). Workers are spawned processes: a script that calls
    this with workers > 1 needs the usual `if __name__ == "__main__":` guard.
    """
    if split not in ("train", "test", "both"):
        raise SpikeLipError(f"--split {split!r}: expected train, test or both")
    if clips_per_word < 1:
        raise SpikeLipError(f"--clips-per-word {clips_per_word}: must be at least 1")
    if workers < 1:
        raise SpikeLipError(f"--workers {workers}: must be at least 1")
    chosen = load_words() if words is None else vocabulary(words)
    standard = chosen == load_words()
    known = {w: pronunciations(w) for w in chosen if not is_dvslip(w)}
    splits = ["train", "test"] if split == "both" else [split]
    out = Path(out_dir)
    listed = "".join(f"{w}\n" for w in chosen)
    words_file = out / FOLDER_WORDS
    if words_file.is_file() and folder_words(out) != chosen:
        raise SpikeLipError(f"{words_file} lists other words than these; write this vocabulary to another folder "
                            f"(or delete that folder's words.txt and clips)")
    try:
        for s in splits:
            for w in chosen:
                (out / s / w).mkdir(parents=True, exist_ok=True)
        if not standard:
            words_file.write_text(listed)
    except OSError as exc:
        raise SpikeLipError(f"{out_dir}: cannot create the dataset folders ({exc.strerror})") from None
    tasks = [(str(out), int(seed), s, label, w, k, n_train_speakers, n_test_speakers)
             for s in splits for label, w in enumerate(chosen) for k in range(clips_per_word)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), unit="clip", desc="synth", dynamic_ncols=True, disable=None)
    results = []
    start = time.perf_counter()
    try:
        if workers == 1:
            for task in tasks:
                results.append(_job(task))
                if bar:
                    bar.update()
        else:
            for res in _run_pool(tasks, workers, known):
                results.append(res)
                if bar:
                    bar.update()
    finally:
        if bar:
            bar.close()
    elapsed = time.perf_counter() - start
    results.sort(key=lambda r: (SPLITS.index(r[0]), r[1], r[2]))
    counts = np.array([r[3] for r in results])
    durations = np.array([r[4] for r in results]) / 1e6
    summary = {
        "generator": "SynthLip",
        "seed": int(seed),
        "clips_per_word": int(clips_per_word),
        "splits": splits,
        "words": chosen,
        "speakers": {s: split_speaker_ids(s, n_train_speakers, n_test_speakers) for s in splits},
        "clips": len(results),
        "events_per_clip": {"mean": float(counts.mean()), "min": int(counts.min()), "max": int(counts.max())},
        "duration_s": {"mean": float(durations.mean()), "min": float(durations.min()),
                       "max": float(durations.max()), "over_1.2s": float((durations > 1.2).mean())},
    }
    # The manifest holds no timing, so that a rerun with the same seed is byte-identical.
    name = MANIFEST if split == "both" else MANIFEST.replace(".json", f"-{split}.json")
    (out / name).write_text(json.dumps(summary, indent=1) + "\n")
    summary["seconds"] = elapsed
    summary["clips_per_s"] = len(results) / elapsed if elapsed > 0 else float("inf")
    return summary
