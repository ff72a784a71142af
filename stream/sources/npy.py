"""DVS-Lip clips: one `.npy` file per clip, and the `train|test/<word>/<k>.npy` folder layout."""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from tokenize import TokenError
from typing import Iterator

import numpy as np

from stream.constants import MOUTH_SIDE
from stream.errors import SpikeLipError
from stream.events import SensorSize, as_events
from stream.files import write_atomically
from stream.sources.base import EventSource

DVSLIP_SENSOR = SensorSize(MOUTH_SIDE, MOUTH_SIDE)
WORDS_FILE = Path(__file__).resolve().parents[2] / "assets" / "words.txt"
DVSLIP_HINT = (
    "DVS-Lip is a manual download (see the dataset page); unpack it so that "
    "DVS-Lip/train/<word>/<k>.npy exists, or make SynthLip data with `spikelip synth`"
)


def dvslip_words() -> list[str]:
    """The 100 DVS-Lip words in label order: a clip's label is its word's index here."""
    return WORDS_FILE.read_text().split()


FOLDER_WORDS = "words.txt"  # a dataset folder's own vocabulary, one word a line in label order


def folder_words(root: str | os.PathLike) -> list[str]:
    """The words of a DVS-Lip style folder in label order: `root/words.txt` when it has one (as
    `spikelip synth --words` writes for any vocabulary but the DVS-Lip 100), else the 100 words."""
    path = Path(root) / FOLDER_WORDS
    if not path.is_file():
        return dvslip_words()
    try:
        words = path.read_text().split()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpikeLipError(f"{path}: cannot read the folder's word list ({_short(exc)})") from None
    repeated = sorted({w for w in words if words.count(w) > 1})
    if not words or repeated:
        problem = f"repeats {', '.join(repeated[:5])}" if repeated else "is empty"
        raise SpikeLipError(f"{path}: the folder's word list {problem}; it must hold each word once, one a line "
                            f"in label order (or delete it to use the 100 DVS-Lip words)")
    return words


