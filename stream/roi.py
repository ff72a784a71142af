"""Spatial selection: crop events to a region of interest and optionally downscale by an integer.

DVS-Lip clips are 128 x 128 mouth crops, so larger sensors default to their centred 128 x 128
region (times the scale factor); events outside the region are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stream.constants import MOUTH_SIDE
from stream.errors import SpikeLipError
from stream.events import SensorSize


@dataclass(frozen=True)
class Roi:
    """Top-left corner and size in sensor pixels."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text: str) -> "Roi":
        try:
            x, y, w, h = (int(v) for v in text.split(","))
        except ValueError:
            raise SpikeLipError(f"--roi {text!r}: expected four integers X,Y,W,H (top-left corner and size)") from None
        if w <= 0 or h <= 0 or x < 0 or y < 0:
            raise SpikeLipError(f"--roi {text!r}: X and Y must be >= 0 and W, H > 0")
        return cls(x, y, w, h)

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"


def default_roi(sensor: SensorSize, scale: int = 1) -> Roi:
    """Centred (128 * scale)-pixel square, or the whole sensor when it is no larger than that."""
    side = MOUTH_SIDE * scale
    w, h = min(side, sensor.width), min(side, sensor.height)
    return Roi((sensor.width - w) // 2, (sensor.height - h) // 2, w, h)


class Crop:
    """Keeps the events inside `roi`, moves them to ROI coordinates and divides them by `scale`.

    `move` shifts the ROI mid-stream (same size, so the model input keeps its shape)."""

    def __init__(self, sensor: SensorSize, roi: Roi | None = None, scale: int = 1) -> None:
        if scale < 1:
            raise SpikeLipError(f"--scale {scale}: must be a whole number >= 1")
        self.full = sensor
        self.scale = scale
        self.roi = roi or default_roi(sensor, scale)
        self._check(self.roi)
        r = self.roi
        self.sensor = SensorSize(r.w // scale, r.h // scale)
        if self.sensor.width == 0 or self.sensor.height == 0:
            raise SpikeLipError(f"--roi {r} with --scale {scale}: leaves no pixels")
        self.dropped = 0
        self._next: tuple[Roi, int | None] | None = None

    def _check(self, r: Roi) -> None:
        sensor = self.full
        if r.x + r.w > sensor.width or r.y + r.h > sensor.height:
            raise SpikeLipError(f"--roi {r}: does not fit the {sensor} sensor (X+W <= {sensor.width}, Y+H <= {sensor.height})")

    def move(self, roi: Roi, at_us: int | None = None) -> None:
        """Crop to `roi` (the same size) from stream time `at_us` on; None: from the next events."""
        if (roi.w, roi.h) != (self.roi.w, self.roi.h):
            raise ValueError(f"a moved ROI keeps its size: {roi} is not {self.roi.w}x{self.roi.h}")
        self._check(roi)
        self._next = (roi, at_us)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if self._next is not None and len(events):
            roi, at_us = self._next
            if at_us is None or events["t"][-1] >= at_us:
                k = 0 if at_us is None else int(np.searchsorted(events["t"], at_us))
                before = self._cut(events[:k])
                self.roi, self._next = roi, None
                return np.concatenate([before, self._cut(events[k:])]) if k else self._cut(events)
        return self._cut(events)

    def _cut(self, events: np.ndarray) -> np.ndarray:
        r, s = self.roi, self.scale
        if len(events) == 0 or ((r.x, r.y, r.w, r.h) == (0, 0, self.full.width, self.full.height) and s == 1):
            return events
        x = events["x"].astype(np.int32) - r.x
        y = events["y"].astype(np.int32) - r.y
        keep = (x >= 0) & (y >= 0) & (x < self.sensor.width * s) & (y < self.sensor.height * s)
        out = events[keep]
        self.dropped += len(events) - len(out)
        out["x"] = x[keep] // s
        out["y"] = y[keep] // s
        return out
