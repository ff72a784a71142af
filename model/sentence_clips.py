"""Word clips cut from sentence recordings the way the app reads each word in continuous speech,
and clips of the rests between them, in which no word is said.

In a sentence the app reads a word from a state that has seen the rest before it, back to just
after the previous word (the model restarts a few bins after each commit), and never into the
next word. Training clips cut by the same rule from `spikelip synth --sentences` recordings,
whose JSON gives every word's span, teach the network words as they come in running speech. The
rests (`_no_word`, trained towards no word) teach it that a head moving while the lips rest is
not a word.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from model.boundary import sentence_files
from stream.constants import BIN_US, CLIP_BINS
from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE
from stream.roi import Crop, Roi
from stream.sources import open_file
from stream.sources.npy import NO_WORD, save_clip

CONTEXT_BINS = (11, 30)  # rest kept before a word, drawn uniformly: 0.15-0.4 s, as clips and the app's onset re-read hold
AFTER_PREVIOUS_BINS = 5  # a clip starts no earlier than this after the previous word's end (the app restarts there)
BEFORE_NEXT_BINS = 2  # and ends this far before the next word's movement starts
REST_MARGIN_BINS = 10  # a rest clip keeps this far from any word's movement
REST_MIN_BINS = 45  # rests shorter than 0.6 s (with the margins) give no clip
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


def rest_windows(spans: list[tuple[int, int]], t_start_us: int, t_end_us: int,
                 rng: np.random.Generator) -> list[tuple[int, int]]:
    """[start, end) in microseconds of clips in which no word is said: each rest between the
    words (and before the first, after the last), REST_MARGIN_BINS clear of them, cut into
    clips of CLIP_BINS bins (what is left over falls at a random end); a rest too short for
    CLIP_BINS but at least REST_MIN_BINS long is one shorter clip."""
    margin, bins = REST_MARGIN_BINS * BIN_US, CLIP_BINS * BIN_US
    edges = [t_start_us - margin, *(t for span in spans for t in span), t_end_us + margin]
    windows = []
    for end, start in zip(edges[0::2], edges[1::2]):
        lo, hi = end + margin, start - margin
        count = int((hi - lo) // bins)
        if count == 0:
            if hi - lo >= REST_MIN_BINS * BIN_US:
                windows.append((int(np.ceil(lo)), int(hi)))
            continue
        lo += rng.uniform(0, hi - lo - count * bins)
        windows += [(int(np.ceil(lo + k * bins)), int(np.ceil(lo + (k + 1) * bins))) for k in range(count)]
    return windows


def cut_recording(recording: Path, out: Path, words: list[str], rng: np.random.Generator) -> int:
    """Cut the words of `words` said in `recording` (with its ground-truth JSON) into
    `out/train/<word>/<recording>_<i>.npy`, and its rests into `out/train/_no_word/<recording>_rest<k>.npy`,
    cropped to the JSON's mouth region; returns how many clips (words and rests)."""
    truth = recording.with_suffix(".json")
    try:
        doc = json.loads(truth.read_text())
        said = sorted(doc["words"], key=lambda w: int(w["start_us"]))
        spans = [(int(w["start_us"]), int(w["end_us"])) for w in said]
        t_start, t_end = int(doc["t_start_us"]), int(doc["t_end_us"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SpikeLipError(f"{truth}: not the ground truth of a sentence ({type(exc).__name__}: {exc}); "
                            "it needs t_start_us, t_end_us and words with word, start_us and end_us, "
                            "as `spikelip synth --sentences` writes it") from None
    windows = word_windows(spans, t_start, rng)
    rests = rest_windows(spans, t_start, t_end, rng)
    with open_file(recording) as source:
        crop = Crop(source.sensor, Roi(*doc["mouth_roi"]) if "mouth_roi" in doc else None)
        batches = [crop(batch) for batch in source if len(batch)]
    events = np.concatenate(batches) if batches else np.zeros(0, EVENT_DTYPE)
    clips = [(w["word"], f"{recording.stem}_{i}", window) for i, (w, window) in enumerate(zip(said, windows))
             if w["word"] in words and window[1] > window[0]]
    clips += [(NO_WORD, f"{recording.stem}_rest{k}", window) for k, window in enumerate(rests)]
    for folder, name, (lo, hi) in clips:
        a, b = np.searchsorted(events["t"], [lo, hi])
        clip = events[a:b].copy()
        clip["t"] -= lo
        (out / "train" / folder).mkdir(parents=True, exist_ok=True)
        save_clip(out / "train" / folder / f"{name}.npy", clip)
    return len(clips)


def cut_sentences(folders: list[str], out: Path, words: list[str], seed: int) -> int:
    """Every sentence recording under `folders` cut into `out` (a DVS-Lip style folder with a
    train split: words and `_no_word` rests); the same folders and seed reuse an earlier cut
    (`out/cut.json`). Returns the number of clips."""
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
