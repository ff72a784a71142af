"""A real face for tests and demos of `--roi auto`: matplotlib's Grace Hopper portrait as the
APS frames of a DAVIS, moved across the sensor, and the events a DVS sees of that motion.

SynthLip's rendered mouths are no faces a face detector knows; this photo is (matplotlib, a
dependency, ships it). The mouth does not move: events come from the face moving.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import cv2
import numpy as np
from matplotlib.cbook import get_sample_data

from stream.events import SensorSize
from stream.face import CROP_PER_MOUTH, MouthBox
from stream.frames import Frame
from stream.synthlip.dvs import DvsConfig, DvsSimulator, log_intensity
from stream.writer import AedatWriter

# Read off grace_hopper.jpg (512 x 600) by eye: the lip line runs from x 226 to 304 at y 278.
PHOTO_MOUTH = (265.0, 278.0)
PHOTO_MOUTH_WIDTH = 78.0
PHOTO_SCALE = 0.7  # a face about 150 pixels wide: room to move on a 346 x 260 sensor


@functools.cache
def _photo() -> np.ndarray:
    return cv2.imread(str(get_sample_data("grace_hopper.jpg", asfileobj=False)), cv2.IMREAD_GRAYSCALE)


class PhotoFace(NamedTuple):
    """Frames of the photo and where its mouth is in each (the ground truth for a MouthFinder)."""

    frames: list[Frame]
    mouths: list[MouthBox]


def place_photo(sensor: SensorSize, mouth: tuple[float, float], scale: float = PHOTO_SCALE) -> np.ndarray:
    """The photo scaled by `scale` with its mouth centre at sensor pixel `mouth`, as a grey
    sensor-sized image (the photo's edge pixels repeat where it does not reach)."""
    s = float(scale)
    m = np.float32([[s, 0, mouth[0] - s * PHOTO_MOUTH[0]], [0, s, mouth[1] - s * PHOTO_MOUTH[1]]])
    flags = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(_photo(), m, (sensor.width, sensor.height), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def photo_face_frames(sensor: SensorSize, centre_track, times_us, scale: float = PHOTO_SCALE) -> PhotoFace:
    """One frame per time in `times_us`, the mouth centred on the matching (x, y) of `centre_track`."""
    side = PHOTO_MOUTH_WIDTH * scale * CROP_PER_MOUTH
    frames, mouths = [], []
    for (x, y), t in zip(centre_track, times_us):
        frames.append(Frame(int(t), place_photo(sensor, (x, y), scale)))
        mouths.append(MouthBox(float(x), float(y), side))
    return PhotoFace(frames, mouths)


def photo_face_events(sensor: SensorSize, centre_track, times_us, scale: float = PHOTO_SCALE,
                      seed: int = 0) -> np.ndarray:
    """The events of the photo moving along `centre_track` (SynthLip's DVS model; a dense track,
    a millisecond or two a step, gives smooth motion)."""
    sim = DvsSimulator(sensor.height, sensor.width, DvsConfig(), np.random.default_rng(seed))
    for (x, y), t in zip(centre_track, times_us):
        sim.step(log_intensity(place_photo(sensor, (x, y), scale) / np.float32(255)), float(t))
    return sim.events()


def write_photo_recording(path, sensor: SensorSize, centre_track, times_us, frame_every: int = 20,
                          scale: float = PHOTO_SCALE, seed: int = 0) -> PhotoFace:
    """A DAVIS-style AEDAT4 recording: the events of the whole (dense) track and an APS frame
    at every `frame_every`-th step, interleaved in time; returns the frames written."""
    track, times = list(centre_track), [int(t) for t in times_us]
    events = photo_face_events(sensor, track, times, scale, seed)
    photo = photo_face_frames(sensor, track[::frame_every], times[::frame_every], scale)
    with AedatWriter(path, sensor, "DAVIS346_photo", frames=True) as w:
        done = 0
        for frame in photo.frames:
            upto = int(np.searchsorted(events["t"], frame.t_us, side="right"))
            w.write(events[done:upto])
            w.write_frame(frame)
            done = upto
        w.write(events[done:])
    return photo
