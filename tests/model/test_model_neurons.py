"""Neuron dynamics against hand-computed traces, and parameter clamping."""
import pytest
import torch

from model.neurons import (
    ALPHA_RANGE,
    A_RANGE,
    B_RANGE,
    BETA_RANGE,
    IF,
    LIF,
    PLIF,
    AdLIF,
    BittarLIF,
    LeakyState,
)


def approx(expected, abs=1e-6):
    return pytest.approx(expected, abs=abs)


def trace(neuron, currents):
    """Spikes and membrane potentials of a (1, 1) neuron driven by a list of currents."""
    state = neuron.initial_state((1, 1))
    spikes, mems = [], []
    for c in currents:
        s, state = neuron.step(torch.tensor([[c]]), state)
        spikes.append(s.item())
        mems.append(state[0].item())
    return spikes, mems


def test_plif_leaks_fires_and_resets_by_subtraction():
    # v = 0.9 v + 0.4 - s_prev: 0.4, 0.76, 1.084 (spike), 0.9*1.084 + 0.4 - 1 = 0.3756
    spikes, mems = trace(PLIF(1), [0.4, 0.4, 0.4, 0.4])
    assert spikes == [0, 0, 1, 0]
    assert mems == approx([0.4, 0.76, 1.084, 0.3756])


def test_if_integrates_without_leak():
    spikes, mems = trace(IF(), [0.5, 0.5, 0.5, 0.0])
    assert spikes == [0, 1, 0, 0]
    assert mems == approx([0.5, 1.0, 0.5, 0.5])


def test_lif_fixed_leak():
    _, mems = trace(LIF(0.5), [1.0, 0.0, 0.0])
    assert mems == approx([1.0, -0.5, -0.25])  # spiked at t0, reset subtracts 1 at t1


def test_plif_alpha_per_channel():
    neuron = PLIF(2)
    with torch.no_grad():
        neuron.alpha.copy_(torch.tensor([0.5, 1.0]))
    state = LeakyState(torch.full((1, 2, 1, 1), 0.8), torch.zeros(1, 2, 1, 1))
    s, state = neuron.step(torch.zeros(1, 2, 1, 1), state)
    assert state.v.flatten().tolist() == approx([0.4, 0.8])


def step_loop(neuron, x):
    """The reference a sequence must equal: `step` looped over time, autograd through every step."""
    state = neuron.initial_state(x[:, 0].shape, dtype=x.dtype)
    out = []
    for t in range(x.shape[1]):
        s, state = neuron.step(x[:, t], state)
        out.append(s)
    return torch.stack(out, 1)


def neurons_under_test():
    plif = PLIF(3)
    with torch.no_grad():
        plif.alpha.copy_(torch.tensor([0.3, 0.9, 1.0]))
    return [("plif", plif), ("lif", LIF(0.8)), ("if", IF())]


@pytest.mark.parametrize("name, neuron", neurons_under_test())
def test_sequence_matches_steps(name, neuron):
    x = torch.rand(2, 7, 3, 4, 4) * 0.8
    assert torch.equal(neuron(x), step_loop(neuron, x))
    assert neuron(x).sum() > 0
    with torch.no_grad():
        assert torch.equal(neuron(x), step_loop(neuron, x))


@pytest.mark.parametrize("name, neuron", neurons_under_test())
@pytest.mark.slow
def test_sequence_backward_through_time_equals_autograd_of_the_step_loop(name, neuron):
    """The hand-written backward against autograd through `step`, in float64, with currents
    that put many potentials near the threshold (where the surrogate is large) and spike often."""
    neuron = neuron.double()
    x = (torch.randn(2, 12, 3, 4, 4, dtype=torch.float64) * 0.7 + 0.3).requires_grad_()
    g = torch.randn(2, 12, 3, 4, 4, dtype=torch.float64)
    grads = []
    for run in (neuron, lambda v: step_loop(neuron, v)):
        neuron.zero_grad()
        x.grad = None
        out = run(x)
        (out * g).sum().backward()
        grads.append((out.detach(), x.grad.clone(), [p.grad.clone() for p in neuron.parameters()]))
    (out_seq, gx_seq, gp_seq), (out_ref, gx_ref, gp_ref) = grads
    assert torch.equal(out_seq, out_ref) and 0.1 < float(out_ref.mean()) < 0.9
    torch.testing.assert_close(gx_seq, gx_ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(gp_seq, gp_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert len(gp_seq) == (1 if name == "plif" else 0)


@pytest.mark.slow
def test_plif_clamp_keeps_alpha_in_unit_interval():
    neuron = PLIF(4)
    opt = torch.optim.SGD(neuron.parameters(), lr=100.0)
    x = torch.rand(2, 5, 4, 3, 3).requires_grad_(True)
    neuron(x).sum().backward()
    with torch.no_grad():
        neuron.alpha.grad += torch.tensor([-1.0, 1.0, -1.0, 1.0])
    opt.step()
    assert (neuron.alpha < 0).any() or (neuron.alpha > 1).any()
    neuron.clamp_()
    assert ((neuron.alpha >= 0) & (neuron.alpha <= 1)).all()


def test_bittar_lif_equation():
    neuron = BittarLIF(1)
    with torch.no_grad():
        neuron.alpha.fill_(0.9)
    # u = 0.9 u + 0.1 * 6: 0.6, 1.14 (spike), 0.9*1.14 + 0.6 - 1 = 0.626
    spikes, mems = trace(neuron, [6.0, 6.0, 6.0])
    assert spikes == [0, 1, 0]
    assert mems == approx([0.6, 1.14, 0.626])


def test_adlif_equations():
    neuron = AdLIF(1)
    with torch.no_grad():
        for p, v in ((neuron.alpha, 0.9), (neuron.beta, 0.98), (neuron.a, 0.5), (neuron.b, 1.5)):
            p.fill_(v)
    state = neuron.initial_state((1, 1))
    u = w = s = 0.0
    for current in (12.0, 12.0, 0.0, 5.0, 5.0):
        # Bittar & Garner eq. (7)-(9)
        u, w = 0.9 * u + 0.1 * (current - w) - s, 0.98 * w + 0.02 * 0.5 * u + 1.5 * s
        s = float(u >= 1.0)
        out, state = neuron.step(torch.tensor([[current]]), state)
        assert state.u.item() == approx(u)
        assert state.w.item() == approx(w)
        assert out.item() == s


def test_bittar_parameters_initialised_and_clamped_in_ranges():
    neuron = AdLIF(1000)
    ranges = {"alpha": ALPHA_RANGE, "beta": BETA_RANGE, "a": A_RANGE, "b": B_RANGE}
    assert ALPHA_RANGE == approx((0.819, 0.961), abs=1e-3)
    assert BETA_RANGE == approx((0.967, 0.992), abs=1e-3)
    for name, (lo, hi) in ranges.items():
        p = getattr(neuron, name)
        assert lo <= p.min().item() and p.max().item() <= hi
        assert p.std() > 0  # heterogeneous
        with torch.no_grad():
            p.copy_(torch.linspace(lo - 5, hi + 5, 1000))
    lif = BittarLIF(10)
    with torch.no_grad():
        lif.alpha.fill_(2.0)
    neuron.clamp_()
    lif.clamp_()
    for name, (lo, hi) in ranges.items():
        p = getattr(neuron, name)
        assert p.min().item() == approx(lo) and p.max().item() == approx(hi)
    assert (lif.alpha == torch.tensor(ALPHA_RANGE[1], dtype=torch.float32)).all()
