"""Where clips' mouths sit: a known blob of events is found where it was drawn, at its width, and
the move `undo_move` makes takes a resized, moved blob back to the original."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.events import make_events
from stream.mouth_place import MouthPlace, activity_map, mouth_place, undo_move
from stream.transforms import Affine, BackgroundNoise, HotPixels


def blob(x: float, y: float, width: float, n: int = 40_000, seed: int = 0, angle: float = 0.0) -> np.ndarray:
    """`n` events drawn from a normal spread of sd `width` along an axis `angle` degrees clockwise
    from the x axis and width / 2 across it, about (x, y)."""
    rng = np.random.default_rng(seed)
    along, across = rng.normal(0, width, n), rng.normal(0, width / 2, n)
    a = np.radians(angle)
    xs = np.rint(x + along * np.cos(a) - across * np.sin(a))
    ys = np.rint(y + along * np.sin(a) + across * np.cos(a))
    keep = (xs >= 0) & (xs < 128) & (ys >= 0) & (ys < 128)
    t = np.arange(keep.sum()) * 10
    return make_events(t, xs[keep], ys[keep], rng.integers(0, 2, keep.sum()))


def test_activity_map_counts_every_event_at_its_pixel():
    events = blob(60, 70, 12)
    counts, n = activity_map([events[:1000], events[1000:]])
    expected = np.zeros((128, 128), np.int64)
    np.add.at(expected, (events["y"].astype(int), events["x"].astype(int)), 1)
    assert n == 2 and np.array_equal(counts, expected)


@settings(max_examples=25, deadline=None)
@given(x=st.floats(50, 78), y=st.floats(50, 78), width=st.floats(8, 18), angle=st.floats(-30, 30))
def test_a_blob_is_found_where_it_was_drawn(x, y, width, angle):
    place = mouth_place(activity_map([blob(x, y, width, angle=angle)])[0])
    assert abs(place.x - x) < 0.5 and abs(place.y - y) < 0.5
    assert abs(place.width / width - 1) < 0.08  # the floor (median pixel) trims the far tails a little
    assert abs(place.angle - angle) < 1.5


def test_uniform_noise_is_taken_off_as_the_floor():
    """Over many clips (here 1 M events, a few hundred clips' worth) noise is an even floor."""
    rng = np.random.default_rng(1)
    clean = blob(64, 66, 15, n=1_000_000)
    noisy = BackgroundNoise(0.3)(clean, rng)
    a, b = (mouth_place(activity_map([e])[0]) for e in (clean, noisy))
    assert abs(b.width / a.width - 1) < 0.05 and abs(b.x - a.x) < 0.5


def test_hot_pixels_do_not_pull_the_place():
    """A clip's hot pixels (here 40 clips' worth, each with 4 at 200 Hz for 10 s) are single pixels
    far busier than the mouth: each is replaced by its 3 x 3 median."""
    rng = np.random.default_rng(3)
    clean = [blob(64, 66, 15, n=20_000, seed=k) for k in range(40)]
    hot = [HotPixels(4)(np.concatenate([e, make_events([10_000_000], [0], [0], [1])]), rng) for e in clean]
    a, b = (mouth_place(activity_map(clips)[0]) for clips in (clean, hot))
    assert sum(len(e) for e in hot) > 1.1 * sum(len(e) for e in clean)  # the hot pixels fired
    assert abs(b.width / a.width - 1) < 0.02 and abs(b.x - a.x) < 0.3 and abs(b.y - a.y) < 0.3


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(0.75, 1.3), turn=st.one_of(st.floats(-15, -6.5), st.floats(-3.5, 3.5), st.floats(6.5, 15)),
       dx=st.floats(-12, 12), dy=st.floats(-12, 12))
def test_undo_move_takes_a_moved_mouth_back(scale, turn, dx, dy):
    rng = np.random.default_rng(2)
    learnt_events = blob(63.5, 67, 14, angle=1.0)
    learnt = mouth_place(activity_map([learnt_events])[0])
    seen_events = Affine(scale, rotate_deg=turn, dx=dx, dy=dy)(learnt_events, rng)
    seen = mouth_place(activity_map([seen_events])[0])
    move = undo_move(seen, learnt)
    turned = abs(turn) > 5  # a smaller turn is a speaker's own: left as it is
    assert abs(move.scale * scale - 1) < 0.06 and abs(move.rotate_deg - (-turn if turned else 0)) < 1.5
    back = mouth_place(activity_map([move(seen_events, rng)])[0])
    assert abs(back.x - learnt.x) < 1.0 and abs(back.y - learnt.y) < 1.0
    assert abs(back.width / learnt.width - 1) < 0.06 and abs(back.angle - learnt.angle) < (1.5 if turned else 5)


def test_a_place_survives_its_dict():
    place = MouthPlace(63.123, 66.456, 19.049, angle=1.234, clips=10, events=1234)
    again = MouthPlace.from_dict(place.as_dict())
    assert again == MouthPlace(63.12, 66.46, 19.05, 1.23, 10, 1234)
    assert MouthPlace.from_dict({"x": 1, "y": 2, "width": 3}).angle == 0.0  # recorded before angles were
