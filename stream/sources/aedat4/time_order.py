"""Time-order repair of decoded AEDAT4 events (see _TimeOrder)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stream.errors import SpikeLipError
from stream.sources.aedat4.decoders import _Stats

REORDER_WINDOW_US = 10_000  # backwards by up to this: re-sorted (counted)
JUMP_US = 1_000_000  # a jump of more than this that returns later marks corrupt timestamps
FAR_BACK_LIMIT = 1_000  # more out-of-window events than this (and > 1 %): not time-ordered
_EXCURSION_MAX_EVENTS = 4_096  # longest run of corrupt timestamps that is cut out
_EXCURSION_MAX_JUMPS = 64  # beyond this many jumps in one batch, skip the excursion search


class _TimeOrder:
    """Makes batches time-ordered and says what it had to repair.

    * an excursion - timestamps that jump by more than `JUMP_US` and then jump back to where
      they were (bit rot in a timestamp, replicated by the compressor) - is cut out;
    * events up to `REORDER_WINDOW_US` behind the newest event are re-sorted into place
      (across batch borders: moved up to the time already handed out);
    * events further behind are dropped; if more than `FAR_BACK_LIMIT` (and over 1 % of the
      events read) are, the file is not time-ordered and reading stops with SpikeLipError.

    To see whether a jump near the end of a batch returns, the run after it is held back
    into the next batch (at most `_EXCURSION_MAX_EVENTS` events).
    """

    def __init__(self, path: Path, stats: _Stats) -> None:
        self.path = path
        self.stats = stats
        self.last_t: int | None = None  # newest timestamp handed out

    def process(self, ev: np.ndarray, final: bool, dirty: bool) -> tuple[np.ndarray, np.ndarray]:
        """Returns (events to hand out now, events to hold back for the next batch).

        `dirty` says the packets of this batch were not all in order with steps of at most
        JUMP_US (checked per packet by the caller); a clean batch costs nothing here.
        """
        if len(ev) == 0:
            return ev, ev[:0]
        last = self.last_t
        if not dirty and (last is None or last <= ev["t"][0] <= last + JUMP_US):
            self.last_t = int(ev["t"][-1])
            return ev, ev[:0]
        return self._slow(ev, final)

    def _slow(self, ev: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray]:
        st = self.stats
        t = ev["t"].astype(np.int64)
        n = len(t)
        keep = np.ones(n, bool)
        # 1. excursions: a jump away and a jump back to within JUMP_US of the pre-jump time.
        ext = t if self.last_t is None else np.concatenate(([self.last_t], t))
        shift = 0 if self.last_t is None else 1
        jumps = np.flatnonzero(np.abs(np.diff(ext)) > JUMP_US)  # jump between ext[j] and ext[j+1]
        if 0 < len(jumps) <= _EXCURSION_MAX_JUMPS:
            k = 0
            while k < len(jumps):
                j0 = int(jumps[k])
                base = ext[j0]
                matched = False
                for k2 in range(k + 1, len(jumps)):
                    j1 = int(jumps[k2])
                    if j1 - j0 > _EXCURSION_MAX_EVENTS:
                        break
                    if abs(int(ext[j1 + 1]) - int(base)) <= JUMP_US:
                        lo, hi = j0 + 1 - shift, j1 + 1 - shift  # ext[j0+1 .. j1] in t coordinates
                        keep[max(lo, 0) : hi] = False
                        st.excursions += 1
                        st.excursion_events += hi - max(lo, 0)
                        k = k2 + 1
                        matched = True
                        break
                if not matched:
                    k += 1
        # 2. hold back a run after a late jump whose return may come in the next batch.
        carry_from = n
        if not final:
            idx = np.flatnonzero(keep)
            if len(idx) > 1:
                kt = t[idx]
                big = np.flatnonzero(np.abs(np.diff(kt)) > JUMP_US)
                if len(big) and len(idx) - (big[-1] + 1) <= _EXCURSION_MAX_EVENTS:
                    carry_from = int(idx[big[-1] + 1])
        carry = ev[carry_from:][keep[carry_from:]]  # excursions found there are already counted
        keep = keep[:carry_from]
        ev, t = ev[:carry_from], t[:carry_from]
        # 3. order: re-sort what is a little late, drop what is far behind.
        start = self.last_t if self.last_t is not None else (int(t[keep][0]) if keep.any() else 0)
        tk = np.where(keep, t, np.iinfo(np.int64).min)
        runmax = np.maximum.accumulate(np.concatenate(([start], tk)))[:-1]
        lag = runmax - t
        far = keep & (lag > REORDER_WINDOW_US)
        n_far = int(far.sum())
        if n_far:
            st.far_back += n_far
            keep &= ~far
            if st.far_back > FAR_BACK_LIMIT and st.far_back > 0.01 * max(st.events_in, 1):
                at = int(np.flatnonzero(far)[0])
                raise SpikeLipError(
                    f"{self.path}: timestamps jump backwards by {lag[at] / 1e6:.3f} s near event "
                    f"{st.events_out + at:,} ({st.far_back:,} events far out of time order); the file is not "
                    f"time-ordered (two recordings joined, or damaged) - re-export it with DV or record again"
                )
        out = ev[keep] if not keep.all() else ev.copy()
        late = lag[keep] > 0
        if late.any():
            st.reordered += int(late.sum())
            order = np.argsort(out["t"], kind="stable")
            out = out[order]
            if self.last_t is not None:
                early = out["t"] < self.last_t
                if early.any():
                    st.clamped += int(early.sum())
                    out["t"][early] = self.last_t
        if len(out):
            self.last_t = int(out["t"][-1])
        return out, carry
