"""Ground truth stored beside a recording: the words of a SynthLip sentence and their times.

A generated recording `x.aedat4` comes with `x.json` listing its words with start and end
times (microseconds on the recording's clock, `t_start_us` being its start). The window and
headless replay mark recognised words right or wrong with it; `spikelip latency` times word
commits against it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple


class WordSpan(NamedTuple):
    word: str
    start: float
    end: float


def read_sentence(recording: str | Path) -> tuple[int, list[WordSpan]]:
    """(t_start_us, spans in microseconds on the recording's clock); (0, []) without a readable JSON beside it."""
    try:
        doc = json.loads(Path(recording).with_suffix(".json").read_text())
        spans = [WordSpan(str(w["word"]), int(w["start_us"]), int(w["end_us"])) for w in doc["words"]]
        return int(doc.get("t_start_us", 0)), sorted(spans, key=lambda w: w.start)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0, []


def read_word_times(recording: str | Path) -> list[WordSpan]:
    """Spans in seconds from the recording's start, as the window's clock counts."""
    origin, spans = read_sentence(recording)
    return [WordSpan(w.word, (w.start - origin) / 1e6, (w.end - origin) / 1e6) for w in spans]


def spoken_at(words: list[WordSpan], start: float, end: float) -> WordSpan | None:
    """The span overlapping [start, end] most (same unit as the spans); None if none overlaps."""
    best, overlap = None, 0.0
    for w in words:
        o = min(w.end, end) - max(w.start, start)
        if o > overlap:
            best, overlap = w, o
    return best


def verdict(predicted: str, truth: str | None) -> str:
    """How the terminal marks a recognised word: '✓', '✗ (said: X)', or '' without ground truth."""
    if truth is None:
        return ""
    return "✓" if predicted == truth else f"✗ (said: {truth})"
