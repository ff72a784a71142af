"""The view that keeps the mouth where the model learnt it: each bin's events moved by the activity
centroid of the events before it, checked against a per-bin NumPy reference; the same however
the stream is sliced; a mouth moved away comes back, one where the model learnt it stays."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.centring import DEAD_PX, EASE_EVENTS, HALF_LIFE_S, Centred, Centring
from stream.constants import BIN_US
from stream.events import SensorSize, make_events
from stream.mouth_place import mouth_place, activity_map, mouth_weights
from stream.transforms import HotPixels


def mouth(x: float, y: float, n: int = 20_000, seed: int = 0, duration_us: int = 600_000) -> np.ndarray:
    """`n` events spread like a mouth (wide and short) about (x, y), over `duration_us`."""
    rng = np.random.default_rng(seed)
    xs, ys = np.rint(rng.normal(x, 12, n)), np.rint(rng.normal(y, 5, n))
    keep = (xs >= 0) & (xs < 128) & (ys >= 0) & (ys < 128)
    t = np.sort(rng.integers(0, duration_us, keep.sum()))
    return make_events(t, xs[keep], ys[keep], rng.integers(0, 2, keep.sum()))


def reference(events: np.ndarray, x: float, y: float, sensor: SensorSize = SensorSize(128, 128)) -> np.ndarray:
    """Bin by bin from scratch: the weighted map of every earlier bin, its floor-free centroid, the
    offset beyond the dead zone eased in by the weighted count, rounded."""
    t0 = int(events["t"][0])
    index = np.floor((events["t"] - t0) / BIN_US).astype(np.int64)
    out, move = [], (0, 0)
    for b in np.unique(index):
        before = index < b
        counts = np.zeros((sensor.height, sensor.width))
        weight = 0.5 ** ((b - index[before]) * BIN_US / 1e6 / HALF_LIFE_S)
        np.add.at(counts, (events["y"][before].astype(int), events["x"][before].astype(int)), weight)
        w = mouth_weights(counts)
        if w.sum() > 0:
            ys, xs = np.indices(w.shape)
            cx, cy = (w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()
            ease = min(1.0, weight.sum() / EASE_EVENTS)
            beyond = [np.sign(d) * max(abs(d) - DEAD_PX, 0) for d in (x - cx, y - cy)]
            move = tuple(int(np.rint(ease * d)) for d in beyond)
        e = events[index == b]
        mx, my = e["x"].astype(int) + move[0], e["y"].astype(int) + move[1]
        keep = (mx >= 0) & (mx < sensor.width) & (my >= 0) & (my < sensor.height)
        out.append(make_events(e["t"][keep], mx[keep], my[keep], e["p"][keep]))
    return np.concatenate(out)


@settings(max_examples=10, deadline=None)
@given(dx=st.integers(-15, 15), dy=st.integers(-12, 12), seed=st.integers(0, 1000))
def test_each_bin_is_moved_by_the_centroid_of_the_events_before_it(dx, dy, seed):
    events = mouth(64 + dx, 66 + dy, n=6_000, seed=seed, duration_us=300_000)
    got = Centred(63.7, 66.5)(events)
    assert np.array_equal(got, reference(events, 63.7, 66.5))


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 8_000), max_size=12), seed=st.integers(0, 1000))
def test_the_same_however_the_stream_is_sliced(cuts, seed):
    events = mouth(74, 76, n=8_000, seed=seed, duration_us=400_000)
    whole = Centred(63.7, 66.5)(events)
    centring = Centring(63.7, 66.5)
    pieces = [centring.push(part) for part in np.split(events, sorted(cuts))]
    assert np.array_equal(np.concatenate(pieces), whole)


def test_an_event_is_moved_by_the_past_only():
    events = mouth(75, 57, n=20_000)
    cut = np.searchsorted(events["t"], 300_000)
    whole = Centred(63.7, 66.5)(events)
    assert np.array_equal(Centred(63.7, 66.5)(events[:cut]), whole[:cut])


@settings(max_examples=10, deadline=None)
@given(dx=st.integers(-14, 14), dy=st.integers(-10, 10), seed=st.integers(0, 1000))
def test_a_moved_mouth_comes_back_to_within_the_dead_zone(dx, dy, seed):
    events = mouth(63.7 + dx, 66.5 + dy, seed=seed)
    late = Centred(63.7, 66.5)(events)
    late = late[late["t"] > 150_000]  # once the first events have placed it
    place = mouth_place(activity_map([late])[0])
    assert abs(place.x - 63.7) <= DEAD_PX + 1 and abs(place.y - 66.5) <= DEAD_PX + 1


def test_a_mouth_where_the_model_learnt_it_is_left_alone_whatever_the_hot_pixels():
    events = HotPixels(4, rate_hz=2_000)(mouth(65, 68), np.random.default_rng(1))
    assert np.array_equal(Centred(63.7, 66.5)(events), events)


def test_a_larger_crop_places_the_mouth_about_its_centre():
    """A 160 px crop's centre is 16 px further on: the learnt place moves with it."""
    events = mouth(80 + 10, 82.5, n=10_000)
    big = Centring(63.7, 66.5, SensorSize(160, 160)).push(events)
    small = Centring(63.7, 66.5).push(make_events(events["t"], events["x"] - 16, events["y"] - 16, events["p"]))
    assert np.array_equal(big["x"] - 16, small["x"]) and np.array_equal(big["y"] - 16, small["y"])
