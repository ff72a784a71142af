"""Words to events: trajectory, adaptive-rate rendering and the DVS model, put together.

The mouth trajectory is computed on a 1 ms grid. Frames are rendered where something moves:
a new frame whenever the mouth or head has moved by about `px_per_frame` pixels, at least
every `max_frame_ms` and at most every millisecond; the DVS model interpolates log intensity
linearly between frames and timestamps each threshold crossing inside the interval.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from stream.events import SensorSize
from stream.synthlip.dvs import DvsConfig, DvsSimulator, log_intensity
from stream.synthlip.mouth import Face, head_motion
from stream.synthlip.phonemes import (
    PARAMS, Segments, check_words, phone_segments, pronunciations_of, silence_segments, trajectory,
)
from stream.synthlip.speakers import (
    STREAM_CLIP, Session, Speaker, make_session, make_speaker,
)

GRID_S = 0.001
CLIP_SENSOR = SensorSize(128, 128)


@dataclass
class Rendered:
    """Events plus what produced them (for ground truth, tests and inspection)."""

    events: np.ndarray
    duration_us: int
    times_s: np.ndarray  # 1 ms grid
    params: np.ndarray  # (N, 6) mouth parameters on the grid
    frame_times_s: np.ndarray
    word_spans_s: list  # [(start, end)] of the phonemes of each word
    speaker: Speaker
    session: Session
    phones: list = field(default_factory=list)


def rest_vector(speaker: Speaker) -> np.ndarray:
    rest = np.zeros(len(PARAMS))
    rest[0] = speaker.rest_open
    return rest


def articulate(params: np.ndarray, speaker: Speaker, session: Session) -> np.ndarray:
    """Scale the movements by the speaker's and the clip's articulation strength."""
    rest = rest_vector(speaker)
    gain = speaker.articulation * session.articulation
    out = params.copy()
    out[:, :3] = rest[:3] + (params[:, :3] - rest[:3]) * gain
    out[:, 0] = np.clip(out[:, 0], 0.0, 1.2)
    return out


def motion_px(params: np.ndarray, pose: np.ndarray, speaker: Speaker) -> np.ndarray:
    """Pixels moved between consecutive grid points (length N-1)."""
    w0 = speaker.half_width
    scale = np.array([speaker.aperture * w0, 0.18 * w0, 0.3 * w0, 0.3 * w0, 0.3 * w0, 0.15 * w0])
    m = np.abs(np.diff(params, axis=0)) @ scale
    m += np.abs(np.diff(pose[:, 0])) + np.abs(np.diff(pose[:, 1])) + 1.5 * w0 * np.abs(np.diff(pose[:, 2]))
    return m


def frame_indices(motion: np.ndarray, px_per_frame: float, max_frame_ms: float) -> np.ndarray:
    """Grid indices of the frames: a new one after `px_per_frame` of motion or `max_frame_ms`."""
    progress = np.concatenate([[0.0], np.cumsum(motion / px_per_frame + GRID_S * 1000.0 / max_frame_ms)])
    idx = np.searchsorted(progress, np.arange(0.0, progress[-1], 1.0))
    return np.unique(np.concatenate([idx, [len(progress) - 1]]))


def render_segments(segments: Segments, duration_s: float, speaker: Speaker, session: Session,
                    seed: list, size=(128, 128), centre=None, dvs: DvsConfig | None = None,
                    px_per_frame: float = 1.25, max_frame_ms: float = 25.0, blur_sigma: float = 0.8,
                    drift_px: tuple[float, float] = (0.0, 0.0)):
    """Render a segment sequence of `duration_s` seconds to events (t from 0, in microseconds).

    `seed` is a list of ints; head motion and camera noise use their own streams of it.
    `drift_px` moves the head steadily by (dx, dy) pixels over the whole duration.
    Returns (events, times_s, params, frame_times_s, pose) with pose (N, 4) on the 1 ms grid.
    """
    times = np.arange(0.0, duration_s + GRID_S / 2, GRID_S)
    params = articulate(trajectory(segments, times), speaker, session)
    motion_rng = np.random.default_rng(list(seed) + [1])
    dvs_rng = np.random.default_rng(list(seed) + [2])
    pose = head_motion(motion_rng, times, session.head_amp_px, session.head_amp_deg)
    if any(drift_px):
        pose[:, :2] += np.outer(times / max(duration_s, GRID_S), drift_px)
    idx = frame_indices(motion_px(params, pose, speaker), px_per_frame, max_frame_ms)
    if centre is None:
        centre = (size[0] / 2, size[1] / 2)
    face = Face(speaker, session, size, centre, np.random.default_rng(speaker.texture_seed), blur_sigma)
    face.prepare(params[idx], pose[idx])
    if dvs is None:
        dvs = DvsConfig(thr_on=session.thr_on, thr_off=session.thr_off, noise_hz=session.noise_hz,
                        hot_pixels=session.hot_pixels)
    sim = DvsSimulator(size[1], size[0], dvs, dvs_rng)
    for k, i in enumerate(idx):
        sim.step(log_intensity(face.render(k)), times[i] * 1e6)
    duration_us = int(round(duration_s * 1e6))
    return sim.events(duration_us), times, params, times[idx], pose


def _as_speaker(speaker, seed) -> Speaker:
    if isinstance(speaker, Speaker):
        return speaker
    base = seed[0] if isinstance(seed, (tuple, list)) else seed
    return make_speaker(int(base), int(speaker))  # make_speaker masks the seed to 32 bits


def render_word(word: str, speaker: Speaker | int, seed, *, noise: bool = True, dvs: DvsConfig | None = None,
                pronunciation: int | None = None, rate: float | None = None, **render_options) -> Rendered:
    """One DVS-Lip-style clip (128 x 128, t from 0) of `speaker` saying `word` (any word with a
    pronunciation: one of the DVS-Lip 100 or from the CMU dictionary, see `lexicon`).

    `seed` (an int or a sequence of ints) drives everything that varies from clip to clip:
    session, timing, head motion, camera noise. `speaker` is a `Speaker` or a speaker id
    (made with `make_speaker(seed, id)`). `noise=False` turns off background activity and hot
    pixels. `pronunciation` and `rate` override the clip's random choice.
    """
    word = check_words([word])[0]
    speaker = _as_speaker(speaker, seed)
    if isinstance(seed, (tuple, list)):
        seq = [int(v) & 0xFFFFFFFF for v in seed]
    else:
        seq = [int(seed) & 0xFFFFFFFF, STREAM_CLIP]
    rng = np.random.default_rng(seq)
    prons = pronunciations_of(word)
    session = make_session(rng, speaker, len(prons))
    if rate is not None:
        session = replace(session, rate=float(rate))
    phones = prons[session.pronunciation if pronunciation is None else pronunciation]
    seg, end = phone_segments(phones, session.pre_s, session.rate, rng)
    duration = end + session.post_s
    rest = rest_vector(speaker)
    segs = Segments.concat([silence_segments(0.0, session.pre_s, rest), seg, silence_segments(end, duration, rest)])
    if dvs is None:
        dvs = DvsConfig(thr_on=session.thr_on, thr_off=session.thr_off, noise_hz=session.noise_hz,
                        hot_pixels=session.hot_pixels)
    if not noise:
        dvs = dvs.noiseless()
    events, times, params, ftimes, _ = render_segments(
        segs, duration, speaker, session, seq + [7], (128, 128), None, dvs, **render_options)
    return Rendered(events, int(round(duration * 1e6)), times, params, ftimes, [(session.pre_s, end)],
                    speaker, session, phones)


def render_word_events(word: str, speaker: Speaker | int, seed, **options) -> np.ndarray:
    """Events (EVENT_DTYPE, 128 x 128, t in us from 0, sorted) of one clip; see `render_word`."""
    return render_word(word, speaker, seed, **options).events


