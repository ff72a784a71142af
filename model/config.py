"""Network configurations: the named JSON files in assets/configs and their validation.

A config is a flat dict; every field has a default (those of `paper-causal`), so a user's
config file only needs the fields it changes. Bad fields are user errors (SpikeLipError).

Fields: input_size (88: the side of the centre crop of the 128 px mouth crop the network reads;
a wider one sees more around the mouth), in_channels (2: ON, -OFF), num_classes; input_pool: sum k x k
pixels of the input into one before the stem (1: none; event counts stay counts, so a
pooled model sees a coarser sensor and costs about k^2 less); frontend_neuron: plif
(learnable leak per channel), lif (fixed leak = alpha_init), if, or relu (ANN);
frontend_mode: causal (streamable) or centred (the paper, offline); frontend_widths: the 4
ResNet stage widths (the stem has the first); temporal_kernel: bins seen by the 3D stem;
backend: spikgru, spikgru+, spikgru2, spikgru2+ (paper), lif, adlif, rlif, radlif (Bittar &
Garner) or gru (ANN); hidden_size, num_layers, bidirectional (offline only); dropout_frontend,
dropout_backend (between recurrent layers), dropout_readout; alpha_init: initial leak of PLIF
and SpikGRU currents. Optional, absent unless set: mirror (true: also read every bin mirrored
left to right, in a second row with its own state, and average the two readings' logits;
docs/notes/mirror.md); window_offsets [[dy, dx], ...] (px, each at most a quarter of input_size:
read every bin through the window moved by each offset, zeros where it leaves the input, and
average those readings' logits too); input_affine {"scale", "dx", "dy"}, the move
that puts a user's mouth where the model learnt it, applied to every clip's events (128 x 128
clip pixels) before binning (written by `spikelip adapt`, see `stream.mouth_place`); optionally
also "rotate_deg"; input_pace (> 1: the user speaks that many times slower than the model's
training clips), every stream binned in bins that many times as long and every clip stretched to
match (written by `spikelip adapt`, see `stream.pace`); input_centre {"x", "y"} (clip pixels:
where the model learnt the mouth), every bin's events moved so the activity seen so far sits
there, with a fixed crop (see `stream.centring`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.frontend import MODES, NEURONS
from model.recurrent import BACKENDS
from stream.centring import Centred
from stream.constants import MOUTH_SIDE
from stream.errors import SpikeLipError
from stream.pace import PACE_RANGE
from stream.sources.npy import dvslip_words
from stream.transforms import Affine, TimeScale

CONFIG_DIR = Path(__file__).resolve().parent.parent / "assets" / "configs"

DEFAULTS = {
    "name": "custom",
    "description": "",
    "input_size": 88,
    "input_pool": 1,
    "in_channels": 2,
    "num_classes": 100,
    "frontend_neuron": "plif",
    "frontend_mode": "causal",
    "frontend_widths": [64, 128, 256, 512],
    "temporal_kernel": 5,
    "backend": "spikgru2+",
    "hidden_size": 1024,
    "num_layers": 3,
    "bidirectional": False,
    "dropout_frontend": 0.5,
    "dropout_backend": 0.2,
    "dropout_readout": 0.5,
    "alpha_init": 0.9,
}

OPTIONAL = ("input_affine", "input_centre", "input_pace", "mirror", "window_offsets")
# A 4 x 4 input pool's four phases, 2 px apart and about the centre: window offsets whose pooled
# inputs differ most (docs/notes/mirror.md).
FOUR_PHASES = [[1, 1], [1, -1], [-1, 1], [-1, -1]]

_CHOICES = {"frontend_neuron": NEURONS, "frontend_mode": MODES, "backend": BACKENDS}


def config_names() -> list[str]:
    """Names of the bundled configs (file stems in assets/configs)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_named(name: str) -> dict:
    """The bundled config `name`; SpikeLipError listing the names if there is none."""
    path = CONFIG_DIR / f"{name}.json"
    if not path.is_file():
        raise SpikeLipError(
            f"unknown model config {name!r}; choose one of {', '.join(config_names())}, "
            "or give a config .json, a checkpoint (.safetensors/.json) or its directory"
        )
    return read_json(path)


