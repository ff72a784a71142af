"""`spikelip adapt`: adapt a model to a user's own clips (their face, camera and words) on the CPU."""
from __future__ import annotations

import argparse
import sys

from app.models import BUNDLED_MODEL
from app.options import existing_dir, non_negative_int, output_dir, positive_float, positive_int, seed, trained_model
from model.adapt import METHODS, AdaptConfig, adapt

NAME = "adapt"
HELP = "adapt a model to your own clips (DIR/train/<word>/<k>.npy) in minutes on the CPU; any words"


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, type=existing_dir, metavar="DIR",
                   help="your clips, DVS-Lip style: DIR/train/<word>/<k>.npy (as `spikelip synth` or `convert` writes "
                        "them); DIR/test, if there, is scored before and after; DIR/words.txt sets the words")
    p.add_argument("--out", required=True, type=output_dir, metavar="RUN",
                   help="folder for the adapted model: RUN/model.json + RUN/model.safetensors, usable as --model")
    p.add_argument("--model", type=trained_model, metavar="BASE",
                   help="the trained checkpoint to start from (default: the bundled model)")
    p.add_argument("--minutes", type=positive_float, default=10.0, metavar="M",
                   help="time budget for fine-tuning, in minutes (default 10)")
    p.add_argument("--method", choices=METHODS, default="backend",
                   help="what is fine-tuned after BatchNorm statistics are re-estimated on your clips: nothing (bn), "
                        "the readout, the recurrent layers and readout (backend, default), or all")
    p.add_argument("--mouth-move", action=argparse.BooleanOptionalAction, default=True,
                   help="first move, turn and resize the mouth in your clips to where the model learnt it, and every "
                        "reading with the new model the same way (default); --no-mouth-move reads them as they are")
    p.add_argument("--pace-match", action=argparse.BooleanOptionalAction, default=True,
                   help="bin every reading with the new model in bins as much longer (or shorter) as you speak slower "
                        "(or faster) than the model's training clips, found on your clips of words it knows (default); "
                        "--no-pace-match keeps its own 13.3 ms bins")
    p.add_argument("--views", type=non_negative_int, default=3, metavar="N",
                   help="augmented copies (cropped, flipped, zoomed) of each take that fine-tuning also sees; 0 = the "
                        "takes as they are (default 3)")
    p.add_argument("--batch-size", type=positive_int, default=16, metavar="N", help="clips per step (default 16)")
    p.add_argument("--lr", type=positive_float, default=1e-3,
                   help="Adam's learning rate at the start; it decays to zero by the budget's end (default 1e-3)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=non_negative_int, default=2, metavar="N",
                   help="data loader processes (default 2)")


def run(args) -> int:
    cfg = AdaptConfig(data=args.data, out=args.out, model=args.model or str(BUNDLED_MODEL), minutes=args.minutes,
                      method=args.method, lr=args.lr, batch_size=args.batch_size, views=args.views, seed=args.seed, workers=args.workers,
                      progress=sys.stderr.isatty(), move_mouth=args.mouth_move,
                      match_pace=args.pace_match)
    result = adapt(cfg, log=lambda line: print(line, flush=True))
    print(f"use it: spikelip replay --model {result['path']}")
    return 0
