"""Ground truth stored beside a recording: the words of a SynthLip sentence and their times.

A generated recording `x.aedat4` comes with `x.json` listing its words with start and end
times (microseconds on the recording's clock, `t_start_us` being its start); the window
shows the sentence and marks each recognised word right or wrong.
"""
from __future__ import annotations

import json
from pathlib import Path


def read_word_times(recording: str | Path) -> list[tuple[float, float, str]]:
    """[(start s, end s, word)] from the recording's start, or [] without a readable JSON beside it."""
    try:
        doc = json.loads(Path(recording).with_suffix(".json").read_text())
        origin = float(doc.get("t_start_us", 0))
        words = [(float(w["start_us"]) - origin, float(w["end_us"]) - origin, str(w["word"])) for w in doc["words"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    return sorted((start / 1e6, end / 1e6, word) for start, end, word in words)


def spoken_at(words: list[tuple[float, float, str]], start_s: float, end_s: float) -> str | None:
    """The spoken word overlapping [start_s, end_s] most; None without ground truth."""
    best, overlap = None, 0.0
    for start, end, word in words:
        o = min(end, end_s) - max(start, start_s)
        if o > overlap:
            best, overlap = word, o
    return best if words else None
