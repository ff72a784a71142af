"""How fast clips are spoken: a burst of movement is found to last as long as it was drawn, noise
and rest drop out as the floor, and clips of words said slower are found that much slower."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.constants import BIN_US
from stream.events import make_events
from stream.pace import SPAN_SHARES, Pace, active_span_us, learnt_pace, pace_of_clips
from stream.sources.npy import save_clip
from stream.transforms import BackgroundNoise, TimeScale

RNG = np.random.default_rng


def burst(start_us: int, length_us: int, n: int = 20_000, clip_us: int = 1_400_000, seed: int = 0) -> np.ndarray:
    """`n` events spread evenly over [start, start + length) of a clip that runs from 0 to `clip_us`
    (one event at each end marks the clip's extent, as a resting mouth's few events do)."""
    rng = RNG(seed)
    t = np.sort(np.concatenate([[0, clip_us], rng.integers(start_us, start_us + length_us, n)]))
    return make_events(t, rng.integers(30, 98, len(t)), rng.integers(40, 90, len(t)), rng.integers(0, 2, len(t)))


@settings(max_examples=40, deadline=None)
@given(start=st.integers(0, 500_000), length=st.integers(200_000, 800_000))
def test_a_burst_lasts_the_middle_shares_of_its_length(start, length):
    """Evenly spread movement: the span between SPAN_SHARES of it is that share of its length."""
    span = active_span_us(burst(start, length))
    assert abs(span - (SPAN_SHARES[1] - SPAN_SHARES[0]) * length) <= BIN_US


@settings(max_examples=30, deadline=None)
@given(length=st.integers(200_000, 700_000), factor=st.floats(0.7, 1.4))
def test_a_clip_said_slower_spans_that_much_longer(length, factor):
    events = burst(100_000, length)
    stretched = TimeScale(factor)(events, RNG(0))
    assert abs(active_span_us(stretched) - factor * active_span_us(events)) <= BIN_US


def test_noise_and_rest_are_the_floor():
    """Uniform noise of 30 % of the clip's events (as a noisy sensor adds) barely moves the span."""
    events = burst(300_000, 500_000)
    noisy = BackgroundNoise(0.3)(events, RNG(1))
    assert len(noisy) > 1.25 * len(events)
    assert abs(active_span_us(noisy) - active_span_us(events)) <= BIN_US
    assert active_span_us(events[:0]) is None


def test_a_user_slower_than_the_training_clips_is_found_that_much_slower(tmp_path):
    """Word by word against the learnt spans; clips of words the model never learnt are not counted."""
    def clips(name: str, factor: float) -> list:
        out = []
        for k in range(12):
            word = ("water", "price", "court")[k % 3]
            events = burst(100_000 + 20_000 * k, 300_000 + 100_000 * (k % 3), seed=k)
            path = tmp_path / name / word / f"{k}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_clip(path, TimeScale(factor)(events, RNG(0)))
            out.append((path, word))
        return out

    learnt = learnt_pace(clips("train", 1.0))
    assert learnt["clips"] == 12 and set(learnt["span_ms"]) == {"water", "price", "court"}
    assert pace_of_clips(clips("same", 1.0), learnt) == (pytest.approx(1.0, abs=1e-3), 12)  # spans kept to 0.1 ms
    slow = pace_of_clips(clips("slow", 1.3) + [(tmp_path / "slow" / "water" / "0.npy", "kumquat")], learnt)
    assert slow.pace == pytest.approx(1.3, abs=0.04) and slow.clips == 12
    assert pace_of_clips([(tmp_path / "slow" / "water" / "0.npy", "kumquat")], learnt) == (1.0, 0)


def test_a_pace_within_min_change_of_the_models_is_left_as_it_is():
    assert Pace(1.04, 20).to_match == 1.0 and Pace(0.96, 20).to_match == 1.0
    assert Pace(0.94, 20).to_match == 0.94 and Pace(1.15, 20).to_match == 1.15
