"""`spikelip bundle`: make a trained checkpoint the model that `replay`, `demo` and `eval` use by
default, with its held-out evaluation recorded in the checkpoint and its ONNX export beside it."""
from __future__ import annotations

import json
import re
from pathlib import Path

from app.models import BUNDLED_MODEL, onnx_file_for
from app.options import json_object_file, non_empty_text, output_file, trained_model
from stream.errors import SpikeLipError

NAME = "bundle"
HELP = "make a trained checkpoint the default model (assets/models/), recording its measured accuracy"

# The numbers of an `spikelip eval --json` report that a checkpoint keeps (the rest stays in the report).
KEPT = ("clips", "top1", "top5", "accuracy_100ms_after_end", "fraction_of_final_100ms_after_end", "split")


def add_arguments(p) -> None:
    p.add_argument("checkpoint", type=trained_model, help="the trained checkpoint (.json, .safetensors or its folder)")
    p.add_argument("--eval", required=True, metavar="EVAL.json", type=json_object_file,
                   help="`spikelip eval --json` report of this checkpoint on held-out data")
    p.add_argument("--evaluated-on", required=True, metavar="TEXT", type=non_empty_text,
                   help="what that data is and how it was made (seed, speakers), for the checkpoint")
    p.add_argument("--out", default=str(BUNDLED_MODEL), metavar="JSON",
                   type=output_file(".json", create_folders=True, what="checkpoint"),
                   help=f"where to write it (default {BUNDLED_MODEL.relative_to(BUNDLED_MODEL.parents[2])})")


def run(args) -> int:
    from model.boundary import load_head, save_head
    from model.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint

    net, info = load_checkpoint(args.checkpoint)
    try:
        report = json.loads(Path(args.eval).read_text())
    except (OSError, ValueError) as exc:
        raise SpikeLipError(f"{args.eval}: not a readable `spikelip eval --json` report ({exc})") from None
    if "top1" not in report:
        raise SpikeLipError(f"{args.eval}: no top1 field; give the JSON written by `spikelip eval --json`")
    other_words = set(report.get("per_word", {})) - set(net.words)
    if other_words or ("confusion" in report and len(report["confusion"]) != len(net.words)):
        raise SpikeLipError(f"{args.eval}: evaluated on another word list than {args.checkpoint}")
    held_out = {"data": args.evaluated_on, **{k: report[k] for k in KEPT if k in report}}
    metrics = {**info.get("metrics", {}), "held_out": held_out}
    out = Path(args.out)
    if out.suffix != ".json":
        raise SpikeLipError(f"{out}: give the checkpoint's .json path")
    path = save_checkpoint(net, out, trained_on=info.get("trained_on", ""), metrics=metrics,
                           training=info.get("training"), mouth=info.get("mouth"), pace=info.get("pace"))
    if (boundary := info.get("boundary")) is not None:  # a word-boundary head trained on these weights' logits
        head, decision = load_head(find_checkpoint(args.checkpoint))
        save_head(head, path, decision, trained_on=boundary.get("trained_on", ""), metrics=boundary.get("metrics"))
    shipped = []  # the sparse export headless runs step, and the one with spikes the window steps
    for spikes in (False, True):
        onnx = onnx_file_for(net, quiet=True, sparse=True, spikes=spikes)
        shipped.append(out.parent / onnx.name)
        if onnx != shipped[-1]:
            shipped[-1].write_bytes(onnx.read_bytes())
    for stale in out.parent.glob(f"{net.name}-*.onnx"):  # exports of weights bundled before
        if stale not in shipped and re.fullmatch(rf"{re.escape(net.name)}-[0-9a-f]{{16}}(-sparse)?(-spikes)?\.onnx", stale.name):
            stale.unlink()
    sizes = sum(p.stat().st_size for p in (path, path.with_suffix(".safetensors"), *shipped)) / 1e6
    print(f"wrote {path}, its weights and {' and '.join(p.name for p in shipped)} ({sizes:.1f} MB); "
          f"held-out top-1 {report['top1']:.1%}")
    return 0
