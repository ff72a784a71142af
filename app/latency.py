"""Latency measurement: per-stage timings of every timestep, word decision times, summaries.

Stages of one 13.3 ms step, from the `StepResult` stamps (perf_counter):
  bin         input handed over by the source -> bin closed (crop, load shedding, binning)
  prepare     bin closed -> model input ready (the centre crop the model reads, signed tensor)
  model       the model step
  readout     running-mean readout and top-5
  end_to_end  input handed over -> prediction published
With a camera, `camera_to_prediction` also counts from the bin's end on the camera clock
(dv-processing timestamps are host-synchronised microseconds since the epoch) to publication.
A DV network stream carries the timestamps of the host DV runs on (or of the recording DV
replays), so there it is reported only when they are within `CLOCK_SYNC_S` of this host's clock.
"""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

import numpy as np

from app.pipeline import freeze_loaded_objects
from model.data import input_side, step_input
from app.segment import Word
from app.truth import WordSpan, spoken_at
from model.readout import Readout
from stream.binner import Binner
from stream.constants import BIN_US

DEADLINE_MS = BIN_US / 1e3  # a step must finish within one bin to keep up (DVS-Lip's; see `measure`)
CLOCK_SYNC_S = 5.0  # stream timestamps this close to the host clock are taken as the same clock
STAGES = ("bin", "prepare", "model", "readout", "end_to_end")


def summary(ms) -> dict:
    """p50/p90/p99/max (and mean, count) of a list of milliseconds."""
    a = np.asarray(ms, dtype=np.float64)
    if a.size == 0:
        return {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"count": int(a.size), "p50_ms": round(float(p50), 4), "p90_ms": round(float(p90), 4),
            "p99_ms": round(float(p99), 4), "max_ms": round(float(a.max()), 4), "mean_ms": round(float(a.mean()), 4)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if peak > 2**32 else 2**10), 1)


@dataclass
class StageLog:
    """Per-step stage times (ms) and stream times, appended as steps arrive."""

    t_s: list = field(default_factory=list)
    events: list = field(default_factory=list)
    stages: dict = field(default_factory=lambda: {s: [] for s in STAGES})

    def add(self, r, t_s: float) -> None:
        self.t_s.append(t_s)
        self.events.append(r.events)
        for name, ms in (
            ("bin", r.t_binned - r.t_available),
            ("prepare", r.t_model_start - r.t_binned),
            ("model", r.t_model_end - r.t_model_start),
            ("readout", r.t_published - r.t_model_end),
            ("end_to_end", r.t_published - r.t_available),
        ):
            self.stages[name].append(ms * 1e3)

    def add_camera(self, ms: float) -> None:
        self.stages.setdefault("camera_to_prediction", []).append(ms)

    def report(self) -> dict:
        return {name: summary(ms) for name, ms in self.stages.items()}


def publish_epoch_us(t_published: float) -> float:
    """A perf_counter stamp as host wall-clock microseconds since the epoch."""
    return (time.time() - (time.perf_counter() - t_published)) * 1e6


@dataclass
class WordTiming:
    """One committed word against the ground truth of a SynthLip sentence."""

    predicted: str
    confidence: float
    truth: str | None
    commit_ms: float | None  # word end (truth) -> committed prediction published
    decision_ms: float | None  # word end -> top-1 became the committed word for good (may be < 0)
    committed: str | None = None  # the word first committed, where reading on replaced it (`predicted`)
    revise_ms: float | None = None  # word end -> the replacement published

    @property
    def correct(self) -> bool:
        return self.truth is not None and self.predicted == self.truth

    @property
    def correct_at_commit(self) -> bool:
        return self.truth is not None and (self.committed or self.predicted) == self.truth


