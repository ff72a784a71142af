"""Replay pacing: deliver recorded events when their timestamps come due, at N x, or at once.

Each item is `(events, now_us)`: a time slice of events and the stream time reached so far, so
the binner can close bins during silence exactly as it would with a live camera.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator

import numpy as np

from stream.events import empty_events

_T_MAX = int(np.iinfo(np.int64).max)


def paced(
    batches: Iterable[np.ndarray],
    speed: float | None = 1.0,
    slice_us: int = 1000,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[np.ndarray, int]]:
    """Yield `(events, now_us)`; `speed` None or <= 0 replays as fast as possible.

    Paced replay cuts the stream into slices of `slice_us` (a camera delivers about one packet
    per millisecond) and yields empty slices in silence so time keeps moving. It reads one
    batch ahead, so `now_us` never runs past an event still to be delivered.
    """
    if speed is None or speed <= 0:
        for batch in batches:
            if len(batch):
                yield batch, int(batch["t"][-1])
        return
    source = iter(batches)
    pending = next((b for b in source if len(b)), None)
    if pending is None:
        return
    t_stream0 = next_us = int(pending["t"][0])
    t_wall0 = clock()
    exhausted = False
    while True:
        # Read ahead only until the next slice is complete, so `now_us` never overtakes an event.
        while not exhausted and (len(pending) == 0 or pending["t"][-1] < next_us + slice_us):
            batch = next(source, None)
            if batch is None:
                exhausted = True
            elif len(batch):
                pending = np.concatenate([pending, batch]) if len(pending) else batch
        if len(pending) == 0:
            return
        next_us += slice_us
        end = int(np.searchsorted(pending["t"], next_us, side="left"))
        delay = t_wall0 + (next_us - t_stream0) / 1e6 / speed - clock()
        if delay > 0:
            sleep(delay)
        yield pending[:end], next_us
        pending = pending[end:]


def sliced(batches: Iterable[np.ndarray], span_us: float, max_gap_us: float) -> Iterator[tuple[np.ndarray, int]]:
    """As fast as possible, but in slices of at most `span_us` of stream time, with an empty
    slice every `span_us` through pauses up to `max_gap_us` (longer ones a binner skips), so
    whatever a consumer does per stretch of time stays bounded: a sparse batch spanning
    minutes would otherwise close thousands of bins at once."""
    span = max(1, int(span_us))
    last = None  # the stream time reached
    for batch in batches:
        t = batch["t"]
        i, n = 0, len(batch)
        while i < n:
            if last is not None and t[i] - last <= max_gap_us:
                yield from ((empty_events(), tick) for tick in range(last + span, int(t[i]), span))
            j = max(int(np.searchsorted(t, min(int(t[i]) + span, _T_MAX), side="left")), i + 1)
            last = int(t[j - 1])
            yield batch[i:j], last
            i = j
