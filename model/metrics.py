"""Activity and cost of a network: spike rates, synaptic operations, OPs per synapse, energy.

Definitions follow the SpikGRU2+ paper (section 4.2 and eq. 15):
- a synapse is one weight use of the dense network in one timestep, so the synapses of a layer
  equal its MACs per step when run as an ANN (paper-causal: ~347M frontend, ~17M backend);
  pooling layers have fixed weights and are not counted, as in the paper's totals;
- a synaptic operation happens when a spike reaches a synapse: each spike (+1 or -1) of a unit
  costs one accumulate (AC) per synapse it drives (its fan-out);
- OPs/syn = synaptic operations per step / synapses; a dense ANN has exactly 1.
The first convolution reads event counts, not spikes: an SNN processes only the non-zero
counts, but each one needs a multiply (MAC). The ANN runs every synapse densely (MAC).
Neuron updates add MACs that are not synaptic: leaks, and in SpikGRU the gates multiplying the
current and potential. Energy uses 45 nm figures (4.6 pJ/MAC, 0.9 pJ/AC) and ignores memory
traffic: an estimate, not a measurement.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch.nn import functional as F

from model.frontend import BasicBlock, Stem
from model.neurons import LIF, PLIF, AdLIF, BittarLIF
from model.recurrent import GRU, Bidirectional, BittarLayer, SpikGRU, SpikGRU2

PJ_PER_MAC = 4.6  # 32-bit float multiply-accumulate, 45 nm (Horowitz 2014)
PJ_PER_AC = 0.9  # 32-bit float add, 45 nm


class SynapseGroup(NamedTuple):
    """One weight layer seen from its input.

    source: record name of the input units ("input" = the event frames); synapses: weight
    uses per step when run densely; fanout: (units,) synapses each input unit drives per step;
    kind: "ac" (spike input), "event_mac" (non-zero counts, multiplied), "dense_mac" (ANN).
    """

    name: str
    source: str
    synapses: int
    fanout: torch.Tensor
    kind: str


class OpsReport(NamedTuple):
    """Operations per timestep, averaged over the steps and batch measured."""

    synapses: int
    synaptic_ops: float
    ops_per_synapse: float
    ac: float
    mac: float
    neuron_mac: float
    per_group: dict
    energy_uj: float

    def as_dict(self) -> dict:
        d = self._asdict()
        d["energy_note"] = (
            f"estimate: 45 nm, {PJ_PER_MAC} pJ/MAC, {PJ_PER_AC} pJ/AC, memory access not included"
        )
        return d


def spike_rates(spikes: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean |spike| per unit per step of each recorded layer (signed spikes count once)."""
    return {name: float(s.detach().abs().float().mean()) for name, s in spikes.items()}


def _uses(size: int, kernel: int, stride: int, padding: int) -> torch.Tensor:
    """(size, size): how many output positions of a conv read each input pixel."""
    out = (size + 2 * padding - kernel) // stride + 1
    extra = (size + 2 * padding - kernel) % stride
    ones = torch.ones(1, 1, out, out)
    return F.conv_transpose2d(ones, torch.ones(1, 1, kernel, kernel), None, stride, padding, extra)[0, 0]


def _conv_group(name, source, conv, size, kind, temporal=1) -> SynapseGroup:
    c_out, c_in, k = conv.out_channels, conv.in_channels, conv.kernel_size[-1]
    stride, padding = conv.stride[-1], conv.padding[-1]
    uses = _uses(size, k, stride, padding)
    out = (size + 2 * padding - k) // stride + 1
    fanout = (c_out * temporal * uses).expand(c_in, size, size).reshape(-1)
    return SynapseGroup(name, source, c_out * out * out * c_in * temporal * k * k, fanout, kind)