class WordClock:
    """Times the words a pipeline commits against ground-truth word spans (stream microseconds).

    A committed segment is matched to the true word it overlaps most. Commit latency: stream
    time from that word's end to the end of the bin that committed it, plus that step's own
    processing time. Decision latency: the same up to the first step from which the live top-1
    stayed the committed word (the segmenter's hangover only confirms that the lips stopped).
    """

    def __init__(self, truth: list[WordSpan], bin_us: float = BIN_US) -> None:
        self.truth = truth
        self.bin_us = bin_us
        self.words: list[WordTiming] = []
        self._since_onset: list[tuple[float, str, float]] = []  # (bin end us, top-1, latency ms)
        self._origin_us = 0.0  # stream time of the pipeline's first bin, where word times count from

    def observe(self, r) -> None:
        """Follow one `StepResult`: its top-1, and the word committed at it, if any."""
        self._origin_us = r.t_us - r.t_s * 1e6
        if r.onset:
            self._since_onset = []
        self._since_onset.append((r.t_us + self.bin_us, r.top5[0][0], r.latency_ms))
        if r.revised is not None and self.words:
            last = self.words[-1]
            said = self._spoken(r.revised)
            last.committed, last.predicted, last.confidence = last.predicted, r.revised.word, r.revised.confidence
            last.revise_ms = None if said is None else (r.t_us + self.bin_us - said.end) / 1e3 + r.latency_ms
        if r.word is not None:
            self._commit(r.word, r.t_us + self.bin_us, r.latency_ms)

    def finish(self, word: Word | None) -> None:
        """The word the pipeline committed when the stream ended (`Pipeline.finish()`), if any."""
        if word is not None:
            self._commit(word, self._origin_us + word.end_s * 1e6, 0.0)

    def _spoken(self, word: Word) -> WordSpan | None:
        return spoken_at(self.truth, self._origin_us + word.start_s * 1e6, self._origin_us + word.end_s * 1e6)

    def _commit(self, word: Word, commit_us: float, processing_ms: float) -> None:
        best = self._spoken(word)
        decided_us, decided_ms = commit_us, processing_ms
        for t_us, top1, ms in reversed(self._since_onset):
            if top1 != word.word:
                break
            decided_us, decided_ms = t_us, ms
        commit = decision = None
        if best is not None:
            commit = (commit_us - best.end) / 1e3 + processing_ms
            decision = min((decided_us - best.end) / 1e3 + decided_ms, commit)
        self.words.append(WordTiming(word.word, word.confidence, best.word if best else None, commit, decision))

    def report(self) -> dict:
        matched = [w for w in self.words if w.truth is not None]
        found = {w.truth for w in matched}
        return {
            "true_words": len(self.truth),
            "committed": len(self.words),
            "detected": sum(1 for w in self.truth if w.word in found),
            "correct": sum(w.correct for w in matched),
            "correct_at_commit": sum(w.correct_at_commit for w in matched),
            "revised": sum(w.committed is not None for w in self.words),
            "commit_latency": summary([w.commit_ms for w in matched]),
            "decision_latency": summary([w.decision_ms for w in matched]),
            "words": [{"truth": w.truth, "predicted": w.predicted, "confidence": round(w.confidence, 4),
                       "correct": w.correct, "commit_ms": _round(w.commit_ms), "decision_ms": _round(w.decision_ms),
                       "committed": w.committed or w.predicted, "revise_ms": _round(w.revise_ms)}
                      for w in self.words],
        }


def _round(v):
    return None if v is None else round(v, 2)


def measure(pipeline, duration_s: float | None = None, words: WordClock | None = None,
            camera_clock: bool | str = False) -> dict:
    """Run `pipeline` and report; `words` times the words it commits against the ground truth.

    Stops after `duration_s` seconds of stream when given; `camera_clock` adds the
    camera_to_prediction stage (the source's timestamps must be host microseconds);
    `camera_clock="if_synchronised"` adds it only when the first bin's end is within
    `CLOCK_SYNC_S` of the host clock, and reports that offset as `stream_clock_offset_s`.
    """
    log = StageLog()
    offset_s = None
    wall0 = time.perf_counter()
    for r in pipeline:
        log.add(r, r.t_s)
        if camera_clock:
            ms = (publish_epoch_us(r.t_published) - (r.t_us + pipeline.binner.bin_us)) / 1e3
            if camera_clock == "if_synchronised" and offset_s is None:
                offset_s = ms / 1e3
                if abs(offset_s) > CLOCK_SYNC_S:
                    camera_clock = False
            if camera_clock:
                log.add_camera(ms)
        if words is not None:
            words.observe(r)
        if duration_s is not None and r.t_s >= duration_s:
            pipeline.stop()
            break
    wall = time.perf_counter() - wall0
    if words is not None:
        words.finish(pipeline.finish())
    stream_s = pipeline.steps * pipeline.bin_s
    deadline_ms = pipeline.binner.bin_us / 1e3  # one bin: longer for a model binning at a slower user's pace
    e2e = np.asarray(log.stages["end_to_end"])
    report = {
        "steps": pipeline.steps,
        "stream_s": round(stream_s, 3),
        "wall_s": round(wall, 3),
        "stages": log.report(),
        "real_time_factor": round(pipeline.busy_s / stream_s, 4) if stream_s else None,
        "deadline_ms": round(deadline_ms, 3),
        "missed_deadlines": int((e2e > deadline_ms).sum()),
        "events_in": int(pipeline.events_in),
        "events_per_s": round(pipeline.events_in / stream_s, 1) if stream_s else 0.0,
        "events_dropped": int(pipeline.events_dropped),
        "dropped_fraction": round(pipeline.shedder.dropped_fraction, 4) if pipeline.shedder else 0.0,
        "peak_rss_mb": peak_rss_mb(),
        "skipped_bins": int(pipeline.binner.skipped_bins),
    }
    if offset_s is not None:
        report["stream_clock_offset_s"] = round(offset_s, 3)
    if words is not None:
        report["words"] = words.report()
    report["_series"] = {"t_s": log.t_s, "end_to_end_ms": log.stages["end_to_end"], "model_ms": log.stages["model"]}
    return report


