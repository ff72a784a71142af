"""Where a set of clips' mouths sit and how wide they are, and the move that puts one set's
mouth where another's is: a user's camera distance and framing, undone before the model reads.

A model's convolutions learnt one mouth size and place; a user further from or nearer the camera
shows another (`benchmarks/bench_robustness.py`: a mouth 1.2 x as large costs the bundled model
7 points). Many clips' events summed into one map average out the words and show the mouth
itself; its activity centroid, its spread along its long axis (the mouth's width, which, unlike
its height, does not change with how far the jaw opens) and that axis's angle, compared with
those of the model's training clips, give the scale, turn and offset to undo (docs/notes/adapt.md).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from stream.events import SensorSize
from stream.sources.npy import read_clip, spread
from stream.transforms import CLIP_SENSOR, Affine

# An estimate outside these bounds is no mouth size a camera gives: the clips are something else.
SCALE_RANGE = (0.6, 1.7)
# A mouth turned further than this is no head tilt a user reads at: the axis found is not the lips'.
MAX_TURN_DEG = 30.0
# SynthLip speakers' own mouths are tilted by up to 7 degrees (sd 4.5 over the 10 speakers of
# bench_roi_auto's sentences) and the model reads them all: a smaller turn is left as it is.
MIN_TURN_DEG = 5.0
# A pixel this many times busier than its 3 x 3 median (and by more than HOT_MIN events) is hot:
# a mouth's pixels are about as busy as their neighbours, a sparse edge's hold a few events each.
HOT_FACTOR, HOT_MIN = 8.0, 10.0


class MouthPlace(NamedTuple):
    """The activity centroid (`x`, `y`), the spread along the long axis (`width`, a standard
    deviation) and that axis's angle (`angle`, degrees, clockwise on the image: y points down) of
    many clips' events, in clip pixels, hot pixels and the uniform floor (noise) taken off first;
    `clips` and `events` say how much it rests on."""

    x: float
    y: float
    width: float
    angle: float = 0.0
    clips: int = 0
    events: int = 0

    def as_dict(self) -> dict:
        return {"x": round(self.x, 2), "y": round(self.y, 2), "width": round(self.width, 2),
                "angle": round(self.angle, 2), "clips": self.clips, "events": self.events}

    @classmethod
    def from_dict(cls, d: dict) -> MouthPlace:
        return cls(float(d["x"]), float(d["y"]), float(d["width"]), float(d.get("angle", 0.0)),
                   int(d.get("clips", 0)), int(d.get("events", 0)))


def activity_map(clips: Iterable[np.ndarray], sensor: SensorSize = CLIP_SENSOR) -> tuple[np.ndarray, int]:
    """Every clip's events counted per pixel into one (H, W) map; returns (map, clips seen)."""
    counts = np.zeros(sensor.height * sensor.width, np.int64)
    n = 0
    for events in clips:
        n += 1
        inside = (events["x"] >= 0) & (events["x"] < sensor.width) & (events["y"] >= 0) & (events["y"] < sensor.height)
        flat = events["y"][inside].astype(np.int64) * sensor.width + events["x"][inside]
        counts += np.bincount(flat, minlength=counts.size)
    return counts.reshape(sensor.height, sensor.width), n


def mouth_weights(counts: np.ndarray) -> np.ndarray:
    """An activity map's mouth: hot pixels replaced by their 3 x 3 median, then the median pixel's
    count (the uniform floor: noise) taken off every pixel, never below 0 (see `mouth_place`)."""
    counts = np.asarray(counts, np.float64)
    local = cv2.medianBlur(counts.astype(np.float32), 3).astype(np.float64)  # edges replicated
    counts = np.where(counts > HOT_FACTOR * local + HOT_MIN, local, counts)
    return np.clip(counts - np.median(counts), 0, None)


def mouth_place(counts: np.ndarray, clips: int = 0) -> MouthPlace:
    """The `MouthPlace` of an activity map. Hot pixels (single pixels far busier than any mouth
    pixel, which would pull the moments) are first replaced by their 3 x 3 median; the map is not
    smoothed otherwise, since a median of every pixel erases a sparse map's thin edges (a mouth
    of 6,000 events measured 8 % narrow). Then the median pixel's count (the mouth covers far less
    than half the clip) is the floor taken off every pixel."""
    weights = mouth_weights(counts)
    total = weights.sum()
    if total <= 0:
        raise ValueError("no activity above the floor: the clips hold no mouth")
    ys, xs = np.indices(weights.shape)
    x = float((weights * xs).sum() / total)
    y = float((weights * ys).sum() / total)
    cxx, cyy, cxy = ((weights * a * b).sum() / total for a, b in
                     ((xs - x, xs - x), (ys - y, ys - y), (xs - x, ys - y)))
    major = (cxx + cyy) / 2 + np.hypot((cxx - cyy) / 2, cxy)  # the covariance's larger eigenvalue
    angle = float(np.degrees(0.5 * np.arctan2(2 * cxy, cxx - cyy)))
    return MouthPlace(x, y, float(np.sqrt(major)), angle, clips, int(np.sum(counts)))


def undo_move(seen: MouthPlace, learnt: MouthPlace, sensor: SensorSize = CLIP_SENSOR) -> Affine:
    """The `Affine` that takes a mouth where it is `seen` to where the model `learnt` it: scaled
    by learnt / seen width and turned by the angles' difference (none under MIN_TURN_DEG, at most
    MAX_TURN_DEG) about the clip's centre, then moved so the centroids meet."""
    k = learnt.width / seen.width
    turn = float(np.clip(learnt.angle - seen.angle, -MAX_TURN_DEG, MAX_TURN_DEG))
    turn = turn if abs(turn) >= MIN_TURN_DEG else 0.0
    cx, cy = (sensor.width - 1) / 2, (sensor.height - 1) / 2
    c, s = k * np.cos(np.radians(turn)), k * np.sin(np.radians(turn))
    u, v = seen.x - cx, seen.y - cy
    return Affine(k, rotate_deg=turn, dx=float(learnt.x - cx - (c * u - s * v)),
                  dy=float(learnt.y - cy - (s * u + c * v)), sensor=sensor)


def place_of_clips(paths: Sequence[Path], transform=None, limit: int = 1000, seed: int = 0) -> MouthPlace:
    """The `MouthPlace` of up to `limit` clip files spread evenly over `paths`, each clip's events
    through `transform` (a `stream.transforms` callable) first when one is given."""
    chosen = spread(paths, limit)
    rng = np.random.default_rng(seed)

    def clips():
        for path in chosen:
            events, _ = read_clip(path)
            yield transform(events, rng) if transform is not None else events

    counts, n = activity_map(clips())
    return mouth_place(counts, n)
