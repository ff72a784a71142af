"""A DVS pixel-array model: log-intensity frames in, events out.

Each pixel remembers the log intensity of its last event (its reference). Between two frames
the log intensity is taken to change linearly, so when it moves k ON (or OFF) thresholds
away from the reference the pixel emits k events at the interpolated crossing times (sub-frame
timestamps) and its reference moves by k thresholds. Thresholds differ per pixel (Gaussian
mismatch around the session's ON and OFF means). After an event a pixel is blind for the
refractory period: crossings inside it are lost (the reference still follows the signal, as a
real pixel resets to the current level when it fires again). Background-activity noise
(Poisson, uniform over pixels) and a few hot pixels are added on top.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stream.events import EVENT_DTYPE


@dataclass(frozen=True)
class DvsConfig:
    thr_on: float = 0.25  # mean ON threshold, log intensity
    thr_off: float = 0.25
    thr_sigma: float = 0.03  # per-pixel threshold mismatch (standard deviation)
    thr_min: float = 0.05
    refractory_us: float = 300.0
    noise_hz: float = 0.1  # background-activity events per pixel per second
    noise_on_fraction: float = 0.5
    hot_pixels: int = 2
    hot_hz: tuple = (20.0, 120.0)  # event rate range of a hot pixel
    jitter_us: float = 0.0  # Gaussian timestamp jitter of signal events

    def noiseless(self) -> "DvsConfig":
        return DvsConfig(self.thr_on, self.thr_off, self.thr_sigma, self.thr_min, self.refractory_us,
                         0.0, self.noise_on_fraction, 0, self.hot_hz, 0.0)


class DvsSimulator:
    """Feed log-intensity frames with `step(frame, t_us)`; `events()` returns the sorted events.

    Frames are (H, W) float arrays of log intensity; the first frame sets the references
    (a camera that has been looking at the scene before the clip starts).
    """

    def __init__(self, height: int, width: int, config: DvsConfig, rng: np.random.Generator) -> None:
        self.h, self.w = height, width
        self.cfg = config
        self.rng = rng
        n = height * width
        c = config
        self.thr_on = np.maximum(c.thr_min, rng.normal(c.thr_on, c.thr_sigma, n)).astype(np.float32)
        self.thr_off = np.maximum(c.thr_min, rng.normal(c.thr_off, c.thr_sigma, n)).astype(np.float32)
        self.thr_off_neg = -self.thr_off
        self.ref: np.ndarray | None = None
        self.prev: np.ndarray | None = None
        self.t_prev = 0.0
        self.t_first = 0.0
        self.last = np.full(n, -1e18)  # time of each pixel's last event
        self._t: list[np.ndarray] = []
        self._i: list[np.ndarray] = []
        self._p: list[np.ndarray] = []

    def step(self, frame: np.ndarray, t_us: float) -> None:
        cur = np.ascontiguousarray(frame, dtype=np.float32).reshape(-1)
        if self.ref is None:
            self.ref = cur.copy()  # float32 references
            self.prev = cur
            self.t_prev = self.t_first = float(t_us)
            return
        d = cur - self.ref
        cand = np.flatnonzero((d >= self.thr_on) | (d <= self.thr_off_neg))
        if cand.size:
            self._crossings(cand, d[cand], cur[cand], float(t_us))
        self.prev = cur
        self.t_prev = float(t_us)

    def _crossings(self, idx: np.ndarray, d: np.ndarray, cur: np.ndarray, t1: float) -> None:
        pos = d > 0
        sthr = np.where(pos, self.thr_on[idx], self.thr_off_neg[idx])  # signed threshold
        n = (d / sthr).astype(np.int32)  # whole thresholds crossed, >= 1 here
        l0 = self.prev[idx]
        dl = cur - l0  # change over this frame interval: has the sign of d except in rounding cases
        bad = dl * sthr <= 0
        if bad.any():
            keep = ~bad
            idx, pos, sthr, n, l0, dl = idx[keep], pos[keep], sthr[keep], n[keep], l0[keep], dl[keep]
            if idx.size == 0:
                return
        ref = self.ref[idx]
        # The reference moves by all n thresholds whether or not the events are emitted.
        self.ref[idx] = ref + n * sthr
        # Crossing j (0-based) is at level ref + (j+1)*sthr; log intensity is linear in time
        # between the frames, so crossings are evenly spaced from `first` on.
        dt = np.float64(t1 - self.t_prev)
        first = self.t_prev + dt * ((ref + sthr - l0) / dl)
        spacing = dt * (sthr / dl)
        allowed = self.last[idx] + self.cfg.refractory_us
        simple = (n == 1) & (first >= allowed)  # one crossing, pixel not blind: the common case
        if simple.all():
            self._emit(idx, first, pos)
            return
        if simple.any():
            self._emit(idx[simple], first[simple], pos[simple])
            rest = ~simple
            idx, first, spacing = idx[rest], first[rest], spacing[rest]
            n, pos, allowed = n[rest], pos[rest], allowed[rest]
        # Greedy refractory filter, exact for evenly spaced crossings: the first crossing after
        # the pixel's blind time, then every m-th one.
        refr = self.cfg.refractory_us
        j0 = np.maximum(np.ceil((allowed - first) / spacing - 1e-9), 0.0).astype(np.int64)
        m = np.maximum(np.ceil(refr / spacing - 1e-9), 1.0).astype(np.int64)
        count = np.maximum((n - 1 - j0) // m + 1, 0)  # emitted crossings per pixel
        total = int(count.sum())
        if total == 0:
            return
        r = np.repeat(np.arange(count.size), count)
        within = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        t = first[r] + (j0[r] + within * m[r]) * spacing[r]
        # the last emitted crossing of each pixel ends up in `last` (rows ascend in time)
        has = count > 0
        self.last[idx[has]] = (first + (j0 + (count - 1) * m) * spacing)[has]
        self._t.append(t)
        self._i.append(idx[r])
        self._p.append(pos[r].astype(np.int8))

    def _emit(self, idx: np.ndarray, t: np.ndarray, pos: np.ndarray) -> None:
        """One event per pixel in `idx` at times `t`."""
        self.last[idx] = t
        self._t.append(t)
        self._i.append(idx)
        self._p.append(pos.astype(np.int8))

    def events(self, t_end_us: float | None = None) -> np.ndarray:
        """All events so far plus noise over [first frame, t_end_us), sorted by time."""
        t_end = self.t_prev if t_end_us is None else float(t_end_us)
        ts, ii, ps = list(self._t), list(self._i), list(self._p)
        if self.cfg.jitter_us > 0 and ts:
            ts = [t + np.abs(self.rng.normal(0.0, self.cfg.jitter_us, t.shape)) for t in ts]
        ts2, ii2, ps2 = self._noise(self.t_first, t_end)
        ts += ts2
        ii += ii2
        ps += ps2
        if not ts:
            return np.zeros(0, EVENT_DTYPE)
        t = np.floor(np.concatenate(ts)).astype(np.int64)
        i = np.concatenate(ii)
        p = np.concatenate(ps)
        keep = (t >= int(self.t_first)) & (t <= t_end)
        t, i, p = t[keep], i[keep], p[keep]
        order = np.argsort(t * (self.h * self.w) + i, kind="stable")  # by time, then pixel
        out = np.empty(order.size, EVENT_DTYPE)
        out["t"] = t[order]
        out["x"] = (i[order] % self.w).astype(np.int16)
        out["y"] = (i[order] // self.w).astype(np.int16)
        out["p"] = p[order]
        return out

    def _noise(self, t0: float, t1: float):
        c, r = self.cfg, self.rng
        n_pix = self.h * self.w
        span = max(0.0, t1 - t0)
        ts, ii, ps = [], [], []
        if c.noise_hz > 0 and span > 0:
            k = r.poisson(c.noise_hz * n_pix * span * 1e-6)
            ts.append(r.uniform(t0, t1, k))
            ii.append(r.integers(0, n_pix, k))
            ps.append((r.random(k) < c.noise_on_fraction).astype(np.int8))
        for _ in range(c.hot_pixels if span > 0 else 0):
            pix = int(r.integers(0, n_pix))
            rate = r.uniform(*c.hot_hz)
            k = r.poisson(rate * span * 1e-6)
            ts.append(r.uniform(t0, t1, k))
            ii.append(np.full(k, pix))
            p_on = 0.9 if r.random() < 0.5 else 0.1
            ps.append((r.random(k) < p_on).astype(np.int8))
        return ts, ii, ps


def log_intensity(image: np.ndarray, dark: float = 0.02) -> np.ndarray:
    """The photoreceptor's response: log of intensity (0..1) plus a dark-current floor."""
    return cv2.log(np.asarray(image, np.float32) + np.float32(dark))


def frames_to_events(log_frames, times_us, config: DvsConfig = DvsConfig(), rng=None,
                     t_end_us: float | None = None) -> np.ndarray:
    """Convenience: run a whole (N, H, W) log-intensity sequence through a `DvsSimulator`."""
    log_frames = np.asarray(log_frames, np.float32)
    rng = rng if rng is not None else np.random.default_rng(0)
    sim = DvsSimulator(log_frames.shape[1], log_frames.shape[2], config, rng)
    for frame, t in zip(log_frames, times_us):
        sim.step(frame, t)
    return sim.events(t_end_us)
