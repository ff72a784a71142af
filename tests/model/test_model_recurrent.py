"""Recurrent layers against independent statements of their equations."""
import pytest
import torch

from model.recurrent import BACKENDS, GRU, Bidirectional, SpikGRU, SpikGRU2, make_layer


def spikgru2_reference(layer, x, signed):
    """Paper eq. (10)-(14) written out with separate matrices, input at t, own spikes at t-1."""
    H = layer.hidden_size
    Wr, Wz, Wi = layer.w.weight.split(H)
    br, bz, bi = layer.w.bias.split(H)
    Ur, Uz, Ui = layer.u.weight.split(H)
    i = v = s = torch.zeros(x.shape[0], H, dtype=x.dtype)
    out = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        r = torch.sigmoid(xt @ Wr.T + s @ Ur.T + br)
        z = torch.sigmoid(xt @ Wz.T + s @ Uz.T + bz)
        i = layer.alpha * i + xt @ Wi.T + bi + (s @ Ui.T + layer.b_ri) * r
        v = z * v + (1 - z) * i - 1.0 * s
        s = (v >= 1).to(x.dtype) - ((v <= -1).to(x.dtype) if signed else 0)
        out.append(s)
    return torch.stack(out, 1)


def spikgru_reference(layer, x):
    """Paper eq. (5)-(8): one gate, binary spikes."""
    H = layer.hidden_size
    Wz, Wi = layer.w.weight.split(H)
    bz, bi = layer.w.bias.split(H)
    Uz, Ui = layer.u.weight.split(H)
    i = v = s = torch.zeros(x.shape[0], H, dtype=x.dtype)
    out = []
    for t in range(x.shape[1]):
        z = torch.sigmoid(x[:, t] @ Wz.T + s @ Uz.T + bz)
        i = layer.alpha * i + x[:, t] @ Wi.T + s @ Ui.T + bi
        v = z * v + (1 - z) * i - s
        s = (v >= 1).to(x.dtype)
        out.append(s)
    return torch.stack(out, 1)


def spiky_input(batch=3, steps=12, features=20):
    g = torch.Generator().manual_seed(1)
    return (torch.rand(batch, steps, features, generator=g) < 0.3).double() * 4


@pytest.mark.parametrize("signed", [False, True])
def test_spikgru2_matches_equations(signed):
    layer = SpikGRU2(20, 16, signed=signed).double()
    x = spiky_input()
    expected = spikgru2_reference(layer, x, signed)
    with torch.no_grad():
        got = layer(x)
    assert torch.equal(got, expected)
    assert got.abs().mean() > 0.05
    if signed:
        assert (got == -1).any() and (got == 1).any()


def test_spikgru_matches_equations():
    layer = SpikGRU(20, 16).double()
    x = spiky_input()
    with torch.no_grad():
        got = layer(x)
    assert torch.equal(got, spikgru_reference(layer, x))
    assert got.mean() > 0.05


def test_gru_matches_torch_gru():
    layer = GRU(20, 16)
    ref = torch.nn.GRU(20, 16, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(layer.w.weight)
        ref.bias_ih_l0.copy_(layer.w.bias)
        ref.weight_hh_l0.copy_(layer.u.weight)
        ref.bias_hh_l0.copy_(torch.cat([torch.zeros(32), layer.b_rn]))
        x = torch.randn(3, 12, 20)
        torch.testing.assert_close(layer(x), ref(x)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_equals_step_loop(backend):
    layer = make_layer(backend, 20, 16)
    x = spiky_input(features=20).float()
    layer.train()
    with torch.no_grad():
        layer(x)  # BatchNorm statistics for the Bittar layers
        if hasattr(layer, "norm"):
            layer.norm.bias.fill_(4.0)  # their (1 - alpha) input scaling needs a strong drive
    layer.eval()
    with torch.no_grad():
        seq = layer(x)
        state = layer.initial_state(x.shape[0])
        steps = []
        for t in range(x.shape[1]):
            out, state = layer.step(x[:, t], state)
            steps.append(out)
    torch.testing.assert_close(torch.stack(steps, 1), seq, atol=1e-5, rtol=0)
    assert seq.abs().mean() > 0.01, "layer silent: the comparison would be vacuous"


def test_alpha_clamped():
    layer = SpikGRU2(4, 8, signed=True)
    with torch.no_grad():
        layer.alpha.copy_(torch.linspace(-2, 3, 8))
    layer.clamp_()
    assert layer.alpha.min() == 0 and layer.alpha.max() == 1


@pytest.mark.parametrize("backend", ["rlif", "radlif"])
def test_recurrent_bittar_has_no_self_connection(backend):
    layer = make_layer(backend, 4, 8)
    assert (layer.u.weight.diagonal() == 0).all()
    with torch.no_grad():
        layer.u.weight.fill_(1.0)
    layer.clamp_()
    assert (layer.u.weight.diagonal() == 0).all() and layer.u.weight.sum() == 8 * 7


def test_bidirectional_reads_both_ways():
    fwd, bwd = SpikGRU2(20, 16, signed=True).double(), SpikGRU2(20, 16, signed=True).double()
    layer = Bidirectional(fwd, bwd)
    x = spiky_input()
    with torch.no_grad():
        out = layer(x)
    assert out.shape == (3, 12, 32)
    assert torch.equal(out[..., :16], spikgru2_reference(fwd, x, True))
    assert torch.equal(out[..., 16:], spikgru2_reference(bwd, x.flip(1), True).flip(1))
    assert not hasattr(layer, "step")
