"""What the app steps: the interface `Network` and the onnxruntime runners share.

    net: Stepper = load_model(spec).net      # a Network, an OnnxRunner or a HybridRunner
    state = net.initial_state(1)
    logits_t, state = net.step(x_t, state)   # x_t (1, 2, S, S) -> logits_t (1, C)

`step(x_t, state, record=True)` returns (logits_t, state, spikes) where the model can record
spikes (Network); the runners raise SpikeLipError. States are nested NamedTuples of tensors,
the same structure for every implementation of one model, so they can be handed between them.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Stepper(Protocol):
    """A model that runs one 13.3 ms bin at a time (`isinstance` checks the members' presence)."""

    config: dict  # the model's config (model.config), including its "name" and "num_classes"
    words: list[str]  # class labels, one per logit
    frame_shape: tuple[int, int, int]  # (channels, S, S) of one bin
    training: bool

    @property
    def name(self) -> str:
        """The config's name ("small", "paper-causal", ...)."""
        ...

    @property
    def streamable(self) -> bool:
        """True when `initial_state` / `step` work (no look-ahead in time)."""
        ...

    def initial_state(self, batch_size: int = 1) -> Any:
        """The zero state before the first bin (also the state after a restart)."""
        ...

    def step(self, x_t: torch.Tensor, state: Any, record: bool = False) -> tuple:
        """One bin -> (logits_t (B, C), new state), or (logits_t, new state, spikes) with record."""
        ...

    def eval(self) -> Stepper:
        """Inference mode (dropout off); returns the model itself."""
        ...
