"""Whole networks: sizes of the published configs, and bin-by-bin stepping == whole-clip forward."""
import pytest
import torch
from model_helpers import SMALL_WIDTHS, events, make_active, run_steps

import model
from model.recurrent import BACKENDS
from stream.errors import SpikeLipError

T = 8
TINY = {"frontend_widths": SMALL_WIDTHS, "input_size": 40, "input_pool": 1, "num_layers": 3}  # fast sweeps; full sizes tested too


def check_step_equals_forward(net, x):
    with torch.inference_mode():
        logits, rec = net(x, record=True)
        stepped, rec_steps = run_steps(net, x, record=True)
    assert stepped.shape == logits.shape == (x.shape[0], x.shape[1], net.config["num_classes"])
    assert (stepped - logits).abs().max() <= 1e-5
    assert rec.keys() == rec_steps.keys()
    for name in rec:
        assert (rec[name] - rec_steps[name]).abs().max() <= 1e-5, name
    return rec


def assert_all_layers_active(rec):
    silent = [name for name, s in rec.items() if s.abs().mean() < 0.01]
    assert not silent, f"silent layers make the comparison vacuous: {silent}"


@pytest.mark.slow
def test_paper_offline_parameter_count():
    counts = model.build("paper-offline").parameter_counts()
    assert counts["total"] == pytest.approx(58.6e6, rel=0.02)


def test_paper_causal_parameter_count():
    counts = model.build("paper-causal").parameter_counts()
    assert counts["total"] == pytest.approx(28.62e6, rel=0.005)
    assert counts["frontend"] == pytest.approx(11.20e6, rel=0.005)
    assert counts["backend"] + counts["readout"] == pytest.approx(17.42e6, rel=0.005)


def test_small_is_small():
    net = model.build("small")
    assert net.parameter_counts()["total"] < 1e6 and net.frontend.sizes()[0] == 22  # 88 px summed 4 x 4


def test_paper_offline_is_not_streamable():
    net = model.build("paper-offline", hidden_size=8, frontend_widths=SMALL_WIDTHS)
    assert not net.streamable
    for call in (lambda: net.initial_state(1), lambda: net.step(torch.zeros(1, 2, 88, 88), None)):
        with pytest.raises(SpikeLipError, match="not streamable") as err:
            call()
        assert "paper-causal" in str(err.value) and "small" in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["small", "ann"])
def test_step_equals_forward_configs(name):
    overrides = {"frontend_widths": SMALL_WIDTHS, "hidden_size": 64} if name == "ann" else {}
    net = model.build(name, **overrides)
    make_active(net, events(4, T, seed=2))
    # Batch 2: the same convolution algorithms run in both paths (batch-1 convolutions may
    # take a different kernel and round differently); batch 1 is covered in float64 below.
    rec = check_step_equals_forward(net, events(2, T, seed=1))
    assert_all_layers_active(rec)


@pytest.mark.slow
def test_step_equals_forward_paper_causal():
    net = model.build("paper-causal")
    make_active(net, events(2, 6, seed=2))
    rec = check_step_equals_forward(net, events(2, 6, seed=1))
    assert_all_layers_active(rec)


def test_step_equals_forward_batch1_float64():
    net = model.build("small", hidden_size=32, **TINY).double()
    make_active(net, events(4, T, 40, seed=2, dtype=torch.float64))
    rec = check_step_equals_forward(net, events(1, T, 40, seed=1, dtype=torch.float64))
    assert_all_layers_active(rec)


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_equals_forward_backends(backend):
    net = model.build("small", backend=backend, hidden_size=32, **TINY)
    make_active(net, events(4, T, 40, seed=2), backend_gain=8.0 if "lif" in backend else 3.0)
    rec = check_step_equals_forward(net, events(2, T, 40, seed=1))
    assert rec["backend.2"].abs().mean() > 0.01


@pytest.mark.parametrize("neuron", ["lif", "if"])
def test_step_equals_forward_frontend_neurons(neuron):
    net = model.build("small", frontend_neuron=neuron, hidden_size=32, **TINY)
    make_active(net, events(4, T, 40, seed=2))
    rec = check_step_equals_forward(net, events(2, T, 40, seed=1))
    assert rec["frontend.head"].abs().mean() > 0.01


