"""The lip-reading network: spiking ResNet-18 frontend, recurrent backend, per-step linear readout.

`forward` takes a whole clip and returns logits for every timestep (training, offline
evaluation); `initial_state` / `step` run the same network one 13.3 ms bin at a time for
streaming. The streaming state is a NetworkState of nested NamedTuples of tensors only (no
Python counters), so it can become explicit inputs and outputs of an exported graph.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from model.config import default_words, validate
from model.frontend import Frontend
from model.recurrent import Bidirectional, make_layer
from stream.errors import SpikeLipError


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class NetworkState(NamedTuple):
    """Per-stage frontend states (stem first) and one state per backend layer."""

    frontend: tuple
    backend: tuple


def readings_of(x: torch.Tensor, readings: int) -> torch.Tensor:
    """x (B, ...) -> (R B, ...): x, then (R = 2, a mirror model) x mirrored left to right."""
    return torch.cat([x, x.flip(-1)]) if readings == 2 else x


def merge_readings(y: torch.Tensor, readings: int) -> torch.Tensor:
    """(R B, ...) -> (B, ...): the readings' mean (of logits)."""
    return y.unflatten(0, (readings, -1)).mean(0) if readings == 2 else y


def direct_reading(rec: dict | None, readings: int) -> dict | None:
    """Recorded spikes of the unmirrored reading only: the first B of R B rows."""
    if rec is None or readings == 1:
        return rec
    return {name: s.unflatten(0, (readings, -1))[0] for name, s in rec.items()}


def step_through(frontend, backend, readout, readings: int, x_t: torch.Tensor, state: NetworkState,
                 record: bool = False, dropouts: tuple = (nn.Identity(), nn.Identity(), nn.Identity())):
    """One bin through `frontend`, the recurrent `backend` layers and `readout`, read `readings`
    times (the mirror): `Network.step`, and the export graphs that swap in other layers.
    `dropouts` (frontend, between recurrent layers, readout) act in training only."""
    drop_frontend, drop_backend, drop_readout = dropouts
    rec = {} if record else None
    h, front = frontend.step(readings_of(x_t, readings), state.frontend, rec)
    h = drop_frontend(h)
    back = []
    for i, (layer, st) in enumerate(zip(backend, state.backend)):
        h, st = layer.step(drop_backend(h) if i else h, st)
        back.append(st)
        if rec is not None:
            rec[f"backend.{i}"] = h
    logits = merge_readings(readout(drop_readout(h)), readings)
    new = NetworkState(front, tuple(back))
    return (logits, new, direct_reading(rec, readings)) if record else (logits, new)


