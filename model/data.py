"""DVS-Lip (and SynthLip) clips as training tensors: reference binning plus the paper's transforms.

A clip becomes a (T, 2, 88, 88) float tensor (ON counts, minus OFF counts) and its label.
Transforms are small callables on (T, 2, H, W) tensors, composed with `Compose`, each switchable.
"""
from __future__ import annotations

import hashlib
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from model.config import input_affine, input_centring, pace_undone
from stream.binner import bin_clip, signed
from stream.constants import BIN_US, CLIP_BINS, INPUT_SIDE, MOUTH_SIDE, TRAIN_CROP_SIDE
from stream.files import write_atomically
from stream.sources.npy import folder_words, list_clips, read_clip
from stream import transforms as event_transforms


class Compose:
    def __init__(self, *transforms):
        self.transforms = [t for t in transforms if t is not None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"Compose({', '.join(type(t).__name__ for t in self.transforms)})"


class CentreCrop:
    def __init__(self, size: int):
        self.size = size

    def __call__(self, x):
        h, w = x.shape[-2:]
        top, left = (h - self.size) // 2, (w - self.size) // 2
        return x[..., top : top + self.size, left : left + self.size]


def input_side(config: dict) -> int:
    """The side of the centre crop a network reads (its config's input_size; 88 as in the paper)."""
    return int(config.get("input_size", INPUT_SIDE))


def train_side(side: int) -> int:
    """The centre crop the training transform draws its random `side` crop from: the paper's
    8 px more (96 for 88), within the 128 px mouth crop."""
    return min(MOUTH_SIDE, side + TRAIN_CROP_SIDE - INPUT_SIDE)


def step_input(frame: np.ndarray, side: int = INPUT_SIDE) -> torch.Tensor:
    """One bin's (2, H, W) counts -> the (1, 2, side, side) signed input of a model step,
    cropped as in evaluation."""
    return torch.from_numpy(signed(CentreCrop(side)(frame))).unsqueeze(0)


class RandomCrop:
    def __init__(self, size: int, rng: random.Random | None = None):
        self.size, self.rng = size, rng or random

    def __call__(self, x):
        h, w = x.shape[-2:]
        top, left = self.rng.randint(0, h - self.size), self.rng.randint(0, w - self.size)
        return x[..., top : top + self.size, left : left + self.size]


class HorizontalFlip:
    def __init__(self, p: float = 0.5, rng: random.Random | None = None):
        self.p, self.rng = p, rng or random

    def __call__(self, x):
        return x.flip(-1) if self.rng.random() < self.p else x


class Cutout:
    """Zero `holes` square patches of side up to `max_side` px, the same in every bin (paper)."""

    def __init__(self, holes: int = 4, max_side: int = 20, rng: random.Random | None = None):
        self.holes, self.max_side, self.rng = holes, max_side, rng or random

    def __call__(self, x):
        h, w = x.shape[-2:]
        mask = torch.ones(h, w, dtype=x.dtype)
        for _ in range(self.holes):
            cy, cx = self.rng.randrange(h), self.rng.randrange(w)
            half = self.rng.randint(1, self.max_side - 1) // 2
            mask[max(0, cy - half) : cy + half, max(0, cx - half) : cx + half] = 0
        return x * mask


class Zoom:
    """Zoom in (crop then resize) or out (pad then resize) by up to `max_fraction` of the side."""

    def __init__(self, max_fraction: float = 0.3, rng: random.Random | None = None):
        self.max_fraction, self.rng = max_fraction, rng or random

    def __call__(self, x):
        side = x.shape[-1]
        delta = self.rng.randint(0, max(1, int(round(self.max_fraction * side))) - 1)
        if delta == 0:
            return x
        if self.rng.random() < 0.5:
            x = CentreCrop(side - delta)(x)
        else:
            x = F.pad(x, (delta // 2, delta - delta // 2, delta // 2, delta - delta // 2))
        t, c = x.shape[:2]
        out = F.interpolate(x.reshape(t * c, 1, *x.shape[-2:]), size=(side, side), mode="bilinear", align_corners=False)
        return out.reshape(t, c, side, side)


class TimeMask:
    """Zero `masks` runs of up to `max_bins` consecutive bins (masks may overlap, as in the paper)."""

    def __init__(self, masks: int = 6, max_bins: int = 18, rng: random.Random | None = None):
        self.masks, self.max_bins, self.rng = masks, max_bins, rng or random

    def __call__(self, x):
        x = x.clone()
        t = x.shape[0]
        for _ in range(self.masks):
            length = self.rng.randrange(0, self.max_bins)
            start = self.rng.randrange(0, max(1, t - length))
            x[start : start + length] = 0
        return x


def train_transform(spatial_augment: bool = True, temporal_augment: bool = True, side: int = INPUT_SIDE) -> Compose:
    """The paper's training transform: centre 96, random 88, flip (for a network reading `side`:
    centre `train_side`, random `side`); plus the extra augmentations."""
    return Compose(
        CentreCrop(train_side(side)), RandomCrop(side), HorizontalFlip(0.5),
        Cutout() if spatial_augment else None,
        Zoom() if spatial_augment else None,
        TimeMask() if temporal_augment else None,
    )


def eval_transform(side: int = INPUT_SIDE) -> Compose:
    return Compose(CentreCrop(side))


class DvsLipDataset(torch.utils.data.Dataset):
    """`root/{train,test}/<word>/<k>.npy` clips -> ((T, 2, side, side) float, label).

    `side` is what the network reads (`input_side`; 88): the default transform's centre crop,
    and the cache keeps enough around it for the training transform's.
    `bins=90` is the reference (1.2 s, later events dropped); `bins=None` keeps each clip's own
    length, at least `min_bins` (use `pad_collate` to batch them). With `cache` (a folder, fixed `bins` only) the
    binned clips are written there once (see `BinnedCache`) and read back each epoch.
    `event_transform` (`stream.transforms`, e.g. `RandomShift()`) changes each clip's events
    before binning, so it excludes `cache`; with `seed` clip i always gets the same draw
    (evaluation), without it a fresh one each time (training). With `no_word` the split's
    `_no_word` clips (rests, a moving head) come too, labelled -1 (see `model.train.targets`).
    """

    def __init__(self, root: str | os.PathLike, split: str, words: list[str] | None = None, transform=None, bins: int | None = CLIP_BINS,
                 cache: str | os.PathLike | None = None, event_transform=None, seed: int | None = None, no_word: bool = False,
                 side: int = INPUT_SIDE, min_bins: int = 1):
        self.root = Path(root)
        self.words = folder_words(self.root) if words is None else list(words)  # root/words.txt or DVS-Lip's
        self.clips = list_clips(self.root, split, self.words, no_word)
        self.transform = transform or eval_transform(side)
        self.bins, self.min_bins = bins, min_bins
        if cache and not bins:
            raise ValueError("a binned-clip cache needs a fixed number of bins")
        if cache and event_transform is not None:
            raise ValueError("an event transform changes every read of a clip: it cannot use a binned cache")
        self.event_transform, self.seed = event_transform, seed
        self.cache = BinnedCache(cache, split, self.clips, bins, train_side(side)) if cache else None

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int):
        path, label = self.clips[i]
        if self.cache is not None:
            x = torch.from_numpy(signed(self.cache[i]))
            return self.transform(x), label
        events, _ = read_clip(path)
        if self.event_transform is not None:
            draw = int(torch.randint(0, 2**62, ())) if self.seed is None else (self.seed, i)  # torch's seed: reproducible runs
            rng = np.random.default_rng(draw)
            events = self.event_transform(events, rng)
        if self.bins:
            bins = self.bins
        else:  # the clip's own length: up to the bin of its last event
            bins = max(int(np.round(events["t"][-1] / BIN_US)) + 1 if len(events) else 1, self.min_bins)
        x = torch.from_numpy(signed(bin_clip(events, bins=bins)))
        return self.transform(x), label


def whole_clips(whole: bool) -> dict:
    """`DvsLipDataset` arguments that read every clip to its last event, at least the reference's
    CLIP_BINS (as the app reads a stream: a slower speaker's word is not cut at 1.2 s), or {}."""
    return {"bins": None, "min_bins": CLIP_BINS} if whole else {}


def clip_events(config: dict, shift=None):
    """The event transform a model's clips go through before binning: a camera `shift` first
    (robustness tables, training), then the model's own `input_affine`, `input_pace` and
    `input_centre`; None when none."""
    moves = [m for m in (shift, input_affine(config), pace_undone(config), input_centring(config)) if m is not None]
    if len(moves) < 2:
        return moves[0] if moves else None
    return event_transforms.Compose(*moves)


class BinnedCache:
    """Every clip of a split binned once and centre-cropped to `side` px (96: the training
    transform's centre crop), as uint8 counts in one memory-mapped .npy: binning a clip costs more
    than a small model's training step on it.

    The file name digests the clip list (paths, sizes, times), `bins` and `side`, so a changed
    folder makes a new file. Counts above 255 per pixel and bin (not seen in DVS-Lip) are clipped
    and reported.
    """

    def __init__(self, folder: str | os.PathLike, split: str, clips: list[tuple[Path, int]], bins: int,
                 side: int = TRAIN_CROP_SIDE):
        self.side = int(side)
        digest = hashlib.sha256(str(bins).encode() + (f"|{side}".encode() if side != TRAIN_CROP_SIDE else b""))
        for path, label in clips:
            st = path.stat()
            digest.update(f"{path.resolve()}|{label}|{st.st_size}|{st.st_mtime_ns}".encode())
        self.path = Path(folder) / f"{split}-{digest.hexdigest()[:16]}.npy"
        self._frames = None
        if not self.path.exists():
            self._build(clips, bins)

    def _build(self, clips, bins: int) -> None:
        clipped = 0

        def fill(tmp: Path) -> None:
            nonlocal clipped
            out = np.lib.format.open_memmap(tmp, "w+", np.uint8, (len(clips), bins, 2, self.side, self.side))
            for i, (path, _) in enumerate(tqdm(clips, desc=f"binning {self.path.name}", leave=False, disable=None)):
                events, _ = read_clip(path)
                frames = CentreCrop(self.side)(bin_clip(events, bins=bins))
                clipped += int((frames > 255).sum())
                out[i] = np.minimum(frames, 255)
            out.flush()

        write_atomically(self.path, fill)  # complete or absent: an interrupted build is redone
        if clipped:
            print(f"warning: {clipped} pixel counts above 255 clipped in {self.path}", file=sys.stderr)

    def __getitem__(self, i: int) -> np.ndarray:
        if self._frames is None:  # opened in each worker process, not pickled with the dataset
            self._frames = np.load(self.path, mmap_mode="r")
        return self._frames[i]

    def __getstate__(self):
        return {**self.__dict__, "_frames": None}


def pad_collate(batch):
    """Batch clips of different lengths: zero-pad to the longest; returns (x, labels, lengths)."""
    lengths = torch.tensor([x.shape[0] for x, _ in batch])
    x = torch.zeros(len(batch), int(lengths.max()), *batch[0][0].shape[1:])
    for i, (clip, _) in enumerate(batch):
        x[i, : clip.shape[0]] = clip
    return x, torch.tensor([label for _, label in batch]), lengths