def synapse_groups(net) -> list[SynapseGroup]:
    """Every weight layer of `net` (a model.Network) with its input, synapses and fan-outs.

    How a layer's synapses are driven depends on its input: spikes -> AC per spike and fan-out;
    ANN activations -> every synapse as a MAC; the event input -> a MAC per non-zero count in
    an SNN, every synapse in an ANN.
    """
    spiking_front = net.config["frontend_neuron"] != "relu"
    kind = "ac" if spiking_front else "dense_mac"
    groups, source = [], "input"
    for stage, size in zip(net.frontend.stages, net.frontend.sizes()):
        if isinstance(stage, Stem):
            stem_kind = "event_mac" if spiking_front else "dense_mac"
            kt = stage.conv.kernel_size[0]
            groups.append(_conv_group(stage.name + ".conv", "input", stage.conv, size, stem_kind, kt))
        elif isinstance(stage, BasicBlock):
            mid = stage.name + ".mid"
            groups.append(_conv_group(stage.name + ".conv1", source, stage.conv1, size, kind))
            groups.append(_conv_group(stage.name + ".conv2", mid, stage.conv2, stage.out_size(size), kind))
            if stage.down is not None:
                groups.append(_conv_group(stage.name + ".down", source, stage.down[0], size, kind))
        source = stage.name + (".out" if isinstance(stage, BasicBlock) else "")
    for i, layer in enumerate(net.backend):
        name = f"backend.{i}"
        cells = [layer.fwd, layer.bwd] if isinstance(layer, Bidirectional) else [layer]
        ff = torch.full((cells[0].w.in_features,), sum(c.w.out_features for c in cells))
        groups.append(SynapseGroup(name + ".ff", source, sum(c.w.weight.numel() for c in cells), ff, kind))
        kind = "ac" if layer.spiking else "dense_mac"  # this layer's output drives what follows
        if hasattr(cells[0], "u"):
            # Bittar recurrent weights keep a zero diagonal: no synapse from a unit to itself
            fan = cells[0].u.out_features - int(isinstance(cells[0], BittarLayer))
            rec = torch.full((layer.hidden_size,), fan)
            groups.append(SynapseGroup(name + ".rec", name, fan * layer.hidden_size, rec, kind))
        source = name
    lin = net.readout
    fan = torch.full((lin.in_features,), lin.out_features)
    groups.append(SynapseGroup("readout", source, lin.weight.numel(), fan, kind))
    return groups


# Multiplies per unit and step outside the synapses: leaks (alpha v), adLIF coupling terms,
# SpikGRU gating (alpha i, z v, (1 - z) i, and r times the recurrent current in SpikGRU2).
_MACS_PER_UNIT = {PLIF: 1, LIF: 1, BittarLIF: 2, AdLIF: 5, SpikGRU: 3, SpikGRU2: 4, GRU: 3}


def neuron_macs(net) -> int:
    """Non-synaptic MACs per step: leaks and gating products of every neuron (batch 1)."""
    total = 0
    for stage, size in zip(net.frontend.stages, net.frontend.sizes()):
        units = stage.out_channels * stage.out_size(size) ** 2
        acts = [stage.act1, stage.act2] if isinstance(stage, BasicBlock) else [stage.act]
        total += sum(_MACS_PER_UNIT.get(type(a), 0) for a in acts) * units
    for layer in net.backend:
        cells = [layer.fwd, layer.bwd] if isinstance(layer, Bidirectional) else [layer]
        for c in cells:
            kind = type(c.neuron) if isinstance(c, BittarLayer) else type(c)
            total += _MACS_PER_UNIT[kind] * c.hidden_size
    return total


def tally(groups: list[SynapseGroup], activity: dict, steps: int, neuron_mac: float = 0.0) -> OpsReport:
    """Operations per step from each group's input activity (layer -> (..., units)) over `steps`."""
    ac = mac = 0.0
    per_group = {}
    for g in groups:
        a = activity[g.source].detach()
        if g.kind == "dense_mac":
            ops = float(g.synapses)
        else:
            active = a.abs() if g.kind == "ac" else (a != 0).to(a.dtype)
            ops = float((active.reshape(-1, a.shape[-1]) @ g.fanout.to(a.dtype)).sum()) / steps
        if g.kind == "ac":
            ac += ops
        else:
            mac += ops
        per_group[g.name] = ops
    synapses = sum(g.synapses for g in groups)
    synaptic = ac + mac
    total_mac = mac + neuron_mac
    energy = (total_mac * PJ_PER_MAC + ac * PJ_PER_AC) * 1e-6
    return OpsReport(synapses, synaptic, synaptic / synapses, ac, total_mac, neuron_mac, per_group, energy)


def count_operations(net, x: torch.Tensor, spikes: dict[str, torch.Tensor]) -> OpsReport:
    """Operations per step of `net` on input x (B, T, 2, S, S) given its recorded spikes.

    spikes: the dict from `net(x, record=True)`, layer -> (B, T, units).
    """
    activity = {"input": net.frontend.pool_input(x).flatten(2), **spikes}
    steps = x.shape[0] * x.shape[1]
    return tally(synapse_groups(net), activity, steps, float(neuron_macs(net)))


def spike_loss(spikes: dict[str, torch.Tensor], groups: list[SynapseGroup], lam: float) -> torch.Tensor:
    """Paper eq. (15): lam * sum_l mean_t,i(s_in^2) / 2 * Syn_l / sum_l Syn_l.

    Over the synapse groups whose input is spikes (the event input has no gradient to shrink);
    spikes: layer -> (B, T, units) as recorded by `net(x, record=True)` in training mode.
    """
    used = [g for g in groups if g.kind == "ac"]
    total = sum(g.synapses for g in used)
    loss = sum(spikes[g.source].pow(2).mean() / 2 * (g.synapses / total) for g in used)
    return lam * loss