def read_json(path: Path) -> dict:
    """A JSON object from `path`, or SpikeLipError naming the file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SpikeLipError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpikeLipError(f"{path}: not a readable JSON file ({_one_line(exc)})") from None
    if not isinstance(data, dict):
        raise SpikeLipError(f"{path}: expected a JSON object")
    return data


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def validate(config: dict, source: str = "config") -> dict:
    """Defaults filled in and every field checked; returns a new dict."""
    unknown = sorted(set(config) - set(DEFAULTS) - set(OPTIONAL))
    if unknown:
        raise SpikeLipError(
            f"{source}: unknown field(s) {', '.join(unknown)}; known: {', '.join((*DEFAULTS, *OPTIONAL))}"
        )
    cfg = {**DEFAULTS, **config}
    for key, choices in _CHOICES.items():
        if cfg[key] not in choices:
            raise SpikeLipError(f"{source}: {key} must be one of {', '.join(choices)}, not {cfg[key]!r}")
    for key in ("input_size", "input_pool", "in_channels", "num_classes", "temporal_kernel", "hidden_size", "num_layers"):
        if not isinstance(cfg[key], int) or isinstance(cfg[key], bool) or cfg[key] < 1:
            raise SpikeLipError(f"{source}: {key} must be a positive integer, not {cfg[key]!r}")
    if cfg["input_size"] > MOUTH_SIDE:
        raise SpikeLipError(f"{source}: input_size {cfg['input_size']} must be at most {MOUTH_SIDE}: the network reads "
                            f"a centre crop of the {MOUTH_SIDE} x {MOUTH_SIDE} mouth crop")
    if cfg["input_size"] % cfg["input_pool"]:
        raise SpikeLipError(f"{source}: input_pool {cfg['input_pool']} must divide input_size {cfg['input_size']}")
    widths = cfg["frontend_widths"]
    if (
        not isinstance(widths, (list, tuple))
        or len(widths) != 4
        or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths)
    ):
        raise SpikeLipError(f"{source}: frontend_widths must be 4 positive integers, not {widths!r}")
    cfg["frontend_widths"] = list(widths)
    for key in ("dropout_frontend", "dropout_backend", "dropout_readout"):
        if not isinstance(cfg[key], (int, float)) or not 0.0 <= cfg[key] < 1.0:
            raise SpikeLipError(f"{source}: {key} must be in [0, 1), not {cfg[key]!r}")
    if not isinstance(cfg["alpha_init"], (int, float)) or not 0.0 <= cfg["alpha_init"] <= 1.0:
        raise SpikeLipError(f"{source}: alpha_init must be in [0, 1], not {cfg['alpha_init']!r}")
    for key in ("bidirectional", "mirror"):
        if not isinstance(cfg.get(key, False), bool):
            raise SpikeLipError(f"{source}: {key} must be true or false")
    if cfg["temporal_kernel"] % 2 == 0 and cfg["frontend_mode"] == "centred":
        raise SpikeLipError(f"{source}: a centred temporal kernel must have an odd length")
    if "input_affine" in cfg:
        cfg["input_affine"] = _input_affine(cfg["input_affine"], source)
    if "input_centre" in cfg:
        cfg["input_centre"] = _input_centre(cfg["input_centre"], source)
    if "input_pace" in cfg:
        pace = cfg["input_pace"]
        if isinstance(pace, bool) or not isinstance(pace, (int, float)) or not PACE_RANGE[0] <= pace <= PACE_RANGE[1]:
            raise SpikeLipError(f"{source}: input_pace must be a number from {PACE_RANGE[0]} to {PACE_RANGE[1]} (how many "
                                f"times slower than the model's training clips the user speaks), not {pace!r}")
        cfg["input_pace"] = float(pace)
    if "window_offsets" in cfg:
        cfg["window_offsets"] = _window_offsets(cfg["window_offsets"], cfg["input_size"], source)
    return cfg


def _window_offsets(value, size: int, source: str) -> list[list[int]]:
    """A non-empty list of distinct [dy, dx] integer pairs within a quarter of the input's side,
    or a one-line error."""
    def pair(v) -> bool:
        return (isinstance(v, (list, tuple)) and len(v) == 2
                and all(isinstance(d, int) and not isinstance(d, bool) and abs(d) <= size // 4 for d in v))

    if not isinstance(value, (list, tuple)) or not value or not all(pair(v) for v in value) \
            or len({tuple(v) for v in value}) != len(value):
        raise SpikeLipError(f"{source}: window_offsets must be a list of distinct [dy, dx] pixel pairs, each "
                            f"within {size // 4} px (a quarter of input_size), not {value!r}")
    return [list(v) for v in value]


def input_affine(config: dict) -> Affine | None:
    """The move a model's config asks for on every clip's events before binning, or None."""
    a = config.get("input_affine")
    return Affine(a["scale"], rotate_deg=a.get("rotate_deg", 0.0), dx=a["dx"], dy=a["dy"]) if a else None


def set_input_affine(config: dict, move: Affine) -> None:
    """Make `config` move every clip's events by `move` before binning (its input_affine)."""
    config["input_affine"] = {"scale": round(move.scale, 4), "rotate_deg": round(move.rotate_deg, 2),
                              "dx": round(move.dx, 2), "dy": round(move.dy, 2)}


