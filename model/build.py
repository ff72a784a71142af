"""`build(...)`: one entry point from a config name, config file, config dict or checkpoint."""
from __future__ import annotations

from pathlib import Path

from model.checkpoint import is_checkpoint_json, load_checkpoint
from model.config import CONFIG_DIR, load_named, read_json, validate
from model.network import Network
from stream.errors import SpikeLipError


def build(source, **overrides) -> Network:
    """A Network from `source`, with config fields replaced by `overrides`.

    source: a bundled config name ("paper-offline", "paper-causal", "small", "ann"), a config
    dict, a config .json, or a checkpoint (.safetensors, its .json, or a directory holding
    one). A checkpoint comes back with its trained weights, in eval mode; anything else with
    fresh random weights, in training mode.
    """
    if isinstance(source, dict):
        return Network(validate({**source, **overrides}))
    path = Path(source)
    if path.exists():
        if path.is_dir() or path.suffix == ".safetensors":
            return load_checkpoint(path, **overrides).network
        if path.suffix == ".json":
            data = read_json(path)
            if is_checkpoint_json(data):
                return load_checkpoint(path, **overrides).network
            return Network(validate({**data, **overrides}, source=str(path)))
        raise SpikeLipError(
            f"{path}: expected a config .json, a checkpoint .safetensors/.json or its directory"
        )
    if path.suffix in (".json", ".safetensors") or len(path.parts) > 1:
        raise SpikeLipError(f"{path}: no such file")
    config = load_named(str(source))
    return Network(validate({**config, **overrides}, source=str(CONFIG_DIR / f"{source}.json")))
