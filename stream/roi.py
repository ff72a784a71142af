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
    """Keeps the events inside `roi`, moves them to ROI coordinates and divides them by `scale`."""

    def __init__(self, sensor: SensorSize, roi: Roi | None = None, scale: int = 1) -> None:
        if scale < 1:
            raise SpikeLipError(f"--scale {scale}: must be a whole number >= 1")
        self.roi = roi or default_roi(sensor, scale)
        r = self.roi
        if r.x + r.w > sensor.width or r.y + r.h > sensor.height:
            raise SpikeLipError(f"--roi {r}: does not fit the {sensor} sensor (X+W <= {sensor.width}, Y+H <= {sensor.height})")
        self.scale = scale
        self.sensor = SensorSize(r.w // scale, r.h // scale)
        if self.sensor.width == 0 or self.sensor.height == 0:
            raise SpikeLipError(f"--roi {r} with --scale {scale}: leaves no pixels")
        self._identity = (r.x, r.y, r.w, r.h) == (0, 0, sensor.width, sensor.height) and scale == 1
        self.dropped = 0

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if self._identity or len(events) == 0:
            return events
        r, s = self.roi, self.scale
        x = events["x"].astype(np.int32) - r.x
        y = events["y"].astype(np.int32) - r.y
        keep = (x >= 0) & (y >= 0) & (x < self.sensor.width * s) & (y < self.sensor.height * s)
        out = events[keep]
        self.dropped += len(events) - len(out)
        out["x"] = x[keep] // s
        out["y"] = y[keep] // s
        return out
