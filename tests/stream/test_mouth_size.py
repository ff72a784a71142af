"""`MouthSize`: the width of a mouth measured from the words read, against the moments of the
blob the events were drawn from; rest counts for nothing; no width before MIN_WORDS words; no
resize within SPREAD of the learnt width."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.events import SensorSize, make_events
from stream.mouth_size import MIN_WORDS, SPREAD, MouthSize

SENSOR = SensorSize(128, 128)


def blob(rng, n, sd_x, sd_y=4.0, centre=(64.0, 68.0)):
    """`n` events of a mouth-like blob: sd `sd_x` px across, `sd_y` px high."""
    x = np.clip(np.rint(rng.normal(centre[0], sd_x, n)), 0, 127)
    y = np.clip(np.rint(rng.normal(centre[1], sd_y, n)), 0, 127)
    return make_events(np.zeros(n, np.int64), x, y, rng.integers(0, 2, n))


def speak(size, rng, words, sd_x, rest_events=None, first_bin=0):
    """`words` words of 10 bins each, 4 rest bins between them (holding `rest_events` if given)."""
    index = first_bin
    for _ in range(words):
        for _ in range(10):
            size.see(blob(rng, 200, sd_x), index)
            size.step(index, speaking=True)
            index += 1
        size.word_read()
        for _ in range(4):
            if rest_events is not None:
                size.see(rest_events, index)
            size.step(index, speaking=False)
            index += 1
    return index


@settings(max_examples=20, deadline=None)
@given(st.floats(12.0, 30.0), st.integers(0, 2**31))  # 0.63-1.58 x the 19 px learnt
def test_the_width_is_the_blobs_spread_and_the_resize_matches_the_learnt_width(sd_x, seed):
    size = MouthSize(SENSOR)
    speak(size, np.random.default_rng(seed), MIN_WORDS, sd_x)
    assert size.place.width == pytest.approx(sd_x, rel=0.06)
    ratio = size.place.width / 19.0
    if 1 / SPREAD <= ratio <= SPREAD:  # as wide as the speakers the model learnt from: read as it is
        assert size.resize_to(19.0) is None
    else:
        assert size.resize_to(19.0) == pytest.approx(19.0 / sd_x, rel=0.06)


def test_no_width_before_enough_words_were_read():
    size = MouthSize(SENSOR)
    rng = np.random.default_rng(0)
    speak(size, rng, MIN_WORDS - 1, 25.0)
    assert size.place is None and size.resize_to(19.0) is None
    speak(size, rng, 1, 25.0, first_bin=100)
    assert size.resize_to(19.0) == pytest.approx(19.0 / 25.0, rel=0.05)


def test_activity_at_rest_counts_for_nothing():
    """A hand waving at the crop's edge between words does not widen the mouth."""
    rng = np.random.default_rng(1)
    quiet, busy = MouthSize(SENSOR), MouthSize(SENSOR)
    hand = blob(rng, 3000, 3.0, 3.0, centre=(10.0, 20.0))
    speak(quiet, np.random.default_rng(2), 4, 19.0)
    speak(busy, np.random.default_rng(2), 4, 19.0, rest_events=hand)
    assert busy.place.width == quiet.place.width and busy.place.x == quiet.place.x


def test_a_width_no_camera_gives_is_no_mouth():
    size = MouthSize(SENSOR)
    speak(size, np.random.default_rng(3), MIN_WORDS, 40.0)  # 2.1 x as wide as 19 px: not a mouth crop
    assert size.place is not None and size.resize_to(19.0) is None
