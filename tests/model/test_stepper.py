"""`model.Stepper`: the interface the app steps, shared by Network and the onnxruntime runners."""
import pytest
import torch

from model import Network, Stepper, build
from model.onnx_export import export_onnx
from model.onnx_format import flatten_leaves
from model.runtime import HybridRunner, OnnxRunner
from model_helpers import SMALL_WIDTHS

TINY = {"frontend_widths": SMALL_WIDTHS, "input_size": 40, "hidden_size": 16, "num_layers": 1}


@pytest.fixture(scope="module")
def steppers(tmp_path_factory):
    torch.manual_seed(0)
    net = build("small", **TINY).eval()
    onnx = OnnxRunner(export_onnx(net, tmp_path_factory.mktemp("stepper") / "tiny.onnx"), threads=1)
    return {"Network": net, "OnnxRunner": onnx, "HybridRunner": HybridRunner(net, threads=1)}


@pytest.mark.slow  # two exports
@pytest.mark.parametrize("kind", ["Network", "OnnxRunner", "HybridRunner"])
def test_every_model_the_app_steps_is_a_stepper(steppers, kind):
    model = steppers[kind]
    net = steppers["Network"]
    assert isinstance(model, Stepper) and type(model).__name__ == kind
    assert model.eval() is model and not model.training and model.streamable
    assert model.name == "small" and model.words == net.words and model.frame_shape == (2, 40, 40)
    state = model.initial_state(1)
    assert [a.shape for a in flatten_leaves(state)] == [a.shape for a in flatten_leaves(net.initial_state(1))]
    with torch.inference_mode():
        logits, new = model.step(torch.ones(1, *model.frame_shape), state)
        ref_logits, _ = net.step(torch.ones(1, *net.frame_shape), net.initial_state(1))
    assert logits.shape == (1, len(model.words)) and type(new) is type(state)
    assert (logits - ref_logits).abs().max() < 1e-4


def test_a_network_that_cannot_stream_is_still_one_but_says_so():
    net = build("paper-offline", **TINY)
    assert isinstance(net, Network) and isinstance(net, Stepper) and not net.streamable
    assert not isinstance(object(), Stepper)
