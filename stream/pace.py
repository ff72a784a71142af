"""How fast a set of clips is spoken against the clips a model learnt from: a user's speaking pace,
undone by binning their events at that pace (a model config's `input_pace`).

A word said 15 % slower spreads its movement over 15 % more bins, each with fewer events, and costs
the bundled model 3 points (`benchmarks/bench_robustness.py`); binned in bins 15 % longer it reads
as the model learnt it. A clip's active span (where the bulk of its movement lies, the uniform
floor of noise and rest taken off) compared word by word with the same span in the model's
training clips gives that factor (docs/notes/adapt.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from stream.constants import BIN_US
from stream.sources.npy import read_clip, spread

# An estimate outside these bounds is no pace a person reads these words at: the clips are something else.
PACE_RANGE = (0.5, 2.0)
# Fewer clips of words the model knows than this give no pace worth changing a model's bins for.
MIN_CLIPS = 10
# A pace within this share of the model's is left as it is: SynthLip's training speakers and clips
# vary by +-15 % each, which the model reads, and so small a stretch only moves events across bin
# edges (on the bundled model, stretches of 0.2-0.5 % read 0.4-1.3 points worse: docs/notes/adapt.md).
MIN_CHANGE = 0.05
# The share of a bin-count quantile taken as the floor (noise, a resting mouth), and the shares of
# the activity above it between which a clip's movement is said to lie.
FLOOR_QUANTILE = 0.2
SPAN_SHARES = (0.1, 0.9)


def active_span_us(events: np.ndarray, bin_us: float = BIN_US) -> float | None:
    """The time (us) between SPAN_SHARES of a clip's activity above its floor (the FLOOR_QUANTILE
    bin's count, so uniform noise and rest drop out), interpolated within the bins; None for a
    clip with no movement."""
    if len(events) == 0:
        return None
    t = events["t"] - events["t"][0]
    counts = np.bincount((t // bin_us).astype(np.int64)).astype(np.float64)
    above = np.clip(counts - np.quantile(counts, FLOOR_QUANTILE), 0, None)
    if above.sum() <= 0:
        return None
    share = np.concatenate([[0.0], np.cumsum(above)]) / above.sum()  # at each bin's start
    first, last = np.interp(SPAN_SHARES, share, np.arange(len(share)) * bin_us)
    return float(last - first)


def word_spans(clips: Sequence[tuple[Path, str]], transform=None, limit: int = 1000, seed: int = 0) -> dict[str, list[float]]:
    """{word: active spans (ms)} of up to `limit` (clip file, word) pairs spread over `clips`, each
    clip's events through `transform` (a `stream.transforms` callable) first when one is given."""
    rng = np.random.default_rng(seed)
    spans: dict[str, list[float]] = {}
    for path, word in spread(clips, limit):
        events, _ = read_clip(path)
        span = active_span_us(transform(events, rng) if transform is not None else events)
        if span is not None:
            spans.setdefault(word, []).append(span / 1e3)
    return spans


def learnt_pace(clips: Sequence[tuple[Path, str]], transform=None, limit: int = 1000) -> dict:
    """What a checkpoint records of its training clips' pace (as its network reads them: through
    `transform`): {"span_ms": {word: median active span}, "clips": how many were measured}."""
    spans = word_spans(clips, transform, limit)
    return {"span_ms": {w: round(float(np.median(v)), 1) for w, v in sorted(spans.items())},
            "clips": sum(len(v) for v in spans.values())}


class Pace(NamedTuple):
    """How many times slower than the model's training clips a user speaks (`pace` > 1: slower),
    the median over `clips` of their clips of words the model learnt."""

    pace: float
    clips: int

    @property
    def to_match(self) -> float:
        """The pace a model binning for this user takes: 1 (its own) within MIN_CHANGE of it."""
        return 1.0 if abs(self.pace - 1) < MIN_CHANGE else self.pace


def pace_of_clips(clips: Sequence[tuple[Path, str]], learnt: dict, transform=None, limit: int = 1000,
                  seed: int = 0) -> Pace:
    """The `Pace` of (clip file, word) pairs against a checkpoint's `learnt_pace` record: each
    clip's active span over the learnt median span of its word (clips of other words are not
    counted; `clips` 0 and pace 1 when none are left)."""
    known = learnt["span_ms"]
    spans = word_spans([(p, w) for p, w in clips if w in known], transform, limit, seed)
    ratios = [s / known[w] for w, v in spans.items() for s in v]
    return Pace(float(np.median(ratios)) if ratios else 1.0, len(ratios))
