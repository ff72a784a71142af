"""The streaming binner against an independent NumPy implementation of the reference binning."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.binner import Binner, bin_clip, signed
from stream.constants import CLIP_BINS
from stream.events import SensorSize, make_events

S = SensorSize(128, 128)


def reference_dvslip(events, T=90):
    """The DVS-Lip reference code's binning, written out with np.add.at (no shared code)."""
    ts = np.round(events["t"].astype(np.int64) / (4e4 / (T / 30))).astype(int)
    keep = ts < T
    out = np.zeros((T, 2, 128, 128), np.float32)
    ch = np.where(events["p"][keep] == 0, 1, 0)
    np.add.at(out, (ts[keep], ch, events["y"][keep].astype(int), events["x"][keep].astype(int)), 1)
    return out


def reference_floor(events, sensor, bin_us, t0):
    idx = np.floor((events["t"] - t0) / bin_us).astype(int)
    n = idx.max() + 1 if len(idx) else 0
    out = np.zeros((n, 2, sensor.height, sensor.width), np.float32)
    np.add.at(out, (idx, np.where(events["p"] == 0, 1, 0), events["y"].astype(int), events["x"].astype(int)), 1)
    return out


@st.composite
def event_streams(draw, max_t=1_500_000, sensor=S, max_n=400):
    n = draw(st.integers(0, max_n))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, max_t, n))
    if n and draw(st.booleans()):  # events exactly on bin edges and rounding ties
        edges = (np.arange(n) * (4e4 / 3) / 2).astype(np.int64) % max_t
        t = np.sort(np.where(rng.random(n) < 0.5, edges, t))
    ev = make_events(t, rng.integers(0, sensor.width, n), rng.integers(0, sensor.height, n), rng.integers(0, 2, n))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    return ev, cuts


def stream_through(binner, events, cuts):
    parts = np.split(events, cuts)
    got = [binner.push(p) for p in parts] + [binner.flush()]
    index = np.concatenate([g.index for g in got])
    frames = np.concatenate([g.frames for g in got])
    return index, frames


@pytest.mark.slow
@settings(max_examples=50, deadline=None)
@given(event_streams())
def test_streaming_equals_reference_dvslip_binning(stream):
    events, cuts = stream
    binner = Binner(S, rounding="round", t0=0, max_bins=CLIP_BINS)
    index, frames = stream_through(binner, events, cuts)
    assert np.all(np.diff(index) == 1), "bins must come out in order, each once"
    got = np.zeros((CLIP_BINS, 2, 128, 128), np.float32)
    got[index] = frames
    np.testing.assert_array_equal(got, reference_dvslip(events))
    np.testing.assert_array_equal(bin_clip(events), reference_dvslip(events))


@settings(max_examples=100, deadline=None)
@given(event_streams(max_t=400_000, sensor=SensorSize(40, 30)), st.sampled_from([1000.0, 4e4 / 3, 5000.5]))
def test_streaming_floor_bins_equal_reference(stream, bin_us):
    events, cuts = stream
    sensor = SensorSize(40, 30)
    binner = Binner(sensor, bin_us=bin_us, rounding="floor", max_gap_bins=10**6)
    index, frames = stream_through(binner, events, cuts)
    if len(events) == 0:
        assert len(index) == 0
        return
    expected = reference_floor(events, sensor, bin_us, int(events["t"][0]))
    np.testing.assert_array_equal(index, np.arange(len(expected)))  # empty bins included
    np.testing.assert_array_equal(frames, expected)


def test_bin_is_emitted_as_soon_as_time_passes_its_end():
    b = Binner(S, bin_us=1000, rounding="floor", t0=0)
    assert len(b.push(make_events([10, 500], [1, 2], [1, 2], [1, 0]))) == 0
    closed = b.push(make_events([1000], [3], [3], [1]))
    assert list(closed.index) == [0]
    assert closed.frames[0, 0, 1, 1] == 1 and closed.frames[0, 1, 2, 2] == 1


def test_silence_advances_time_with_empty_bins():
    b = Binner(S, bin_us=1000, rounding="floor", t0=0)
    b.push(make_events([10], [1], [1], [1]))
    closed = b.advance(5_500)
    assert list(closed.index) == [0, 1, 2, 3, 4]
    assert closed.frames[0].sum() == 1 and closed.frames[1:].sum() == 0
    assert len(b.flush()) == 0  # nothing landed in bin 5


def test_long_gap_is_skipped_and_counted():
    b = Binner(S, bin_us=1000, rounding="floor", t0=0, max_gap_bins=100)
    b.push(make_events([10], [1], [1], [1]))
    closed = b.push(make_events([3_600_000_000], [1], [1], [1]))  # one hour later
    assert len(closed) == 1 and b.skipped_bins > 3_000_000
    assert list(b.flush().index) == [3_600_000]


def test_late_events_are_counted_not_binned():
    b = Binner(S, bin_us=1000, rounding="floor", t0=0)
    b.push(make_events([10, 2500], [1, 1], [1, 1], [1, 1]))
    b.push(make_events([100], [1], [1], [1]))
    assert b.late == 1


def test_signed_view_negates_off():
    f = np.zeros((2, 2, 2), np.float32)
    f[0, 0, 0], f[1, 1, 1] = 3, 2
    s = signed(f)
    assert s[0, 0, 0] == 3 and s[1, 1, 1] == -2 and f[1, 1, 1] == 2


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 5), st.integers(2, 50))
def test_gaps_inside_a_batch_are_skipped_without_losing_events(seed, n_gaps, max_gap):
    rng = np.random.default_rng(seed)
    sensor = SensorSize(16, 8)
    bursts = [np.sort(rng.integers(0, 20_000, 30)) + k * 10_000_000 for k in range(n_gaps + 1)]
    t = np.concatenate(bursts)
    ev = make_events(t, rng.integers(0, 16, len(t)), rng.integers(0, 8, len(t)), rng.integers(0, 2, len(t)))
    cuts = sorted(rng.integers(0, len(t), 3))
    binner = Binner(sensor, bin_us=1000, rounding="floor", max_gap_bins=max_gap)
    index, frames = stream_through(binner, ev, cuts)
    assert frames.sum() == len(ev)  # every event lands in some bin
    assert np.all(np.diff(index) > 0)
    expected = reference_floor(ev, sensor, 1000, int(ev["t"][0]))
    np.testing.assert_array_equal(frames, expected[index])  # each emitted bin is the right bin
    assert binner.skipped_bins > 0


def test_advance_over_a_long_silence_skips_it():
    b = Binner(S, bin_us=1000, rounding="floor", t0=0, max_gap_bins=100)
    b.push(make_events([10], [1], [1], [1]))
    closed = b.advance(10_000_000)
    assert list(closed.index) == [0] and closed.frames.sum() == 1
    assert b.skipped_bins == 9_999
    assert len(b.advance(10_002_000)) == 2


def test_late_events_are_counted_once_when_bins_are_capped():
    b = Binner(SensorSize(8, 8), bin_us=1000, rounding="round", t0=0, max_bins=5)
    b.push(make_events([10, 2500], [1, 1], [1, 1], [1, 1]))
    b.push(make_events([100, 9000], [1, 1], [1, 1], [1, 1]))  # one late event, one past the last bin
    assert (b.late, b.dropped_after_end) == (1, 1)
