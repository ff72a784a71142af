"""One run of a source through the model, as a stream of small messages for the window.

The session opens the source, builds the `Pipeline` on a `SourceTap`, segments words and
condenses each `StepResult` into a `Step` (spike rates and a unit subset per layer instead of
whole tensors). The live window runs it in a worker thread; the video renderer iterates it
directly, so both show exactly the same steps.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from app.gui.playback import Playback
from app.gui.recorder import Recorder
from app.gui.tap import SourceTap
from app.pipeline import Pipeline, StepResult
from app.segment import Word
from model import Readout
from stream.constants import BIN_S, INPUT_SIDE
from stream.errors import SpikeLipError
from stream.events import SensorSize
from stream.mouth_tracker import following_crop
from stream.roi import Crop, Roi
from stream.sources.base import EventSource

RASTER_UNITS = 64  # units shown per layer: enough to see structure, few enough to read


@dataclass
class Started:
    sensor: SensorSize
    name: str
    live: bool
    crop: Crop
    duration_s: float | None  # None for cameras and files that do not say
    segmented: bool
    warnings: list[str]
    input_side: int = INPUT_SIDE  # the centre crop the model reads
    bin_s: float = BIN_S  # one step of stream: longer for a model binning at a slower user's pace (input_pace)


@dataclass
class Step:
    step: int
    t_s: float  # stream time from the first event
    events: int  # events in the bin after the ROI
    raw: np.ndarray  # full-sensor events delivered since the previous step
    top5: list[tuple[str, float]]
    speaking: bool
    level: float  # smoothed events per bin that drives the segmenter
    word: Word | None  # committed at this step (an offset)
    layers: dict[str, tuple[float, np.ndarray, int]]  # name -> (mean rate Hz, int8 signs of a unit subset, units)
    timings_ms: dict[str, float]  # read, bin, model, latency
    t_published: float
    t_us: int = 0  # the bin's start on the source clock (t_s counts from the first bin's)
    onset: bool = False  # a word began at this bin (the Enrol panel cuts takes with these)
    roi: Roi | None = None  # where the crop was for this bin (it moves with Auto)
    revised: Word | None = None  # the last committed word, read again as another word (it replaces it)
    resize: float | None = None  # Auto resizes the mouth by this for the model


@dataclass
class Finished:
    steps: int
    word: Word | None  # the word still open at the end, or the clip's answer when not segmenting
    top5: list[tuple[str, float]] = field(default_factory=list)
    stopped: bool = False


@dataclass
class Failed:
    message: str


@dataclass
class Notice:
    """A change the user should see while the stream goes on (a camera unplugged and waited for)."""

    message: str
    error: bool


class Session:
    """Runs `open_source()` through `model`; iterate `updates()` from exactly one thread.

    `crop_for(source)` picks the crop once the source (and its sensor) is known. Sentences
    (recordings, cameras) are segmented into words; a DVS-Lip clip is one word, judged at its end.
    """

    def __init__(
        self,
        open_source: Callable[[], EventSource],
        model,
        words: list[str],
        crop_for: Callable[[EventSource], Crop],
        playback: Playback | None = None,
    ) -> None:
        self.open_source = open_source
        self.model = model
        self.words = words
        self.crop_for = crop_for
        self.playback = playback or Playback()
        self.recorder = Recorder()
        self._pipeline: Pipeline | None = None
        self._pending_crop: Crop | None = None
        self._source: EventSource | None = None
        self._subsets: dict[str, np.ndarray] = {}

    def stop(self) -> None:
        """Ask the run to end soon (any thread); the updates end with `Finished(stopped=True)`."""
        self.playback.stop()
        if self._pipeline is not None:
            self._pipeline.stop()

    @property
    def crop(self) -> Crop | None:
        """The crop the model reads now (None before the source is open)."""
        return self._pipeline.crop if self._pipeline is not None else None

    def set_crop(self, crop: Crop) -> bool:
        """Move the ROI without restarting; False when the model input size would change."""
        current = self._pipeline.crop if self._pipeline is not None else None
        if current is None or crop.sensor != current.sensor:
            return False
        self._pending_crop = crop
        return True

    def follow(self, on: bool) -> bool:
        """Auto on: a crop that follows the mouth from where the ROI is now; off: the ROI held
        where it is. False before the run has a crop."""
        current = self._pipeline.crop if self._pipeline is not None else None
        if current is None:
            return False
        if on:
            frames = "frames" in self._source.streams
            self._source.want_frames = self._source.want_frames or frames  # a camera's frames flow from now on
            self._pending_crop = following_crop(current.full, current.scale, frames, start=current.roi)
        else:
            self._pending_crop = Crop(current.full, roi=current.roi, scale=current.scale)
        return True

    def updates(self) -> Iterator[Started | Step | Finished | Failed | Notice]:
        try:
            yield from self._run()
        except SpikeLipError as exc:
            yield Failed(str(exc))
        except Exception as exc:  # a bug must not take the window down; the terminal gets the trace
            traceback.print_exc()
            yield Failed(f"internal error: {type(exc).__name__}: {exc}")

    def _run(self) -> Iterator[Started | Step | Finished | Notice]:
        source = self._source = self.open_source()
        try:
            tap = SourceTap(source, self.playback, self.recorder)
            crop = self.crop_for(source)
            readout = Readout(self.words)
            # the rasters' spikes, from any model that gives them (an ONNX export only with spike outputs)
            records = bool(getattr(self.model, "spike_layers", True))
            pipeline = Pipeline(tap, self.model, readout, crop=crop, speed=None, record_spikes=records)
            segmented = pipeline.words is not None
            self._pipeline = pipeline
            if self.playback.stopped:
                pipeline.stop()
            yield Started(source.sensor, source.name, source.live, crop, _duration_s(source), segmented,
                          list(source.warnings), pipeline.side, pipeline.bin_s)
            last = notice = None
            for r in pipeline:
                last = r
                yield self._step(r, tap)
                if getattr(source, "notice", None) != notice:
                    notice = source.notice
                    yield Notice(notice, error=source.waiting)
                if self._pending_crop is not None:
                    pipeline.crop, self._pending_crop = self._pending_crop, None
            top5 = readout.top(5) if last is not None else []
            word = pipeline.finish()
            if not segmented and top5:  # one word: the whole clip's top-1
                word = Word(top5[0][0], float(top5[0][1]), 0.0, last.t_s)
            yield Finished(pipeline.steps, word, top5, stopped=self.playback.stopped)
        finally:
            tap.close()
            source.close()

    def _step(self, r: StepResult, tap: SourceTap) -> Step:
        raw, read_s = tap.take()
        timings = {
            "read": read_s * 1e3,
            "bin": (r.t_model_start - r.t_available) * 1e3,
            "model": (r.t_model_end - r.t_model_start) * 1e3,
            "latency": r.latency_ms,
        }
        return Step(
            step=r.step,
            t_s=r.t_s,
            events=r.events,
            raw=raw,
            top5=r.top5,
            speaking=r.speaking,
            level=r.level,
            word=r.word,
            layers=self._layers(r.spikes or {}),
            timings_ms=timings,
            t_published=r.t_published,
            t_us=r.t_us,
            onset=r.onset,
            roi=r.roi,
            revised=r.revised,
            resize=r.resize,
        )

    def _layers(self, spikes: dict) -> dict[str, tuple[float, np.ndarray, int]]:
        out, step_s = {}, self._pipeline.bin_s
        for name, s in spikes.items():
            values = np.asarray(s[0].detach().cpu().float().numpy()).ravel()
            subset = self._subsets.get(name)
            if subset is None:
                subset = self._subsets[name] = _unit_subset(len(values), RASTER_UNITS)
            rate_hz = np.count_nonzero(values) / max(len(values), 1) / step_s
            out[name] = (float(rate_hz), np.sign(values[subset]).astype(np.int8), len(values))
        return out


def _unit_subset(units: int, k: int) -> np.ndarray:
    """A fixed random `k` of `units` (sorted): conv maps flatten channel-major, so a stride would show one channel."""
    if units <= k:
        return np.arange(units)
    return np.sort(np.random.default_rng(0).choice(units, k, replace=False))


def _duration_s(source: EventSource) -> float | None:
    """Length of a file source when it is known without reading it all."""
    if source.live:
        return None
    events = getattr(source, "events", None)
    if events is not None:
        return float(events["t"][-1] - events["t"][0]) / 1e6 if len(events) else 0.0
    duration = getattr(source, "duration_us", None)
    return float(duration) / 1e6 if duration else None
