"""Load shedding: strided subsampling under lag, exact counts, and back to full rate."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.events import make_events
from stream.shedding import LoadShedder
from stream.sources.synthetic import SyntheticSource


def batch(n, t0=0):
    return make_events(np.arange(t0, t0 + n), np.arange(n) % 128, np.arange(n) % 100, np.arange(n) % 2)


def test_no_lag_keeps_everything():
    shed = LoadShedder(max_lag_us=40_000)
    for _ in range(10):
        assert len(shed(batch(1000), lag_us=1000)) == 1000
    assert shed.dropped == 0 and shed.kept == 10_000 and shed.dropped_fraction == 0.0


def test_lag_doubles_the_stride_and_catching_up_halves_it():
    shed = LoadShedder(max_lag_us=40_000, max_stride=8)
    sizes = [len(shed(batch(1000), lag_us=100_000)) for _ in range(5)]
    assert sizes == [500, 250, 125, 125, 125]  # stride 2, 4, 8, then capped at 8
    assert [len(shed(batch(1000), lag_us=0)) for _ in range(4)] == [250, 500, 1000, 1000]
    assert shed.kept + shed.dropped == 9000
    assert shed.shedding_batches == 7


def test_a_slow_model_is_no_reason_to_drop_events():
    """Lagging while the model, not the events, takes the time: dropping input would not help."""
    shed = LoadShedder(max_lag_us=40_000)
    assert all(len(shed(batch(1000), lag_us=1e6, event_share=0.2)) == 1000 for _ in range(5))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.floats(0, 2e5)), min_size=1, max_size=30))
def test_kept_events_are_a_time_ordered_subset_and_counts_add_up(plan):
    shed = LoadShedder(max_lag_us=40_000)
    t, total, kept_all = 0, 0, []
    for n, lag in plan:
        ev = batch(n, t)
        t += n
        total += n
        kept = shed(ev, lag)
        assert np.isin(kept["t"], ev["t"]).all()
        kept_all.append(kept)
    kept_all = np.concatenate(kept_all)
    assert (np.diff(kept_all["t"]) > 0).all()
    assert shed.kept == len(kept_all) and shed.kept + shed.dropped == total


def test_synthetic_loop_repeats_the_first_seconds_shifted():
    plain = np.concatenate(list(SyntheticSource(2e6, duration_s=0.004, seed=3)))
    looped = list(SyntheticSource(2e6, duration_s=0.0105, seed=3, loop_s=0.004))
    ev = np.concatenate(looped)
    n = len(plain)
    assert np.array_equal(ev[:n], plain)
    second = ev[n:2 * n]
    assert np.array_equal(second[["x", "y", "p"]], plain[["x", "y", "p"]])
    assert np.array_equal(second["t"], plain["t"] + 4000)
    assert (np.diff(ev["t"]) >= 0).all() and ev["t"].max() < 10_500
    assert len(looped) == 11  # 1 ms batches, the last one partial
