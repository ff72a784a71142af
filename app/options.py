"""Command-line options shared by several subcommands, parsed into stream objects, and the argument
types that check every option's value when it is parsed."""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from stream.errors import SpikeLipError
from stream.events import SensorSize
from stream.roi import Crop, Roi
from stream.sources.camera import ON_DISCONNECT

# Argument types: each checks one option's value when it is parsed, so a bad value is one line
# naming the option and what it allows ("spikelip replay: error: argument --speed: must be >= 0,
# got -1"), not a traceback or a silently odd run. `allowed` says the range in help texts.


class Number:
    """An int or a finite float within a range: `Number(float, low=0)` is >= 0,
    `Number(int, low=1)` >= 1, `Number(float, low=0, low_open=True)` > 0."""

    def __init__(self, kind: type = float, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, allowed: str | None = None,
                 also: tuple = ()) -> None:
        """`also`: values allowed outside the range (e.g. -1 for "off"); say them in `allowed`."""
        self.kind, self.low, self.high, self.low_open, self.high_open = kind, low, high, low_open, high_open
        self.also = also
        if allowed is None:
            lo = None if low is None else f"{'>' if low_open else '>='} {low:g}"
            hi = None if high is None else f"{'<' if high_open else '<='} {high:g}"
            if lo and hi and not low_open and not high_open:
                allowed = f"in [{low:g}, {high:g}]"
            else:
                allowed = " and ".join(r for r in (lo, hi) if r) or "any value"
        self.allowed = allowed
        self.__name__ = "whole number" if kind is int else "number"  # argparse names the type by it

    def __call__(self, text: str):
        noun = "a whole number" if self.kind is int else "a number"
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {noun} ({self.allowed}), got {text!r}") from None
        if self.kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number ({self.allowed}), got {text!r}")
        if not self.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {self.allowed}, got {text}")
        return value

    def accepts(self, value) -> bool:
        lo, hi = self.low, self.high
        return value in self.also or ((lo is None or (value > lo if self.low_open else value >= lo))
                and (hi is None or (value < hi if self.high_open else value <= hi)))

    def __repr__(self) -> str:
        return f"Number({self.kind.__name__}, {self.allowed})"


non_negative_float = Number(float, low=0)
positive_float = Number(float, low=0, low_open=True)
positive_int = Number(int, low=1)
non_negative_int = Number(int, low=0)
unit_interval = Number(float, low=0, high=1)
seed = Number(int, low=0, high=2**32 - 1, allowed="a whole number in [0, 2^32 - 1]")
event_rate = Number(float, low=0, low_open=True, high=1e9, allowed="> 0 and <= 1e9 events/s")  # a DVXplorer peaks at 1.65e8


def non_empty_text(text: str) -> str:
    """Free text that must say something (a name, a description)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def comma_list(text: str) -> list[str]:
    """A non-empty A,B,C list without empty entries (spaces around the commas are dropped)."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or not all(items):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list without empty entries (A,B,...), got {text!r}")
    return items


def choice_list(choices):
    """A comma list whose entries must be among `choices`."""
    def check(text: str) -> list[str]:
        items = comma_list(text)
        unknown = [i for i in items if i not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, unknown))}; choose from {', '.join(choices)}")
        return items
    check.__name__ = "list"
    return check


def as_given(check):
    """`check` for its verdict only: the option keeps the text as typed (for code that parses it later)."""
    def checked(text: str) -> str:
        check(text)
        return text
    checked.__name__ = getattr(check, "__name__", "value")
    return checked


# --roi keywords other than X,Y,W,H, each with the value `args.roi` takes for it, so that
# `spikelip ... --roi auto` parses like a rectangle.
AUTO = "auto"  # a region that follows the mouth (stream.mouth_tracker)
ROI_KEYWORDS: dict[str, object] = {AUTO: AUTO}
ROI_FORMAT = "X,Y,W,H (four integers, X and Y >= 0, W and H > 0)"


def roi(text: str):
    """--roi X,Y,W,H -> `Roi` (or the value of a keyword in ROI_KEYWORDS). Whether it fits the sensor
    is only known once the input is open (`crop_for`)."""
    key = text.strip().lower()
    if key in ROI_KEYWORDS:
        return ROI_KEYWORDS[key]
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[0] < 0 or values[1] < 0 or values[2] <= 0 or values[3] <= 0:
        keywords = "".join(f" or {k}" for k in ROI_KEYWORDS)
        raise argparse.ArgumentTypeError(f"expected {ROI_FORMAT}{keywords}, got {text!r}")
    return Roi(*values)


