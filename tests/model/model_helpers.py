"""Helpers for the model tests: sparse event frames and networks that actually spike."""
import torch
from torch import nn

SMALL_WIDTHS = [8, 8, 16, 16]  # tiny frontend for sweeps; the real configs are tested too


def events(batch, steps, size=88, density=0.03, seed=0, dtype=torch.float32):
    """Signed count frames (B, T, 2, S, S): ~density active pixels per polarity, counts 1-2."""
    g = torch.Generator().manual_seed(seed)
    shape = (batch, steps, 1, size, size)
    on = (torch.rand(shape, generator=g) < density) * torch.randint(1, 3, shape, generator=g)
    off = (torch.rand(shape, generator=g) < density) * torch.randint(1, 3, shape, generator=g)
    return torch.cat([on, -off], 2).to(dtype)


@torch.no_grad()
def make_active(net, x, bn_shift=0.3, backend_gain=3.0):
    """Random-init layers barely fire on sparse input. Calibrate every BatchNorm on x (one
    training-mode pass with momentum 1), then shift BN outputs up and amplify the backend's
    input weights so that every layer spikes within a few steps. Leaves net in eval mode."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    net.train()
    net(x)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
        m.bias.add_(bn_shift)
    for layer in net.backend:
        for cell in getattr(layer, "fwd", layer), getattr(layer, "bwd", layer):
            cell.w.weight.mul_(backend_gain)
    return net.eval()


def run_steps(net, x, record=False):
    """Logits (B, T, C) from stepping through x bin by bin, and the recorded spikes."""
    state = net.initial_state(x.shape[0])
    logits, spikes = [], []
    for t in range(x.shape[1]):
        out = net.step(x[:, t], state, record=record)
        logits.append(out[0])
        state = out[1]
        if record:
            spikes.append(out[2])
    rec = {k: torch.stack([s[k] for s in spikes], 1) for k in spikes[0]} if record else None
    return torch.stack(logits, 1), rec
