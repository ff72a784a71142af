"""The lip-reading network: spiking ResNet-18 frontend, recurrent backend, per-step linear readout.

`forward` takes a whole clip and returns logits for every timestep (training, offline
evaluation); `initial_state` / `step` run the same network one 13.3 ms bin at a time for
streaming. The streaming state is a NetworkState of nested NamedTuples of tensors only (no
Python counters), so it can become explicit inputs and outputs of an exported graph.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

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


@dataclass(frozen=True)
class Readings:
    """How a network reads each bin: its window placed at each of `offsets` ((dy, dx) px; the
    centre, unless config["window_offsets"] says more), each also mirrored left to right when
    `mirror`; every reading is a row of one batch, with its own state, and their logits are
    averaged (docs/notes/mirror.md: each reading errs differently)."""

    offsets: tuple[tuple[int, int], ...] = ((0, 0),)
    mirror: bool = False

    @classmethod
    def of_config(cls, config: dict) -> Readings:
        return cls(tuple((int(dy), int(dx)) for dy, dx in config.get("window_offsets", [(0, 0)])),
                   bool(config.get("mirror")))

    @property
    def count(self) -> int:
        return len(self.offsets) * (2 if self.mirror else 1)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, ..., H, W) -> (R B, ...): the window at each offset, then each of those mirrored."""
        rows = [moved_window(x, dy, dx) for dy, dx in self.offsets]
        rows += [r.flip(-1) for r in rows] if self.mirror else []
        return torch.cat(rows) if len(rows) > 1 else rows[0]

    def merge(self, y: torch.Tensor) -> torch.Tensor:
        """(R B, ...) -> (B, ...): the readings' mean (of logits)."""
        return y.unflatten(0, (self.count, -1)).mean(0) if self.count > 1 else y

    def first(self, rec: dict | None) -> dict | None:
        """Recorded spikes of the first reading only: the first B of R B rows."""
        if rec is None or self.count == 1:
            return rec
        return {name: s.unflatten(0, (self.count, -1))[0] for name, s in rec.items()}


def moved_window(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x (..., H, W) seen through its window moved dy px down and dx px right: out[i, j] =
    x[i + dy, j + dx], zero where that falls outside."""
    if dy == 0 and dx == 0:
        return x
    pad = max(abs(dy), abs(dx))
    h, w = x.shape[-2:]
    return F.pad(x, (pad, pad, pad, pad))[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w]


def step_through(frontend, backend, readout, readings: Readings, x_t: torch.Tensor, state: NetworkState,
                 record: bool = False, dropouts: tuple = (nn.Identity(), nn.Identity(), nn.Identity())):
    """One bin through `frontend`, the recurrent `backend` layers and `readout`, once for each of
    the `readings`: `Network.step`, and the export graphs that swap in other layers.
    `dropouts` (frontend, between recurrent layers, readout) act in training only."""
    drop_frontend, drop_backend, drop_readout = dropouts
    rec = {} if record else None
    h, front = frontend.step(readings.rows(x_t), state.frontend, rec)
    h = drop_frontend(h)
    back = []
    for i, (layer, st) in enumerate(zip(backend, state.backend)):
        h, st = layer.step(drop_backend(h) if i else h, st)
        back.append(st)
        if rec is not None:
            rec[f"backend.{i}"] = h
    logits = readings.merge(readout(drop_readout(h)))
    new = NetworkState(front, tuple(back))
    return (logits, new, readings.first(rec)) if record else (logits, new)


class Network(nn.Module):
    """Frontend + `num_layers` recurrent layers (dropout between) + dropout + Linear readout.

    Input x: (B, T, 2, S, S) float32, channel 0 = ON counts, channel 1 = minus OFF counts,
    S = config["input_size"] (88). Output: per-timestep logits (B, T, num_classes).

    With config["mirror"] the same weights also read every bin mirrored left to right, as more
    rows of the batch (so the streaming state holds 2 B rows), and the two readings' logits are
    averaged: a mouth is nearly symmetric and the two readings err differently (+2-4 points
    top-1 on held-out SynthLip, at little more cost per step than one reading). With
    config["window_offsets"] it reads the bin through its window placed at each offset (e.g. the
    four phases of a 4 x 4 input pool), each mirrored too: `Readings`.
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
        self.reading = Readings.of_config(cfg)  # where and how it reads each bin: window offsets, mirrored or not
        # what a training step reads through instead, if not every reading (`spikelip train --one-reading`)
        self.training_reading: Readings | None = None
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
        """How many readings of each bin the model averages (2 for a mirror model, 1 plain)."""
        return self.reading.count

    def forward(self, x: torch.Tensor, record: bool = False):
        """x (B, T, 2, S, S) -> logits (B, T, C); with record, also {layer: (B, T, units)} spikes."""
        if x.dim() != 5:
            raise SpikeLipError(f"model input must be (batch, time, 2, H, W), got shape {tuple(x.shape)}")
        self._check_frames(x.shape, "model input")
        rec = {} if record else None
        reading = self.training_reading if self.training and self.training_reading is not None else self.reading
        h = self.frontend(reading.rows(x), rec)
        logits = reading.merge(self.after_frontend(h, rec))
        return (logits, reading.first(rec)) if record else logits

    def features(self, x: torch.Tensor, window: int | None = None) -> torch.Tensor:
        """Frontend features (B, R, T, F) of x's R readings, or of window `window`'s readings only:
        adaptation computes them once and trains only what comes after (`after_features`)."""
        reading = self.reading if window is None else Readings((self.reading.offsets[window],), self.reading.mirror)
        return self.frontend(reading.rows(x)).unflatten(0, (reading.count, -1)).transpose(0, 1)

    def after_features(self, f: torch.Tensor) -> torch.Tensor:
        """`features` (B, R, T, F) -> logits (B, T, C): the mean of the readings given (all R, or
        some of them: training a model of many readings on one window at a time)."""
        return self.after_frontend(f.transpose(0, 1).flatten(0, 1)).unflatten(0, (f.shape[1], -1)).mean(0)

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
        return step_through(self.frontend, self.backend, self.readout, self.reading, x_t, state, record,
                            (self.drop_frontend, self.drop_backend, self.drop_readout))
