"""Export a streamable Network's STEP function to one self-contained ONNX file.

The graph computes `logits, new_state = net.step(x, state)` for batch 1 with the nested state
flattened into explicit tensors:

    inputs  x (1, 2, S, S), state.0, state.1, ...
    outputs logits (1, C), new_state.0, new_state.1, ...

The file's metadata_props hold, under the key "spikelip", a JSON object with the state
structure (nested NamedTuples, leaves numbered in input order), the state shapes, the config
and the word list (`model.onnx_format`), so `model.runtime.OnnxRunner` can rebuild the state
and label the logits without the PyTorch model. With `spikes=True` the graph also outputs each
layer's spikes of the step, `spikes.0, spikes.1, ...` (the metadata's "spike_layers" names
them, as `net.step(..., record=True)` does): what the window's rasters show. Opset 18, torch's
default (dynamo) exporter, no external data. With `sparse=True` the same interface computes the step as
`model.sparse.SparseStep` does (gather-sparse recurrent layers): the graph
`model.runtime.HybridRunner` runs; the metadata's "sparse" says which.
"""
from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from model.onnx_format import FORMAT, META_KEY, VERSION, flatten_leaves, flatten_state, make_builder
from model.sparse import SparseStep
from stream.errors import SpikeLipError

# The format helpers live in model.onnx_format; importable from here too.
__all__ = ["FORMAT", "META_KEY", "VERSION", "export_onnx", "flatten_leaves", "flatten_state", "make_builder"]


# --- export ----------------------------------------------------------------------------------

class _Step(nn.Module):
    """x, *flat_state -> logits, *flat_new_state (what the ONNX graph computes)."""

    def __init__(self, net, spec, spikes: bool = False):
        super().__init__()
        self.net = net
        self.build = make_builder(spec)
        self.spikes = spikes

    def forward(self, x, *flat):
        if not self.spikes:
            logits, new = self.net.step(x, self.build(flat))
            return (logits, *flatten_leaves(new))
        logits, new, rec = self.net.step(x, self.build(flat), record=True)
        return (logits, *flatten_leaves(new), *rec.values())


def export_onnx(net, path, opset: int = 18, sparse: bool = False, spikes: bool = False) -> Path:
    """Write net's step function (batch 1) to `path` as one ONNX file; returns the path.

    sparse: export `model.sparse.SparseStep(net)` instead (same inputs, outputs and metadata).
    spikes: also output every layer's spikes (see the module's docstring).
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpikeLipError(f"{path}: cannot create its folder {path.parent} ({exc.strerror or exc}); "
                            "choose another --out path") from None

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
            stepper = SparseStep(net) if sparse else net
            layers = list(stepper.step(x, state, record=True)[2]) if spikes else []
            output_names += [f"spikes.{i}" for i in range(len(layers))]
            program = torch.onnx.export(
                _Step(stepper, spec, spikes).eval(),
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
        "spike_layers": layers,
        "opset": opset,
        "torch": torch.__version__,
    }
    program.model.metadata_props[META_KEY] = json.dumps(meta)
    try:
        program.save(str(path), external_data=False)
    except OSError as exc:
        raise SpikeLipError(f"{path}: cannot write the ONNX file ({exc.strerror or exc}); "
                            "choose another path or free some space") from None
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
