"""Recurrent backend layers: SpikGRU, SpikGRU2, SpikGRU2+ (paper eq. 5-14), a plain GRU, and
layers of Bittar & Garner neurons (LIF, adLIF, RLIF, RadLIF).

Every layer splits its update into `project` (the feed-forward weights applied to the layer
below, the same at every step) and `recur` (everything that depends on the state). `step` is
`recur(project(x_t))`; `forward` projects all timesteps in one matmul and loops `recur`: the
same operations in a faster order (a batched matmul may round the last bit differently). As in
the authors' code, the layer below is read at the same step t and the layer's own spikes at t-1.
The SpikGRU family's `recur` is `update(wx, U s_prev, state)`: everything after the two matmuls
is in `update`, which the gather-sparse step (`model.sparse.GatherGRU`) calls too.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from model.neurons import AdLIF, BittarLIF, LeakyState
from model.spikes import VTH, signed_spike, spike


class SpikGRUState(NamedTuple):
    """Input current i, membrane potential v and the spikes s of the previous step."""

    i: torch.Tensor
    v: torch.Tensor
    s: torch.Tensor


class GRUState(NamedTuple):
    """Hidden state of the non-spiking GRU."""

    h: torch.Tensor


class _Recurrent(nn.Module):
    """Sequence loop shared by all layers: project once, then recur step by step."""

    hidden_size: int
    spiking = True

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.w(x)

    def step(self, x_t: torch.Tensor, state):
        """One timestep: x_t (B, F) -> (out_t (B, H), new state)."""
        return self.recur(self.project(x_t), state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, F) -> outputs (B, T, H) from the zero state."""
        state = self.initial_state(x.shape[0], x.device, x.dtype)
        out = []
        for wx in self.project(x).unbind(1):
            o, state = self.recur(wx, state)
            out.append(o)
        return torch.stack(out, 1)


