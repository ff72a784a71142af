"""Spike functions: a hard threshold forward and a smooth surrogate derivative backward.

The forward pass is exact (spikes are 0/1 or -1/0/+1); only the backward pass is approximated,
which is what lets an SNN train with backpropagation through time. When no gradient is needed
(streaming inference) the functions skip autograd entirely, because `Function.apply` costs
microseconds per call that a batch-1 step cannot spare.
"""
from __future__ import annotations

import torch

VTH = 1.0  # threshold of every neuron in the paper and the reference code
GAMMA = 10.0  # sharpness of the paper's arctan-derivative surrogate


def arctan_surrogate(mem: torch.Tensor, vth: float = VTH, gamma: float = GAMMA) -> torch.Tensor:
    """d spike / d mem of the paper: 1 / (1 + gamma (mem - vth)^2), a bump of height 1 at vth."""
    return 1.0 / (1.0 + gamma * (mem - vth) ** 2)


def signed_surrogate(mem: torch.Tensor, vth: float = VTH, gamma: float = GAMMA) -> torch.Tensor:
    """Paper eq. (9): the bumps at +vth and -vth, summed and scaled so the maximum is 1."""
    scale = 1.0 + 1.0 / (1.0 + 4.0 * vth * vth * gamma)
    return (arctan_surrogate(mem, vth, gamma) + arctan_surrogate(mem, -vth, gamma)) / scale


def boxcar_surrogate(mem: torch.Tensor, vth: float = VTH) -> torch.Tensor:
    """Bittar & Garner eq. (13): 0.5 inside |mem - vth| < 0.5, else 0."""
    return ((mem - vth).abs() < 0.5).to(mem.dtype) * 0.5


class _Spike(torch.autograd.Function):
    """Binary spike s = (mem >= vth) with the arctan-derivative surrogate."""

    @staticmethod
    def forward(ctx, mem, vth, gamma):
        ctx.save_for_backward(mem)
        ctx.vth, ctx.gamma = vth, gamma
        return (mem >= vth).to(mem.dtype)

    @staticmethod
    def backward(ctx, grad):
        (mem,) = ctx.saved_tensors
        return grad * arctan_surrogate(mem, ctx.vth, ctx.gamma), None, None


class _SignedSpike(torch.autograd.Function):
    """Ternary spike -1/0/+1 at mem <= -vth / between / >= vth with the paper's eq. (9) surrogate."""

    @staticmethod
    def forward(ctx, mem, vth, gamma):
        ctx.save_for_backward(mem)
        ctx.vth, ctx.gamma = vth, gamma
        return (mem >= vth).to(mem.dtype) - (mem <= -vth).to(mem.dtype)

    @staticmethod
    def backward(ctx, grad):
        (mem,) = ctx.saved_tensors
        return grad * signed_surrogate(mem, ctx.vth, ctx.gamma), None, None


class _BoxcarSpike(torch.autograd.Function):
    """Binary spike s = (mem >= vth) with the boxcar surrogate of Bittar & Garner."""

    @staticmethod
    def forward(ctx, mem, vth):
        ctx.save_for_backward(mem)
        ctx.vth = vth
        return (mem >= vth).to(mem.dtype)

    @staticmethod
    def backward(ctx, grad):
        (mem,) = ctx.saved_tensors
        return grad * boxcar_surrogate(mem, ctx.vth), None


def spike(mem: torch.Tensor, vth: float = VTH, gamma: float = GAMMA) -> torch.Tensor:
    """Binary spikes (paper eq. 3), differentiable through the arctan surrogate."""
    if mem.requires_grad:
        return _Spike.apply(mem, vth, gamma)
    return (mem >= vth).to(mem.dtype)


def signed_spike(mem: torch.Tensor, vth: float = VTH, gamma: float = GAMMA) -> torch.Tensor:
    """Signed spikes (paper eq. 4), differentiable through the eq. (9) surrogate."""
    if mem.requires_grad:
        return _SignedSpike.apply(mem, vth, gamma)
    return (mem >= vth).to(mem.dtype) - (mem <= -vth).to(mem.dtype)


def boxcar_spike(mem: torch.Tensor, vth: float = VTH) -> torch.Tensor:
    """Binary spikes differentiable through the boxcar surrogate (Bittar & Garner neurons)."""
    if mem.requires_grad:
        return _BoxcarSpike.apply(mem, vth)
    return (mem >= vth).to(mem.dtype)