def test_record_values_and_names():
    net = model.build("small", hidden_size=32, **TINY)
    make_active(net, events(4, T, 40, seed=2))
    x = events(1, T, 40, seed=3)
    state = net.initial_state(1)
    for t in range(T):
        logits, state_rec, spikes = net.step(x[:, t], state, record=True)
        plain, state = net.step(x[:, t], state)
        assert torch.equal(logits, plain)
    stages = ["stem", "pool"] + [f"res{i}.{j}.{k}" for i in range(1, 5) for j in (0, 1) for k in ("mid", "out")]
    assert list(spikes) == [f"frontend.{s}" for s in stages] + ["frontend.head", "backend.0", "backend.1", "backend.2"]
    assert spikes["frontend.stem"].shape == (1, 8 * 20 * 20)
    assert spikes["frontend.head"].shape == (1, 16)
    assert spikes["backend.0"].shape == (1, 32)
    for name, s in spikes.items():
        allowed = {-1.0, 0.0, 1.0} if name.startswith("backend") else {0.0, 1.0}
        assert set(s.unique().tolist()) <= allowed, name


def test_causal_does_not_look_ahead_but_centred_does():
    x = events(1, 10, 40, seed=4)
    later = x.clone()
    later[:, 6:] = events(1, 4, 40, seed=5)
    for mode, expect_same in (("causal", True), ("centred", False)):
        net = model.build("small", frontend_mode=mode, hidden_size=32, backend="gru", **TINY)
        make_active(net, events(4, 10, 40, seed=2))
        with torch.no_grad():
            same = torch.equal(net(x)[:, :6], net(later)[:, :6])
        assert same == expect_same, mode


def test_wrong_frame_size_is_a_user_error():
    net = model.build("small", frontend_widths=SMALL_WIDTHS, hidden_size=8).eval()
    with pytest.raises(SpikeLipError, match="88"):
        net.step(torch.zeros(1, 2, 96, 96), net.initial_state(1))
    with pytest.raises(SpikeLipError):
        net(torch.zeros(1, 3, 2, 64, 64))


def test_clamp_reaches_every_constrained_parameter():
    net = model.build("small", frontend_widths=SMALL_WIDTHS, hidden_size=8, num_layers=3)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("alpha"):
                p.fill_(5.0)
    net.clamp_()
    alphas = [p for name, p in net.named_parameters() if name.endswith("alpha")]
    assert len(alphas) == 1 + 16 + 3  # stem, 2 per block, one per SpikGRU2+ layer
    assert all((p == 1.0).all() for p in alphas)


def test_build_names_dicts_and_errors(tmp_path):
    assert set(model.config_names()) == {"paper-offline", "paper-causal", "small", "wide", "ann"}
    net = model.build("small", hidden_size=16)
    assert net.config["hidden_size"] == 16 and net.config["name"] == "small"
    assert model.build(dict(net.config)).parameter_counts() == net.parameter_counts()
    with pytest.raises(SpikeLipError, match="paper-causal.*small|small.*paper-causal"):
        model.build("paper-casual")
    with pytest.raises(SpikeLipError, match="hiden_size"):
        model.build("small", hiden_size=3)
    with pytest.raises(SpikeLipError, match="backend"):
        model.build("small", backend="lstm")
    path = tmp_path / "mine.json"
    path.write_text('{"name": "mine", "backend": "gru", "hidden_size": 8, "frontend_widths": [8, 8, 8, 8]}')
    assert model.build(path).config["backend"] == "gru"
    path.write_text("{not json")
    with pytest.raises(SpikeLipError, match="mine.json"):
        model.build(path)
    with pytest.raises(SpikeLipError, match="no such file"):
        model.build(tmp_path / "missing.json")


def test_offline_forward_sees_the_whole_clip():
    net = model.build("paper-offline", hidden_size=16, **TINY)
    assert net.backend[0].hidden_size == 32  # forward and backward halves
    make_active(net, events(4, 6, 40, seed=2))
    x = events(2, 6, 40, seed=6)
    later = x.clone()
    later[:, 5:] = 0
    with torch.no_grad():
        logits = net(x)
        assert logits.shape == (2, 6, 100)
        # the backward GRU carries the last bin's input to the first step's logits
        assert not torch.equal(net(later)[:, 0], logits[:, 0])


