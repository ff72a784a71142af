"""Spiking ResNet-18 frontend of the SpikGRU2+ paper, runnable on a whole clip or bin by bin.

Layout (88 px input): Conv3d 2->w0, kernel (kt, 7, 7), stride (1, 2, 2), no bias, BN, PLIF at
44 px; AvgPool 3x3/2 + IF at 22 px; ResNet-18 basic blocks w0/w1/w2/w3 at 22/11/6/3 px (each
conv: BN + PLIF; 1x1 conv + BN shortcut where the shape changes); global average pool + IF.
With `neuron="relu"` every spiking neuron becomes ReLU (or nothing after a pool): the ANN.

Temporal modes of the 3D stem: `centred` pads kt//2 bins on both sides (the paper; it looks
2 bins ahead, so offline only); `causal` sees the current bin and the kt-1 before it. A causal
`step` keeps those kt-1 input bins in its state as a tensor shifted with `torch.cat`.

`forward` runs layer by layer over all timesteps (each conv once on B*T frames, then the
neuron loop); `step` runs one timestep through all layers. Both do the same operations, but a
convolution kernel may pick another algorithm for another batch size and round differently
in the last bit, which can flip a spike sitting exactly at threshold.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from model.neurons import IF, LIF, PLIF, Identity, ReLU

NEURONS = ("plif", "lif", "if", "relu")
MODES = ("causal", "centred")


class StemState(NamedTuple):
    """The last kt-1 input bins (B, 2, kt-1, H, W), oldest first, and the stem neurons' state."""

    frames: torch.Tensor
    neuron: tuple


class BlockState(NamedTuple):
    """State of the two neuron layers of a basic block."""

    mid: tuple
    out: tuple


