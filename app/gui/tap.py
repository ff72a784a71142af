"""The source the GUI's pipeline reads: the real source, paced by the window's controls.

It wraps any `EventSource` and looks live to the `Pipeline` (it paces itself and reports the
stream time), so pause, speed and seek act without re-creating anything. On the way it hands
the raw full-sensor events to the recorder and keeps them for the event view, and it measures
the time spent reading the source.
"""
from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from app.gui.playback import Playback
from app.gui.recorder import Recorder
from stream.pacing import paced
from stream.sources.base import EventSource, SourceView


class SourceTap(SourceView):
    """A paced, recorded, observed view of `source`; iterate it from the worker thread only."""

    def __init__(self, source: EventSource, playback: Playback, recorder: Recorder) -> None:
        super().__init__(source)
        self.playback = playback
        self.recorder = recorder
        self.t_first_us: int | None = None  # the stream's first event: position 0 of the seek bar
        self._read_s = 0.0

    def take(self) -> tuple[np.ndarray, float]:
        """Raw events delivered since the last call and the seconds spent reading them."""
        read_s, self._read_s = self._read_s, 0.0
        return self.take_raw(), read_s

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.source.live:
            slices = ((ev, self.source.now_us()) for ev in self.source)  # a camera's wait for data is not read time
        else:
            slices = paced(self._timed(self.source), 1.0, clock=self.playback.clock, sleep=self.playback.sleep)
        try:
            for events, now_us in slices:
                if not self.source.live:
                    self.playback.hold()
                if self.playback.stopped:
                    return
                if self.t_first_us is None and len(events):
                    self.t_first_us = int(events["t"][0])
                self._now_us = now_us
                if self.t_first_us is not None and now_us is not None:
                    self.playback.advance((now_us - self.t_first_us) / 1e6)
                self.recorder.poll(self.sensor, self.name)
                self.recorder.write(events)
                if len(events):
                    self._raw.append(events)
                yield events
        finally:
            self.recorder.close()

    def close(self) -> None:
        self.recorder.close()

    def _timed(self, batches) -> Iterator[np.ndarray]:
        it = iter(batches)
        while True:
            t0 = time.perf_counter()
            batch = next(it, None)
            self._read_s += time.perf_counter() - t0
            if batch is None:
                return
            yield batch