def binned_frames(source, crop, max_s: float | None = None) -> tuple[list[np.ndarray], list[float]]:
    """All bins of a source (cropped) and, for each, its share of the binning time (ms) of the
    batch that closed it (a recording's batch may close dozens of bins at once)."""
    binner = Binner(crop.sensor, rounding=source.binning)
    frames, bin_ms = [], []
    t0 = None
    for batch in source:
        if len(batch) == 0:
            continue
        t0 = int(batch["t"][0]) if t0 is None else t0
        start = time.perf_counter()
        bins = binner.push(crop(batch))
        ms = (time.perf_counter() - start) * 1e3
        frames += list(bins.frames)
        bin_ms += [ms / max(len(bins.frames), 1)] * len(bins.frames)
        if max_s is not None and batch["t"][-1] - t0 >= max_s * 1e6:
            break
    tail = binner.flush()
    frames += list(tail.frames)
    bin_ms += [0.0] * len(tail.frames)
    return frames, bin_ms


def compare(frames: list[np.ndarray], bin_ms: list[float], runners: dict) -> dict:
    """Step every runner on every bin, interleaved (order rotating per bin), and report each.

    `runners` maps a label to `(model, words)`. Interleaving puts every runner under the same
    machine load at the same moments, so their ratios hold on a noisy machine. No pacing: a
    runner's end_to_end is the bin's shared binning time plus its own prepare, model, readout.
    """
    import torch

    labels = list(runners)
    states = {k: runners[k][0].initial_state(1) for k in labels}
    readouts = {k: Readout(runners[k][1]) for k in labels}
    logs = {k: {s: [] for s in STAGES} for k in labels}
    sides = {k: input_side(getattr(runners[k][0], "config", {})) for k in labels}
    freeze_loaded_objects()  # as the live Pipeline does
    with torch.inference_mode():
        for i, frame in enumerate(frames):
            for j in range(len(labels)):
                k = labels[(i + j) % len(labels)]
                t0 = time.perf_counter()
                x = step_input(frame, sides[k])
                t1 = time.perf_counter()
                logits, states[k] = runners[k][0].step(x, states[k])
                t2 = time.perf_counter()
                readouts[k].update(logits[0])
                readouts[k].top(5)
                t3 = time.perf_counter()
                log = logs[k]
                log["bin"].append(bin_ms[i])
                log["prepare"].append((t1 - t0) * 1e3)
                log["model"].append((t2 - t1) * 1e3)
                log["readout"].append((t3 - t2) * 1e3)
                log["end_to_end"].append(bin_ms[i] + (t3 - t0) * 1e3)
    out = {}
    for k in labels:
        e2e = np.asarray(logs[k]["end_to_end"])
        out[k] = {"steps": len(frames), "stages": {s: summary(v) for s, v in logs[k].items()},
                  "deadline_ms": round(DEADLINE_MS, 3), "missed_deadlines": int((e2e > DEADLINE_MS).sum()),
                  "_series": {"t_s": [i * BIN_US / 1e6 for i in range(len(frames))],
                              "end_to_end_ms": logs[k]["end_to_end"], "model_ms": logs[k]["model"]}}
    return out
