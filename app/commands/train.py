"""`spikelip train`: train a network on DVS-Lip or SynthLip (the paper's recipe by default)."""
from __future__ import annotations

from model.train import add_arguments as _add_train_arguments
from model.train import config_from_args, train

NAME = "train"
HELP = "train a model on a DVS-Lip style folder (DVS-Lip or SynthLip); resumes from OUT/last.pt"


def add_arguments(p) -> None:
    _add_train_arguments(p)


def run(args) -> int:
    cfg = config_from_args(args)
    from stream.errors import SpikeLipError

    if not cfg.data:
        raise SpikeLipError("give the data folder: spikelip train --data DIR (DVS-Lip or `spikelip synth` output)")
    final = train(cfg)
    print(f"done: {final}; checkpoint {cfg.out}/model.json")
    return 0