def _per_frame(fn, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-image op to (B, T, C, H, W) by folding time into the batch."""
    y = fn(x.flatten(0, 1))
    return y.unflatten(0, x.shape[:2])


def _record(rec: dict | None, name: str, s: torch.Tensor, sequence: bool) -> None:
    if rec is not None:
        rec[name] = s.flatten(2 if sequence else 1)


class _Stage(nn.Module):
    """Common helpers: neuron factory and conv init (reference code: spiking U(+-sqrt(6/fan_in)),
    ANN Kaiming normal on fan-out)."""

    def _neuron(self, kind: str, channels: int, alpha_init: float) -> nn.Module:
        if kind == "plif":
            return PLIF(channels, alpha_init)
        if kind == "lif":
            return LIF(alpha_init)
        if kind == "if":
            return IF()
        return ReLU()

    @staticmethod
    def _init(conv: nn.Module, spiking: bool) -> None:
        w = conv.weight
        fan_in = w[0].numel()
        if spiking:
            k = math.sqrt(6.0 / fan_in)
            nn.init.uniform_(w, -k, k)
        else:
            nn.init.normal_(w, std=math.sqrt(2.0 / (w.shape[0] * w[0, 0].numel())))


class Stem(_Stage):
    """Conv3d over (time, y, x) + BatchNorm3d + neuron."""

    def __init__(self, name, in_ch, out_ch, kt, mode, neuron, alpha_init):
        super().__init__()
        self.name, self.kt, self.mode, self.out_channels = name, kt, mode, out_ch
        pad_t = kt // 2 if mode == "centred" else 0
        self.conv = nn.Conv3d(in_ch, out_ch, (kt, 7, 7), (1, 2, 2), (pad_t, 3, 3), bias=False)
        self.bn = nn.BatchNorm3d(out_ch)
        self.act = self._neuron(neuron, out_ch, alpha_init)
        self._init(self.conv, neuron != "relu")

    def out_size(self, size: int) -> int:
        return (size + 2 * 3 - 7) // 2 + 1

    def initial_state(self, batch, in_ch, size, device, dtype) -> StemState:
        frames = torch.zeros(batch, in_ch, self.kt - 1, size, size, device=device, dtype=dtype)
        shape = (batch, self.out_channels, self.out_size(size), self.out_size(size))
        return StemState(frames, self.act.initial_state(shape, device, dtype))

    def forward(self, x, rec=None):
        x = x.transpose(1, 2)  # (B, C, T, H, W) for Conv3d
        if self.mode == "causal":
            x = F.pad(x, (0, 0, 0, 0, self.kt - 1, 0))
        s = self.act(self.bn(self.conv(x)).transpose(1, 2))
        _record(rec, self.name, s, True)
        return s

    def step(self, x_t, state: StemState, rec=None):
        window = torch.cat((state.frames, x_t.unsqueeze(2)), 2)
        s, neuron = self.act.step(self.bn(self.conv(window))[:, :, 0], state.neuron)
        _record(rec, self.name, s, False)
        return s, StemState(window[:, :, 1:], neuron)


class Pool(_Stage):
    """Average pool (3x3 stride 2 pad 1, or global) followed by an IF neuron (spiking) or nothing."""

    def __init__(self, name, channels, spiking, global_pool=False):
        super().__init__()
        self.name, self.out_channels, self.global_pool = name, channels, global_pool
        self.act = IF() if spiking else Identity()

    def pool(self, x):
        if self.global_pool:
            return F.adaptive_avg_pool2d(x, 1)
        return F.avg_pool2d(x, 3, 2, 1)

    def out_size(self, size: int) -> int:
        return 1 if self.global_pool else (size + 2 - 3) // 2 + 1

    def initial_state(self, batch, size, device, dtype):
        shape = (batch, self.out_channels, self.out_size(size), self.out_size(size))
        return self.act.initial_state(shape, device, dtype)

    def forward(self, x, rec=None):
        s = self.act(_per_frame(self.pool, x))
        _record(rec, self.name, s, True)
        return s

    def step(self, x_t, state, rec=None):
        s, state = self.act.step(self.pool(x_t), state)
        _record(rec, self.name, s, False)
        return s, state


class BasicBlock(_Stage):
    """ResNet basic block: neuron(BN(conv3x3(neuron(BN(conv3x3 x)))) + shortcut(x))."""

    def __init__(self, name, in_ch, out_ch, stride, neuron, alpha_init):
        super().__init__()
        self.name, self.out_channels, self.stride = name, out_ch, stride
        spiking = neuron != "relu"
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.act1 = self._neuron(neuron, out_ch, alpha_init)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.act2 = self._neuron(neuron, out_ch, alpha_init)
        self.down = None
        if stride != 1 or in_ch != out_ch:
            self.down = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )
            self._init(self.down[0], spiking)
        self._init(self.conv1, spiking)
        self._init(self.conv2, spiking)

    def out_size(self, size: int) -> int:
        return (size + 2 - 3) // self.stride + 1

    def _branch1(self, x):
        return self.bn1(self.conv1(x))

    def _branch2(self, mid, x):
        shortcut = x if self.down is None else self.down(x)
        return self.bn2(self.conv2(mid)) + shortcut

    def initial_state(self, batch, size, device, dtype) -> BlockState:
        shape = (batch, self.out_channels, self.out_size(size), self.out_size(size))
        return BlockState(
            self.act1.initial_state(shape, device, dtype),
            self.act2.initial_state(shape, device, dtype),
        )

    def forward(self, x, rec=None):
        mid = self.act1(_per_frame(self._branch1, x))
        _record(rec, self.name + ".mid", mid, True)
        b, t = x.shape[:2]
        out = self.act2(self._branch2(mid.flatten(0, 1), x.flatten(0, 1)).unflatten(0, (b, t)))
        _record(rec, self.name + ".out", out, True)
        return out

    def step(self, x_t, state: BlockState, rec=None):
        mid, mid_state = self.act1.step(self._branch1(x_t), state.mid)
        _record(rec, self.name + ".mid", mid, False)
        out, out_state = self.act2.step(self._branch2(mid, x_t), state.out)
        _record(rec, self.name + ".out", out, False)
        return out, BlockState(mid_state, out_state)


class Frontend(nn.Module):
    """Stem, pool, 4 ResNet stages of 2 basic blocks, global pool: (B, T, 2, S, S) -> (B, T, w3).

    Record names: frontend.stem, frontend.pool, frontend.res{1-4}.{0,1}.{mid,out}, frontend.head.
    """

    def __init__(
        self,
        widths=(64, 128, 256, 512),
        mode: str = "causal",
        neuron: str = "plif",
        temporal_kernel: int = 5,
        in_channels: int = 2,
        input_size: int = 88,
        alpha_init: float = 0.9,
        input_pool: int = 1,
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"frontend mode must be one of {MODES}, not {mode!r}")
        if neuron not in NEURONS:
            raise ValueError(f"frontend neuron must be one of {NEURONS}, not {neuron!r}")
        self.mode, self.in_channels, self.input_size, self.input_pool = mode, in_channels, input_size, input_pool
        self.out_features = widths[-1]
        spiking = neuron != "relu"
        stages = [
            Stem("frontend.stem", in_channels, widths[0], temporal_kernel, mode, neuron, alpha_init),
            Pool("frontend.pool", widths[0], spiking),
        ]
        in_ch = widths[0]
        for i, width in enumerate(widths):
            for j in range(2):
                stride = 2 if (i > 0 and j == 0) else 1
                name = f"frontend.res{i + 1}.{j}"
                stages.append(BasicBlock(name, in_ch, width, stride, neuron, alpha_init))
                in_ch = width
        stages.append(Pool("frontend.head", in_ch, spiking, global_pool=True))
        self.stages = nn.ModuleList(stages)

    def pool_input(self, x: torch.Tensor) -> torch.Tensor:
        """(..., S, S) input -> (..., S/k, S/k) sums of k x k blocks: the counts a sensor with
        k-times-larger pixels would give (k = input_pool; the input itself for k = 1)."""
        k = self.input_pool
        if k == 1:
            return x
        return x.unflatten(-1, (-1, k)).unflatten(-3, (-1, k)).sum((-3, -1))

    def sizes(self) -> list[int]:
        """Spatial size at the input of each stage."""
        out, size = [], self.input_size // self.input_pool
        for stage in self.stages:
            out.append(size)
            size = stage.out_size(size)
        return out

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> tuple:
        if self.mode != "causal":
            raise ValueError("only the causal frontend can run step by step")
        sizes = self.sizes()
        states = [self.stages[0].initial_state(batch, self.in_channels, sizes[0], device, dtype)]
        for stage, size in zip(self.stages[1:], sizes[1:]):
            states.append(stage.initial_state(batch, size, device, dtype))
        return tuple(states)

    def forward(self, x: torch.Tensor, rec: dict | None = None) -> torch.Tensor:
        """x (B, T, 2, S, S) -> features (B, T, w3)."""
        x = self.pool_input(x)
        for stage in self.stages:
            x = stage(x, rec)
        return x.flatten(2)

    def step(self, x_t: torch.Tensor, state: tuple, rec: dict | None = None):
        """x_t (B, 2, S, S) -> (features (B, w3), new state)."""
        x_t = self.pool_input(x_t)
        new = []
        for stage, st in zip(self.stages, state):
            x_t, st = stage.step(x_t, st, rec)
            new.append(st)
        return x_t.flatten(1), tuple(new)