class Network(nn.Module):
    """Frontend + `num_layers` recurrent layers (dropout between) + dropout + Linear readout.

    Input x: (B, T, 2, S, S) float32, channel 0 = ON counts, channel 1 = minus OFF counts,
    S = config["input_size"] (88). Output: per-timestep logits (B, T, num_classes).

    With config["mirror"] the same weights also read every bin mirrored left to right, as more
    rows of the batch (so the streaming state holds 2 B rows), and the two readings' logits are
    averaged: a mouth is nearly symmetric and the two readings err differently (+2-4 points
    top-1 on held-out SynthLip, at little more cost per step than one reading).
    """

    def __init__(self, config: dict, words: list[str] | None = None):
        super().__init__()
        cfg = validate(config)
        self.config = cfg
        self.words = list(words) if words is not None else default_words(cfg["num_classes"])
        if len(self.words) != cfg["num_classes"]:
            raise SpikeLipError(
                f"{len(self.words)} words given for a model with {cfg['num_classes']} classes"
            )
        self.frame_shape = (cfg["in_channels"], cfg["input_size"], cfg["input_size"])
        self.frontend = Frontend(
            cfg["frontend_widths"],
            cfg["frontend_mode"],
            cfg["frontend_neuron"],
            cfg["temporal_kernel"],
            cfg["in_channels"],
            cfg["input_size"],
            cfg["alpha_init"],
            cfg["input_pool"],
        )
        self.drop_frontend = nn.Dropout(cfg["dropout_frontend"])
        layers, size = [], self.frontend.out_features
        for _ in range(cfg["num_layers"]):
            args = (cfg["backend"], size, cfg["hidden_size"], cfg["alpha_init"])
            layer = make_layer(*args)
            if cfg["bidirectional"]:
                layer = Bidirectional(layer, make_layer(*args))
            layers.append(layer)
            size = layer.hidden_size
        self.backend = nn.ModuleList(layers)
        self.drop_backend = nn.Dropout(cfg["dropout_backend"])
        self.drop_readout = nn.Dropout(cfg["dropout_readout"])
        self.readout = nn.Linear(size, cfg["num_classes"])

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def streamable(self) -> bool:
        """True when no layer looks ahead in time (causal frontend, unidirectional backend)."""
        return self.config["frontend_mode"] == "causal" and not self.config["bidirectional"]

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters of frontend, backend (recurrent layers), readout, and in total."""
        parts = {name: _count(getattr(self, name)) for name in ("frontend", "backend", "readout")}
        return {**parts, "total": sum(parts.values())}

    @torch.no_grad()
    def clamp_(self) -> None:
        """Put every constrained parameter back in range; call after each optimiser step."""
        for module in self.modules():
            if module is not self and hasattr(module, "clamp_"):
                module.clamp_()

    def _check_frames(self, shape, what: str) -> None:
        if tuple(shape[-3:]) != self.frame_shape:
            raise SpikeLipError(
                f"{what} has frames of shape {tuple(shape[-3:])}; this model takes "
                f"{self.frame_shape} (ON, -OFF counts centre-cropped to {self.frame_shape[-1]} px)"
            )

    @property
    def readings(self) -> int:
        """How many readings of each bin the model averages: 2 for a mirror model, else 1."""
        return 2 if self.config.get("mirror") else 1

    def forward(self, x: torch.Tensor, record: bool = False):
        """x (B, T, 2, S, S) -> logits (B, T, C); with record, also {layer: (B, T, units)} spikes."""
        if x.dim() != 5:
            raise SpikeLipError(f"model input must be (batch, time, 2, H, W), got shape {tuple(x.shape)}")
        self._check_frames(x.shape, "model input")
        rec = {} if record else None
        h = self.frontend(readings_of(x, self.readings), rec)
        logits = merge_readings(self.after_frontend(h, rec), self.readings)
        return (logits, direct_reading(rec, self.readings)) if record else logits

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Frontend features (B, R, T, F) of x's R readings: adaptation computes them once and
        trains only what comes after (`after_features`)."""
        return self.frontend(readings_of(x, self.readings)).unflatten(0, (self.readings, -1)).transpose(0, 1)

    def after_features(self, f: torch.Tensor) -> torch.Tensor:
        """`features` (B, R, T, F) -> logits (B, T, C)."""
        return merge_readings(self.after_frontend(f.transpose(0, 1).flatten(0, 1)), self.readings)

    def after_frontend(self, h: torch.Tensor, rec: dict | None = None) -> torch.Tensor:
        """Frontend features (B, T, F) -> logits (B, T, C) of each reading: the recurrent layers
        and the readout."""
        h = self.drop_frontend(h)
        for i, layer in enumerate(self.backend):
            h = layer(self.drop_backend(h) if i else h)
            if rec is not None:
                rec[f"backend.{i}"] = h
        return self.readout(self.drop_readout(h))

    def _check_streamable(self) -> None:
        if not self.streamable:
            raise SpikeLipError(
                f"model {self.name!r} is not streamable: its centred temporal kernel looks 2 bins "
                "ahead and its bidirectional GRU needs the whole clip; use 'paper-causal' or "
                "'small' for step-by-step inference"
            )

    def initial_state(self, batch_size: int = 1) -> NetworkState:
        """The zero state before the first bin (also the state after a reset); a mirror model's
        holds both readings' rows."""
        self._check_streamable()
        batch_size *= self.readings
        p = next(self.parameters())
        return NetworkState(
            self.frontend.initial_state(batch_size, p.device, p.dtype),
            tuple(layer.initial_state(batch_size, p.device, p.dtype) for layer in self.backend),
        )

    def step(self, x_t: torch.Tensor, state: NetworkState, record: bool = False):
        """One bin x_t (B, 2, S, S) -> (logits_t (B, C), new state).

        With record=True returns (logits_t, state, spikes): spikes maps each layer name
        (frontend stages, backend.{i}) to that step's (B, units) spikes (activations for ANN
        layers). Call under torch.inference_mode() in eval mode for streaming.
        """
        self._check_streamable()
        self._check_frames(x_t.shape, "model step input")
        return step_through(self.frontend, self.backend, self.readout, self.readings, x_t, state, record,
                            (self.drop_frontend, self.drop_backend, self.drop_readout))
