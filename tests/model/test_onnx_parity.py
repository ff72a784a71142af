"""ONNX export of the step function and the onnxruntime runner: parity with PyTorch, errors, CLI.

One export per module (~10 s): a `small` network with random weights made to spike
(`make_active`) is saved as a checkpoint and exported through `spikelip export`, so the CLI
path and the parity checks use the same file.
"""
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from app.cli import main
from app.models import load_model
from model import Readout, build, save_checkpoint
from model.onnx_export import flatten_leaves
from model.runtime import OnnxRunner
from stream.errors import SpikeLipError
from model_helpers import events, make_active

STEPS = 200


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    net = make_active(build("small"), events(2, 12, seed=1))
    tmp = tmp_path_factory.mktemp("onnx")
    meta = save_checkpoint(net, tmp / "ckpt" / "small_active")
    out = tmp / "out" / "small.onnx"
    assert main(["export", "--model", str(meta), "--out", str(out)]) == 0
    return net, out


@pytest.fixture(scope="module")
def stream():
    return events(1, STEPS, seed=2)


def spike_leaves(state) -> list[torch.Tensor]:
    """The previous-step spikes held in a state (NamedTuple fields called `s`)."""
    out = []

    def walk(node):
        if isinstance(node, tuple):
            fields = getattr(node, "_fields", None)
            for i, child in enumerate(node):
                if fields and fields[i] == "s" and isinstance(child, torch.Tensor):
                    out.append(child)
                else:
                    walk(child)

    walk(state)
    return out


@pytest.mark.slow
def test_export_cli_writes_one_self_contained_file(exported):
    _, path = exported
    assert [p.name for p in path.parent.iterdir()] == ["small.onnx"]
    model = onnx.load(str(path), load_external_data=False)
    assert not any(
        t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer
    ), "weights must be stored inside the file"
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    names = [i.name for i in model.graph.input]
    assert names[0] == "x" and names[1] == "state.0"
    assert [o.name for o in model.graph.output][:2] == ["logits", "new_state.0"]
    assert "spikelip" in {p.key for p in model.metadata_props}


@pytest.mark.slow
def test_runner_matches_pytorch_from_the_same_state(exported, stream):
    net, path = exported
    runner = OnnxRunner(path, threads=2)
    assert runner.words == net.words and runner.config == net.config and runner.streamable
    worst_logit = worst_state = 0.0
    fired = {}
    with torch.inference_mode():
        state = net.initial_state(1)
        ref_leaves = flatten_leaves(state)
        got_state = runner.initial_state(1)
        assert type(got_state) is type(state)
        assert [tuple(a.shape) for a in flatten_leaves(got_state)] == [tuple(a.shape) for a in ref_leaves]
        for t in range(STEPS):
            x = stream[:, t]
            ref_logits, ref_state, spikes = net.step(x, state, record=True)
            logits, got = runner.step(x, state)
            assert isinstance(logits, torch.Tensor) and logits.shape == ref_logits.shape
            worst_logit = max(worst_logit, (logits - ref_logits).abs().max().item())
            ref_leaves, got_leaves = flatten_leaves(ref_state), flatten_leaves(got)
            assert len(ref_leaves) == len(got_leaves)
            for a, b in zip(ref_leaves, got_leaves):
                worst_state = max(worst_state, (a - b).abs().max().item())
            for name, s in spikes.items():
                fired[name] = fired.get(name, 0) + int((s != 0).sum())
            state = ref_state
    print(f"\nworst |logit diff| {worst_logit:.2e}, worst |state diff| {worst_state:.2e}, spikes {fired}")
    assert all(n > 0 for n in fired.values()), f"some layer never spiked: {fired}"
    assert worst_logit < 1e-4
    assert worst_state < 1e-4


