"""Event-level transforms: what another camera, face or distance changes, applied to a clip's events.

Each transform is a callable `(events, rng) -> events` on `EVENT_DTYPE` arrays (time order kept,
coordinates inside `sensor`), composable with `Compose` as in tonic. Training draws them at
random to make a model robust (`RandomShift`); `benchmarks/bench_robustness.py` applies each one
with fixed strength to measure what it costs a model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stream.constants import MOUTH_SIDE
from stream.events import SensorSize, make_events
from stream.sources.npy import FOLDER_WORDS, list_clips, read_clip, save_clip

CLIP_SENSOR = SensorSize(MOUTH_SIDE, MOUTH_SIDE)


def _inside(x: np.ndarray, y: np.ndarray, sensor: SensorSize) -> np.ndarray:
    return (x >= 0) & (x < sensor.width) & (y >= 0) & (y < sensor.height)


def _merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two event arrays as one in time order (stable: `a` first at equal times)."""
    out = np.concatenate([a, b])
    return out[np.argsort(out["t"], kind="stable")]


@dataclass(frozen=True)
class Affine:
    """Mouth larger or smaller (`scale`), turned (`rotate_deg`) and moved (`dx`, `dy` px) about
    the sensor's centre, as a camera nearer, further or aimed elsewhere shows it. A mouth k x as
    large covers k^2 as many pixels, each firing about as often (SynthLip faces rendered 1.3 x and
    0.75 x as large give 1.65 x and 0.62 x the events), so the events are thinned or repeated to
    k^2 as many; each lands at a jittered point of its pixel's image, so a mouth scaled up covers
    its larger area instead of a sparse grid. Events leaving the sensor are dropped."""

    scale: float = 1.0
    rotate_deg: float = 0.0
    dx: float = 0.0
    dy: float = 0.0
    sensor: SensorSize = CLIP_SENSOR

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(events) == 0:
            return events
        area = self.scale ** 2
        if area < 1:
            events = events[rng.random(len(events)) < area]
        elif area > 1:
            events = np.repeat(events, int(area) + (rng.random(len(events)) < area % 1))
        cx, cy = (self.sensor.width - 1) / 2, (self.sensor.height - 1) / 2
        jx, jy = rng.uniform(-0.5, 0.5, (2, len(events))) if self.scale > 1 else (0.0, 0.0)
        u = events["x"] + jx - cx
        v = events["y"] + jy - cy
        a = np.deg2rad(self.rotate_deg)
        c, s = np.cos(a) * self.scale, np.sin(a) * self.scale
        x = np.rint(cx + c * u - s * v + self.dx)
        y = np.rint(cy + s * u + c * v + self.dy)
        keep = _inside(x, y, self.sensor)
        return make_events(events["t"][keep], x[keep], y[keep], events["p"][keep])


@dataclass(frozen=True)
class DropEvents:
    """Keep each event with probability 1 - `fraction`: a higher contrast threshold, dimmer light."""

    fraction: float

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return events[rng.random(len(events)) >= self.fraction]


@dataclass(frozen=True)
class BackgroundNoise:
    """Add uniformly scattered events at `fraction` of the clip's own event count (shot noise and
    leak events), polarity random, over the clip's time span."""

    fraction: float
    sensor: SensorSize = CLIP_SENSOR

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = rng.poisson(self.fraction * len(events)) if len(events) else 0
        if n == 0:
            return events
        t0, t1 = int(events["t"][0]), int(events["t"][-1])
        noise = make_events(np.sort(rng.integers(t0, t1 + 1, n)), rng.integers(0, self.sensor.width, n),
                            rng.integers(0, self.sensor.height, n), rng.integers(0, 2, n))
        return _merge(events, noise)


@dataclass(frozen=True)
class HotPixels:
    """`count` pixels that fire at `rate_hz` whatever the scene, with one polarity each."""

    count: int
    rate_hz: float = 200.0
    sensor: SensorSize = CLIP_SENSOR

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(events) == 0 or self.count == 0:
            return events
        t0, t1 = int(events["t"][0]), int(events["t"][-1])
        per_pixel = rng.poisson(self.rate_hz * (t1 - t0) / 1e6, self.count)
        n = int(per_pixel.sum())
        if n == 0:
            return events
        px = np.repeat(rng.integers(0, self.sensor.width, self.count), per_pixel)
        py = np.repeat(rng.integers(0, self.sensor.height, self.count), per_pixel)
        pp = np.repeat(rng.integers(0, 2, self.count), per_pixel)
        t = rng.integers(t0, t1 + 1, n)
        order = np.argsort(t, kind="stable")
        return _merge(events, make_events(t[order], px[order], py[order], pp[order]))


@dataclass(frozen=True)
class Refractory:
    """Drop an event when its pixel made one less than `period_us` before (a slower pixel circuit;
    dropped events count too, so a pixel flooded faster than the period stays quiet)."""

    period_us: int

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(events) == 0 or self.period_us <= 0:
            return events
        pixel = events["y"].astype(np.int64) * 65536 + events["x"].astype(np.int64)
        order = np.lexsort((events["t"], pixel))  # by pixel, then time
        t, pix = events["t"][order], pixel[order]
        too_soon = np.zeros(len(events), bool)
        too_soon[1:] = (pix[1:] == pix[:-1]) & (t[1:] - t[:-1] < self.period_us)
        keep = np.empty(len(events), bool)
        keep[order] = ~too_soon
        return events[keep]