def set_input_pace(config: dict, pace: float) -> None:
    """Make `config` bin at `pace` x the model's own (its input_pace; none kept at 1)."""
    if pace == 1:
        config.pop("input_pace", None)
    else:
        config["input_pace"] = round(pace, 4)


def input_centring(config: dict) -> Centred | None:
    """The whole-clip view that keeps the mouth where the model learnt it (config input_centre), or None."""
    c = config.get("input_centre")
    return Centred(c["x"], c["y"]) if c else None


def input_pace(config: dict) -> float:
    """How many times slower than the model's training clips its user speaks (1: as they do)."""
    return config.get("input_pace", 1.0)


def pace_undone(config: dict) -> TimeScale | None:
    """The stretch that brings a clip to the pace the model learnt (its config's input_pace), or None."""
    pace = input_pace(config)
    return TimeScale(1 / pace) if pace != 1 else None


def _input_affine(value, source: str) -> dict:
    """{"scale" > 0, "dx", "dy"[, "rotate_deg"]} as floats, or a one-line error."""
    ok = isinstance(value, dict) and {"scale", "dx", "dy"} <= set(value) <= {"scale", "dx", "dy", "rotate_deg"} and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value.values())
    if not ok or value["scale"] <= 0:
        raise SpikeLipError(f"{source}: input_affine must be {{\"scale\": > 0, \"dx\": px, \"dy\": px"
                            f"[, \"rotate_deg\": degrees]}}, not {value!r}")
    return {k: float(v) for k, v in value.items()}


def _input_centre(value, source: str) -> dict:
    """{"x", "y"} clip pixels inside the 128 x 128 clip, as floats, or a one-line error."""
    ok = isinstance(value, dict) and set(value) == {"x", "y"} and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= MOUTH_SIDE - 1 for v in value.values())
    if not ok:
        raise SpikeLipError(f"{source}: input_centre must be {{\"x\": px, \"y\": px}}, where the model learnt the mouth "
                            f"in {MOUTH_SIDE} x {MOUTH_SIDE} clip pixels, not {value!r}")
    return {k: float(v) for k, v in value.items()}


def default_words(num_classes: int) -> list[str]:
    """assets/words.txt when it has num_classes words, else class0, class1, ..."""
    words = dvslip_words()
    if len(words) == num_classes:
        return words
    return [f"class{i}" for i in range(num_classes)]
