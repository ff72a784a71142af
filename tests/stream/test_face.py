"""MouthFinder on a real face (matplotlib's Grace Hopper portrait placed on DAVIS-sized frames),
on frames without one, and the photo recording helper read back through the AEDAT4 reader."""
from __future__ import annotations

import math

import dlib
import numpy as np
import pytest

from stream.events import SensorSize
from stream.face import MouthBox, MouthFinder
from stream.sources.aedat4 import AedatFileSource
from stream.synthlip.photo import photo_face_frames, place_photo, write_photo_recording

DAVIS = SensorSize(346, 260)


@pytest.fixture(scope="module")
def finder() -> MouthFinder:
    return MouthFinder()


def near(found: MouthBox | None, truth: MouthBox) -> bool:
    """Off by less than a fifth of the crop, so the mouth (0.58 of the crop wide) stays inside
    it, and a crop side within a third of the truth (the detector's box comes in steps)."""
    return (
        found is not None
        and math.hypot(found.cx - truth.cx, found.cy - truth.cy) < 0.2 * truth.side
        and 0.75 < found.side / truth.side < 1.35
    )


@pytest.mark.parametrize("scale", [0.4, 0.7, 0.9])
@pytest.mark.parametrize("mouth", [(173, 130), (140, 115), (215, 150), (160, 175)])
def test_the_mouth_of_a_real_face_is_found(finder, scale, mouth):
    frames, truths = photo_face_frames(DAVIS, [mouth], [0], scale)
    assert near(finder.find(frames[0].image), truths[0])


def test_a_small_face_needs_the_second_look(finder):
    image = place_photo(DAVIS, (173, 130), 0.25)  # a face about 55 pixels wide
    assert MouthFinder(upsample=False).find(image) is None
    assert near(finder.find(image), photo_face_frames(DAVIS, [(173, 130)], [0], 0.25).mouths[0])


def test_the_largest_face_wins(finder):
    small, large = ((80, 150), 0.35), ((250, 140), 0.75)
    image = place_photo(DAVIS, *small)
    image[:, 150:] = place_photo(DAVIS, *large)[:, 150:]
    assert len(dlib.get_frontal_face_detector()(image, 1)) == 2  # both faces are there
    assert near(finder.find(image), photo_face_frames(DAVIS, [large[0]], [0], large[1]).mouths[0])


def test_no_face_no_mouth(finder):
    rng = np.random.default_rng(0)
    assert finder.find(np.zeros((260, 346), np.uint8)) is None
    assert finder.find(np.full((260, 346), 128, np.uint8)) is None
    for _ in range(3):
        assert finder.find(rng.integers(0, 256, (260, 346), dtype=np.uint8)) is None


def test_a_photo_recording_drifting_20_pixels_is_followed(tmp_path, finder):
    path = tmp_path / "photo.aedat4"
    n = 150  # 2 ms steps: 0.3 s, a frame every 40 ms
    times = 1_000_000 + 2_000 * np.arange(n)
    track = np.stack([np.linspace(160, 180, n), np.linspace(128, 134, n)], 1)
    photo = write_photo_recording(path, DAVIS, track, times, frame_every=20)
    assert len(photo.frames) == 8 and photo.mouths[0].cx == 160 and photo.mouths[-1].cx > 178
    src = AedatFileSource(path, want_frames=True, batch_events=20_000)
    assert "frames" in src.streams and src.sensor == DAVIS
    found, n_events = [], 0
    for batch in src:
        n_events += len(batch)
        found += [(f.t_us, finder.find(f.image)) for f in src.take_frames()]
    assert n_events > 10_000 and src.warnings == []
    assert [t for t, _ in found] == [f.t_us for f in photo.frames[: len(found)]] and len(found) >= 7
    assert all(near(m, truth) for (_, m), truth in zip(found, photo.mouths))
    assert 10 < found[-1][1].cx - found[0][1].cx < 30  # the drift is seen
