"""The step graph of the sparse runtime: dense convolutions, gather-sparse spiking GRU layers.

`SparseStep(net).step` computes `net.step` (same state, same outputs up to float rounding) the
way `model.onnx_export.export_onnx(net, path, sparse=True)` exports it for
`model.runtime.HybridRunner`: the causal stem's Conv3d as summed 2-D convolutions
(`_BinwiseConv3d`) and each SpikGRU-family layer as a `GatherGRU`, which reads only the weight
rows of its non-zero inputs. The gate and membrane arithmetic is the layer's own
(`SpikGRU.update`); only the two matmuls differ.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from model.network import NetworkState, step_through
from model.recurrent import SpikGRU, SpikGRUState
from stream.errors import SpikeLipError


def _dense_matvec(v: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
    return v @ wt


def _gather_matvec(v: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
    idx = v.nonzero().squeeze(1)
    return v.index_select(0, idx) @ wt.index_select(0, idx)


class GatherGRU(nn.Module):
    """A SpikGRU/SpikGRU2(+) layer's step that reads only the weight rows of non-zero inputs.

    W x and U s are sums over the active inputs of W's (U's) columns, stored transposed so each
    active input is one contiguous row: with 10 % of the inputs active it reads 10 % of the
    weights that a dense matmul streams from memory every step. Inputs denser than
    `max_density` fall back to the dense matmul (an ONNX If when exported). The rest of the
    step is `layer.update`, so the result is `layer.step`'s up to the matmuls' summation order.
    """

    def __init__(self, layer, max_density: float = 0.3):
        if not isinstance(layer, SpikGRU):
            raise SpikeLipError(f"gather backend supports the SpikGRU family, not {type(layer).__name__}")
        super().__init__()
        self.layer = layer
        self.max_density = max_density
        with torch.no_grad():
            self.register_buffer("wt", layer.w.weight.detach().t().contiguous())  # (F, n)
            self.register_buffer("b", layer.w.bias.detach().clone())
            self.register_buffer("ut", layer.u.weight.detach().t().contiguous())  # (H, n)

    def _sparse_matmul(self, x: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        """x (B, F) @ wt (F, n) -> (B, n), row by row (B is 1, or 2 for a mirror model)."""
        return torch.stack([self._sparse_matvec(v, wt) for v in x])

    def _sparse_matvec(self, v: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        """v (F,) @ wt (F, n) -> (n,), via the rows of v's non-zero entries."""
        limit = self.max_density * v.numel()
        if torch.compiler.is_exporting():  # a data-dependent branch must be traced as one
            return torch.cond(torch.count_nonzero(v) > limit, _dense_matvec, _gather_matvec, (v, wt))
        idx = v.nonzero().squeeze(1)
        if idx.numel() > limit:
            return v @ wt
        if idx.numel() == 0:
            return wt.new_zeros(wt.shape[1])
        return v.index_select(0, idx) @ wt.index_select(0, idx)

    def step(self, x_t: torch.Tensor, state: SpikGRUState):
        """One timestep: x_t (B, F) -> (spikes (B, H), new state), as `layer.step`."""
        wx = self.b + self._sparse_matmul(x_t, self.wt)
        us = self._sparse_matmul(state.s, self.ut)
        return self.layer.update(wx, us, state)


class _BinwiseConv3d(nn.Module):
    """The causal stem's Conv3d over its kt-bin window as kt summed 2-channel 2-D convolutions.

    Same maths, summed in another order: onnxruntime runs 2-D convolutions with its direct
    NCHWc kernel, a Conv3d through im2col.
    """

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        self.weight = conv.weight
        self.stride, self.padding = conv.stride[1:], conv.padding[1:]

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        out = sum(
            F.conv2d(window[:, :, k], self.weight[:, :, k], None, self.stride, self.padding)
            for k in range(self.weight.shape[2])
        )
        return out.unsqueeze(2)


class SparseStep(nn.Module):
    """`net.step` as `HybridRunner`'s graph computes it: binwise stem, gather-sparse GRU layers.

    Built for export only (eval mode, no dropout); the frontend is a copy, net is unchanged.
    """

    def __init__(self, net):
        super().__init__()
        if not net.streamable:
            raise SpikeLipError(f"model {net.name!r} is not streamable")
        self.layers = nn.ModuleList(GatherGRU(layer, 0.3) for layer in net.backend)
        self.frontend = copy.deepcopy(net.frontend).eval()
        stem = self.frontend.stages[0]
        stem.conv = _BinwiseConv3d(stem.conv)
        self.readout = net.readout
        self.reading = net.reading

    def step(self, x_t: torch.Tensor, state: NetworkState, record: bool = False):
        """As `Network.step`, record included (the same layer names)."""
        return step_through(self.frontend, self.layers, self.readout, self.reading, x_t, state, record)
