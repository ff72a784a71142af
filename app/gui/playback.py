"""Replay controls shared by the window and the worker thread: pause, speed, seek, stop.

`Playback` is also the clock that `stream.pacing.paced` runs on: stream seconds that advance
`speed` times faster than the wall clock, stand still while paused and jump ahead while
seeking or at full speed. Pacing a file this way keeps every timestep; only the wait changes.
"""
from __future__ import annotations

import threading
import time

_WAKE_S = 0.1  # longest a sleeping worker waits before it looks at the controls again


class Playback:
    """Thread-safe: the window sets speed, pause and seek; the worker's pacing sleeps on it."""

    def __init__(self, speed: float | None = 1.0, paused: bool = False, seek_s: float | None = None) -> None:
        self._cond = threading.Condition()
        self._speed = _check(speed)
        self._paused = paused
        self._stopped = False
        self._clock = 0.0  # clock value at `_anchor`
        self._anchor = time.perf_counter()
        self.seek_target_s = seek_s  # fast-forward until the stream reaches this time
        self.position_s = 0.0  # stream time reached, from the start of the recording

    @property
    def speed(self) -> float | None:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def seeking(self) -> bool:
        target = self.seek_target_s
        return target is not None and self.position_s < target

    def set_speed(self, speed: float | None) -> None:
        """`None` replays as fast as possible."""
        with self._cond:
            self._rebase()
            self._speed = _check(speed)
            self._cond.notify_all()

    def set_paused(self, paused: bool) -> None:
        with self._cond:
            self._rebase()
            self._paused = paused
            self._cond.notify_all()

    def seek(self, target_s: float) -> None:
        """Fast-forward to `target_s` (only forward: going back means re-opening the source)."""
        with self._cond:
            self.seek_target_s = target_s
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def advance(self, position_s: float) -> None:
        """The worker reports the stream time it reached; a seek ends when it gets there."""
        self.position_s = position_s
        target = self.seek_target_s
        if target is not None and position_s >= target:
            self.seek_target_s = None

    def hold(self) -> None:
        """Block while paused. Called between slices, so a pause takes effect at once even
        when the worker is behind the clock and would otherwise not sleep until it caught up."""
        with self._cond:
            while self._paused and not self._stopped and not self.seeking:
                self._cond.wait(_WAKE_S)

    def clock(self) -> float:
        with self._cond:
            return self._now()

    def sleep(self, seconds: float) -> None:
        """Wait until the clock has advanced `seconds`; returns early when stopped."""
        with self._cond:
            target = self._now() + seconds
            while not self._stopped:
                if self.seeking or (self._speed is None and not self._paused):
                    self._rebase()
                    self._clock = max(self._clock, target)
                    return
                if self._paused:
                    self._cond.wait(_WAKE_S)
                    continue
                remaining = (target - self._now()) / self._speed
                if remaining <= 0:
                    return
                self._cond.wait(min(remaining, _WAKE_S))

    def _now(self) -> float:
        if self._paused or self._speed is None:
            return self._clock
        return self._clock + (time.perf_counter() - self._anchor) * self._speed

    def _rebase(self) -> None:
        self._clock = self._now()
        self._anchor = time.perf_counter()


def _check(speed: float | None) -> float | None:
    if speed is not None and speed <= 0:
        return None
    return speed
