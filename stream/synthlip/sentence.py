"""Continuous "sentences": several words by one speaker in one AEDAT4 recording, plus ground truth.

The face is rendered on the whole sensor (DAVIS346, 346 x 260 by default) with the mouth near
the centre, so that the sensor's centred 128 x 128 crop (the default ROI) shows the mouth as
the DVS-Lip clips do; `mouth` places it anywhere else and `drift_px` moves the head steadily
over the recording (a test of a region that follows the mouth). Beside `FILE.aedat4` goes
`FILE.json`: per word its `word`, `label`, `start_us` and `end_us` (onset and end of the mouth
movement, in the file's timestamps), the seed, the sensor size, `mouth_roi` (the 128 x 128 crop
centred on the mouth's starting place) and `mouth_track` ([t_us, x, y] of the mouth centre every
`TRACK_US`). Any word with a pronunciation can be said (see `lexicon`); `label`
is the word's DVS-Lip label (its index in assets/words.txt), null for a word outside the 100.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from stream.errors import SpikeLipError
from stream.events import SensorSize
from stream.synthlip.dvs import DvsConfig
from stream.synthlip.phonemes import (
    Segments, check_words, load_words, phone_segments, pronunciations_of, silence_segments,
)
from stream.synthlip.render import render_segments, rest_vector
from stream.synthlip.speakers import (
    SENTENCE_SPEAKER_BASE, STREAM_SENTENCE, STREAM_SENTENCE_WORDS, make_session, make_speaker, rng_for,
)

# Recordings carry wall-clock timestamps; a fixed origin keeps files reproducible.
T0_US = 1_700_000_000_000_000
PACKET_US = 10_000
MOVE_PX = 0.5  # a word's movement starts/ends where the mouth is this far from rest
PAUSE_S = (0.3, 0.7)  # rest between words, seconds: the range of natural speech
TRACK_US = 50_000


def _movement_px(params: np.ndarray, rest: np.ndarray, half_width: float, aperture: float) -> np.ndarray:
    scale = np.array([aperture * half_width, 0.18 * half_width, 0.3 * half_width, 0.3 * half_width,
                      0.3 * half_width, 0.15 * half_width])
    return np.abs(params - rest) @ scale


def generate_sentence(words, out_path, seed: int, sensor: SensorSize = SensorSize(346, 260),
                      speaker_id: int | None = None, pause_s: tuple[float, float] = PAUSE_S,
                    mouth: tuple[float, float] | None = None, drift_px: tuple[float, float] = (0.0, 0.0),
                    rate: float = 1.0, head_motion_px: float | None = None, mouth_scale: float = 1.0) -> dict:
    """Write one sentence of `words` (a list or a space-separated string) to `out_path` (AEDAT4).

    The rest between two words lasts uniformly `pause_s` seconds (long pauses test how the app
    waits at rest). `mouth` is the mouth's place (x, y) on the sensor (default its centre);
    `drift_px` the head's steady motion over the recording. `rate` scales the speaker's speaking
    rate (1.3: fast speech); `head_motion_px` sets the amplitude of the head's wandering (default
    the session's, 0.4-2.5 px; a fidgeting user moves 5-10); `mouth_scale` the face's size on the
    sensor against the clips' (1.3: a camera nearer the face). Returns the ground truth that is
    also written to the `.json` beside it.
    """
    if isinstance(words, str):
        words = words.split()
    if not words:
        raise SpikeLipError("--sentence: give at least one word")
    words = check_words(words)
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".aedat4":
        raise SpikeLipError(f"{out_path}: the sentence file name must end in .aedat4")
    lo, hi = (float(v) for v in pause_s)
    if not 0 < lo <= hi:
        raise SpikeLipError(f"pause {lo:g}-{hi:g} s: give 0 < MIN <= MAX seconds")
    if sensor.width < 128 or sensor.height < 128:
        raise SpikeLipError(f"sensor {sensor}: must be at least 128 x 128 to hold the mouth crop")
    centre = (sensor.width / 2, sensor.height / 2) if mouth is None else (float(mouth[0]), float(mouth[1]))
    if not (0 <= centre[0] < sensor.width and 0 <= centre[1] < sensor.height):
        raise SpikeLipError(f"mouth at {centre[0]:g},{centre[1]:g}: must lie on the {sensor} sensor")
    try:
        from stream.writer import AedatWriter
    except ImportError:
        raise SpikeLipError("writing AEDAT4 needs stream.writer, which is not installed") from None

    rng = rng_for(seed, STREAM_SENTENCE)
    sid = SENTENCE_SPEAKER_BASE if speaker_id is None else int(speaker_id)
    speaker = make_speaker(seed, sid)
    session = make_session(rng, speaker)
    if rate != 1.0 or head_motion_px is not None or mouth_scale != 1.0:
        session = replace(session, rate=session.rate * float(rate), scale=session.scale * float(mouth_scale),
                          head_amp_px=session.head_amp_px if head_motion_px is None else float(head_motion_px))
    rest = rest_vector(speaker)
    t = float(rng.uniform(0.4, 0.7))
    parts = [silence_segments(0.0, t, rest)]
    spans = []
    for i, word in enumerate(words):
        choices = pronunciations_of(word)
        phones = choices[int(rng.integers(0, len(choices)))]
        rate = session.rate * float(rng.uniform(0.93, 1.07))
        seg, end = phone_segments(phones, t, rate, rng)
        parts.append(seg)
        spans.append((t, end))
        gap = float(rng.uniform(0.4, 0.7)) if i == len(words) - 1 else float(rng.uniform(lo, hi))
        parts.append(silence_segments(end, end + gap, rest))
        t = end + gap
    duration = t
    # Background activity over the whole sensor at the low end of the clips' range keeps the
    # files small (a DAVIS346 has 5.5 times the pixels of a 128 x 128 crop).
    dvs = DvsConfig(thr_on=session.thr_on, thr_off=session.thr_off, noise_hz=float(rng.uniform(0.03, 0.08)),
                    hot_pixels=session.hot_pixels)
    events, times, params, _, pose = render_segments(
        Segments.concat(parts), duration, speaker, session, [int(seed) & 0xFFFFFFFF, STREAM_SENTENCE, 1],
        (sensor.width, sensor.height), centre, dvs, drift_px=tuple(float(v) for v in drift_px))

    move = _movement_px(params, rest, speaker.half_width * session.scale, speaker.aperture)
    labels = {w: i for i, w in enumerate(load_words())}
    truth = []
    for i, (word, (start, end)) in enumerate(zip(words, spans)):
        lo = 0.0 if i == 0 else (spans[i - 1][1] + start) / 2
        hi = duration if i == len(words) - 1 else (end + spans[i + 1][0]) / 2
        inside = np.flatnonzero((times >= lo) & (times <= hi) & (move > MOVE_PX))
        on, off = (times[inside[0]], times[inside[-1]]) if inside.size else (start, end)
        truth.append({"word": word, "label": labels.get(word),
                      "start_us": T0_US + int(round(on * 1e6)), "end_us": T0_US + int(round(off * 1e6))})

    events["t"] += T0_US
    with AedatWriter(out_path, sensor, camera_name="SpikeLip") as writer:
        edges = np.searchsorted(events["t"], np.arange(T0_US, T0_US + int(duration * 1e6) + PACKET_US, PACKET_US))
        for a, b in zip(edges[:-1], edges[1:]):
            if b > a:
                writer.write(events[a:b])
        if edges[-1] < len(events):
            writer.write(events[edges[-1]:])
    roi_x = int(np.clip(np.floor(centre[0]) - 64, 0, sensor.width - 128))
    roi_y = int(np.clip(np.floor(centre[1]) - 64, 0, sensor.height - 128))
    # the mouth centre as rendered: the nominal place plus the speaker's and session's offsets
    # (as in the clips) plus head motion and drift
    mx = centre[0] + speaker.offset_x + session.dx + pose[:, 0]
    my = centre[1] + speaker.offset_y + session.dy + pose[:, 1]
    every = np.arange(0, len(times), int(round(TRACK_US / 1e6 / (times[1] - times[0]))))
    track = [[T0_US + int(round(times[i] * 1e6)), round(float(mx[i]), 2), round(float(my[i]), 2)] for i in every]
    doc = {
        "generator": "SynthLip",
        "file": out_path.name,
        "seed": int(seed),
        "sensor": {"width": sensor.width, "height": sensor.height},
        "mouth_roi": [roi_x, roi_y, 128, 128],
        "t_start_us": T0_US,
        "t_end_us": T0_US + int(round(duration * 1e6)),
        "events": int(len(events)),
        "speaker": speaker.id,
        "words": truth,
        "mouth_track": track,
    }
    out_path.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def sentence_words(seed: int, count: int, vocabulary: list[str]) -> list[str]:
    """`count` different words of `vocabulary` for sentence `seed` (all of them if fewer)."""
    rng = rng_for(seed, STREAM_SENTENCE_WORDS)
    picked = rng.choice(len(vocabulary), min(count, len(vocabulary)), replace=False)
    return [vocabulary[i] for i in picked]


def generate_sentences(out_dir, count: int, seed: int, words_per_sentence: int = 10, words=None,
                       workers: int = 1, **options) -> list[dict]:
    """`count` sentence recordings `out_dir/<seed>.aedat4` (+ .json), seeds `seed`, `seed`+1, ...:
    training and test material for where words start and end. Each holds `words_per_sentence`
    different words of `words` (default the 100 DVS-Lip words) and a speaker of its own;
    `options` go to `generate_sentence`. `workers` > 1 renders in spawned processes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocabulary = check_words(list(words)) if words else load_words()
    jobs = [(sentence_words(int(seed) + k, words_per_sentence, vocabulary), out / f"{int(seed) + k}.aedat4",
             int(seed) + k, options) for k in range(count)]
    if workers <= 1:
        return [_render(job) for job in jobs]
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(_render, jobs)


def _render(job) -> dict:
    said, path, seed, options = job
    return generate_sentence(said, path, seed, **options)
