"""The DVS model against expectations worked out by hand (independent of the implementation)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.synthlip.dvs import DvsConfig, DvsSimulator, frames_to_events

QUIET = dict(thr_sigma=0.0, noise_hz=0.0, hot_pixels=0)


def ramp(total_log_change, duration_us=10_000, frame_us=250, size=(1, 1)):
    times = np.arange(0, duration_us + 1, frame_us, dtype=float)
    frames = np.zeros((len(times), *size), np.float32)
    frames += (times / duration_us * total_log_change)[:, None, None].astype(np.float32)
    return frames, times


def test_linear_ramp_up_gives_k_on_events_at_the_crossing_times():
    thr, k = 0.2, 7
    frames, times = ramp((k + 0.5) * thr)  # 7.5 thresholds over 10 ms
    ev = frames_to_events(frames, times, DvsConfig(thr_on=thr, thr_off=thr, refractory_us=0, **QUIET))
    assert len(ev) == k
    assert (ev["p"] == 1).all()
    # Level j*thr is reached at j*thr / slope, slope = 7.5*thr per 10 ms.
    expected = np.array([j * 10_000 / (k + 0.5) for j in range(1, k + 1)])
    assert np.abs(ev["t"] - expected).max() <= 1.0


def test_linear_ramp_down_gives_off_events_with_the_off_threshold():
    frames, times = ramp(-1.0)
    ev = frames_to_events(frames, times, DvsConfig(thr_on=0.2, thr_off=0.3, refractory_us=0, **QUIET))
    assert len(ev) == 3  # floor(1.0 / 0.3)
    assert (ev["p"] == 0).all()
    assert np.abs(ev["t"] - np.array([3000, 6000, 9000])).max() <= 1.0


def test_refractory_period_is_respected():
    # Crossings every 500 us; a 1.2 ms refractory period keeps every third one.
    frames, times = ramp(20 * 0.25, duration_us=10_000)
    cfg = DvsConfig(thr_on=0.25, thr_off=0.25, refractory_us=1200, **QUIET)
    ev = frames_to_events(frames, times, cfg)
    assert np.all(np.diff(ev["t"]) >= 1200 - 1)
    assert np.abs(ev["t"] - np.array([500, 2000, 3500, 5000, 6500, 8000, 9500])).max() <= 1.0


def test_refractory_holds_across_frames():
    # Two crossings in consecutive frames 100 us apart: the second falls in the blind time.
    times = np.array([0.0, 1000.0, 1100.0])
    frames = np.array([0.0, 0.26, 0.52], np.float32).reshape(3, 1, 1)
    ev = frames_to_events(frames, times, DvsConfig(thr_on=0.25, thr_off=0.25, refractory_us=500, **QUIET))
    assert len(ev) == 1


def test_static_scene_without_noise_gives_no_events():
    rng = np.random.default_rng(0)
    img = np.log(rng.uniform(0.05, 1.0, (32, 40))).astype(np.float32)
    frames = np.repeat(img[None], 50, 0)
    times = np.arange(50) * 1000.0
    assert len(frames_to_events(frames, times, DvsConfig(noise_hz=0.0, hot_pixels=0))) == 0


def test_background_noise_rate_and_hot_pixels():
    h, w, dur = 64, 64, 2_000_000
    sim = DvsSimulator(h, w, DvsConfig(noise_hz=0.5, hot_pixels=3, hot_hz=(100.0, 100.0)), np.random.default_rng(1))
    frame = np.zeros((h, w), np.float32)
    sim.step(frame, 0)
    sim.step(frame, dur)
    ev = sim.events()
    expected = 0.5 * h * w * dur / 1e6 + 3 * 100 * dur / 1e6
    assert abs(len(ev) - expected) < 5 * np.sqrt(expected)
    counts = np.bincount(ev["y"].astype(int) * w + ev["x"], minlength=h * w)
    assert (counts >= 100).sum() >= 2  # the hot pixels stand out
    assert np.all(np.diff(ev["t"]) >= 0)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.05, 3.0), st.floats(0.1, 0.4), st.integers(2, 40))
def test_event_count_is_whole_thresholds_crossed(change, thr, n_frames):
    times = np.linspace(0, 20_000, n_frames)
    frames = (np.linspace(0, change, n_frames, dtype=np.float32)).reshape(-1, 1, 1)
    ev = frames_to_events(frames, times, DvsConfig(thr_on=thr, thr_off=thr, refractory_us=0, **QUIET))
    k = int(np.floor(np.float32(change) / np.float32(thr) + 1e-6))
    assert abs(len(ev) - k) <= 1 if abs(change / thr - round(change / thr)) < 1e-4 else len(ev) == k
    if len(ev):
        expected = np.arange(1, len(ev) + 1) * thr / change * 20_000
        assert np.abs(ev["t"] - expected).max() <= 2.0
