"""`--roi auto`'s tracker on event streams whose mouth we place: it finds a word's activity, puts
the crop where speech sat in the training crops, never moves during a word or while a word may
be starting, is not pulled by head motion, a hot pixel or motion far from a mouth it found, and
follows a face found in APS frames. `Crop.move` is checked against a per-event reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.constants import BIN_US
from stream.events import EVENT_DTYPE, SensorSize
from stream.face import MouthBox
from stream.frames import Frame
from stream.mouth_tracker import ACTIVITY_OFFSET_PX, SEARCH_PX, FollowingCrop, MouthTracker
from stream.roi import Crop, Roi

SENSOR = SensorSize(346, 260)


def blob(rng, centre, n, t0=0, sd=(12.0, 6.0)) -> np.ndarray:
    """`n` events around `centre` (a mouth moving: wide and flat), inside one bin from t0."""
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = np.clip(np.round(rng.normal(centre[0], sd[0], n)), 0, SENSOR.width - 1)
    ev["y"] = np.clip(np.round(rng.normal(centre[1], sd[1], n)), 0, SENSOR.height - 1)
    ev["t"] = t0 + np.sort(rng.integers(0, int(BIN_US), n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


def feed(tracker, bins, rng):
    """bins: a list of (speaking, [(centre, events), ...]); returns the ROI moves per bin."""
    moves = []
    for index, (speaking, sources) in enumerate(bins):
        for centre, n in sources:
            tracker.see(blob(rng, centre, n, t0=int(index * BIN_US)), index)
        moves.append(tracker.step(index, speaking, settled=not speaking))
    return moves


def centre_of(roi: Roi) -> tuple[float, float]:
    return roi.x + roi.w / 2, roi.y + roi.h / 2


@pytest.mark.parametrize("start", [(245.0, 165.0), (215.0, 150.0)])
def test_after_a_word_the_crop_holds_its_activity_where_training_crops_do(start):
    """The crop hears a word off-centre. Near enough, it stays until the word ends; farther, it
    moves once early in the word (a chase, which the pipeline follows with a re-read). After the
    word it holds the word's activity where the training crops hold speech."""
    rng = np.random.default_rng(0)
    mouth = (251.0, 171.0)
    tracker = MouthTracker(SENSOR, centre=start)
    bins = [(False, [])] * 5 + [(True, [(mouth, 600)])] * 30 + [(False, [])] * 5
    moves = feed(tracker, bins, rng)
    during = [i for i, m in enumerate(moves[:35]) if m is not None]
    far = np.hypot(start[0] - mouth[0], start[1] - mouth[1]) > 20
    assert len(during) == (1 if far else 0) and all(i < 10 for i in during)
    cx, cy = centre_of(tracker.roi)
    assert abs(cx - (mouth[0] - ACTIVITY_OFFSET_PX[0])) <= 1.0
    assert abs(cy - (mouth[1] - ACTIVITY_OFFSET_PX[1])) <= 1.0
    assert tracker.locked and sum(m is not None for m in moves[35:]) <= 1


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(0, 3)), min_size=1, max_size=80), st.integers(0, 2**32 - 1))
def test_unsettled_moves_are_only_first_word_chases(flags, seed):
    """Whatever the activity, a bin that is speaking or not settled gets no move, except a chase
    of speech the crop missed before any word was found (flagged for a re-read), at most once
    until the lips settle."""
    rng = np.random.default_rng(seed)
    tracker = MouthTracker(SENSOR)
    places = [(60.0, 60.0), (280.0, 200.0), (173.0, 130.0), (300.0, 40.0)]
    chased = False
    for index, (speaking, settled, where) in enumerate(flags):
        tracker.see(blob(rng, places[where], 800, t0=int(index * BIN_US)), index)
        was_locked = tracker.locked
        move = tracker.step(index, speaking, settled and not speaking)
        if move is not None and (speaking or not settled):
            assert tracker.missed_speech and not was_locked and not chased
        if tracker.missed_speech:
            chased = True
        elif settled and not speaking:
            chased = False


def test_a_word_far_from_the_crop_is_found_before_the_segmenter_hears_it():
    """The crop sees nothing of a word spoken 90 px away, so no word is under way for the
    segmenter; the speech-level activity alone moves the crop there within a few bins."""
    rng = np.random.default_rng(1)
    tracker = MouthTracker(SENSOR)
    mouth = (260.0, 190.0)
    moves = feed(tracker, [(False, [(mouth, 500)])] * 20, rng)
    first = next(i for i, m in enumerate(moves) if m is not None)
    assert first <= 8 and sum(m is not None for m in moves) == 1
    cx, cy = centre_of(moves[first])
    assert np.hypot(cx - mouth[0], cy - mouth[1]) < 12
    assert tracker.missed_speech or moves[-1] is None
    assert not tracker.locked  # only a word, heard by the segmenter, locks it


def test_head_motion_and_a_hot_pixel_at_rest_do_not_move_it():
    rng = np.random.default_rng(2)
    tracker = MouthTracker(SENSOR)
    moves = []
    for index in range(400):  # 5 s of rest: face edges moving a little, one pixel firing 120 Hz
        edges = blob(rng, (173.0, 100.0), 25, t0=int(index * BIN_US), sd=(60.0, 50.0))
        hot = np.zeros(2, EVENT_DTYPE)
        hot["x"], hot["y"], hot["t"] = 20, 20, int(index * BIN_US) + np.array([100, 5000])
        tracker.see(np.sort(np.concatenate([edges, hot]), order="t"), index)
        moves.append(tracker.step(index, False, True))
    assert all(m is None for m in moves)


