"""A model reading each bin through its window at several offsets (config "window_offsets"), each
also mirrored: the same weights, the readings' logits averaged; checked against the plain model
run on inputs moved with NumPy."""
import numpy as np
import pytest
import torch
from model_helpers import SMALL_WIDTHS, events, make_active, run_steps

from model import build
from model.onnx_export import export_onnx, flatten_leaves
from model.runtime import OnnxRunner
from stream.errors import SpikeLipError

TINY = {"frontend_widths": SMALL_WIDTHS, "input_size": 40, "hidden_size": 32, "num_layers": 1}
OFFSETS = [[1, 1], [-1, 2], [0, -3]]


def moved(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x (..., H, W) as seen through a window moved dy down and dx right, zeros outside (NumPy)."""
    a = x.numpy()
    out = np.zeros_like(a)
    h, w = a.shape[-2:]
    out[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = \
        a[..., max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
    return torch.from_numpy(out)


@pytest.fixture(scope="module")
def pair():
    """(plain, offsets): one network's weights, made to spike, read once, and through the moved
    windows with their mirrors."""
    torch.manual_seed(0)
    plain = make_active(build("small", **TINY), events(2, 12, size=40, seed=1), backend_gain=0.5)
    several = build("small", **TINY, mirror=True, window_offsets=OFFSETS)
    several.load_state_dict(plain.state_dict())
    return plain, several.eval()


def test_the_reference_move_is_what_the_window_sees():
    x = torch.arange(16.0).reshape(1, 4, 4)
    assert moved(x, 1, 2)[0, 0].tolist() == [6.0, 7.0, 0.0, 0.0]  # row 0 shows row 1 from column 2
    assert moved(x, -1, 0)[0, :, 0].tolist() == [0.0, 0.0, 4.0, 8.0]


def test_a_model_with_window_offsets_averages_the_plain_models_readings(pair):
    plain, several = pair
    x = events(2, 10, size=40, seed=3)
    with torch.inference_mode():
        views = [moved(x, dy, dx) for dy, dx in OFFSETS]
        readings = [plain(v) for v in views] + [plain(v.flip(-1)) for v in views]
        logits, rec = several(x, record=True)
        _, first = plain(views[0], record=True)
    assert several.readings == 6
    assert (readings[0] - readings[1]).abs().max() > 0.1  # the windows read differently
    assert (logits - sum(readings) / 6).abs().max() < 1e-5
    assert all((rec[k] - first[k]).abs().max() < 1e-5 for k in rec)  # spikes recorded: the first reading's


def test_stepping_equals_the_whole_clip_forward(pair):
    _, several = pair
    x = events(2, 10, size=40, seed=4)
    with torch.inference_mode():
        logits = several(x)
        stepped, _ = run_steps(several, x)
        f = several.features(x)
        assert f.shape[:3] == (2, 6, 10)
        assert (several.after_features(f) - logits).abs().max() < 1e-5
    assert (stepped - logits).abs().max() < 1e-5
    assert all(t.shape[0] == 6 * 3 for t in flatten_leaves(several.initial_state(3)))  # every reading's rows


def test_one_windows_features_give_that_windows_reading(pair):
    """`adapt` trains a model of several windows on one window's cached features a clip: their
    logits are those of the plain model reading through that window, as it is and mirrored."""
    plain, several = pair
    x = events(2, 8, size=40, seed=7)
    with torch.inference_mode():
        for k, (dy, dx) in enumerate(OFFSETS):
            f = several.features(x, window=k)
            expected = (plain(moved(x, dy, dx)) + plain(moved(x, dy, dx).flip(-1))) / 2
            assert f.shape[1] == 2
            assert (several.after_features(f) - expected).abs().max() < 1e-5


@pytest.mark.slow
def test_onnx_exports_step_as_pytorch_does(pair, tmp_path):
    _, several = pair
    x = events(1, 15, size=40, seed=6)
    for sparse in (False, True):
        runner = OnnxRunner(export_onnx(several, tmp_path / f"w{sparse}.onnx", sparse=sparse), threads=1)
        with torch.inference_mode():
            state = ref = several.initial_state(1)
            for t in range(x.shape[1]):
                ref_logits, ref = several.step(x[:, t], ref)
                logits, state = runner.step(x[:, t], state)
                assert (logits - ref_logits).abs().max() < 1e-4


@pytest.mark.parametrize("bad", [[], [[0, 0], [0, 0]], [[1]], [[0, 11]], [[True, 0]], "1,1", [[0.5, 0]]])
def test_window_offsets_are_distinct_pixel_pairs_within_a_quarter_of_the_input(bad):
    with pytest.raises(SpikeLipError, match=r"window_offsets must be a list of distinct \[dy, dx\] pixel pairs, "
                                            r"each within 10 px"):
        build("small", **TINY, window_offsets=bad)
