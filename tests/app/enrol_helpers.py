"""Shared by the enrolment tests: a SynthLip sentence stands in for a person saying the prompted
words, and its ground truth (word start/end times) judges every clip that was cut."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from app.enroll import POST_S, PRE_S
from stream.roi import Crop
from stream.sources import open_file
from stream.sources.npy import NpyClipSource


PROMPTED = (0.8, 1.2)  # seconds between words said one prompt at a time (speech: 0.3-0.7)


def sentence(path: Path, words: list[str], seed: int, pause=PROMPTED) -> Path:
    """`spikelip synth --sentence` of `words` (the ground truth goes beside it as .json)."""
    from stream.synthlip import generate_sentence

    generate_sentence(words, path, seed, pause_s=pause)
    return path


def truth(recording: Path) -> list[dict]:
    return json.loads(recording.with_suffix(".json").read_text())["words"]


def takes(folder: Path) -> list[dict]:
    """The kept takes, as DIR/takes.jsonl lists them."""
    path = folder / "takes.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check_clips(folder: Path, recording: Path, spoken: list[int] | None = None, first: int = 0,
                min_rest: float = 0.05) -> list[dict]:
    """Every kept take of `folder` (from the `first` on: those cut from `recording`) holds its
    word as the recording's ground truth has it.

    For take i: the one true word its window overlaps is its word (the `spoken[i]`-th of the
    sentence when given), wholly inside, with rest before and after it within the margins; and
    the clip file, read back through `stream.sources.npy`, is exactly the recording's events in
    that window, cropped to the default ROI and shifted to t = 0. (The rest before a word is
    PRE_S from where the segmenter saw it start, which may be up to ~0.15 s late; the rest after
    is POST_S from where it saw it end, up to ~0.2 s late; between words said quickly the window
    stops half-way, so `min_rest` may have to be 0.)"""
    words = truth(recording)
    source = open_file(recording)
    events = np.concatenate(list(source))
    cropped = Crop(source.sensor)(events)
    kept = takes(folder)[first:]
    assert kept, f"no takes in {folder}"
    for i, take in enumerate(kept):
        t0, t1 = take["start_us"], take["end_us"]
        inside = [k for k, w in enumerate(words) if w["start_us"] < t1 and w["end_us"] > t0]
        assert len(inside) == 1, f"take {i} ({take['word']}, {t0}-{t1}) reaches words {inside}"
        k = inside[0]
        w = words[k]
        assert w["word"] == take["word"], f"take {i}: the clip of {take['word']!r} holds {w['word']!r}"
        if spoken is not None:
            assert k == spoken[i], f"take {i}: word {k} of the sentence, expected {spoken[i]}"
        before, after = (w["start_us"] - t0) / 1e6, (t1 - w["end_us"]) / 1e6
        assert min_rest <= before <= PRE_S + 0.25, f"take {i} ({w['word']}): {before:.3f} s of rest before the word"
        assert min_rest <= after <= POST_S + 0.3, f"take {i} ({w['word']}): {after:.3f} s of rest after the word"
        expected = cropped[(cropped["t"] >= t0) & (cropped["t"] < t1)].copy()
        expected["t"] -= t0
        clip = NpyClipSource(folder / take["clip"]).events
        assert np.array_equal(clip, expected), f"{take['clip']}: not the recording's events in its window"
        assert clip["x"].max() < 128 and clip["y"].max() < 128 and clip["t"].min() >= 0
        assert take["events"] == len(clip)
    return kept
