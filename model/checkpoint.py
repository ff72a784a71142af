"""Checkpoints: weights in a .safetensors file, and beside it a .json that says what they are.

The JSON holds the full config (so the network can be rebuilt without guessing), the word list
(label i = words[i]), what it was trained on and how (epochs, steps, recipe, the checkpoint it
started from), measured metrics, the creation date and the spikelip version. safetensors, unlike
pickle, cannot run code when loaded.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.config import read_json
from model.network import Network
from stream.errors import SpikeLipError
from stream.files import write_atomically

FORMAT = "spikelip-checkpoint"


class Checkpoint(NamedTuple):
    """A loaded checkpoint: the network (in eval mode) and its JSON description."""

    network: Network
    info: dict


def _version() -> str:
    try:
        return metadata.version("spikelip")
    except metadata.PackageNotFoundError:
        return "unknown"


def _base(path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".safetensors", ".json") else path


def save_checkpoint(
    net: Network, path, *, trained_on: str = "", metrics: dict | None = None, training: dict | None = None,
    mouth: dict | None = None,
    pace: dict | None = None,
) -> Path:
    """Write <path>.safetensors and <path>.json (a suffix on path is ignored); returns the JSON path.

    trained_on: free text (data set, split, epochs); metrics: measured numbers such as
    {"top1": 0.71, "ops_per_synapse": 0.12}; training: how it was trained (written by `spikelip train`);
    mouth: where the mouth sat in the clips it learnt from (`stream.mouth_place.MouthPlace.as_dict`),
    which `spikelip adapt` moves a user's mouth to; pace: how long its words' movements lasted there
    (`stream.pace.learnt_pace`), against which `spikelip adapt` measures a user's pace.
    """
    base = _base(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    weights = base.parent / f"{base.name}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    write_atomically(weights, lambda tmp: save_file(state, str(tmp), metadata={"format": FORMAT}))
    info = {
        "format": FORMAT,
        "weights": weights.name,
        "config": net.config,
        "words": net.words,
        "trained_on": trained_on,
        "metrics": metrics or {},
        "training": training or {},
        **({"mouth": mouth} if mouth else {}),
        **({"pace": pace} if pace else {}),
        "parameters": net.parameter_counts(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "spikelip_version": _version(),
    }
    meta = base.parent / f"{base.name}.json"
    write_atomically(meta, lambda tmp: tmp.write_text(json.dumps(info, indent=2) + "\n"))
    return meta


def weights_digest(net) -> str:
    """A short hash of a network's config and weights: names its ONNX export, keys a teacher's logits."""
    digest = hashlib.sha256(json.dumps(net.config, sort_keys=True).encode())
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def is_checkpoint_json(data: dict) -> bool:
    return data.get("format") == FORMAT


def find_checkpoint(path) -> Path:
    """The checkpoint JSON for a .json, a .safetensors, or a directory holding exactly one."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.glob("*.json") if _is_checkpoint_file(p))
        if len(found) != 1:
            names = ", ".join(p.name for p in found)
            what = f"{len(found)} checkpoints ({names})" if found else "no checkpoint"
            raise SpikeLipError(f"{path}: directory holds {what}; give the .json or .safetensors file")
        return found[0]
    if not path.exists():
        raise SpikeLipError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        meta = path.with_suffix(".json")
        if not meta.is_file():
            raise SpikeLipError(f"{path}: no {meta.name} beside it (the config and word list)")
        return meta
    return path


def _is_checkpoint_file(path: Path) -> bool:
    try:
        return is_checkpoint_json(json.loads(path.read_text()))
    except (OSError, ValueError):
        return False


def _check_matches(net: Network, state: dict, weights: Path, meta_path: Path) -> None:
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} is {tuple(state[k].shape)}, config needs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} tensor(s) of the wrong shape, e.g. {wrong[0]}")
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {missing[0]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
    if problems:
        raise SpikeLipError(f"{weights}: weights do not match the config in {meta_path.name}: {'; '.join(problems)}")


def load_checkpoint(path, **overrides) -> Checkpoint:
    """Rebuild the network of a checkpoint (.json, .safetensors or its directory), in eval mode.

    overrides change config fields that do not affect the weights (e.g. dropout).
    """
    meta_path = find_checkpoint(path)
    info = read_json(meta_path)
    if not is_checkpoint_json(info) or "config" not in info:
        raise SpikeLipError(f"{meta_path}: not a spikelip checkpoint description")
    weights = meta_path.parent / info.get("weights", meta_path.with_suffix(".safetensors").name)
    if not weights.is_file():
        raise SpikeLipError(f"{weights}: no such file (named by {meta_path.name})")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise SpikeLipError(f"{weights}: not a readable safetensors file ({detail})") from None
    try:
        net = Network({**info["config"], **overrides}, words=info.get("words"))
    except SpikeLipError as exc:
        raise SpikeLipError(f"{meta_path}: {exc}") from None
    _check_matches(net, state, weights, meta_path)
    net.load_state_dict(state)
    return Checkpoint(net.eval(), info)
