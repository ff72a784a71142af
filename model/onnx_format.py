"""The SpikeLip step-model file format, shared by the exporter and the runners.

An exported step graph takes `x, state.0, state.1, ...` and returns `logits, new_state.0, ...`:
the nested NamedTuple state flattened into its tensor leaves. The file's metadata_props hold,
under `META_KEY`, a JSON object (`"format": FORMAT`) with the state structure (`flatten_state`'s
spec), the state shapes, the config and the word list; `make_builder` turns the structure back
into a function from leaves to the nested state.
"""
from __future__ import annotations

import importlib

import torch

from stream.errors import SpikeLipError

META_KEY = "spikelip"
FORMAT = "spikelip-onnx-step"
VERSION = 1


def flatten_state(state) -> tuple[list[torch.Tensor], object]:
    """(leaves in order, structure spec): spec is JSON-able; leaves are numbered 0, 1, ..."""
    leaves: list[torch.Tensor] = []

    def walk(node):
        if isinstance(node, torch.Tensor):
            leaves.append(node)
            return len(leaves) - 1
        if isinstance(node, tuple):
            children = [walk(c) for c in node]
            if hasattr(node, "_fields"):  # NamedTuple
                cls = type(node)
                return {"type": f"{cls.__module__}.{cls.__qualname__}", "items": children}
            return {"type": "tuple", "items": children}
        raise SpikeLipError(f"cannot export a state holding {type(node).__name__}")

    spec = walk(state)
    return leaves, spec


def flatten_leaves(state) -> list:
    """The state's leaves in export order (tensors or arrays), without building a spec."""
    out = []

    def walk(node):
        if isinstance(node, tuple):
            for c in node:
                walk(c)
        else:
            out.append(node)

    walk(state)
    return out


def _named_tuple_class(name: str):
    """The state class a spec names ("model.network.NetworkState"), looked up by name: the file
    says which one, so this is a lookup, not an import dependency."""
    module, _, qualname = name.rpartition(".")
    if not module.startswith("model."):
        raise SpikeLipError(f"state type {name!r} is not a SpikeLip state")
    try:
        return getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError) as exc:
        raise SpikeLipError(f"unknown state type {name!r}") from exc


def make_builder(spec):
    """A function leaves (sequence) -> nested state, equivalent to unflattening `spec`.

    Classes are resolved once here, so building a state per step is just tuple calls.
    """
    if isinstance(spec, int):
        return lambda leaves: leaves[spec]
    if not isinstance(spec, dict) or "items" not in spec:
        raise SpikeLipError("malformed state structure")
    children = [make_builder(c) for c in spec["items"]]
    if spec.get("type") == "tuple":
        return lambda leaves: tuple(c(leaves) for c in children)
    cls = _named_tuple_class(spec.get("type", ""))
    return lambda leaves: cls(*(c(leaves) for c in children))


def count_leaves(spec) -> int:
    """How many leaves a structure spec numbers."""
    if isinstance(spec, int):
        return 1
    return sum(count_leaves(c) for c in spec["items"])