def test_input_pool_equals_a_network_on_coarser_pixels():
    """input_pool k on S px == the same weights on S/k px frames of k x k event-count sums."""
    pooled = model.build("small", hidden_size=32, **{**TINY, "input_pool": 4})
    coarse = model.build("small", hidden_size=32, **{**TINY, "input_size": 10})
    coarse.load_state_dict(pooled.state_dict())
    make_active(pooled, events(4, T, 40, seed=2))
    coarse.load_state_dict(pooled.state_dict())
    coarse.eval()
    x = events(2, T, 40, seed=1)
    summed = x.reshape(2, T, 2, 10, 4, 10, 4).sum((4, 6))
    with torch.inference_mode():
        assert (pooled(x) - coarse(summed)).abs().max() <= 1e-5
    rec = check_step_equals_forward(pooled, x)
    assert_all_layers_active(rec)
    with pytest.raises(SpikeLipError, match="input_pool 3 must divide input_size 88"):
        model.build("small", input_pool=3)
    with pytest.raises(SpikeLipError, match="input_size 136 must be at most 128"):
        model.build("small", input_size=136)


def test_input_affine_is_optional_and_checked():
    """Absent unless set (so a model's config, and its weights digest, stay as they were)."""
    assert "input_affine" not in model.build("small").config
    net = model.build("small", input_affine={"scale": 0.9, "dx": 3, "dy": -2})
    assert net.config["input_affine"] == {"scale": 0.9, "dx": 3.0, "dy": -2.0}
    turned = model.build("small", input_affine={"scale": 1, "dx": 0, "dy": 0, "rotate_deg": -8})
    assert turned.config["input_affine"]["rotate_deg"] == -8.0
    for bad in ({"scale": 0, "dx": 0, "dy": 0}, {"scale": 1.0, "dx": 0}, {"scale": float("nan"), "dx": 0, "dy": 0},
                [1, 0, 0], {"scale": True, "dx": 0, "dy": 0}, {"scale": 1, "dx": 0, "dy": 0, "turn": 3}):
        with pytest.raises(SpikeLipError, match="input_affine must be") as err:
            model.build("small", input_affine=bad)
        assert "\n" not in str(err.value)


def test_input_pace_is_optional_and_checked():
    """Absent unless set; a clip of a model whose user speaks slower is stretched to its pace."""
    from model.data import clip_events
    from stream.transforms import TimeScale

    assert "input_pace" not in model.build("small").config and clip_events(model.build("small").config) is None
    net = model.build("small", input_pace=1.2)
    assert net.config["input_pace"] == 1.2 and clip_events(net.config) == TimeScale(1 / 1.2)
    for bad in (0, 0.3, 2.5, True, "1.2", float("nan"), [1.2]):
        with pytest.raises(SpikeLipError, match="input_pace must be a number from 0.5 to 2.0") as err:
            model.build("small", input_pace=bad)
        assert "\n" not in str(err.value)


def test_input_centre_is_optional_and_checked():
    """Absent unless set; a clip of a model that asks is centred after its other moves, last."""
    from model.data import clip_events
    from stream.centring import Centred
    from stream.transforms import Compose, TimeScale

    assert "input_centre" not in model.build("small").config
    net = model.build("small", input_centre={"x": 63.7, "y": 66})
    assert net.config["input_centre"] == {"x": 63.7, "y": 66.0} and clip_events(net.config) == Centred(63.7, 66.0)
    slow = model.build("small", input_centre={"x": 63.7, "y": 66}, input_pace=1.2)
    assert repr(clip_events(slow.config)) == repr(Compose(TimeScale(1 / 1.2), Centred(63.7, 66.0)))
    for bad in ({"x": 63.7}, {"x": 200, "y": 60}, {"x": -1, "y": 60}, {"x": True, "y": 60}, [63.7, 66], True,
                {"x": 63.7, "y": 66, "z": 1}):
        with pytest.raises(SpikeLipError, match="input_centre must be") as err:
            model.build("small", input_centre=bad)
        assert "\n" not in str(err.value)
