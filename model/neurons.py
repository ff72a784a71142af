"""Spiking neurons with explicit state: a pure `step(current, state) -> (spikes, state)`.

State is a NamedTuple of tensors and nothing else, so a streaming caller (and later an ONNX
graph) can carry it between timesteps as plain inputs and outputs. Each module also runs a
whole sequence (`forward`, time on dim 1) by looping the very same step; the paper's neurons
do it in `leaky_sequence`, the same arithmetic in the same order with a hand-written backward
through time (equal to autograd's, tested), because recording autograd nodes for every step
costs a small network's training step more than its arithmetic does.

Two families:
- frontend neurons of the SpikGRU2+ paper: IF (no leak), LIF (fixed leak), PLIF (learnable
  leak per channel), all `v = leak * v + I - Vth * s_prev` with the arctan surrogate;
- the Bittar & Garner (2022) neurons: LIF and adaptive LIF (adLIF) with heterogeneous,
  trainable per-neuron parameters and the boxcar surrogate (RLIF and RadLIF are these neurons
  fed by recurrent weights too, see `model.recurrent.BittarLayer`).
Trainable time constants leave their valid range under gradient descent; a training loop calls
`clamp_()` on every module after each optimiser step to put them back.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from model.spikes import VTH, arctan_surrogate, boxcar_spike, spike


class LeakyState(NamedTuple):
    """Membrane potential and the previous step's spikes (for reset by subtraction)."""

    v: torch.Tensor
    s: torch.Tensor


class AdaptiveState(NamedTuple):
    """adLIF state: membrane potential u, adaptation current w, previous spikes s."""

    u: torch.Tensor
    w: torch.Tensor
    s: torch.Tensor


# ---------------------------------------------------------------- functional steps


def if_step(current: torch.Tensor, state: LeakyState) -> tuple[torch.Tensor, LeakyState]:
    """Integrate-and-fire: v = v + I - Vth s_prev; s = (v >= Vth)."""
    v = state.v + current - VTH * state.s
    s = spike(v)
    return s, LeakyState(v, s)


def leaky_step(
    current: torch.Tensor, state: LeakyState, leak: torch.Tensor | float
) -> tuple[torch.Tensor, LeakyState]:
    """LIF/PLIF of the paper, eq. (1)-(3): v = leak v + I - Vth s_prev; s = (v >= Vth)."""
    v = leak * state.v + current - VTH * state.s
    s = spike(v)
    return s, LeakyState(v, s)


def bittar_lif_step(
    current: torch.Tensor, state: LeakyState, alpha: torch.Tensor
) -> tuple[torch.Tensor, LeakyState]:
    """Bittar & Garner LIF: u = alpha u + (1 - alpha) I - Vth s_prev; boxcar surrogate."""
    v = alpha * state.v + (1.0 - alpha) * current - VTH * state.s
    s = boxcar_spike(v)
    return s, LeakyState(v, s)


def adlif_step(
    current: torch.Tensor,
    state: AdaptiveState,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
) -> tuple[torch.Tensor, AdaptiveState]:
    """Bittar & Garner eq. (7)-(9), written as in the paper (the sparch code differs slightly):

    u[t] = alpha u[t-1] + (1 - alpha) (I[t] - w[t-1]) - Vth s[t-1]
    w[t] = beta w[t-1] + (1 - beta) a u[t-1] + b s[t-1]
    """
    u = alpha * state.u + (1.0 - alpha) * (current - state.w) - VTH * state.s
    w = beta * state.w + (1.0 - beta) * a * state.u + b * state.s
    s = boxcar_spike(u)
    return s, AdaptiveState(u, w, s)


def _leaky_loop(currents: torch.Tensor, leak: torch.Tensor, keep_v: bool):
    """`leaky_step` from the zero state over time (dim 1): spikes, and the potentials if `keep_v`."""
    dtype = torch.promote_types(currents.dtype, leak.dtype)
    spikes = torch.empty(currents.shape, dtype=dtype, device=currents.device)
    vs = torch.empty_like(spikes) if keep_v else None
    v = torch.zeros_like(spikes[:, 0])
    s = torch.zeros_like(v)
    for t in range(currents.shape[1]):
        v = leak * v + currents[:, t] - VTH * s
        s = (v >= VTH).to(dtype)
        spikes[:, t] = s
        if keep_v:
            vs[:, t] = v
    return spikes, vs


class _LeakySequence(torch.autograd.Function):
    """Backward through time of `leaky_step` with the arctan surrogate. With g the gradient of
    the spikes and d_t = dL/dv_t: d_t = (g_t - Vth d_{t+1}) surrogate(v_t) + leak d_{t+1} (the
    spike feeds the next reset, the potential the next leak); dL/dI_t = d_t and
    dL/dleak = sum_t d_t v_{t-1}."""

    @staticmethod
    def forward(ctx, currents, leak):
        spikes, vs = _leaky_loop(currents, leak, keep_v=True)
        ctx.save_for_backward(vs, leak)
        return spikes

    @staticmethod
    def backward(ctx, grad):
        vs, leak = ctx.saved_tensors
        grad_in = torch.empty_like(vs)
        d = torch.zeros_like(vs[:, 0])
        grad_leak = torch.zeros_like(d) if ctx.needs_input_grad[1] else None
        for t in range(vs.shape[1] - 1, -1, -1):
            d = (grad[:, t] - VTH * d) * arctan_surrogate(vs[:, t]) + leak * d
            grad_in[:, t] = d
            if grad_leak is not None and t > 0:
                grad_leak += d * vs[:, t - 1]
        return grad_in, None if grad_leak is None else grad_leak.sum_to_size(leak.shape)


