"""One path for every use: source -> ROI -> binner -> model step -> readout, one result per bin.

Live demo, replay, headless runs and latency mode differ only in the source and in what
consumes the `StepResult`s. Each result carries wall-clock stamps of its stages.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from model.data import CentreCrop
from stream.binner import DVSLIP_BIN_US, Binner, signed
from stream.pacing import paced
from stream.roi import Crop
from stream.sources.base import EventSource

MODEL_INPUT_SIDE = 88  # the paper's test transform: centre crop 88 of the 128 x 128 mouth crop


@dataclass
class StepResult:
    """What one 13.3 ms timestep produced, and when each stage finished (perf_counter s)."""

    step: int
    t_us: int  # stream time of the bin's start
    events: int  # events in the bin (after the ROI)
    frame: np.ndarray  # (2, H, W) ON/OFF counts
    top5: list[tuple[str, float]]
    t_available: float  # the input that closed this bin was handed over by the source
    t_binned: float
    t_model_start: float
    t_model_end: float
    t_published: float = 0.0
    spikes: dict | None = None

    @property
    def latency_ms(self) -> float:
        return (self.t_published - self.t_available) * 1e3


def model_input(frame: np.ndarray, side: int = MODEL_INPUT_SIDE) -> torch.Tensor:
    """(2, H, W) counts -> (1, 2, side, side) signed float tensor, cropped as in evaluation."""
    return torch.from_numpy(signed(CentreCrop(side)(frame))).unsqueeze(0)


class Pipeline:
    """Runs a source through crop, binner and model; iterate it for `StepResult`s.

    `speed` paces file replay (1.0 = real time, None = as fast as possible); live sources are
    never paced. `record_spikes` asks the model for each layer's spikes (for the GUI rasters).
    """

    def __init__(
        self,
        source: EventSource,
        model,
        readout,
        crop: Crop | None = None,
        speed: float | None = 1.0,
        bin_us: float = DVSLIP_BIN_US,
        record_spikes: bool = False,
    ) -> None:
        self.source = source
        self.model = model
        self.readout = readout
        self.crop = crop or Crop(source.sensor)
        self.speed = None if source.live else speed
        self.binner = Binner(self.crop.sensor, bin_us=bin_us, rounding=source.binning)
        self.record_spikes = record_spikes
        self.events_in = 0
        self.steps = 0
        self._stop = False

    def stop(self) -> None:
        """Ask the loop to end after the current step (from another thread)."""
        self._stop = True

    def __iter__(self) -> Iterator[StepResult]:
        state = self.model.initial_state(batch_size=1)
        for events, now_us in self._slices():
            t_available = time.perf_counter()
            self.events_in += len(events)
            closed = [self.binner.push(self.crop(events))]
            if now_us is not None:
                closed.append(self.binner.advance(now_us))
            for bins in closed:
                for index, frame in zip(bins.index, bins.frames):
                    result, state = self._step(int(index), frame, state, t_available)
                    yield result
                    if self._stop:
                        return
        tail = self.binner.flush()
        for index, frame in zip(tail.index, tail.frames):
            result, state = self._step(int(index), frame, state, time.perf_counter())
            yield result

    def _slices(self):
        if self.source.live:
            for events in self.source:
                yield events, self.source.now_us()
        else:
            yield from paced(self.source, self.speed)

    def _step(self, index: int, frame: np.ndarray, state, t_available: float):
        t_binned = time.perf_counter()
        x = model_input(frame)
        t0 = time.perf_counter()
        spikes = None
        with torch.inference_mode():
            if self.record_spikes:
                logits, state, spikes = self.model.step(x, state, record=True)
            else:
                logits, state = self.model.step(x, state)
        t1 = time.perf_counter()
        self.readout.update(logits[0])
        top5 = self.readout.top(5)
        self.steps += 1
        result = StepResult(
            step=self.steps - 1,
            t_us=int(round(float(self.binner.bin_start_us(index)))),
            events=int(frame.sum()),
            frame=frame,
            top5=top5,
            t_available=t_available,
            t_binned=t_binned,
            t_model_start=t0,
            t_model_end=t1,
            spikes=spikes,
        )
        result.t_published = time.perf_counter()
        return result, state
