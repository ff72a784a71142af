"""Synthetic event source for tests, floods and latency runs: moving blobs plus random noise."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from stream.events import EVENT_DTYPE, SensorSize
from stream.sources.base import EventSource


class SyntheticSource(EventSource):
    """Events at a chosen mean rate: a few Gaussian blobs drifting across the sensor plus noise.

    Deterministic for a seed. `duration_s=None` runs forever. Batches cover `batch_us` of
    stream time each, so a paced consumer sees a steady flow. With `loop_s`, the first
    `loop_s` seconds are generated once and repeated with shifted timestamps: NumPy makes about
    5 M events/s, too slow to feed a flood test at 12-50 M events/s in real time.
    """

    def __init__(
        self,
        rate_eps: float = 200_000,
        duration_s: float | None = 10.0,
        sensor: SensorSize = SensorSize(128, 128),
        blobs: int = 3,
        noise_fraction: float = 0.1,
        batch_us: int = 1000,
        seed: int = 0,
        t_start_us: int = 0,
        loop_s: float | None = None,
    ) -> None:
        super().__init__()
        self.sensor = sensor
        self.name = "synthetic"
        self.rate_eps = float(rate_eps)
        self.duration_us = None if duration_s is None else int(duration_s * 1e6)
        self.blobs = blobs
        self.noise_fraction = noise_fraction
        self.batch_us = int(batch_us)
        self.seed = seed
        self.t_start_us = int(t_start_us)
        self.loop_us = None if loop_s is None else max(int(loop_s * 1e6) // self.batch_us, 1) * self.batch_us

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.loop_us is None:
            yield from self._generate(self.duration_us)
            return
        loop = list(self._generate(self.loop_us))
        t = 0  # stream time (from t_start_us) at which the next batch starts
        while self.duration_us is None or t < self.duration_us:
            out = loop[(t % self.loop_us) // self.batch_us].copy()
            out["t"] += t - t % self.loop_us
            if self.duration_us is not None and t + self.batch_us > self.duration_us:
                out = out[out["t"] < self.t_start_us + self.duration_us]
            yield out
            t += self.batch_us

    def _generate(self, duration_us: int | None) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        w, h = self.sensor.width, self.sensor.height
        centre = rng.uniform([0.3 * w, 0.3 * h], [0.7 * w, 0.7 * h], size=(self.blobs, 2))
        velocity = rng.normal(0, 0.05, size=(self.blobs, 2))  # px per ms
        sigma = max(2.0, min(w, h) / 16)
        t = 0
        while duration_us is None or t < duration_us:
            span = self.batch_us if duration_us is None else min(self.batch_us, duration_us - t)
            n = rng.poisson(self.rate_eps * span * 1e-6)
            n_noise = rng.binomial(n, self.noise_fraction)
            n_blob = n - n_noise
            which = rng.integers(0, self.blobs, n_blob)
            pos = centre[which] + rng.normal(0, sigma, size=(n_blob, 2))
            xy = np.concatenate([pos, rng.uniform([0, 0], [w, h], size=(n_noise, 2))])
            xy = xy[rng.permutation(n)]
            ev = np.empty(n, EVENT_DTYPE)
            ev["t"] = self.t_start_us + t + np.sort(rng.integers(0, max(span, 1), n))
            ev["x"] = np.clip(xy[:, 0], 0, w - 1).astype(np.int16)
            ev["y"] = np.clip(xy[:, 1], 0, h - 1).astype(np.int16)
            ev["p"] = rng.integers(0, 2, n, dtype=np.int8)
            centre += velocity * span / 1000
            bounce = (centre < [0.2 * w, 0.2 * h]) | (centre > [0.8 * w, 0.8 * h])
            velocity[bounce] *= -1
            t += span
            yield ev
