"""`spikelip train`: train a network on DVS-Lip or SynthLip (the paper's recipe by default)."""
from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from app.options import (Number, existing_dir, json_object_file, model_spec, non_negative_float,
                         non_negative_int, optional, output_dir, positive_float, positive_int, seed, trained_model)
from model.train import TrainConfig, config_from_args, train
from model.train import add_arguments as _add_train_arguments

NAME = "train"
HELP = "train a model on a DVS-Lip style folder (DVS-Lip or SynthLip); resumes from OUT/last.pt"


# How each TrainConfig field's value is checked when parsed, flags and --config alike (model/ cannot
# import app/, so the checks are set here on the flags `model.train.add_arguments` makes). A new
# number field without a check fails tests/app/test_bad_options.py.
CHECKS = {
    "data": optional(existing_dir), "extra_train": existing_dir, "sentences": existing_dir, "model": model_spec, "out": output_dir,
    "epochs_constant": non_negative_int, "epochs_cosine": non_negative_int, "warmup_epochs": non_negative_float,
    "batch_size": positive_int, "lr": positive_float, "lr_cosine": non_negative_float,
    "lr_min": non_negative_float, "weight_decay": non_negative_float, "spike_loss": non_negative_float,
    "streaming_loss_from": Number(int, low=-1, allowed="-1 (off) or >= 0"),
    "streaming_loss_after_end": Number(float, low=0, also=(-1,), allowed="-1 (off) or >= 0"),
    "camera_augment_strength": Number(float, low=0, high=2), "camera_augment_fraction": Number(float, low=0, high=1),
    "distill": optional(trained_model), "distill_weight": non_negative_float,
    "bins": positive_int, "workers": non_negative_int, "cache": optional(output_dir), "seed": seed,
    "max_steps": non_negative_int, "minutes": non_negative_float, "eval_every": positive_int,
}


def add_arguments(p) -> None:
    _add_train_arguments(p)
    for action in p._actions:
        check = CHECKS.get(action.dest)
        if check is not None:
            action.type = check
            if isinstance(check, Number):
                action.help += f"; must be {check.allowed}"
        elif action.dest == "config":
            action.type = _config_file
            action.help += "; its values are checked as the flags' are"


def _config_file(text: str) -> str:
    """--config checked when parsed: a JSON object of TrainConfig fields whose values pass their checks."""
    values = json.loads(Path(json_object_file(text)).read_text())
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    for key, value in values.items():
        if key not in kinds:
            raise argparse.ArgumentTypeError(f"{text}: unknown option {key!r}; use the names of `spikelip train "
                                             "--help` with _ for -, e.g. \"batch_size\"")
        kind = kinds[key]
        ok = (isinstance(value, bool) if kind == "bool" else
              isinstance(value, list) and all(isinstance(v, str) for v in value) if kind == "list[str]" else
              isinstance(value, str) if kind == "str" else
              isinstance(value, (int, float)) and not isinstance(value, bool))
        if not ok:
            raise argparse.ArgumentTypeError(f"{text}: {key} must be a JSON {kind}, got {json.dumps(value)}")
        for v in value if kind == "list[str]" else [] if kind == "bool" else [value]:
            try:
                CHECKS.get(key, str)(str(v))
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError(f"{text}: {key}: {exc}") from None
    return text


def run(args) -> int:
    cfg = config_from_args(args)
    from stream.errors import SpikeLipError

    if not cfg.data:
        raise SpikeLipError("give the data folder: spikelip train --data DIR (DVS-Lip or `spikelip synth` output)")
    final = train(cfg)
    print(f"done: {final}; checkpoint {cfg.out}/model.json")
    return 0
