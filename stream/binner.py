"""Streaming binner: events in, one (2, H, W) count frame per time bin out, as soon as it closes.

Channel 0 counts ON events, channel 1 OFF events; rows are y, columns x. A bin is emitted when
stream time passes its end, empty bins included (silence is a timestep). With
`rounding="round"` and `t0=0` the bins are exactly those of the DVS-Lip reference code
(`bin = round(t / 13,333.3)`), so a clip binned live equals the clip binned offline.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from stream.constants import BIN_US, CLIP_BINS, MOUTH_SIDE
from stream.events import SensorSize

CHUNK_BINS = 64  # bins accumulated per bincount: bounds memory when a batch spans seconds
MAX_GAP_BINS = 750  # a pause longer than this (10 s) is skipped, not filled with empty bins


class Bins(NamedTuple):
    """Closed bins: their indices (bin k starts near t0 + k * bin_us) and count frames."""

    index: np.ndarray  # (k,) int64
    frames: np.ndarray  # (k, 2, H, W) float32 counts

    def __len__(self) -> int:
        return len(self.index)


def signed(frames: np.ndarray) -> np.ndarray:
    """The model's input view of count frames: ON counts and minus OFF counts (reference code)."""
    out = frames.astype(np.float32, copy=True)
    out[..., 1, :, :] *= -1
    return out


