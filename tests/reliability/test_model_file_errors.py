"""Bad model files given to `spikelip replay --model X --headless`: exit status 2 and one line that
names the file, never a traceback."""
from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest
from onnx import TensorProto, helper

from model import build
from model.checkpoint import save_checkpoint
from model.onnx_export import FORMAT, META_KEY
from stream.sources.npy import save_clip
from reliability_helpers import REPLAY, clip, one_error_line, run_cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save_clip(root / "clip.npy", clip())
    meta = save_checkpoint(build("small"), root / "good" / "small")
    return root, meta


def _onnx(path, with_metadata: bool):
    """A valid ONNX graph of another model (one Relu), with or without SpikeLip metadata."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph)
    if with_metadata:
        meta = {"format": FORMAT, "config": {"num_classes": 2}, "words": ["a", "b"], "frame_shape": [2, 88, 88],
                "state_shapes": [[1, 4]], "state_structure": 0}
        helper.set_model_props(model, {META_KEY: json.dumps(meta)})
    onnx.save(model, path)
    return path


def _corrupt_weights(root, meta):
    folder = root / "corrupt"
    folder.mkdir()
    weights = meta.with_suffix(".safetensors").read_bytes()
    (folder / "small.json").write_text(meta.read_text())
    (folder / "small.safetensors").write_bytes(weights[:8] + b"\xff" * 200 + weights[208:])
    return folder / "small.safetensors", "not a readable safetensors file"


def _mismatched_config(root, meta):
    folder = root / "mismatch"
    folder.mkdir()
    info = json.loads(meta.read_text())
    info["config"]["hidden_size"] *= 2
    (folder / "small.json").write_text(json.dumps(info))
    (folder / "small.safetensors").write_bytes(meta.with_suffix(".safetensors").read_bytes())
    return folder / "small.json", "weights do not match the config in small.json"


def _not_onnx(root, meta):
    (root / "junk.onnx").write_bytes(b"\x08\x07junk" * 40)
    return root / "junk.onnx", "not a readable ONNX model"


def _garbled_json(root, meta):
    (root / "garbled.json").write_text(meta.read_text()[:-40])
    return root / "garbled.json", "garbled.json"


@pytest.mark.parametrize(
    "make",
    [
        _corrupt_weights,
        _mismatched_config,
        _garbled_json,
        lambda root, meta: (_onnx(root / "other.onnx", False), "not a SpikeLip step model"),
        lambda root, meta: (_onnx(root / "tampered.onnx", True), "graph does not match its SpikeLip metadata"),
        _not_onnx,
        lambda root, meta: (root / "missing.safetensors", "no such file"),
    ],
    ids=["corrupt-safetensors", "config-not-matching-weights", "garbled-json", "onnx-of-another-model",
         "onnx-with-other-metadata", "not-onnx", "missing"],
)
def test_bad_model_file_is_one_line_naming_it(files, make, capsys):
    root, meta = files
    path, message = make(root, meta)
    args = [a for a in REPLAY if a not in ("--runtime", "torch")] if path.suffix == ".onnx" else REPLAY
    code, _, err = run_cli([*args, "--model", path, root / "clip.npy"], capsys)
    assert code == 2 and message in one_error_line(err, "replay", path.name)


@pytest.mark.slow
def test_in_a_fresh_process_nothing_else_reaches_stderr(files):
    """onnxruntime logs from C++; a refused model must still leave just the one line."""
    root, _ = files
    path = _onnx(root / "other2.onnx", True)
    proc = subprocess.run([sys.executable, "-m", "app.cli", "replay", "--headless", "--model", str(path),
                           str(root / "clip.npy")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"spikelip replay: error: {path}"), proc.stderr
