"""A mirror model (config "mirror"): the same weights read each bin as it is and mirrored left to
right, and the two readings' logits are averaged; checked against two runs of the plain model."""
import pytest
import torch
from model_helpers import SMALL_WIDTHS, events, make_active, run_steps

from model import build
from model.onnx_export import export_onnx, flatten_leaves
from model.runtime import OnnxRunner
from stream.errors import SpikeLipError

TINY = {"frontend_widths": SMALL_WIDTHS, "input_size": 40, "hidden_size": 32, "num_layers": 2}


@pytest.fixture(scope="module")
def pair():
    """(plain, mirror): one network's weights, made to spike, without and with the mirror."""
    torch.manual_seed(0)
    plain = make_active(build("small", **TINY), events(2, 12, size=40, seed=1), backend_gain=0.5)
    mirror = build("small", **TINY, mirror=True)
    mirror.load_state_dict(plain.state_dict())
    return plain, mirror.eval()


def test_a_mirror_model_averages_the_plain_models_two_readings(pair):
    plain, mirror = pair
    x = events(2, 10, size=40, seed=3)
    with torch.inference_mode():
        expected = (plain(x) + plain(x.flip(-1))) / 2
        logits, rec = mirror(x, record=True)
        _, plain_rec = plain(x, record=True)
    assert (plain(x) - plain(x.flip(-1))).abs().max() > 0.1  # the two readings differ
    assert (logits - expected).abs().max() < 1e-5
    assert rec.keys() == plain_rec.keys()  # spikes recorded: the direct reading's
    assert all((rec[k] - plain_rec[k]).abs().max() < 1e-5 for k in rec)


def test_stepping_a_mirror_model_equals_its_whole_clip_forward(pair):
    _, mirror = pair
    x = events(2, 10, size=40, seed=4)
    with torch.inference_mode():
        logits, rec = mirror(x, record=True)
        stepped, rec_steps = run_steps(mirror, x, record=True)
    assert (stepped - logits).abs().max() < 1e-5
    assert all((rec[k] - rec_steps[k]).abs().max() < 1e-5 for k in rec)
    assert all(t.shape[0] == 2 * 3 for t in flatten_leaves(mirror.initial_state(3)))  # both readings' rows


def test_cached_features_give_the_forwards_logits(pair):
    """Adaptation trains on `features` computed once: `after_features` of them is the forward."""
    for net in pair:
        x = events(3, 8, size=40, seed=5)
        with torch.inference_mode():
            f = net.features(x)
            assert f.shape[:3] == (3, net.readings, 8)
            assert (net.after_features(f) - net(x)).abs().max() < 1e-5


@pytest.mark.slow
def test_onnx_exports_of_a_mirror_model_step_as_pytorch_does(pair, tmp_path):
    _, mirror = pair
    x = events(1, 20, size=40, seed=6)
    for sparse in (False, True):
        runner = OnnxRunner(export_onnx(mirror, tmp_path / f"m{sparse}.onnx", sparse=sparse, spikes=True), threads=1)
        with torch.inference_mode():
            state = ref = mirror.initial_state(1)
            for t in range(x.shape[1]):
                ref_logits, ref, ref_spikes = mirror.step(x[:, t], ref, record=True)
                logits, state, spikes = runner.step(x[:, t], state, record=True)
                assert (logits - ref_logits).abs().max() < 1e-4
                assert all((spikes[k] - ref_spikes[k]).abs().max() < 1e-4 for k in ref_spikes)


def test_mirror_must_be_true_or_false():
    with pytest.raises(SpikeLipError, match="mirror must be true or false"):
        build("small", mirror="yes")
