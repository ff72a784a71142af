"""Spike functions: exact forward values and surrogate gradients equal to the published formulas."""
import torch

from model.spikes import boxcar_spike, signed_spike, spike

MEM = torch.linspace(-3, 3, 601, dtype=torch.float64)


def grad_of(fn, mem, **kw):
    m = mem.clone().requires_grad_(True)
    upstream = torch.randn_like(m)
    (fn(m, **kw) * upstream).sum().backward()
    return m.grad / upstream


def test_binary_forward():
    m = torch.tensor([-5.0, 0.0, 0.999, 1.0, 1.001, 7.0])
    assert spike(m).tolist() == [0, 0, 0, 1, 1, 1]
    assert spike(m, vth=0.5).tolist() == [0, 0, 1, 1, 1, 1]


def test_signed_forward():
    m = torch.tensor([-2.0, -1.0, -0.999, 0.0, 0.999, 1.0, 3.0])
    assert signed_spike(m).tolist() == [-1, -1, 0, 0, 0, 1, 1]


def test_boxcar_forward():
    m = torch.tensor([0.0, 0.99, 1.0, 2.0])
    assert boxcar_spike(m).tolist() == [0, 0, 1, 1]


def test_forward_same_with_and_without_autograd():
    for fn in (spike, signed_spike, boxcar_spike):
        with_grad = fn(MEM.clone().requires_grad_(True)).detach()
        assert torch.equal(with_grad, fn(MEM))
        assert with_grad.dtype == MEM.dtype


def test_binary_surrogate_is_scaled_arctan_derivative():
    # Paper (and reference code): 1 / (1 + gamma (x - Vth)^2), gamma = 10, Vth = 1.
    expected = 1 / (1 + 10 * (MEM - 1) ** 2)
    torch.testing.assert_close(grad_of(spike, MEM), expected)


def test_signed_surrogate_is_equation_9():
    gamma, vth = 10.0, 1.0
    scale = 1 / (1 + 1 / (1 + gamma * 4 * vth**2))
    expected = scale * (1 / (1 + gamma * (MEM - vth) ** 2) + 1 / (1 + gamma * (MEM + vth) ** 2))
    torch.testing.assert_close(grad_of(signed_spike, MEM), expected)
    # "with the maximum being scaled to 1": peaks at +-Vth
    peaks = grad_of(signed_spike, torch.tensor([-1.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(peaks, torch.ones(2, dtype=torch.float64))


def test_boxcar_surrogate():
    expected = torch.where((MEM - 1).abs() < 0.5, 0.5, 0.0).to(MEM.dtype)
    torch.testing.assert_close(grad_of(boxcar_spike, MEM), expected)
    assert grad_of(boxcar_spike, torch.tensor([1.49, 1.51, 0.49, 0.51], dtype=torch.float64)).tolist() == [0.5, 0, 0, 0.5]