def load_clip(path: str | os.PathLike, warnings: list[str] | None = None) -> np.ndarray:
    """Load one DVS-Lip clip as `EVENT_DTYPE`, refusing anything that is not one.

    The header is checked against the file size first, so a damaged or truncated file is
    refused before NumPy allocates what its header claims. Bytes after the declared events
    are ignored, with a line in `warnings`."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            start, declared = _npy_layout(f)
            size = os.fstat(f.fileno()).st_size
            if start + declared > size:
                raise SpikeLipError(
                    f"{path}: holds {size - start:,} bytes of events but its header declares {declared:,}; "
                    f"the file is truncated or its header is damaged - copy or convert it again"
                )
            if size > start + declared and warnings is not None:
                warnings.append(f"{path}: ignored {size - start - declared:,} bytes after the events its header declares")
            f.seek(0)
            raw = np.load(f, allow_pickle=False)
    except FileNotFoundError:
        raise SpikeLipError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpikeLipError(f"{path}: is a folder, expected a DVS-Lip .npy clip") from None
    except (ValueError, OSError, EOFError, MemoryError, TokenError) as exc:  # numpy's header parser can raise TokenError
        raise SpikeLipError(f"{path}: not a readable .npy file ({_short(exc)}); expected a DVS-Lip clip") from None
    return as_events(raw, origin=str(path))


def _npy_layout(f) -> tuple[int, int]:
    """(offset of the data, bytes of data the header declares) of an open .npy file."""
    version = np.lib.format.read_magic(f)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    shape, _fortran, dtype = readers[version](f)
    if any(d < 0 for d in shape):
        raise ValueError(f"negative size in shape {shape}")
    return f.tell(), math.prod(shape) * dtype.itemsize


def read_clip(path: str | os.PathLike, sensor: SensorSize = DVSLIP_SENSOR) -> tuple[np.ndarray, list[str]]:
    """A validated clip in time order, and warnings for what was repaired (see `check_clip`)."""
    warnings: list[str] = []
    events = load_clip(path, warnings)
    repairs = check_clip(events, path, sensor)
    if repairs:
        events = np.sort(events, order="t", kind="stable")
    return events, warnings + repairs


def check_clip(events: np.ndarray, path, sensor: SensorSize = DVSLIP_SENSOR) -> list[str]:
    """Validate coordinates, polarity and time order; fix what is recoverable, return warnings."""
    warnings: list[str] = []
    if len(events) == 0:
        return warnings
    bad_xy = (events["x"] < 0) | (events["x"] >= sensor.width) | (events["y"] < 0) | (events["y"] >= sensor.height)
    if bad_xy.any():
        raise SpikeLipError(
            f"{path}: {int(bad_xy.sum())} event(s) have coordinates outside the {sensor} sensor "
            f"(x {events['x'].min()}..{events['x'].max()}, y {events['y'].min()}..{events['y'].max()}); "
            f"DVS-Lip clips are 128x128"
        )
    bad_p = (events["p"] != 0) & (events["p"] != 1)
    if bad_p.any():
        raise SpikeLipError(f"{path}: polarity must be 0 (OFF) or 1 (ON); found values {np.unique(events['p'][bad_p])[:5]}")
    if events["t"].min() < 0:
        raise SpikeLipError(f"{path}: negative timestamps; DVS-Lip times are microseconds from clip start")
    t = events["t"]
    behind = np.maximum.accumulate(t) - t
    late = int(np.count_nonzero(behind))
    if late:
        if late > max(10, len(events) // 100):
            raise SpikeLipError(
                f"{path}: timestamps go backwards: {late:,} events are out of time order, up to "
                f"{behind.max() / 1e6:.3f} s (part of the clip repeated, or clips joined?); events must be in time order"
            )
        warnings.append(f"{path}: {late} out-of-order event(s) reordered")
    return warnings


class NpyClipSource(EventSource):
    """One DVS-Lip clip, delivered in batches; bins the way the reference code does."""

    binning = "round"

    def __init__(self, path: str | os.PathLike, batch_events: int = 20_000, sensor: SensorSize = DVSLIP_SENSOR):
        super().__init__()
        self.path = Path(path)
        self.sensor = sensor
        self.name = "DVS-Lip clip"
        self.batch_events = batch_events
        self.events, warnings = read_clip(self.path, sensor)
        self.warnings += warnings

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(0, len(self.events), self.batch_events):
            yield self.events[i : i + self.batch_events]


NO_WORD = "_no_word"  # a split's folder of clips in which no word is said (rests, a moving head)
NO_WORD_LABEL = -1


def list_clips(root: str | os.PathLike, split: str, words: list[str] | None = None,
               no_word: bool = False) -> list[tuple[Path, int]]:
    """All (clip path, label) pairs of a DVS-Lip style folder split, sorted for determinism; a
    label is the word's index in `words` (default: the folder's own, `folder_words`). With
    `no_word` the clips of the NO_WORD folder come too, labelled NO_WORD_LABEL."""
    root = Path(root)
    if words is None:
        words = folder_words(root)
    split_dir = root / split
    if not split_dir.is_dir():
        raise SpikeLipError(f"{root}: no '{split}' folder; expected {root}/{split}/<word>/<k>.npy. {DVSLIP_HINT}")
    index = {w: i for i, w in enumerate(words)}
    clips: list[tuple[Path, int]] = []
    unknown = []
    for word_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if word_dir.name == NO_WORD:
            clips += [(f, NO_WORD_LABEL) for f in sorted(word_dir.glob("*.npy"))] if no_word else []
            continue
        if word_dir.name not in index:
            unknown.append(word_dir.name)
            continue
        clips += [(f, index[word_dir.name]) for f in sorted(word_dir.glob("*.npy"))]
    if not clips:
        extra = f" (folders not in the word list: {', '.join(unknown[:5])})" if unknown else ""
        raise SpikeLipError(f"{split_dir}: no clips found{extra}; expected {split_dir}/<word>/<k>.npy. {DVSLIP_HINT}")
    skipped = [name for name in unknown if any((split_dir / name).glob("*.npy"))]
    if skipped:  # a misspelt word folder must not vanish from training or evaluation unnoticed
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        print(f"warning: {split_dir}: skipped the clips of {len(skipped)} folders not in the word list: "
              f"{', '.join(skipped[:5])}{more}", file=sys.stderr)
    return clips


def spread(items, limit: int) -> list:
    """Up to `limit` of `items` (a folder's clips, word by word), spread evenly over them, so that
    a sample of a large folder still reaches every word and speaker."""
    return list(items)[:: max(1, math.ceil(len(items) / limit))]


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


DVSLIP_DTYPE = np.dtype([("t", np.int64), ("x", np.int8), ("y", np.int8), ("p", np.int8)])


def save_clip(path: str | os.PathLike, events: np.ndarray) -> None:
    """Write events as a DVS-Lip clip (structured t, x, y, p as int64/int8; 128 x 128), atomically."""
    events = as_events(events)
    if len(events) and (events["x"].min() < 0 or events["x"].max() > 127 or events["y"].min() < 0 or events["y"].max() > 127):
        raise SpikeLipError(f"{path}: DVS-Lip clips are 128x128 but events reach x={events['x'].max()}, y={events['y'].max()}; crop with --roi/--scale")
    out = np.empty(len(events), DVSLIP_DTYPE)
    for field in ("t", "x", "y", "p"):
        out[field] = events[field]

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would add ".npy" to a path
            np.save(f, out)

    try:
        write_atomically(path, save)  # a reader never sees half a clip
    except OSError as exc:
        raise SpikeLipError(f"{path}: cannot write the clip ({exc.strerror or exc}); choose another path or free some space") from None