roi.__name__ = "X,Y,W,H"


def fixed_roi(text: str) -> Roi:
    """--roi X,Y,W,H for commands that cut a fixed region (no model reads the words, so nothing
    says when the crop may move)."""
    if text.strip().lower() in ROI_KEYWORDS:
        raise argparse.ArgumentTypeError(f"{text!r} follows the mouth while the model reads words (replay, demo, "
                                         f"latency); this command needs {ROI_FORMAT}")
    return roi(text)


fixed_roi.__name__ = "X,Y,W,H"


def _os_errors(check):
    """`check` with an OSError of the file system (a name too long, a loop of links) as one line."""
    def checked(text: str):
        try:
            return check(text)
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"{text}: {exc.strerror or _one_line(exc)}") from None
    checked.__name__ = getattr(check, "__name__", "path")
    checked.__doc__ = check.__doc__
    return checked


def _existing(text: str, what: str) -> Path:
    if not text:
        raise argparse.ArgumentTypeError(f"expected the path of {what}, got ''")
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder; give the path of {what}")
    return path


@_os_errors
def existing_file(text: str) -> str:
    """An input file that must exist (and not be a folder); the text comes back as given."""
    path = _existing(text, "an existing file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder; give a file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: cannot be read (permission denied)")
    return text


@_os_errors
def existing_dir(text: str) -> str:
    """An input folder that must exist."""
    path = _existing(text, "an existing folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a file; give a folder")
    return text


@_os_errors
def existing_path(text: str) -> str:
    """An input file or folder that must exist."""
    _existing(text, "an existing file or folder")
    return text


def optional(check):
    """`check`, except that '' (an option's "not set" default, e.g. `train --data`) passes as ''."""
    def maybe(text: str):
        return text if text == "" else check(text)
    maybe.__name__ = getattr(check, "__name__", "value")
    return maybe


def _writable_folder(folder: Path, create: bool, shown_path: str) -> None:
    """Whether files can be written in `folder` (made first when `create`); ArgumentTypeError if not."""
    existing = folder
    while not existing.exists():  # the nearest folder that exists: the rest would be made in it
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{shown_path}: {existing} is a file, not a folder; choose another path")
    if not create and existing != folder:
        raise argparse.ArgumentTypeError(
            f"{shown_path}: the folder {folder} does not exist; create it or choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{shown_path}: cannot write in {existing} (permission denied); "
                                         "choose another path")


def output_file(*suffixes: str, create_folders: bool = False, what: str = "file"):
    """An output file: not a folder, in a folder that exists and is writable (or, with
    `create_folders`, that the command creates inside a writable one), ending in one of `suffixes`
    (any name when none are given). The text comes back as given."""
    def check(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError(f"expected the path of the {what} to write, got ''")
        path = Path(text)
        if suffixes and path.suffix.lower() not in suffixes:
            ends = " or ".join(suffixes)
            raise argparse.ArgumentTypeError(f"{text}: the {what} must end in {ends}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: is a folder; give a file name inside it")
        _writable_folder(path.absolute().parent, create_folders, text)
        if path.exists() and not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"{text}: cannot overwrite it (permission denied); choose another path")
        return text
    check.__name__ = "output file"
    return _os_errors(check)


@_os_errors
def output_dir(text: str) -> str:
    """An output folder that exists or can be made (inside a writable folder); the text comes back as given."""
    if not text:
        raise argparse.ArgumentTypeError("expected the path of a folder to write in, got ''")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a file; give a folder")
    _writable_folder(path.absolute(), True, text)
    return text


writable_path = output_file()  # any output file name in an existing, writable folder
IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
image_file = output_file(*IMAGE_SUFFIXES, what="image")


@_os_errors
def model_spec(text: str) -> str:
    """--model: a bundled config name (assets/configs), or an existing config .json, checkpoint
    (.safetensors, its .json or its folder) or .onnx export. Whether the file holds a usable
    model is only known when it is loaded."""
    from app.models import ASSETS

    names = sorted(p.stem for p in (ASSETS / "configs").glob("*.json"))
    path = Path(text)
    if text and path.exists():
        return text
    if not text or path.suffix in (".json", ".safetensors", ".onnx") or len(path.parts) > 1:
        raise argparse.ArgumentTypeError(f"{text or repr(text)}: no such file; give a model name "
                                         f"({', '.join(names)}), a config .json, a checkpoint or an .onnx export")
    if text not in names:
        raise argparse.ArgumentTypeError(f"unknown model {text!r}; choose one of {', '.join(names)}, "
                                         "or give a config .json, a checkpoint or an .onnx export")
    return text


