"""Load shedding: when processing falls behind real time, keep every k-th event and count the rest.

A flood (a DAVIS346 can burst past 12 M events/s) must not make the pipeline stall with an
ever-growing backlog: past `max_lag_us` behind, the stride k doubles; once caught up it halves
back to 1. Strided subsampling keeps time order and the spatial pattern, so the model still
sees the mouth, only with fewer events per bin. Events are shed only while handling them is
most of the work (`event_share`): when a slow model is the cause, dropping input cannot help.
"""
from __future__ import annotations

import numpy as np


class LoadShedder:
    """Call with each batch and the current lag (us behind real time); returns the kept events."""

    def __init__(self, max_lag_us: float = 40_000, max_stride: int = 64) -> None:
        self.max_lag_us = float(max_lag_us)
        self.max_stride = int(max_stride)
        self.stride = 1
        self.kept = 0
        self.dropped = 0
        self.shedding_batches = 0  # batches that were subsampled

    def __call__(self, events: np.ndarray, lag_us: float, event_share: float = 1.0) -> np.ndarray:
        if lag_us > self.max_lag_us and event_share > 0.5:
            self.stride = min(self.stride * 2, self.max_stride)
        elif lag_us < self.max_lag_us / 4 and self.stride > 1:
            self.stride //= 2
        if self.stride > 1 and len(events):
            kept = events[:: self.stride]
            self.dropped += len(events) - len(kept)
            self.shedding_batches += 1
            events = kept
        self.kept += len(events)
        return events

    @property
    def dropped_fraction(self) -> float:
        total = self.kept + self.dropped
        return self.dropped / total if total else 0.0
