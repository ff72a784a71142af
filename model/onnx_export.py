"""Export a streamable Network's STEP function to one self-contained ONNX file.

The graph computes `logits, new_state = net.step(x, state)` for batch 1 with the nested state
flattened into explicit tensors:

    inputs  x (1, 2, S, S), state.0, state.1, ...
    outputs logits (1, C), new_state.0, new_state.1, ...

The file's metadata_props hold, under the key "spikelip", a JSON object with the state
structure (nested NamedTuples, leaves numbered in input order), the state shapes, the config
and the word list, so `model.runtime.OnnxRunner` can rebuild the state and label the logits
without the PyTorch model. Opset 18, torch's default (dynamo) exporter, no external data.
With `sparse=True` the same interface computes the step as `model.runtime.SparseStep` does
(gather-sparse recurrent layers): the graph `model.runtime.HybridRunner` runs; the metadata's
"sparse" says which.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from stream.errors import SpikeLipError

META_KEY = "spikelip"
FORMAT = "spikelip-onnx-step"
VERSION = 1


# --- state structure <-> JSON ----------------------------------------------------------------

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
    if isinstance(spec, int):
        return 1
    return sum(count_leaves(c) for c in spec["items"])


# --- export ----------------------------------------------------------------------------------

class _Step(nn.Module):
    """x, *flat_state -> logits, *flat_new_state (what the ONNX graph computes)."""

    def __init__(self, net, spec):
        super().__init__()
        self.net = net
        self.build = make_builder(spec)

    def forward(self, x, *flat):
        logits, new = self.net.step(x, self.build(flat))
        return (logits, *flatten_leaves(new))


def export_onnx(net, path, opset: int = 18, sparse: bool = False) -> Path:
    """Write net's step function (batch 1) to `path` as one ONNX file; returns the path.

    sparse: export `model.runtime.SparseStep(net)` instead (same inputs, outputs and metadata).
    Raises SpikeLipError for a model that cannot stream (centred frontend, bidirectional GRU).
    """
    if opset < 17:
        raise SpikeLipError(f"ONNX opset {opset} is too old; use 17 or newer")
    if not getattr(net, "streamable", False):
        name = getattr(net, "name", "?")
        raise SpikeLipError(
            f"model {name!r} is not streamable (it looks ahead in time), so it has no step "
            "function to export; export 'paper-causal' or 'small'"
        )
    path = Path(path)
    if path.suffix != ".onnx":
        raise SpikeLipError(f"{path}: the output file must end in .onnx")
    path.parent.mkdir(parents=True, exist_ok=True)

    was_training = net.training
    net.eval()
    try:
        # Fresh tensors outside inference mode: inference tensors make the exporter fall back.
        with torch.inference_mode(False), torch.no_grad(), _quiet_exporter():
            state = net.initial_state(1)
            leaves, spec = flatten_state(state)
            leaves = [t.detach().clone() for t in leaves]
            x = torch.zeros((1, *net.frame_shape), dtype=torch.float32)
            n = len(leaves)
            input_names = ["x"] + [f"state.{i}" for i in range(n)]
            output_names = ["logits"] + [f"new_state.{i}" for i in range(n)]
            if sparse:
                from model.runtime import SparseStep

                stepper = SparseStep(net)
            else:
                stepper = net
            program = torch.onnx.export(
                _Step(stepper, spec).eval(),
                (x, *leaves),
                input_names=input_names,
                output_names=output_names,
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    except SpikeLipError:
        raise
    except Exception as exc:  # the exporter raises many types; report them as one
        raise SpikeLipError(f"ONNX export of {getattr(net, 'name', '?')!r} failed: {exc}") from exc
    finally:
        net.train(was_training)

    meta = {
        "format": FORMAT,
        "version": VERSION,
        "name": net.config.get("name", ""),
        "config": net.config,
        "words": list(net.words),
        "state_structure": spec,
        "state_shapes": [list(t.shape) for t in leaves],
        "frame_shape": list(net.frame_shape),
        "num_classes": int(net.config["num_classes"]),
        "sparse": sparse,
        "opset": opset,
        "torch": torch.__version__,
    }
    program.model.metadata_props[META_KEY] = json.dumps(meta)
    program.save(str(path), external_data=False)
    return path


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter's notes (torchvision absent, deprecations inside torch) are not for users."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        log.setLevel(level)
