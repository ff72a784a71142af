"""`spikelip eval`: accuracy of a model on a DVS-Lip style split, with plots and a JSON report."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from app.models import load_model
from app.options import existing_dir, image_file, model_spec, non_negative_int, positive_int, writable_path
from stream.errors import SpikeLipError

NAME = "eval"
HELP = "evaluate a model on a DVS-Lip or SynthLip split: top-1/top-5, per word, confusion, accuracy over time"


def add_arguments(p) -> None:
    p.add_argument("--model", metavar="M", type=model_spec, help="model name, config or checkpoint (default: the bundled model)")
    p.add_argument("--data", required=True, metavar="DIR", type=existing_dir, help="folder with {train,test}/<word>/<k>.npy")
    p.add_argument("--split", default="test", choices=["train", "test"], help="which split to score (default: test)")
    p.add_argument("--json", metavar="OUT", type=writable_path, help="write every number to OUT (JSON)")
    p.add_argument("--confusion", metavar="PNG", type=image_file,
                   help="save the confusion matrix as a PNG (or .pdf, .svg, .jpg)")
    p.add_argument("--time-plot", metavar="PNG", type=image_file,
                   help="save accuracy vs time since word onset/end (causal models; .png, .pdf, .svg or .jpg)")
    p.add_argument("--batch-size", type=positive_int, default=16, metavar="N",
                   help="clips per forward pass, >= 1 (default: 16)")
    p.add_argument("--workers", type=non_negative_int, default=2, metavar="N",
                   help="data loader processes, >= 0 (0: load in this process; default: 2)")
    p.add_argument("--whole-clips", action="store_true",
                   help="read every clip to its last event (at least 90 bins), as the app reads a stream, instead of "
                        "the reference's first 1.2 s (90 bins)")
    p.add_argument("--ops", action="store_true", help="also measure spike rates and OPs per synapse (one batch)")


def run(args) -> int:
    from model.data import DvsLipDataset, clip_events, input_side, whole_clips
    from model.evaluate import evaluate, plot_accuracy_over_time, plot_confusion
    from stream.constants import CLIP_BINS

    net, words, description, _ = load_model(args.model)
    dataset = DvsLipDataset(args.data, args.split, words, event_transform=clip_events(net.config), seed=0,
                            side=input_side(net.config), **whole_clips(args.whole_clips))
    result = {"model": description, "data": str(Path(args.data).resolve()), "split": args.split,
              "clips_read": "whole" if args.whole_clips else f"first {CLIP_BINS} bins",
              **evaluate(net, dataset, batch_size=args.batch_size, workers=args.workers)}
    if args.ops:
        result.update(_operations(net, dataset, args.batch_size))
    print(f"{description} on {args.data} ({args.split}, {result['clips']} clips): "
          f"top-1 {result['top1']:.1%}, top-5 {result['top5']:.1%}")
    if "accuracy_100ms_after_end" in result:
        print(f"streaming top-1 100 ms after the word ends: {result['accuracy_100ms_after_end']:.1%} "
              f"({result['fraction_of_final_100ms_after_end']:.0%} of the final accuracy)")
    if "ops_per_synapse" in result:
        print(f"OPs per synapse per step: {result['ops_per_synapse']:.3f}; spike rates: "
              + ", ".join(f"{k} {v:.3f}" for k, v in result["spike_rates"].items()))
    if args.confusion:
        plot_confusion(result, words, args.confusion)
        print(f"wrote {args.confusion}")
    if args.time_plot:
        if "accuracy_since_onset" not in result:
            raise SpikeLipError(f"{description}: accuracy over time needs a causal (streamable) model")
        plot_accuracy_over_time(result, args.time_plot)
        print(f"wrote {args.time_plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


@torch.no_grad()
def _operations(net, dataset, batch_size: int) -> dict:
    from model import count_operations, spike_rates

    x = torch.stack([dataset[i][0] for i in range(min(batch_size, len(dataset)))])
    _, spikes = net(x, record=True)
    ops = count_operations(net, x, spikes)
    return {"ops_per_synapse": ops.ops_per_synapse, "spike_rates": spike_rates(spikes), "operations": ops.as_dict()}
