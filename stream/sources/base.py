"""What every event source offers: time-ordered batches of `EVENT_DTYPE` plus metadata."""
from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from stream.events import SensorSize, empty_events
from stream.frames import Frame


class EventSource:
    """Base class of all sources; iterate it for event batches, close it when done.

    Subclasses set `sensor`, `name` (camera or sensor model, or a description),
    `streams` (what else the input holds: "frames", "imu", "triggers") and append
    human-readable notes on recovered or skipped data to `warnings`.
    `binning` says how the binner should place bins: "floor" from the first event for
    recordings and cameras, "round" from t=0 for DVS-Lip clips (the reference binning).
    `live` sources deliver in real time by themselves and need no pacing.
    A consumer that wants APS frames (where "frames" is in `streams`) sets `want_frames` before
    iterating and calls `take_frames()` after each batch; otherwise no time goes into frames.
    """

    sensor: SensorSize
    name: str = "unknown"
    binning: str = "floor"
    live: bool = False
    want_frames: bool = False

    def __init__(self) -> None:
        self.streams: list[str] = ["events"]
        self.warnings: list[str] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    @property
    def realtime(self) -> bool:
        """Events come at the wall clock's pace whatever we do (a camera): falling behind loses
        the present, so the pipeline may shed events. A replay, paced or not, only runs late."""
        return self.live

    def now_us(self) -> int | None:
        """Stream time reached by a live source while no events come (None: unknown), so
        silence still closes bins."""
        return None

    def take_frames(self) -> list[Frame]:
        """The frames that arrived since the last call, oldest first, no newer than the newest
        event yielded so far (so they are in step with the events); only the newest
        `stream.frames.FRAMES_KEPT` wait for a consumer. Sources without frames return []."""
        return []

    def close(self) -> None:
        """Release files or devices; safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LiveClock:
    """A live source's stream time at the host's now: the newest event time plus the host time
    since it arrived (an underestimate by the transport latency, so bins close a little late
    rather than early). Lets silence close bins (`EventSource.now_us`)."""

    def __init__(self) -> None:
        self.last_t: int | None = None  # newest event time seen (us, stream clock)
        self.last_host: float | None = None  # host monotonic time when it was seen

    def saw(self, events) -> None:
        """Note a batch's newest event (batches in time order; an older one is ignored)."""
        if len(events):
            t = int(events["t"][-1])
            if self.last_t is None or t >= self.last_t:
                self.last_t, self.last_host = t, time.monotonic()

    def now_us(self) -> int | None:
        """None before the first event."""
        if self.last_t is None:
            return None
        return self.last_t + int((time.monotonic() - self.last_host) * 1e6)


class SourceView(EventSource):
    """A source seen through a wrapper that paces, records or observes it: the wrapped source's
    metadata and APS frames, the stream time it reached (`now_us`) and the raw events it passed
    on (`take_raw`). It looks live to a pipeline: the wrapper paces a file itself."""

    live = True

    def __init__(self, source: EventSource) -> None:
        super().__init__()
        self.source = source
        self.sensor = source.sensor
        self.name = source.name
        self.binning = source.binning
        self.streams = source.streams
        self.warnings = source.warnings
        self._now_us: int | None = None
        self._raw: list[np.ndarray] = []

    @property
    def realtime(self) -> bool:
        return self.source.live  # a paced file must not be shed when the machine is slow

    @property
    def want_frames(self) -> bool:
        return self.source.want_frames

    @want_frames.setter
    def want_frames(self, on: bool) -> None:
        self.source.want_frames = on

    def take_frames(self) -> list[Frame]:
        return self.source.take_frames()

    def now_us(self) -> int | None:
        return self._now_us

    def take_raw(self) -> np.ndarray:
        """The raw (full-sensor) events passed on since the last call."""
        raw = np.concatenate(self._raw) if len(self._raw) > 1 else (self._raw[0] if self._raw else empty_events())
        self._raw = []
        return raw