@_os_errors
def trained_model(text: str) -> str:
    """A trained checkpoint (its .json, .safetensors or folder): what `adapt`, `boundary`,
    `train --distill` and `bundle` start from. A config name or .json holds fresh weights, which read nothing."""
    from model.checkpoint import find_checkpoint, is_checkpoint_json
    from model.config import read_json

    model_spec(text)
    if Path(text).suffix == ".onnx":
        raise argparse.ArgumentTypeError(f"{text}: an ONNX export cannot be trained further; give the checkpoint "
                                         "it was exported from (.json or .safetensors)")
    if Path(text).exists():
        try:
            if is_checkpoint_json(read_json(find_checkpoint(text))):
                return text
        except SpikeLipError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    raise argparse.ArgumentTypeError(f"{text}: a config of untrained weights, not a trained model; give a "
                                     "checkpoint .json such as assets/models/small.json")


@_os_errors
def model_list(text: str) -> list[str]:
    """A comma list of --model values (names or paths), each checked like `model_spec`."""
    items = comma_list(text)
    for item in items:
        model_spec(item)
    return items


def json_object_file(text: str) -> str:
    """An existing file holding one JSON object."""
    existing_file(text)
    try:
        data = json.loads(Path(text).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{text}: not readable JSON ({_one_line(exc)})") from None
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError(f"{text}: expected a JSON object {{...}}")
    return text


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def add_spatial_arguments(p, follow: bool = True) -> None:
    """--roi and --scale; `follow` allows `--roi auto` (commands where the model reads words)."""
    auto = ("or auto: a 128 x 128 (times --scale) region that follows the mouth between words (found from the "
            "events, and from APS frames where the input has them); ") if follow else ""
    p.add_argument("--roi", metavar="X,Y,W,H|auto" if follow else "X,Y,W,H", type=roi if follow else fixed_roi,
                   help="region of interest in sensor pixels (top-left corner X, Y >= 0 and size W, H > 0), "
                        f"{auto}default: the centred 128 x 128 (times --scale) region of larger sensors")
    p.add_argument("--scale", type=positive_int, default=1, metavar="N",
                   help="integer downscale after cropping, >= 1 (e.g. 2 for a 640 x 480 DVXplorer)")


def crop_for(sensor: SensorSize, args, default_crop: bool = True, origin=None, frames: bool = False) -> Crop:
    """The crop the user asked for; without --roi/--scale, the default crop or none at all.
    `origin` (the input file) starts the message when the ROI does not fit its sensor. With
    `--roi auto` a crop that follows the mouth, helped by a face detector when the input has
    APS `frames`."""
    if args.roi is None and args.scale == 1 and not default_crop:
        return Crop(sensor, roi=Roi(0, 0, sensor.width, sensor.height))
    if args.roi == AUTO:
        from stream.mouth_tracker import following_crop

        return following_crop(sensor, args.scale, frames)
    try:
        return Crop(sensor, roi=args.roi, scale=args.scale)
    except SpikeLipError as exc:
        if origin is None:
            raise
        raise SpikeLipError(f"{origin}: {exc}") from None


def roi_text(crop: Crop) -> str:
    """The crop as the terminal shows it: X,Y,W,H, or "auto" and where it is now."""
    tracker = getattr(crop, "tracker", None)
    return f"auto, now {crop.roi}" if tracker is not None else str(crop.roi)


def add_disconnect_argument(p, default: str) -> None:
    p.add_argument("--on-disconnect", choices=ON_DISCONNECT, default=default,
                   help="when the camera is unplugged: stop (the recording is saved), or wait for it to be "
                        f"plugged in again and carry on (default: {default})")


def add_connect_argument(p, more: str = "") -> None:
    """--connect ADDR: DV's network output instead of a camera (give a mutually exclusive group);
    `more` ends its help text."""
    from stream.sources.network import ADDRESS_HELP, connect_address

    p.add_argument("--connect", metavar="ADDR", type=connect_address,
                   help="read the live events that iniVation's DV software streams over the network instead of a "
                        f"camera: {ADDRESS_HELP}; the run ends when DV ends the stream{more}")


def shown(path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
