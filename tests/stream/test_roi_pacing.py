"""ROI crop / downscale and replay pacing."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.errors import SpikeLipError
from stream.events import SensorSize, make_events
from stream.pacing import paced
from stream.roi import Crop, Roi, default_roi
from stream.sources.synthetic import SyntheticSource


def test_default_roi_is_centred_128_for_large_sensors():
    assert default_roi(SensorSize(346, 260)) == Roi(109, 66, 128, 128)
    assert default_roi(SensorSize(640, 480), scale=2) == Roi(192, 112, 256, 256)
    assert default_roi(SensorSize(128, 128)) == Roi(0, 0, 128, 128)
    assert default_roi(SensorSize(64, 48)) == Roi(0, 0, 64, 48)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 4))
def test_crop_keeps_exactly_the_events_inside(seed, scale):
    rng = np.random.default_rng(seed)
    sensor = SensorSize(346, 260)
    n = 500
    ev = make_events(np.arange(n), rng.integers(0, 346, n), rng.integers(0, 260, n), rng.integers(0, 2, n))
    roi = Roi(int(rng.integers(0, 100)), int(rng.integers(0, 100)), 40 * scale, 30 * scale)
    crop = Crop(sensor, roi, scale)
    out = crop(ev)
    inside = (ev["x"] >= roi.x) & (ev["x"] < roi.x + roi.w) & (ev["y"] >= roi.y) & (ev["y"] < roi.y + roi.h)
    assert len(out) == inside.sum() and crop.dropped == n - inside.sum()
    np.testing.assert_array_equal(out["x"], (ev["x"][inside] - roi.x) // scale)
    np.testing.assert_array_equal(out["y"], (ev["y"][inside] - roi.y) // scale)
    np.testing.assert_array_equal(out["t"], ev["t"][inside])
    assert crop.sensor == SensorSize(40, 30)
    assert out["x"].max(initial=0) < 40 and out["y"].max(initial=0) < 30


def test_roi_errors_are_clear():
    with pytest.raises(SpikeLipError, match="four integers"):
        Roi.parse("1,2,3")
    with pytest.raises(SpikeLipError, match="does not fit the 128x128 sensor"):
        Crop(SensorSize(128, 128), Roi(100, 0, 64, 64))


def test_fast_replay_passes_batches_through():
    batches = list(SyntheticSource(rate_eps=50_000, duration_s=0.05))
    out = list(paced(iter(batches), speed=None))
    assert [len(e) for e, _ in out] == [len(b) for b in batches if len(b)]


def test_paced_replay_follows_timestamps_with_a_fake_clock():
    now = [0.0]
    waits = []

    def sleep(s):
        waits.append(s)
        now[0] += s

    ev = make_events([0, 1500, 9000], [0, 1, 2], [0, 0, 0], [1, 1, 1])
    out = list(paced([ev], speed=2.0, slice_us=1000, clock=lambda: now[0], sleep=sleep))
    assert sum(len(e) for e, _ in out) == 3
    # the last slice ends at 10 ms of stream time, due after 5 ms at 2x
    assert now[0] == pytest.approx(0.005)
    for events, now_us in out:
        assert (events["t"] < now_us).all()
    assert [n for _, n in out] == list(range(1000, 10_001, 1000))


def test_paced_replay_reads_the_source_lazily():
    pulled = []

    def source():
        for k in range(1000):
            pulled.append(k)
            yield make_events([k * 1000 + 10], [0], [0], [1])

    it = paced(source(), speed=1e6, slice_us=1000)
    next(it)
    next(it)
    assert len(pulled) <= 4  # one slice ahead, never the whole file
