"""Who speaks and how: speaker identities, per-clip session variation, and the seed streams.

Everything random in SynthLip is drawn from `np.random.default_rng([seed, STREAM, ...])`, one
stream per purpose, so a clip depends only on (seed, split, word, index) and never on the
order clips are made in or on the number of worker processes.

Speakers are numbered: the train split uses ids 0..n_train-1, the test split ids
TEST_SPEAKER_BASE.. and sentences SENTENCE_SPEAKER_BASE.., so no test speaker is ever a train
speaker, whatever the counts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Seed stream tags (the second entry of every seed sequence).
STREAM_SPEAKER = 1
STREAM_CLIP = 2
STREAM_ASSIGN = 3
STREAM_SENTENCE = 4
STREAM_TEXTURE = 5
STREAM_SENTENCE_WORDS = 6  # which words a generated sentence set says

N_TRAIN_SPEAKERS = 30
N_TEST_SPEAKERS = 10
TEST_SPEAKER_BASE = 1000
SENTENCE_SPEAKER_BASE = 2000
SPLITS = ("train", "test")


def rng_for(seed: int, stream: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, stream, *(int(k) for k in keys)])


def split_speaker_ids(split: str, n_train: int = N_TRAIN_SPEAKERS, n_test: int = N_TEST_SPEAKERS) -> list[int]:
    if split == "train":
        if not 0 < n_train <= TEST_SPEAKER_BASE:
            raise ValueError(f"n_train must be 1..{TEST_SPEAKER_BASE}")
        return list(range(n_train))
    if split == "test":
        if not 0 < n_test <= SENTENCE_SPEAKER_BASE - TEST_SPEAKER_BASE:
            raise ValueError("too many test speakers")
        return list(range(TEST_SPEAKER_BASE, TEST_SPEAKER_BASE + n_test))
    raise ValueError(f"split must be 'train' or 'test', not {split!r}")


@dataclass(frozen=True)
class Speaker:
    """A face: mouth geometry, colouring, habits. Lengths in pixels at the 128 x 128 crop scale."""

    id: int
    half_width: float  # mouth corner to centre at rest
    aperture: float  # inner opening at open = 1, relative to half_width
    upper_lip: float  # upper lip thickness, relative to half_width
    lower_lip: float
    bow: float  # Cupid's bow depth, 0..1 of the upper lip thickness
    corner_lift: float  # corners up (> 0, smiling) or down, relative to half_width
    skin: float  # skin brightness, 0..1
    lip_ratio: float  # lip brightness / skin brightness
    cavity: float  # brightness of the dark oral cavity
    teeth: float  # brightness of the teeth
    teeth_show: float  # how readily the teeth show (multiplies the teeth parameter)
    texture: float  # strength of skin texture
    beard: float  # stubble density, 0 for most speakers
    offset_x: float  # mouth position in the crop, pixels from the centre
    offset_y: float
    roll_deg: float  # head roll
    rate: float  # habitual speaking rate (> 1 faster)
    articulation: float  # > 1 hyper-articulates (wider movements)
    rest_open: float  # lips slightly apart at rest
    jaw: float  # how much the chin skin follows the jaw
    texture_seed: int  # the face's skin texture

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def make_speaker(seed: int, speaker_id: int) -> Speaker:
    """Speaker `speaker_id` of the population defined by `seed` (a pure function of both)."""
    r = rng_for(seed, STREAM_SPEAKER, speaker_id)
    u = r.uniform
    return Speaker(
        id=int(speaker_id),
        half_width=u(30.0, 44.0),
        aperture=u(0.8, 1.1),
        upper_lip=u(0.18, 0.32),
        lower_lip=u(0.26, 0.42),
        bow=u(0.1, 0.45),
        corner_lift=u(-0.06, 0.06),
        skin=u(0.38, 0.75),
        lip_ratio=u(0.45, 0.78),
        cavity=u(0.03, 0.09),
        teeth=u(0.75, 0.95),
        teeth_show=u(0.6, 1.3),
        texture=u(0.015, 0.05),
        beard=float(r.uniform(0.2, 0.9)) if r.random() < 0.25 else 0.0,
        offset_x=r.normal(0.0, 3.0),
        offset_y=r.normal(0.0, 4.0),
        roll_deg=r.normal(0.0, 3.0),
        rate=u(0.85, 1.15),
        articulation=u(0.85, 1.2),
        rest_open=float(u(0.02, 0.1)) if r.random() < 0.3 else 0.0,
        jaw=u(0.5, 1.0),
        texture_seed=int(r.integers(0, 2**31)),
    )


@dataclass(frozen=True)
class Session:
    """What changes from one recording to the next: timing, pose, light, camera."""

    rate: float  # total speaking-rate factor of this clip (speaker habit x +-15 %)
    pre_s: float  # pause before the word
    post_s: float  # pause after the word (the clip may be longer; see dataset)
    dx: float  # extra mouth offset, pixels
    dy: float
    scale: float  # mouth size factor
    roll_deg: float  # extra roll
    head_amp_px: float  # head motion amplitude (translation)
    head_amp_deg: float  # head motion amplitude (roll)
    gain: float  # overall brightness
    light_dir: float  # direction of the illumination gradient, radians
    light_slope: float  # relative brightness change across the crop
    thr_on: float  # mean DVS thresholds (log intensity)
    thr_off: float
    noise_hz: float  # background activity per pixel
    hot_pixels: int
    articulation: float  # clip-level articulation factor
    pronunciation: int  # which CMU pronunciation, when a word has several


def make_session(r: np.random.Generator, speaker: Speaker, n_pronunciations: int = 1) -> Session:
    u = r.uniform
    return Session(
        rate=speaker.rate * u(0.85, 1.15),
        pre_s=u(0.15, 0.5),
        post_s=u(0.15, 0.5),
        dx=r.normal(0.0, 2.5),
        dy=r.normal(0.0, 2.5),
        scale=u(0.9, 1.1),
        roll_deg=r.normal(0.0, 1.5),
        head_amp_px=u(0.4, 2.5),
        head_amp_deg=u(0.1, 1.0),
        gain=u(0.75, 1.2),
        light_dir=u(0.0, 2 * np.pi),
        light_slope=u(0.0, 0.35),
        thr_on=u(0.2, 0.3),
        thr_off=u(0.2, 0.3),
        noise_hz=u(0.03, 0.25),
        hot_pixels=int(r.integers(0, 4)),
        articulation=u(0.9, 1.1),
        pronunciation=int(r.integers(0, n_pronunciations)),
    )
