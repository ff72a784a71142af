"""SpikeLip model: SpikGRU2+ lip-reading networks that run on whole clips or one bin at a time.

    net = build("small")                      # or a config dict / .json / checkpoint path
    logits = net(x)                           # x (B, T, 2, 88, 88) -> (B, T, 100)
    state = net.initial_state(1)
    logits_t, state = net.step(x_t, state)    # x_t (1, 2, 88, 88) -> (1, 100)
"""
from model.build import build
from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model.config import config_names
from model.metrics import count_operations, spike_loss, spike_rates, synapse_groups
from model.network import Network, NetworkState
from model.readout import Readout
from model.stepper import Stepper

__all__ = [
    "build",
    "Network",
    "NetworkState",
    "Readout",
    "Stepper",
    "save_checkpoint",
    "load_checkpoint",
    "Checkpoint",
    "config_names",
    "count_operations",
    "spike_loss",
    "spike_rates",
    "synapse_groups",
]
