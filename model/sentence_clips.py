"""Word clips cut from sentence recordings the way the app reads each word in continuous speech.

In a sentence the app reads a word from a state that has seen the rest before it, back to just
after the previous word (the model restarts a few bins after each commit), and never into the
next word. Training clips cut by the same rule from `spikelip synth --sentences` recordings,
whose JSON gives every word's span, teach the network words as they come in running speech.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from stream.constants import BIN_US, CLIP_BINS
from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE
from stream.roi import Crop, Roi
from stream.sources import open_file
from stream.sources.npy import save_clip

CONTEXT_BINS = (11, 30)  # rest kept before a word, drawn uniformly: 0.15-0.4 s, as clips and the app's onset re-read hold
AFTER_PREVIOUS_BINS = 5  # a clip starts no earlier than this after the previous word's end (the app restarts there)
BEFORE_NEXT_BINS = 2  # and ends this far before the next word's movement starts
MANIFEST = "cut.json"


def word_windows(spans: list[tuple[int, int]], t_start_us: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """[start, end) in microseconds of each word's clip, for word spans (start_us, end_us) in
    time order on a recording starting at `t_start_us`: from a draw of CONTEXT_BINS before the
    word (not before AFTER_PREVIOUS_BINS past the previous word's end) for at most CLIP_BINS bins,
    stopping BEFORE_NEXT_BINS before the next word."""
    windows = []
    for i, (start, _) in enumerate(spans):
        lo = max(start - rng.uniform(*CONTEXT_BINS) * BIN_US, t_start_us)
        if i > 0:
            lo = max(lo, spans[i - 1][1] + AFTER_PREVIOUS_BINS * BIN_US)
        hi = lo + CLIP_BINS * BIN_US
        if i + 1 < len(spans):
            hi = min(hi, spans[i + 1][0] - BEFORE_NEXT_BINS * BIN_US)
        windows.append((int(np.ceil(lo)), int(np.ceil(hi))))
    return windows


def cut_recording(recording: Path, out: Path, words: list[str], rng: np.random.Generator) -> int:
    """Cut the words of `words` said in `recording` (with its ground-truth JSON) into
    `out/train/<word>/<recording>_<i>.npy`, cropped to the JSON's mouth region; returns how many."""
    doc = json.loads(recording.with_suffix(".json").read_text())
    said = sorted(doc["words"], key=lambda w: w["start_us"])
    windows = word_windows([(w["start_us"], w["end_us"]) for w in said], int(doc["t_start_us"]), rng)
    with open_file(recording) as source:
        crop = Crop(source.sensor, Roi(*doc["mouth_roi"]) if "mouth_roi" in doc else None)
        batches = [crop(batch) for batch in source if len(batch)]
    events = np.concatenate(batches) if batches else np.zeros(0, EVENT_DTYPE)
    cut = 0
    for i, (w, (lo, hi)) in enumerate(zip(said, windows)):
        if w["word"] not in words or hi <= lo:
            continue
        a, b = np.searchsorted(events["t"], [lo, hi])
        clip = events[a:b].copy()
        clip["t"] -= lo
        folder = out / "train" / w["word"]
        folder.mkdir(parents=True, exist_ok=True)
        save_clip(folder / f"{recording.stem}_{i}.npy", clip)
        cut += 1
    return cut


def cut_sentences(folders: list[str], out: Path, words: list[str], seed: int) -> int:
    """Every sentence recording under `folders` cut into `out` (a DVS-Lip style folder with a
    train split); the same folders and seed reuse an earlier cut (`out/cut.json`). Returns the
    number of clips."""
    from model.boundary import sentence_files

    key = {"folders": [str(Path(f).resolve()) for f in folders], "seed": int(seed), "words": list(words)}
    manifest = out / MANIFEST
    if manifest.is_file():
        done = json.loads(manifest.read_text())
        if {k: done.get(k) for k in key} == key:
            return int(done["clips"])
    shutil.rmtree(out, ignore_errors=True)
    rng = np.random.default_rng(seed)
    clips = 0
    for folder in folders:
        recordings = sentence_files(folder)
        if not recordings:
            raise SpikeLipError(f"--sentences {folder}: no sentence recordings in it (.aedat4 files with their .json); "
                                f"make them with `spikelip synth {folder} --sentences 100`")
        clips += sum(cut_recording(path, out, words, rng) for path in recordings)
    manifest.write_text(json.dumps({**key, "clips": clips}, indent=1) + "\n")
    return clips
