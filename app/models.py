"""Which model a command runs: the bundled checkpoint by default, or a name, config or file."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from stream.constants import BIN_MS
from stream.errors import SpikeLipError
from stream.files import write_atomically

if TYPE_CHECKING:  # torch loads when a model does, not when the CLI starts
    from model.stepper import Stepper

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BUNDLED_MODEL = ASSETS / "models" / "small.json"


def use_streaming_threads() -> None:
    """One torch thread for batch-1 steps: equal p50, lower p99 than two on a 2-core machine, and a
    core stays free for reading, binning and painting (a second thread fighting the GUI thread
    made steps up to 10x slower there)."""
    import torch

    torch.set_num_threads(1)


# Runtimes a streamable model can be stepped with, fastest first (benchmarks/bench_runtime.py):
# sparse = one onnxruntime graph with gather-sparse GRU layers, onnx = the dense export.
RUNTIMES = ("sparse", "onnx", "torch")


class LoadedModel(NamedTuple):
    net: Stepper  # a model.Network, or a model.runtime.OnnxRunner with the same step API
    words: list[str]
    description: str  # what was loaded and how it runs, for people: "small (untrained) (sparse)"
    runtime: str  # the runtime it resolved to: one of RUNTIMES


def load_model(spec: str | None = None, quiet: bool = False, runtime: str | None = None,
               spikes: bool = False, overrides: dict | None = None) -> LoadedModel:
    """A `LoadedModel` for `spec`; `None` means the bundled model.

    A spec ending in .onnx (from `spikelip export`) loads a `model.runtime.OnnxRunner`, which
    steps like a streamable Network but cannot record spikes or run whole clips. `runtime`
    "onnx" and "sparse" export any other streamable model to onnxruntime (cached, see
    `onnx_file_for`);
    "fastest" picks the first runtime of `RUNTIMES` that can run it; None is torch, or onnx for
    an .onnx file. `spikes` asks an onnx/sparse runtime for an export that also outputs every
    layer's spikes (`step(..., record=True)`, for the window's rasters). `overrides` replaces
    config fields that leave the weights as they are (benchmarks: e.g. "window_offsets").

    Without a bundled checkpoint (fresh clone before training), a randomly initialised
    `small` network keeps the whole path real; a warning says its predictions mean nothing.
    """
    from model import build

    if spec is None:
        if BUNDLED_MODEL.exists():
            net = build(str(BUNDLED_MODEL), **(overrides or {})).eval()
            loaded = _with_runtime(net, runtime, f"{net.name} (bundled)", quiet, spikes)
            return _with_moves(_with_mouth(_with_boundary(loaded, BUNDLED_MODEL), BUNDLED_MODEL))
        if not quiet:
            print("warning: no bundled model in assets/models; using an untrained `small` network "
                  "(predictions are random)", file=sys.stderr)
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(0)  # the same stand-in every run (and one cached ONNX export)
            net = build("small").eval()
        return _with_runtime(net, runtime, "small (untrained)", quiet, spikes)
    if str(spec).endswith(".onnx"):
        from model.runtime import OnnxRunner

        if runtime not in (None, "onnx", "fastest"):
            raise SpikeLipError(f"{spec}: an ONNX file runs with the onnx runtime only, not {runtime!r}")
        net = OnnxRunner(spec)
        return _with_moves(LoadedModel(net, net.words, f"{spec} (onnx)", "onnx"))
    loaded = _with_runtime(build(spec, **(overrides or {})).eval(), runtime, str(spec), quiet, spikes)
    return _with_moves(_with_mouth(_with_boundary(loaded, spec), spec))


def _with_moves(loaded: LoadedModel) -> LoadedModel:
    """A model's description says how it moves the mouth (config input_affine, input_centre) and at
    what pace it bins (input_pace)."""
    a, pace, described = loaded.net.config.get("input_affine"), loaded.net.config.get("input_pace"), loaded.description
    if loaded.net.config.get("input_centre"):
        described += ", mouth kept centred"
    if a:
        described += (f", mouth resized {a['scale']:.2f} x, turned {a.get('rotate_deg', 0.0):+.1f} degrees and moved "
                      f"{a['dx']:+.1f}, {a['dy']:+.1f} px")
    if pace:
        described += f", bins {pace:.2f} x as long ({BIN_MS * pace:.1f} ms) for a user that much slower"
    return loaded._replace(description=described)


def _with_mouth(loaded: LoadedModel, spec) -> LoadedModel:
    """Where the mouths the model learnt from sat (the checkpoint's "mouth", as `net.mouth`): a
    crop that follows the mouth resizes a speaker's mouth to that width (`Pipeline.resize`)."""
    from model.checkpoint import find_checkpoint

    loaded.net.mouth = None
    try:
        info = json.loads(find_checkpoint(spec).read_text())
    except (SpikeLipError, OSError, ValueError):  # a config name or file: no training mouths
        return loaded
    mouth = info.get("mouth") if isinstance(info, dict) else None
    loaded.net.mouth = mouth if isinstance(mouth, dict) and mouth.get("width") else None
    return loaded


def _with_boundary(loaded: LoadedModel, spec) -> LoadedModel:
    """A checkpoint with a trained word-boundary head (`spikelip boundary`) carries it as
    `net.boundary` = (head, decision); the pipeline then ends words where the model says."""
    from model.boundary import load_head
    from model.checkpoint import find_checkpoint

    loaded.net.boundary = None
    try:
        path = find_checkpoint(spec)
    except SpikeLipError:  # a config name: no checkpoint, no head
        return loaded
    loaded.net.boundary = load_head(path)  # None for a config file or a checkpoint without one
    if loaded.net.boundary is None:
        return loaded
    return loaded._replace(description=f"{loaded.description}, word boundaries learnt")


def _with_runtime(net: Stepper, runtime: str, description: str, quiet: bool, spikes: bool = False) -> LoadedModel:
    """`net` wrapped for `runtime` as a `LoadedModel`."""
    runtime = runtime or "torch"
    if runtime not in (*RUNTIMES, "fastest"):
        raise SpikeLipError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)} or fastest")
    if runtime == "fastest":
        runtime = next(r for r in RUNTIMES if r == "torch" or net.streamable)
    if runtime in ("onnx", "sparse"):
        from model.runtime import OnnxRunner

        net = OnnxRunner(onnx_file_for(net, quiet, sparse=runtime == "sparse", spikes=spikes))
    return LoadedModel(net, net.words, f"{description} ({runtime})", runtime)


def onnx_file_for(net, quiet: bool = False, sparse: bool = False, spikes: bool = False) -> Path:
    """The ONNX step export of `net` (with every layer's spikes as outputs if `spikes`): shipped
    beside the bundled model, or made once per distinct weights into the cache folder
    (SPIKELIP_CACHE, default ~/.cache/spikelip); exporting takes seconds, loading milliseconds."""
    from model.checkpoint import weights_digest
    from model.onnx_export import export_onnx

    name = f"{net.name}-{weights_digest(net)}{'-sparse' if sparse else ''}{'-spikes' if spikes else ''}.onnx"
    shipped = BUNDLED_MODEL.parent / name
    if shipped.exists():
        return shipped
    path = Path(os.environ.get("SPIKELIP_CACHE") or Path.home() / ".cache" / "spikelip") / "onnx" / name
    if not path.exists():
        if not quiet:
            print(f"exporting {net.name} to ONNX once ({path}) ...", file=sys.stderr)
        write_atomically(path, lambda tmp: export_onnx(net, tmp, sparse=sparse, spikes=spikes), suffix=".onnx")
    return path
