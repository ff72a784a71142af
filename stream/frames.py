"""APS (grey-level) frames of DAVIS cameras and recordings, kept in step with the events.

A face detector needs intensity images, which only some sources have; this module is what they
share: the `Frame` type, the conversion to sensor-sized grey images, and the bounded queue a
source holds frames in until the events it has handed out reach their time.
"""
from __future__ import annotations

from collections import deque
from typing import NamedTuple

import cv2
import numpy as np

from stream.events import SensorSize

FRAMES_KEPT = 8  # frames a source holds for a consumer that does not take them; older ones are dropped


class Frame(NamedTuple):
    """One grey-level frame: `t_us` on the events' clock, `image` (H, W) uint8 in sensor
    coordinates, so whatever is found in it lies at the same x, y as its events."""

    t_us: int
    image: np.ndarray


def grey(image: np.ndarray, order: str = "BGR") -> np.ndarray:
    """(H, W), (H, W, 3) or (H, W, 4) uint8 pixels as (H, W) grey; `order` names the colour
    channels ("BGR", as DV and OpenCV store them, or "RGB")."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    codes = {
        ("BGR", 3): cv2.COLOR_BGR2GRAY,
        ("BGR", 4): cv2.COLOR_BGRA2GRAY,
        ("RGB", 3): cv2.COLOR_RGB2GRAY,
        ("RGB", 4): cv2.COLOR_RGBA2GRAY,
    }
    return cv2.cvtColor(np.ascontiguousarray(image), codes[order, image.shape[2]])


def on_sensor(image: np.ndarray, sensor: SensorSize, x: int = 0, y: int = 0) -> np.ndarray:
    """A grey image whose top-left pixel is at sensor pixel (x, y) (a cropped APS readout) as a
    sensor-sized image, black outside it; the image itself when it already is one."""
    h, w = image.shape
    if (x, y, w, h) == (0, 0, sensor.width, sensor.height):
        return image
    out = np.zeros((sensor.height, sensor.width), np.uint8)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, sensor.width), min(y + h, sensor.height)
    if x0 < x1 and y0 < y1:
        out[y0:y1, x0:x1] = image[y0 - y : y1 - y, x0 - x : x1 - x]
    return out


class FrameQueue:
    """Frames waiting for the events: `take(t)` hands out, oldest first, those no newer than
    event time `t` and keeps the rest; only the newest `keep` are held, so a consumer that
    never takes them costs no memory."""

    def __init__(self, keep: int = FRAMES_KEPT) -> None:
        self._frames: deque[Frame] = deque(maxlen=keep)

    def put(self, frame: Frame) -> None:
        self._frames.append(frame)

    def take(self, upto_us: int | None) -> list[Frame]:
        if upto_us is None or not self._frames:
            return []
        ready = [f for f in self._frames if f.t_us <= upto_us]
        if ready:
            waiting = [f for f in self._frames if f.t_us > upto_us]
            self._frames.clear()
            self._frames.extend(waiting)
        return ready

    def clear(self) -> None:
        self._frames.clear()

    def __len__(self) -> int:
        return len(self._frames)