def test_once_locked_motion_elsewhere_cannot_pull_it():
    rng = np.random.default_rng(3)
    mouth, hand = (120.0, 140.0), (290.0, 80.0)  # the hand is far beyond SEARCH_PX
    assert np.hypot(hand[0] - mouth[0], hand[1] - mouth[1]) > 2 * SEARCH_PX
    tracker = MouthTracker(SENSOR, centre=(125.0, 135.0))
    word = [(True, [(mouth, 600), (hand, 900)])] * 30
    rest = [(False, [(hand, 900)])] * 40
    moves = feed(tracker, word + rest + word + rest, rng)
    placed = [centre_of(m) for m in moves if m is not None]
    assert tracker.locked and placed
    for cx, cy in placed:
        assert np.hypot(cx - mouth[0], cy - (mouth[1] - ACTIVITY_OFFSET_PX[1])) < 4


def test_the_crop_stays_on_the_sensor():
    rng = np.random.default_rng(4)
    tracker = MouthTracker(SENSOR, centre=(40.0, 40.0))
    moves = feed(tracker, [(True, [((8.0, 6.0), 600)])] * 20 + [(False, [])] * 3, rng)
    roi = next(m for m in moves if m is not None)
    assert roi.x >= 0 and roi.y >= 0 and roi.x + roi.w <= SENSOR.width and roi.y + roi.h <= SENSOR.height
    assert (roi.x, roi.y) == (0, 0)


class FakeFinder:
    """Finds the mouth at `where` (None: no face) and counts its calls."""

    def __init__(self, where):
        self.where, self.calls = where, 0

    def find(self, image):
        self.calls += 1
        return None if self.where is None else MouthBox(self.where[0], self.where[1], 60.0)


def test_a_face_in_the_frames_places_the_crop_and_later_only_a_far_move_counts():
    finder = FakeFinder((250.0, 180.0))
    tracker = MouthTracker(SENSOR, finder=finder)
    image = np.zeros((SENSOR.height, SENSOR.width), np.uint8)
    tracker.see_frame(Frame(0, image))
    roi = tracker.step(0, False, True)
    assert roi is not None and centre_of(roi) == (250.0, 180.0) and tracker.locked
    tracker.see_frame(Frame(100_000, image))  # too soon: not searched again
    assert finder.calls == 1
    finder.where = (255.0, 183.0)  # the detector's box jitters: no move
    tracker.see_frame(Frame(600_000, image))
    assert tracker.step(1, False, True) is None
    finder.where = (150.0, 100.0)  # it moved far between words
    tracker.see_frame(Frame(1_200_000, image))
    roi = tracker.step(2, False, True)
    assert roi is not None and centre_of(roi) == (150.0, 100.0)
    tracker.step(3, True, False)  # during a word frames are not even searched
    tracker.see_frame(Frame(2_000_000, image))
    assert finder.calls == 3


def test_following_crop_starts_centred_and_on_a_small_sensor_covers_it():
    crop = FollowingCrop(SENSOR)
    assert crop.roi == Roi(109, 66, 128, 128)
    clip = FollowingCrop(SensorSize(128, 128))
    assert clip.roi == Roi(0, 0, 128, 128)
    assert FollowingCrop(SensorSize(640, 480), scale=2).roi == Roi(192, 112, 256, 256)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 100), st.integers(0, 346 - 128), st.integers(0, 260 - 128),
       st.booleans())
def test_crop_move_takes_effect_at_its_time(seed, n, x, y, at_next):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 100_000, n))
    ev["x"], ev["y"] = rng.integers(0, 346, n), rng.integers(0, 260, n)
    ev["p"] = rng.integers(0, 2, n)
    at_us = None if at_next else int(rng.integers(0, 100_000))
    crop = Crop(SENSOR, Roi(109, 66, 128, 128))
    new = Roi(x, y, 128, 128)
    crop.move(new, at_us)
    out = crop(ev)
    # reference: each event judged against the ROI in force at its time
    rows = []
    for e in ev:
        r = new if at_us is None or e["t"] >= at_us else Roi(109, 66, 128, 128)
        if r.x <= e["x"] < r.x + r.w and r.y <= e["y"] < r.y + r.h:
            rows.append((e["t"], e["x"] - r.x, e["y"] - r.y, e["p"]))
    expected = np.array(rows, EVENT_DTYPE) if rows else np.zeros(0, EVENT_DTYPE)
    np.testing.assert_array_equal(out, expected)
    if n and (at_us is None or ev["t"][-1] >= at_us):
        assert crop.roi == new


def test_crop_move_keeps_the_size_and_the_sensor():
    crop = Crop(SENSOR)
    with pytest.raises(ValueError, match="keeps its size"):
        crop.move(Roi(0, 0, 64, 64))
    with pytest.raises(Exception, match="does not fit"):
        crop.move(Roi(300, 0, 128, 128))