class SpikGRU(_Recurrent):
    """Spiking GRU with one gate (paper eq. 5-8); `signed=True` gives SpikGRU+."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, alpha_init: float = 0.9, signed=False):
        super().__init__()
        self.hidden_size = hidden_size
        self.signed = signed
        n = (self.gates + 1) * hidden_size
        self.w = nn.Linear(input_size, n)  # [W_r;] W_z; W_i and their biases
        self.u = nn.Linear(hidden_size, n, bias=False)  # [U_r;] U_z; U_i
        self.alpha = nn.Parameter(torch.full((hidden_size,), float(alpha_init)))
        # Reference-code init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias.
        k = hidden_size**-0.5
        for p in (self.w.weight, self.w.bias, self.u.weight):
            nn.init.uniform_(p, -k, k)

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> SpikGRUState:
        zeros = torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)
        return SpikGRUState(zeros, zeros, zeros)

    def _fire(self, v: torch.Tensor) -> torch.Tensor:
        return signed_spike(v) if self.signed else spike(v)

    def recur(self, wx: torch.Tensor, state: SpikGRUState):
        return self.update(wx, self.u(state.s), state)

    def update(self, wx: torch.Tensor, us: torch.Tensor, state: SpikGRUState):
        """The step after its two matmuls: W x + b (wx) and U s (us) -> (spikes, new state).

        Gates, input current, membrane and firing (paper eq. 5-8); `model.sparse.GatherGRU`
        calls it with its own gathered products, so both steps share this arithmetic.
        """
        wz, wi = wx.chunk(2, dim=-1)
        uz, ui = us.chunk(2, dim=-1)
        z = torch.sigmoid(wz + uz)
        i = self.alpha * state.i + wi + ui
        return self._membrane(z, i, state)

    def _membrane(self, z: torch.Tensor, i: torch.Tensor, state: SpikGRUState):
        v = z * state.v + (1.0 - z) * i - VTH * state.s
        s = self._fire(v)
        return s, SpikGRUState(i, v, s)

    @torch.no_grad()
    def clamp_(self):
        self.alpha.clamp_(0.0, 1.0)


class SpikGRU2(SpikGRU):
    """Spiking GRU with reset and update gates (paper eq. 10-14); `signed=True` is SpikGRU2+.

    r = sig(W_r x + U_r s + b_r); z = sig(W_z x + U_z s + b_z)
    i = alpha i + W_i x + b_i + (U_i s + b_ri) r;  v = z v + (1 - z) i - Vth s;  s = spike(v)
    """

    gates = 2

    def __init__(self, input_size: int, hidden_size: int, alpha_init: float = 0.9, signed=False):
        super().__init__(input_size, hidden_size, alpha_init, signed)
        k = hidden_size**-0.5
        self.b_ri = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))

    def update(self, wx: torch.Tensor, us: torch.Tensor, state: SpikGRUState):
        """As `SpikGRU.update`, with the reset gate (paper eq. 10-14)."""
        wr, wz, wi = wx.chunk(3, dim=-1)
        ur, uz, ui = us.chunk(3, dim=-1)
        r = torch.sigmoid(wr + ur)
        z = torch.sigmoid(wz + uz)
        i = self.alpha * state.i + wi + (ui + self.b_ri) * r
        return self._membrane(z, i, state)


class GRU(_Recurrent):
    """Non-spiking GRU (the ANN baseline), same weight layout as SpikGRU2.

    r, z as above on h; n = tanh(W_n x + b_n + (U_n h + b_rn) r); h = z h + (1 - z) n
    """

    spiking = False

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.w = nn.Linear(input_size, 3 * hidden_size)
        self.u = nn.Linear(hidden_size, 3 * hidden_size, bias=False)
        k = hidden_size**-0.5
        self.b_rn = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))
        for p in (self.w.weight, self.w.bias, self.u.weight):
            nn.init.uniform_(p, -k, k)

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> GRUState:
        return GRUState(torch.zeros(batch, self.hidden_size, device=device, dtype=dtype))

    def recur(self, wx: torch.Tensor, state: GRUState):
        wr, wz, wn = wx.chunk(3, dim=-1)
        ur, uz, un = self.u(state.h).chunk(3, dim=-1)
        r = torch.sigmoid(wr + ur)
        z = torch.sigmoid(wz + uz)
        n = torch.tanh(wn + (un + self.b_rn) * r)
        h = z * state.h + (1.0 - z) * n
        return h, GRUState(h)


class BittarLayer(_Recurrent):
    """A layer of Bittar & Garner neurons: I = BN(W x) [+ V s_prev], then LIF or adLIF.

    kind: 'lif', 'adlif' (feed-forward only) or 'rlif', 'radlif' (with recurrent weights V,
    whose diagonal is held at 0 so a neuron does not excite itself). BatchNorm with momentum
    0.05 on W x and no bias, as in the sparch code. In eval mode BN is a fixed affine map,
    so `step` and `forward` agree; `step` is meant for inference.
    """

    def __init__(self, input_size: int, hidden_size: int, kind: str):
        super().__init__()
        self.hidden_size = hidden_size
        self.w = nn.Linear(input_size, hidden_size, bias=False)
        self.norm = nn.BatchNorm1d(hidden_size, momentum=0.05)
        self.neuron = AdLIF(hidden_size) if kind in ("adlif", "radlif") else BittarLIF(hidden_size)
        self.recurrent = kind in ("rlif", "radlif")
        if self.recurrent:
            self.u = nn.Linear(hidden_size, hidden_size, bias=False)
            nn.init.orthogonal_(self.u.weight)
            self.clamp_()

    def project(self, x):
        wx = self.w(x)
        return self.norm(wx.reshape(-1, self.hidden_size)).view(wx.shape)

    def initial_state(self, batch: int, device=None, dtype=torch.float32):
        return self.neuron.initial_state((batch, self.hidden_size), device, dtype)

    def recur(self, wx, state: LeakyState):
        current = wx + self.u(state.s) if self.recurrent else wx
        return self.neuron.step(current, state)

    @torch.no_grad()
    def clamp_(self):
        if self.recurrent:
            self.u.weight.fill_diagonal_(0.0)


class Bidirectional(nn.Module):
    """Offline only: one layer reads the clip forwards, another backwards; outputs concatenated.

    It needs the whole clip before its first output, so it has no `step`.
    """

    def __init__(self, forward_layer: _Recurrent, backward_layer: _Recurrent):
        super().__init__()
        self.fwd = forward_layer
        self.bwd = backward_layer
        self.hidden_size = 2 * forward_layer.hidden_size
        self.spiking = forward_layer.spiking

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.fwd(x), self.bwd(x.flip(1)).flip(1)), dim=2)


BACKENDS = ("spikgru", "spikgru+", "spikgru2", "spikgru2+", "lif", "adlif", "rlif", "radlif", "gru")


def make_layer(backend: str, input_size: int, hidden_size: int, alpha_init: float = 0.9):
    """One unidirectional layer of the named backend."""
    if backend.startswith("spikgru"):
        cls = SpikGRU2 if backend.startswith("spikgru2") else SpikGRU
        return cls(input_size, hidden_size, alpha_init, signed=backend.endswith("+"))
    if backend == "gru":
        return GRU(input_size, hidden_size)
    if backend in ("lif", "adlif", "rlif", "radlif"):
        return BittarLayer(input_size, hidden_size, backend)
    raise ValueError(f"unknown backend {backend!r}")
