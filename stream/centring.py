"""A view that keeps the mouth where the model learnt it: every bin's events are moved so that the
activity seen so far sits at the place the model's training mouths sat.

The network reads a mouth far from where it learnt it worse (the bundled model loses 6-12 points
to a mouth moved 10 px diagonally, docs/notes/adapt.md), and a camera aimed a little off or a
fixed crop on a moving face puts it there. The place is the activity's centroid (`mouth_place`:
hot pixels and the uniform floor taken off) over the events before the bin, so the move is
causal and the same however a stream is sliced.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stream.constants import BIN_US
from stream.events import SensorSize, make_events
from stream.mouth_place import mouth_weights
from stream.transforms import CLIP_SENSOR

# A few events place nothing: the move grows from none to the full estimate over the first ones.
EASE_EVENTS = 2000
# Speakers' own mouths sit a few px from the training average (sd 3.6 and 4.4 px) and the model
# reads them: only the part of the offset beyond this is moved, along each axis.
DEAD_PX = 3.0
# A live stream forgets where the mouth was at this half-life: the head moves.
HALF_LIFE_S = 10.0


def _beyond(d: float, dead: float) -> float:
    return float(np.sign(d) * max(abs(d) - dead, 0.0))


class Centring:
    """`push(events)` -> the events moved (whole pixels; those leaving `sensor` dropped). Bins are
    `bin_us` long from the first event; each bin's events are moved by the activity centroid of
    the events before it (as they came, not moved; an event k bins earlier weighs
    0.5 ** (k bins / HALF_LIFE_S)). (`x`, `y`) is where the model learnt the mouth, in 128 x 128
    clip pixels, placed about `sensor`'s centre."""

    def __init__(self, x: float, y: float, sensor: SensorSize = CLIP_SENSOR, bin_us: float = BIN_US) -> None:
        self.sensor, self.bin_us = sensor, float(bin_us)
        self.target = ((sensor.width - CLIP_SENSOR.width) / 2 + x, (sensor.height - CLIP_SENSOR.height) / 2 + y)
        self.counts = np.zeros(sensor.height * sensor.width, np.float64)  # decayed, before the open bin
        self.open = np.zeros_like(self.counts)  # the open bin's events
        self.t0: int | None = None
        self.bin: int | None = None
        self.move = (0, 0)  # (dx, dy) px applied to the open bin
        self._ys, self._xs = np.indices((sensor.height, sensor.width))

    def push(self, events: np.ndarray) -> np.ndarray:
        if len(events) == 0:
            return events
        if self.t0 is None:
            self.t0 = int(events["t"][0])
        index = np.floor((events["t"] - self.t0) / self.bin_us).astype(np.int64)
        x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
        inside = (x >= 0) & (x < self.sensor.width) & (y >= 0) & (y < self.sensor.height)
        dx, dy = np.empty(len(events), np.int64), np.empty(len(events), np.int64)
        cuts = np.flatnonzero(np.diff(index)) + 1
        for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(events)]])):
            if self.bin is None:
                self.bin = int(index[a])
            elif index[a] > self.bin:
                self._close(int(index[a]))
            dx[a:b], dy[a:b] = self.move
            here = inside[a:b]
            self.open += np.bincount(y[a:b][here] * self.sensor.width + x[a:b][here], minlength=self.open.size)
        mx, my = x + dx, y + dy
        keep = (mx >= 0) & (mx < self.sensor.width) & (my >= 0) & (my < self.sensor.height)
        return make_events(events["t"][keep], mx[keep], my[keep], events["p"][keep])

    def _close(self, new_bin: int) -> None:
        """The open bin is done: fold it into the map and measure where the mouth is for `new_bin`
        (the last move stays while the map holds nothing above its floor)."""
        decay = 0.5 ** ((new_bin - self.bin) * self.bin_us / 1e6 / HALF_LIFE_S)
        self.counts = (self.counts + self.open) * decay
        self.open[:] = 0
        self.bin = new_bin
        weights = mouth_weights(self.counts.reshape(self.sensor.height, self.sensor.width))
        total = weights.sum()
        if total <= 0:
            return
        cx, cy = (weights * self._xs).sum() / total, (weights * self._ys).sum() / total
        ease = min(1.0, self.counts.sum() / EASE_EVENTS)  # the events seen, decayed alike
        self.move = (int(np.rint(ease * _beyond(self.target[0] - cx, DEAD_PX))),
                     int(np.rint(ease * _beyond(self.target[1] - cy, DEAD_PX))))


@dataclass(frozen=True)
class Centred:
    """A whole clip through a fresh `Centring` (a `stream.transforms` callable: `(events, rng)`)."""

    x: float
    y: float
    sensor: SensorSize = CLIP_SENSOR

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return Centring(self.x, self.y, self.sensor).push(events)
