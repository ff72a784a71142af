"""Which model a command runs: the bundled checkpoint by default, or a name, config or file."""
from __future__ import annotations

import sys
from pathlib import Path

from stream.sources.npy import dvslip_words

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BUNDLED_MODEL = ASSETS / "models" / "small.json"


def use_streaming_threads() -> None:
    """One torch thread for batch-1 steps: equal p50, lower p99 than two on a 2-core machine, and a
    core stays free for reading, binning and painting (a second thread fighting the GUI thread
    made steps up to 10x slower there)."""
    import torch

    torch.set_num_threads(1)


def load_model(spec: str | None = None, quiet: bool = False):
    """Return `(net, words, description)` for `spec`; `None` means the bundled model.

    A spec ending in .onnx (from `spikelip export`) loads a `model.runtime.OnnxRunner`, which
    steps like a streamable Network but cannot record spikes or run whole clips.

    Without a bundled checkpoint (fresh clone before training), a randomly initialised
    `small` network keeps the whole path real; a warning says its predictions mean nothing.
    """
    from model import build

    if spec is None:
        if BUNDLED_MODEL.exists():
            spec = str(BUNDLED_MODEL)
        else:
            if not quiet:
                print("warning: no bundled model in assets/models; using an untrained `small` network "
                      "(predictions are random)", file=sys.stderr)
            return build("small").eval(), dvslip_words(), "small (untrained)"
    if str(spec).endswith(".onnx"):
        from model.runtime import OnnxRunner

        net = OnnxRunner(spec)
    else:
        net = build(spec).eval()
    words = getattr(net, "words", None) or dvslip_words()
    return net, words, str(spec)