class Binner:
    """Accumulates event batches into bins of `bin_us` and emits the bins that have closed.

    `t0` is the time origin (default: the first event's time, or 0 with `rounding="round"`).
    `max_bins` drops events past that many bins (90 for DVS-Lip clips). Gaps longer than
    `max_gap_bins` are skipped instead of emitting millions of empty bins; their count is in
    `skipped_bins`. Events older than an already emitted bin are dropped and counted in `late`.
    """

    def __init__(
        self,
        sensor: SensorSize,
        bin_us: float = BIN_US,
        rounding: str = "floor",
        t0: int | None = None,
        max_bins: int | None = None,
        max_gap_bins: int = MAX_GAP_BINS,
    ) -> None:
        if rounding not in ("floor", "round"):
            raise ValueError(f"rounding must be 'floor' or 'round', not {rounding!r}")
        if bin_us <= 0:
            raise ValueError("bin_us must be positive")
        self.sensor = sensor
        self.bin_us = float(bin_us)
        self.rounding = rounding
        self.t0 = 0 if (t0 is None and rounding == "round") else t0
        self.max_bins = max_bins
        self.max_gap_bins = max_gap_bins
        self._plane = sensor.width * sensor.height
        self._next = 0  # index of the first bin not yet emitted
        self._pending = np.zeros((2, sensor.height, sensor.width), np.float32)
        self._pending_idx: list[np.ndarray] = []  # open-bin events not yet added to _pending
        self.late = 0
        self.dropped_after_end = 0
        self.skipped_bins = 0
        self.events_binned = 0
        self._open = False  # an event has landed in the pending bin

    def bin_index(self, t: np.ndarray) -> np.ndarray:
        """Bin index of timestamps `t` (us), the same float arithmetic as the reference."""
        rel = (np.asarray(t, np.int64) - self.t0) / self.bin_us
        return (np.round(rel) if self.rounding == "round" else np.floor(rel)).astype(np.int64)

    def bin_start_us(self, index) -> np.ndarray:
        """Start time (us) of bin `index`: for "round" bins, half a bin before its centre."""
        offset = 0.5 if self.rounding == "round" else 0.0
        return self.t0 + (np.asarray(index, np.float64) - offset) * self.bin_us

    def push(self, events: np.ndarray) -> Bins:
        """Add a time-ordered batch; returns the bins that closed because time passed them."""
        if len(events) == 0:
            return self._empty()
        if self.t0 is None:
            self.t0 = int(events["t"][0])
        idx = self.bin_index(events["t"])
        if self.max_bins is not None:
            inside = idx < self.max_bins
            if not inside.all():  # late events among the rest are counted by _accumulate
                self.dropped_after_end += int((~inside).sum())
                events, idx = events[inside], idx[inside]
        if len(idx) == 0:
            return self._empty()
        lo, hi = int(idx.min()), int(idx.max())
        if hi - self._next < CHUNK_BINS and lo - self._next <= self.max_gap_bins:
            return self._accumulate(events, idx)  # the usual case: a batch within a few bins
        # Bin at most CHUNK_BINS at a time (bounded memory for sparse batches), and bin each
        # side of a long silence separately so the gap is skipped, not filled.
        reached = np.maximum.accumulate(np.concatenate([[self._next], idx]))
        new_gap = idx - reached[:-1] > self.max_gap_bins
        chunk = (reached[1:] - reached[1]) // CHUNK_BINS
        cuts = np.flatnonzero(new_gap[1:] | (np.diff(chunk) != 0)) + 1
        out = self._empty()
        for part in np.split(np.arange(len(idx)), cuts) if len(cuts) else [slice(None)]:
            out = _concat(out, self._accumulate(events[part], idx[part]))
        return out

    def _accumulate(self, events: np.ndarray, idx: np.ndarray) -> Bins:
        late = idx < self._next
        if late.any():
            self.late += int(late.sum())
            events, idx = events[~late], idx[~late]
        if len(idx) == 0:
            return self._empty()
        out = self._skip_gap(int(idx.min()))
        last = int(idx.max())
        n = last - self._next + 1
        # flat index ((bin * 2 + is_off) * H + y) * W + x, built in place: no temporaries
        flat = idx - self._next
        flat *= 2
        flat += events["p"] == 0
        flat *= self.sensor.height
        flat += events["y"]
        flat *= self.sensor.width
        flat += events["x"]
        self.events_binned += len(idx)
        if n == 1:  # no bin closes: keep the indices; one dense count when the bin closes
            self._pending_idx.append(flat)
            self._open = True
            return out
        counts = np.bincount(flat, minlength=n * 2 * self._plane).astype(np.float32)
        counts = counts.reshape(n, 2, self.sensor.height, self.sensor.width)
        counts[0] += self._take_open_frame()
        self._pending = counts[-1].copy()
        self._open = True
        closed = Bins(np.arange(self._next, last, dtype=np.int64), counts[:-1])
        self._next = last
        return _concat(out, closed)

    def restart_at(self, index: int) -> None:
        """Forget the open bin and emit from bin `index` on, on the same time grid (a caller
        reads events from there again, through another crop)."""
        self._pending = np.zeros_like(self._pending)
        self._pending_idx = []
        self._open = False
        self._next = int(index)

    def advance(self, t_us: int) -> Bins:
        """Stream time has reached `t_us` with no further events: emit the bins that ended."""
        if self.t0 is None:
            return self._empty()
        last = int(self.bin_index(np.array([t_us]))[0])
        if self.max_bins is not None:
            last = min(last, self.max_bins)
        if last <= self._next:
            return self._empty()
        out = self._skip_gap(last)
        n = last - self._next
        if n == 0:
            return out
        frames = np.zeros((n, 2, self.sensor.height, self.sensor.width), np.float32)
        frames[0] = self._take_open_frame()
        closed = Bins(np.arange(self._next, last, dtype=np.int64), frames)
        self._next = last
        return _concat(out, closed)

    def flush(self) -> Bins:
        """End of stream: emit the partial bin being filled (if any event started it)."""
        if not self._open:
            return self._empty()
        closed = Bins(np.array([self._next], np.int64), self._take_open_frame()[None])
        self._next += 1
        return closed

    def _take_open_frame(self) -> np.ndarray:
        """Close the open bin: its counts (with the indices held back from earlier pushes added
        in) are returned, and an empty bin takes its place."""
        frame = self._pending
        if self._pending_idx:
            flat = np.concatenate(self._pending_idx) if len(self._pending_idx) > 1 else self._pending_idx[0]
            frame += np.bincount(flat, minlength=2 * self._plane).astype(np.float32).reshape(frame.shape)
        self._pending = np.zeros_like(frame)
        self._pending_idx = []
        self._open = False
        return frame

    def _skip_gap(self, first: int) -> Bins:
        """Jump to bin `first` over a gap longer than `max_gap_bins`: emit the pending bin, count the rest."""
        if first - self._next <= self.max_gap_bins:
            return self._empty()
        out = self.flush()
        self.skipped_bins += first - self._next
        self._next = first
        return out

    def _empty(self) -> Bins:
        return Bins(np.zeros(0, np.int64), np.zeros((0, 2, self.sensor.height, self.sensor.width), np.float32))


def _concat(a: Bins, b: Bins) -> Bins:
    if len(a) == 0:
        return b
    if len(b) == 0:
        return a
    return Bins(np.concatenate([a.index, b.index]), np.concatenate([a.frames, b.frames]))


def bin_recording(source, crop) -> tuple[Binner, list[Bins]]:
    """Every bin of a whole (file) source through `crop`, in order, with the binner that placed
    them (its `bin_start_us` gives their times)."""
    binner = Binner(crop.sensor, rounding=source.binning)
    parts = [binner.push(crop(events)) for events in source]
    parts.append(binner.flush())
    return binner, parts


def bin_clip(events: np.ndarray, sensor: SensorSize = SensorSize(MOUTH_SIDE, MOUTH_SIDE), bins: int = CLIP_BINS) -> np.ndarray:
    """A whole DVS-Lip clip to a (bins, 2, H, W) count tensor, zero-padded, reference binning."""
    binner = Binner(sensor, rounding="round", t0=0, max_bins=bins, max_gap_bins=bins)
    out = np.zeros((bins, 2, sensor.height, sensor.width), np.float32)
    for part in (binner.push(events), binner.flush()):
        out[part.index] = part.frames
    return out
