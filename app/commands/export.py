"""`spikelip export`: write a streamable model's step function to one ONNX file for onnxruntime."""
from __future__ import annotations

import time
from pathlib import Path

from app.options import Number, model_spec, output_file
from stream.errors import SpikeLipError

NAME = "export"
HELP = "export a streamable model's step function to a self-contained ONNX file"


def add_arguments(p) -> None:
    p.add_argument("--model", metavar="NAME_OR_PATH", required=True, type=model_spec,
                   help="model name (small, paper-causal), config JSON or checkpoint")
    p.add_argument("--out", metavar="FILE.onnx", required=True,
                   type=output_file(".onnx", create_folders=True, what="ONNX file"),
                   help="the ONNX file to write (missing folders are created)")
    p.add_argument("--opset", type=Number(int, low=17), default=18, help="ONNX opset (17 or newer; default 18)")
    p.add_argument("--spikes", action="store_true",
                   help="also output every layer's spikes of each step (spikes.0, spikes.1, ...; the metadata's "
                        "spike_layers names them), as the window's rasters show them")


def run(args) -> int:
    from model import build
    from model.onnx_export import export_onnx

    out = Path(args.out)
    if str(args.model).endswith(".onnx"):
        raise SpikeLipError(f"{args.model}: already an ONNX file")
    net = build(args.model).eval()
    start = time.perf_counter()
    path = export_onnx(net, out, opset=args.opset, spikes=args.spikes)
    size = path.stat().st_size / 1e6
    print(f"wrote {path} ({size:.1f} MB, model {net.name!r}, opset {args.opset}, "
          f"{time.perf_counter() - start:.0f} s)")
    return 0
