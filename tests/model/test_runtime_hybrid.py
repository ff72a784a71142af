"""HybridRunner: one onnxruntime graph of dense convolutions and gather-sparse GRU layers.

One export per module (~10 s) of a tiny network made to spike, with backend spikes sparse
enough that both branches of the gather step (gather below 30 % active inputs, dense above) run.
"""
import pytest
import torch

from model import build
from model.network import NetworkState
from model.onnx_export import flatten_leaves
from model.runtime import HybridRunner
from stream.errors import SpikeLipError
from model_helpers import SMALL_WIDTHS, events, make_active

pytestmark = pytest.mark.slow  # the export in `hybrid` takes seconds; test_onnx_parity covers the ONNX runner fast

TINY = {"frontend_widths": SMALL_WIDTHS, "input_size": 40, "hidden_size": 32, "num_layers": 2}
STEPS = 30


@pytest.fixture(scope="module")
def hybrid():
    torch.manual_seed(0)
    net = make_active(build("small", **TINY), events(2, 12, size=40, seed=1), backend_gain=0.5)
    return net, HybridRunner(net, threads=1)


@pytest.fixture(scope="module")
def stream():
    return events(1, STEPS, size=40, seed=2)


def max_diff(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(flatten_leaves(a), flatten_leaves(b)))


def test_steps_match_pytorch_from_the_same_state(hybrid, stream):
    net, runner = hybrid
    assert runner.streamable and runner.words == net.words and runner.config == net.config
    assert runner.frame_shape == net.frame_shape and runner.name == "small" and runner.eval() is runner
    worst_logit = worst_state = 0.0
    densities = []
    with torch.inference_mode():
        state = net.initial_state(1)
        for t in range(STEPS):
            ref_logits, ref_state, spikes = net.step(stream[:, t], state, record=True)
            logits, got = runner.step(stream[:, t], state)
            assert isinstance(logits, torch.Tensor) and logits.shape == ref_logits.shape
            worst_logit = max(worst_logit, (logits - ref_logits).abs().max().item())
            worst_state = max(worst_state, max_diff(ref_state, got))
            densities += [float((spikes[k] != 0).float().mean()) for k in ("frontend.head", "backend.0", "backend.1")]
            state = ref_state
    assert min(densities) < 0.3 < max(densities), "both the gather and the dense branch must run"
    assert worst_logit < 1e-4
    assert worst_state < 1e-4


def test_state_interchange_with_pytorch(hybrid, stream):
    net, runner = hybrid
    with torch.inference_mode():
        state = runner.initial_state(1)
        assert type(state) is NetworkState
        assert [a.shape for a in flatten_leaves(state)] == [a.shape for a in flatten_leaves(net.initial_state(1))]
        for t in range(10):  # the runner's own states, carried step to step
            _, state = runner.step(stream[:, t], state)
        ref_logits, ref_state = net.step(stream[:, 10], state)  # ... read by PyTorch
        logits, got = runner.step(stream[:, 10], state)
        assert (logits - ref_logits).abs().max() < 1e-4
        assert max_diff(ref_state, got) < 1e-4
        logits, _ = runner.step(stream[:, 11], ref_state)  # a PyTorch state read by the runner
        assert (logits - net.step(stream[:, 11], ref_state)[0]).abs().max() < 1e-4


def test_refusals(hybrid, stream):
    _, runner = hybrid
    with pytest.raises(SpikeLipError, match="record"):
        runner.step(stream[:, 0], runner.initial_state(1), record=True)
    with pytest.raises(SpikeLipError, match="batch 1"):
        runner.initial_state(2)
    with pytest.raises(SpikeLipError, match="shape"):
        runner.step(torch.zeros(1, 2, 88, 88), runner.initial_state(1))
    with pytest.raises(SpikeLipError, match="SpikGRU"):
        HybridRunner(build("small", backend="lif", **TINY).eval())
    with pytest.raises(SpikeLipError, match="not streamable"):
        HybridRunner(build("paper-offline", **TINY).eval())


def test_an_export_with_spikes_records_every_layer_as_pytorch_does(hybrid, stream, tmp_path):
    from model.onnx_export import export_onnx
    from model.runtime import OnnxRunner

    net, _ = hybrid
    runner = OnnxRunner(export_onnx(net, tmp_path / "spikes.onnx", sparse=True, spikes=True), threads=1)
    worst, fired = 0.0, {}
    with torch.inference_mode():
        state = net.initial_state(1)
        for t in range(STEPS):
            ref_logits, ref_state, ref_spikes = net.step(stream[:, t], state, record=True)
            logits, got, spikes = runner.step(stream[:, t], state, record=True)
            assert list(spikes) == list(ref_spikes) == runner.spike_layers  # the same layers, in order
            for name, s in ref_spikes.items():
                assert spikes[name].shape == s.shape
                worst = max(worst, (spikes[name] - s).abs().max().item())
                fired[name] = fired.get(name, 0) + int((s != 0).sum())
            assert (logits - ref_logits).abs().max() < 1e-4 and max_diff(ref_state, got) < 1e-4
            assert len(runner.step(stream[:, t], state)) == 2  # without record: logits and state only
            state = ref_state
    assert all(n > 0 for n in fired.values()), f"some layer never spiked: {fired}"
    assert worst < 1e-4


def test_export_cli_with_spikes(hybrid, stream, tmp_path):
    from app.cli import main
    from model import save_checkpoint
    from model.runtime import OnnxRunner

    net, _ = hybrid
    out = tmp_path / "dense.onnx"
    assert main(["export", "--model", str(save_checkpoint(net, tmp_path / "ckpt" / "tiny")), "--out", str(out), "--spikes"]) == 0
    runner = OnnxRunner(out, threads=1)
    with torch.inference_mode():
        _, _, ref = net.step(stream[:, 0], net.initial_state(1), record=True)
        _, _, got = runner.step(stream[:, 0], runner.initial_state(1), record=True)
    assert list(got) == list(ref) and all((got[k] - ref[k]).abs().max() < 1e-4 for k in ref)