@dataclass(frozen=True)
class TimeScale:
    """Speech `factor` times slower (> 1) or faster (< 1): timestamps stretched from the first."""

    factor: float

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(events) == 0:
            return events
        t0 = events["t"][0]
        out = events.copy()
        out["t"] = t0 + np.rint((events["t"] - t0) * self.factor).astype(np.int64)
        return out


class Compose:
    """Apply transforms in order, with one generator."""

    def __init__(self, *transforms) -> None:
        self.transforms = [t for t in transforms if t is not None]

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            events = t(events, rng)
        return events

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.transforms))})"



@dataclass(frozen=True)
class RandomShift:
    """A new draw of every shift for each clip, up to the given strengths: robust training.

    Defaults span what moving from SynthLip's renderer to a real face on a real DAVIS changes:
    the mouth 0.8-1.4 x as large, turned up to 10 degrees, 12 px off-centre; up to 60 % of events
    lost; noise up to 30 % of the clip's events; a few hot pixels; a refractory period up to
    2 ms; speech 15 % faster to 20 % slower. `fraction` of the clips are shifted, the rest pass
    unchanged, so that training keeps seeing the clean clips it must still read.
    """

    scale: tuple[float, float] = (0.8, 1.4)
    rotate_deg: float = 10.0
    offset_px: float = 12.0
    drop: float = 0.6
    noise: float = 0.3
    hot_pixels: int = 4
    refractory_us: int = 2000
    time_scale: tuple[float, float] = (0.85, 1.2)
    sensor: SensorSize = CLIP_SENSOR
    fraction: float = 1.0

    def scaled(self, strength: float) -> RandomShift:
        """The same shifts at `strength` times their default reach (1 = as above, 0 = none)."""
        k = float(strength)
        return RandomShift(
            scale=tuple(float(np.exp(k * np.log(v))) for v in self.scale), rotate_deg=k * self.rotate_deg,
            offset_px=k * self.offset_px, drop=k * self.drop, noise=k * self.noise,
            hot_pixels=int(round(k * self.hot_pixels)), refractory_us=int(k * self.refractory_us),
            time_scale=tuple(float(np.exp(k * np.log(v))) for v in self.time_scale), sensor=self.sensor,
            fraction=self.fraction)

    def draw(self, rng: np.random.Generator) -> Compose:
        """The fixed transforms of one draw."""
        return Compose(
            TimeScale(float(rng.uniform(*self.time_scale))),
            Affine(float(np.exp(rng.uniform(*np.log(self.scale)))), float(rng.uniform(-1, 1) * self.rotate_deg),
                   float(rng.uniform(-1, 1) * self.offset_px), float(rng.uniform(-1, 1) * self.offset_px), self.sensor),
            Refractory(int(rng.uniform(0, self.refractory_us))) if rng.random() < 0.5 else None,
            DropEvents(float(rng.uniform(0, self.drop))),
            BackgroundNoise(float(rng.uniform(0, self.noise)), self.sensor),
            HotPixels(int(rng.integers(0, self.hot_pixels + 1)), sensor=self.sensor),
        )

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.fraction < 1 and rng.random() >= self.fraction:
            return events
        return self.draw(rng)(events, rng)


# Fixed shifts of the robustness table (`benchmarks/bench_robustness.py`), one change each, then
# the combination a new user meets first: a closer camera, a lower contrast, a noisier sensor.
SHIFTS: dict[str, Compose] = {
    "clean": Compose(),
    "mouth 1.2 x, moved 10 px right and 10 px down": Compose(Affine(1.2, dx=10, dy=10)),
    "mouth 0.85 x": Compose(Affine(0.85)),
    "turned 10 degrees": Compose(Affine(1.0, rotate_deg=10)),
    "half the events lost": Compose(DropEvents(0.5)),
    "noise 30 % of events": Compose(BackgroundNoise(0.3)),
    "4 hot pixels": Compose(HotPixels(4)),
    "refractory 2 ms": Compose(Refractory(2000)),
    "speech 15 % slower": Compose(TimeScale(1.15)),
    "speech 10 % faster": Compose(TimeScale(0.9)),
    "combined: 1.15 x, 40 % lost, 20 % noise": Compose(Affine(1.15), DropEvents(0.4), BackgroundNoise(0.2)),
}


# Beyond `RandomShift`'s reach, as a camera much nearer or further from the face gives: what the
# bundled model was never trained on, for `benchmarks/bench_adapt.py` (the mouth moved back by
# `spikelip adapt`, or BatchNorm statistics alone).
FAR_SHIFTS: dict[str, Compose] = {
    "mouth 1.4 x, moved 12 px left and 8 px down, 30 % lost": Compose(Affine(1.4, dx=-12, dy=8), DropEvents(0.3)),
    "mouth 0.7 x, moved 6 px right, 10 % noise": Compose(Affine(0.7, dx=6), BackgroundNoise(0.1)),
}


def shift_folder(src, dst, transform, seed: int = 0, splits=("train", "test")) -> int:
    """Copy a DVS-Lip style folder with `transform` applied to every clip (clip k of the sorted
    list draws with seed (seed, k)): a shifted data set to adapt to or measure on. Returns clips written."""
    src, dst = Path(src), Path(dst)
    written = 0
    for split in splits:
        if not (src / split).is_dir():
            continue
        for k, (path, _) in enumerate(list_clips(src, split)):
            events, _ = read_clip(path)
            out = dst / path.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            save_clip(out, transform(events, np.random.default_rng((seed, k))))
            written += 1
    if (src / FOLDER_WORDS).is_file():
        (dst / FOLDER_WORDS).write_text((src / FOLDER_WORDS).read_text())
    return written