@pytest.mark.slow
def test_runner_free_running_agrees_with_pytorch(exported, stream):
    net, path = exported
    runner = OnnxRunner(path)
    ref_read, got_read = Readout(net.words), Readout(runner.words)
    agree = flips = total_spikes = 0
    with torch.inference_mode():
        ref_state, got_state = net.initial_state(1), runner.initial_state(1)
        for t in range(STEPS):
            x = stream[:, t]
            ref_logits, ref_state = net.step(x, ref_state)
            logits, got_state = runner.step(x, got_state)
            ref_read.update(ref_logits[0])
            got_read.update(logits[0])
            agree += int(np.argmax(ref_read.mean) == np.argmax(got_read.mean))
            for a, b in zip(spike_leaves(ref_state), spike_leaves(got_state)):
                flips += int((a != b).sum())
                total_spikes += int((a != 0).sum())
    print(f"\nfree-running: {flips} spike flips of {total_spikes} spikes, "
          f"top-1 agreement {agree}/{STEPS}")
    assert total_spikes > 0
    assert agree >= 0.99 * STEPS


def test_runner_api_and_load_model(exported, stream):
    _, path = exported
    net, words, description, runtime = load_model(str(path))
    assert isinstance(net, OnnxRunner) and net.eval() is net
    assert words == net.words and description == f"{path} (onnx)" and runtime == "onnx"
    with pytest.raises(SpikeLipError, match="record"):
        net.step(stream[:, 0], net.initial_state(1), record=True)
    with pytest.raises(SpikeLipError, match="batch 1"):
        net.initial_state(2)
    with pytest.raises(SpikeLipError, match="shape"):
        net.step(torch.zeros(1, 2, 64, 64), net.initial_state(1))


def _tiny_onnx(path, metadata: dict | None = None):
    """A valid ONNX file that is not a SpikeLip step model (y = Identity(x))."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


def test_bad_files_name_the_path(tmp_path, exported):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07this is not a protobuf model" * 10)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(exported[1].read_bytes()[:100_000])
    other = _tiny_onnx(tmp_path / "other.onnx")
    meta = exported[1]
    props = {p.key: p.value for p in onnx.load(str(meta), load_external_data=False).metadata_props}
    wrong_graph = _tiny_onnx(tmp_path / "wrong_graph.onnx", props)
    for path in (corrupt, truncated, other, wrong_graph, tmp_path / "missing.onnx"):
        with pytest.raises(SpikeLipError) as info:
            OnnxRunner(path)
        assert str(path) in str(info.value), str(info.value)


@pytest.mark.slow
def test_export_refuses_offline_model(tmp_path, capsys):
    out = tmp_path / "offline.onnx"
    assert main(["export", "--model", "paper-offline", "--out", str(out)]) == 2
    assert "not streamable" in capsys.readouterr().err
    assert not out.exists()
    assert main(["export", "--model", "small", "--out", str(tmp_path / "x.pt")]) == 2


def test_sparse_step_matches_dense_step(exported, stream):
    """The graph the sparse runtime exports (binwise stem, gather GRUs), run eagerly, = net.step."""
    from model.runtime import GatherGRU, SparseStep
    from model.recurrent import SpikGRUState

    net, _ = exported
    fast = SparseStep(net)
    worst = 0.0
    with torch.inference_mode():
        state = net.initial_state(1)
        for t in range(30):
            ref_logits, ref_state = net.step(stream[:, t], state)
            logits, got = fast.step(stream[:, t], state)
            worst = max(worst, (logits - ref_logits).abs().max().item(),
                        *((a - b).abs().max().item() for a, b in zip(flatten_leaves(ref_state), flatten_leaves(got))))
            state = ref_state
        # sparse inputs (10 %) take the gather path, not the dense fallback
        layer = net.backend[-1]
        g = torch.Generator().manual_seed(3)
        x = (torch.rand(1, layer.w.in_features, generator=g) < 0.1).float()
        s = -(torch.rand(1, layer.hidden_size, generator=g) < 0.1).float()
        st = SpikGRUState(torch.randn(1, layer.hidden_size, generator=g), torch.randn(1, layer.hidden_size, generator=g), s)
        for a, b in zip((layer.step(x, st)[0], *layer.step(x, st)[1]), (GatherGRU(layer).step(x, st)[0], *GatherGRU(layer).step(x, st)[1])):
            worst = max(worst, (a - b).abs().max().item())
    assert worst < 1e-4


def test_small_models_step_on_one_thread(exported):
    from model.runtime import default_threads

    _, path = exported
    assert path.stat().st_size < 16e6 and default_threads(path) == 1
    assert OnnxRunner(path).session.get_session_options().intra_op_num_threads == 1