def leaky_sequence(currents: torch.Tensor, leak: torch.Tensor | float) -> torch.Tensor:
    """Spikes (B, T, ...) of `leaky_step` run over currents (B, T, ...) from the zero state."""
    if not torch.is_tensor(leak):
        leak = torch.tensor(float(leak), dtype=currents.dtype, device=currents.device)
    if torch.is_grad_enabled() and (currents.requires_grad or leak.requires_grad):
        return _LeakySequence.apply(currents, leak)
    return _leaky_loop(currents, leak, keep_v=False)[0]


# ---------------------------------------------------------------- modules


class _Neuron(nn.Module):
    """Shared sequence loop: `forward` is `step` applied to each timestep in turn."""

    def initial_state(self, shape, device=None, dtype=torch.float32):
        zeros = torch.zeros(shape, device=device, dtype=dtype)
        return LeakyState(zeros, zeros)

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        """currents: (B, T, ...) -> spikes (B, T, ...), starting from the zero state."""
        steps = currents.unbind(1)  # one backward node for all steps, unlike currents[:, t]
        state = self.initial_state(steps[0].shape, currents.device, currents.dtype)
        out = []
        for current in steps:
            s, state = self.step(current, state)
            out.append(s)
        return torch.stack(out, 1)


class IF(_Neuron):
    """Integrate-and-fire without leak: the spiking version of the pooling layers."""

    def step(self, current, state):
        return if_step(current, state)

    def forward(self, currents):
        return leaky_sequence(currents, 1.0)  # 1.0 * v is v: the arithmetic of if_step


class LIF(_Neuron):
    """Leaky integrate-and-fire with one fixed leak for all neurons (paper eq. 1)."""

    def __init__(self, leak: float = 0.9):
        super().__init__()
        self.leak = float(leak)

    def step(self, current, state):
        return leaky_step(current, state, self.leak)

    def forward(self, currents):
        return leaky_sequence(currents, self.leak)


class PLIF(_Neuron):
    """Parametric LIF: one learnable leak per channel (dim 1), init 0.9, kept in [0, 1]."""

    def __init__(self, channels: int, alpha_init: float = 0.9):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((channels,), float(alpha_init)))

    def _leak(self, ndim: int) -> torch.Tensor:
        return self.alpha.view((-1,) + (1,) * (ndim - 2))

    def step(self, current, state):
        return leaky_step(current, state, self._leak(current.dim()))

    def forward(self, currents):
        return leaky_sequence(currents, self._leak(currents.dim() - 1))

    @torch.no_grad()
    def clamp_(self):
        self.alpha.clamp_(0.0, 1.0)


# Ranges of the sparch code (Bittar & Garner): alpha = exp(-1/5)..exp(-1/25), beta =
# exp(-1/30)..exp(-1/120) for 1 ms steps; a in [-1, 1], b in [0, 2].
ALPHA_RANGE = (math.exp(-1 / 5), math.exp(-1 / 25))
BETA_RANGE = (math.exp(-1 / 30), math.exp(-1 / 120))
A_RANGE = (-1.0, 1.0)
B_RANGE = (0.0, 2.0)


def _uniform(size: int, bounds: tuple[float, float]) -> nn.Parameter:
    return nn.Parameter(torch.empty(size).uniform_(*bounds))


class BittarLIF(_Neuron):
    """Bittar & Garner LIF on a (B, N) current: heterogeneous alpha per neuron, trainable."""

    def __init__(self, size: int):
        super().__init__()
        self.alpha = _uniform(size, ALPHA_RANGE)

    def step(self, current, state):
        return bittar_lif_step(current, state, self.alpha)

    @torch.no_grad()
    def clamp_(self):
        self.alpha.clamp_(*ALPHA_RANGE)


class AdLIF(_Neuron):
    """Bittar & Garner adaptive LIF: per-neuron trainable alpha, beta, a, b."""

    def __init__(self, size: int):
        super().__init__()
        self.alpha = _uniform(size, ALPHA_RANGE)
        self.beta = _uniform(size, BETA_RANGE)
        self.a = _uniform(size, A_RANGE)
        self.b = _uniform(size, B_RANGE)

    def initial_state(self, shape, device=None, dtype=torch.float32):
        zeros = torch.zeros(shape, device=device, dtype=dtype)
        return AdaptiveState(zeros, zeros, zeros)

    def step(self, current, state):
        return adlif_step(current, state, self.alpha, self.beta, self.a, self.b)

    @torch.no_grad()
    def clamp_(self):
        self.alpha.clamp_(*ALPHA_RANGE)
        self.beta.clamp_(*BETA_RANGE)
        self.a.clamp_(*A_RANGE)
        self.b.clamp_(*B_RANGE)


class ReLU(_Neuron):
    """The ANN counterpart of a spiking neuron: stateless, same interface (state is ())."""

    def initial_state(self, shape, device=None, dtype=torch.float32):
        return ()

    def step(self, current, state):
        return torch.relu(current), state

    def forward(self, currents):
        return torch.relu(currents)


class Identity(ReLU):
    """Non-spiking pass-through: the ANN version of the IF neuron after a pooling layer."""

    def step(self, current, state):
        return current, state

    def forward(self, currents):
        return currents
