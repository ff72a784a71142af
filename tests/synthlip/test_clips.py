"""Single clips: DVS-Lip format, realistic content, determinism."""
import numpy as np
import pytest

from stream.binner import bin_clip
from stream.events import EVENT_DTYPE
from stream.synthlip import render_word, render_word_events
from stream.synthlip.dvs import DvsConfig, DvsSimulator, log_intensity
from stream.synthlip.mouth import Face
from stream.synthlip.speakers import make_session, make_speaker


@pytest.fixture(scope="module")
def clip():
    return render_word("million", 3, 7)


def test_clip_has_the_dvs_lip_format(clip):
    ev = clip.events
    assert ev.dtype == EVENT_DTYPE
    assert set(ev.dtype.names) == {"t", "x", "y", "p"}
    assert np.all(np.diff(ev["t"]) >= 0)
    assert ev["t"][0] >= 0 and ev["t"][-1] <= clip.duration_us
    assert ev["x"].min() >= 0 and ev["x"].max() <= 127
    assert ev["y"].min() >= 0 and ev["y"].max() <= 127
    assert set(np.unique(ev["p"])) == {0, 1}
    assert 5_000 <= len(ev) <= 150_000
    assert 0.6e6 <= clip.duration_us <= 2.0e6


def test_events_follow_the_mouth_movement(clip):
    ev = clip.events
    start, end = clip.word_spans_s[0]
    t = ev["t"] / 1e6
    during = ((t > start) & (t < end)).sum() / (end - start)
    before = (t < start - 0.15).sum() / max(start - 0.15, 1e-3)
    assert during > 3 * before  # the word is where the activity is (noise continues)
    b = bin_clip(ev)
    assert b.shape == (90, 2, 128, 128) and b.sum() > 0
    # Most activity lies in the middle of the crop, where the mouth is.
    counts = b.sum((0, 1))
    centre = counts[24:104, 14:114].sum()
    assert centre > 0.7 * counts.sum()


def test_same_seed_same_events_and_other_seed_other_events():
    a = render_word_events("water", 5, 11)
    b = render_word_events("water", 5, 11)
    c = render_word_events("water", 5, 12)
    assert np.array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)


def test_static_face_without_noise_gives_no_events():
    sp = make_speaker(0, 1)
    se = make_session(np.random.default_rng(0), sp)
    face = Face(sp, se, (128, 128), (64, 64), np.random.default_rng(sp.texture_seed))
    params = np.tile([0.5, 0.2, 0.1, 0.5, 0.2, 0.0], (20, 1))
    face.prepare(params, np.tile([0.3, -0.2, 0.01, 1.0], (20, 1)))
    sim = DvsSimulator(128, 128, DvsConfig(noise_hz=0.0, hot_pixels=0), np.random.default_rng(0))
    for k in range(20):
        sim.step(log_intensity(face.render(k)), k * 5000.0)
    assert len(sim.events()) == 0


def test_noise_switch_and_rate_change():
    quiet = render_word("water", 2, 3, noise=False)
    noisy = render_word("water", 2, 3)
    assert len(quiet.events) < len(noisy.events)
    slow = render_word("water", 2, 3, noise=False, rate=0.75)
    fast = render_word("water", 2, 3, noise=False, rate=1.3)
    span = lambda r: r.word_spans_s[0][1] - r.word_spans_s[0][0]  # noqa: E731
    assert span(slow) > 1.5 * span(fast)
