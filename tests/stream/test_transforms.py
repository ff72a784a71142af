"""Event-level shifts: each checked against what it must do to any clip, with hypothesis."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.events import EVENT_DTYPE, SensorSize, make_events
from stream.transforms import (SHIFTS, Affine, BackgroundNoise, Compose, DropEvents, HotPixels, RandomShift,
                               Refractory, TimeScale)

S = SensorSize(128, 128)


@st.composite
def clips(draw, max_events=400):
    n = draw(st.integers(0, max_events))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 1_200_000, n))
    return make_events(t, rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))


def valid(events):
    assert events.dtype == EVENT_DTYPE
    assert np.all(np.diff(events["t"]) >= 0)
    assert np.all((events["x"] >= 0) & (events["x"] < 128) & (events["y"] >= 0) & (events["y"] < 128))


@given(clips(), st.integers(0, 2**31))
def test_every_transform_keeps_a_valid_time_ordered_clip(events, seed):
    for shift in [*SHIFTS.values(), RandomShift()]:
        valid(shift(events, np.random.default_rng(seed)))


@given(clips(), st.integers(-20, 20), st.integers(-20, 20))
def test_a_move_shifts_every_event_that_stays_on_the_sensor(events, dx, dy):
    out = Affine(1.0, dx=dx, dy=dy)(events, np.random.default_rng(0))
    x, y = events["x"].astype(int) + dx, events["y"].astype(int) + dy
    inside = (x >= 0) & (x < 128) & (y >= 0) & (y < 128)
    assert np.array_equal(out["x"], x[inside]) and np.array_equal(out["y"], y[inside])
    assert np.array_equal(out["t"], events["t"][inside]) and np.array_equal(out["p"], events["p"][inside])


def test_scaling_up_spreads_a_mouth_over_its_larger_area():
    rng = np.random.default_rng(0)
    n = 40_000
    x, y = rng.integers(44, 84, n), rng.integers(54, 74, n)  # a 40 x 20 px mouth at the centre
    events = make_events(np.sort(rng.integers(0, 10**6, n)), x, y, rng.integers(0, 2, n))
    out = Affine(1.5)(events, rng)
    assert np.ptp(out["x"]) == pytest.approx(1.5 * np.ptp(x), abs=2)
    assert np.ptp(out["y"]) == pytest.approx(1.5 * np.ptp(y), abs=2)
    covered = len(np.unique(out["y"].astype(int) * 128 + out["x"]))
    assert covered > 0.9 * (1.5 * 40) * (1.5 * 20)  # no grid of holes


@given(st.floats(0.5, 1.7), st.integers(0, 2**31))
def test_a_resized_mouth_fires_in_proportion_to_its_area(scale, seed):
    """A mouth k x as large covers k^2 as many pixels, each as busy: k^2 as many events."""
    rng = np.random.default_rng(seed)
    n = 40_000
    x, y = rng.integers(54, 74, n), rng.integers(59, 69, n)  # 20 x 10 px: stays on the sensor at 1.7 x
    events = make_events(np.sort(rng.integers(0, 10**6, n)), x, y, rng.integers(0, 2, n))
    out = Affine(scale)(events, rng)
    assert len(out) == pytest.approx(scale**2 * n, rel=0.05)  # > 5 binomial sd
    valid(out)


def test_a_quarter_turn_maps_the_axes():
    events = make_events([0, 1], [100, 64], [63, 10], [1, 0])
    out = Affine(1.0, rotate_deg=90)(events, np.random.default_rng(0))
    # about the centre (63.5, 63.5): (x, y) -> (63.5 - (y - 63.5), 63.5 + (x - 63.5))
    assert out["x"].tolist() == [64, 117] and out["y"].tolist() == [100, 64]


@given(clips(), st.floats(0, 1))
def test_dropping_keeps_a_subset_of_about_the_right_size(events, fraction):
    out = DropEvents(fraction)(events, np.random.default_rng(1))
    assert len(out) <= len(events)
    assert np.isin(out, events).all()
    if len(events) >= 200:
        assert len(out) / len(events) == pytest.approx(1 - fraction, abs=0.15)


@given(clips(), st.floats(0, 1))
def test_noise_adds_events_and_keeps_every_original(events, fraction):
    out = BackgroundNoise(fraction)(events, np.random.default_rng(2))
    assert len(out) >= len(events)
    assert np.isin(events, out).all()
    if len(out):
        assert out["t"][0] >= events["t"][0] and out["t"][-1] <= events["t"][-1]


def test_hot_pixels_fire_at_their_rate_on_few_pixels():
    events = make_events([0, 2_000_000], [0, 0], [0, 0], [1, 1])
    out = HotPixels(3, rate_hz=500)(events, np.random.default_rng(3))
    added = len(out) - 2
    assert added == pytest.approx(3 * 500 * 2, rel=0.1)
    assert len(np.unique(out["y"].astype(int) * 128 + out["x"])) <= 4


@given(clips(max_events=300), st.integers(0, 100_000))
def test_refractory_matches_a_per_pixel_reference(events, period):
    out = Refractory(period)(events, np.random.default_rng(0))
    last = {}
    keep = []
    for e in events:  # reference: an event within `period` of the pixel's previous event is dropped
        key = (int(e["x"]), int(e["y"]))
        keep.append(key not in last or e["t"] - last[key] >= period)
        last[key] = e["t"]
    assert np.array_equal(out, events[np.array(keep, bool)] if len(events) else events)


@given(clips(), st.floats(0.5, 2.0))
def test_time_scale_stretches_from_the_first_event(events, factor):
    out = TimeScale(factor)(events, np.random.default_rng(0))
    assert len(out) == len(events)
    if len(events):
        expect = events["t"][0] + np.rint((events["t"] - events["t"][0]) * factor)
        assert np.array_equal(out["t"], expect.astype(np.int64))


@settings(max_examples=20)
@given(clips(), st.integers(0, 2**31))
def test_the_same_seed_gives_the_same_shift(events, seed):
    a = RandomShift()(events, np.random.default_rng(seed))
    b = RandomShift()(events, np.random.default_rng(seed))
    assert np.array_equal(a, b)


def test_compose_applies_in_order():
    events = make_events([0, 10, 20], [1, 2, 3], [1, 2, 3], [1, 1, 1])
    out = Compose(Affine(1.0, dx=1), TimeScale(2.0))(events, np.random.default_rng(0))
    assert out["x"].tolist() == [2, 3, 4] and out["t"].tolist() == [0, 20, 40]


@settings(max_examples=20)
@given(clips(), st.integers(0, 2**31))
def test_a_shift_of_no_strength_changes_nothing(events, seed):
    out = RandomShift().scaled(0)(events, np.random.default_rng(seed))
    assert np.array_equal(out, events)


def test_strength_scales_every_reach():
    half = RandomShift().scaled(0.5)
    assert half.scale == pytest.approx((0.8**0.5, 1.4**0.5)) and half.drop == 0.3 and half.offset_px == 6
    assert half.time_scale == pytest.approx((0.85**0.5, 1.2**0.5)) and half.hot_pixels == 2


def test_a_fraction_of_the_clips_is_shifted_and_the_rest_pass_unchanged():
    rng = np.random.default_rng(1)
    n = 2000
    events = make_events(np.sort(rng.integers(0, 1_000_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n),
                         rng.integers(0, 2, n))
    draws = 400
    changed = sum(not np.array_equal(RandomShift(fraction=0.3)(events, np.random.default_rng(k)), events)
                  for k in range(draws))
    assert abs(changed - 0.3 * draws) < 4 * np.sqrt(draws * 0.3 * 0.7)  # binomial: 4 standard deviations
    assert all(np.array_equal(RandomShift(fraction=0.0)(events, np.random.default_rng(k)), events) for k in range(20))
    assert RandomShift(fraction=0.3).scaled(0.5).fraction == 0.3
