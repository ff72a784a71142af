"""The bundled model: a checkpoint that says what it was trained and measured on, small enough to
ship, its ONNX export shipped beside it, and that export agreeing with PyTorch on the sample."""
import json

import pytest
import torch

from app.models import BUNDLED_MODEL, load_model, onnx_file_for

pytestmark = pytest.mark.skipif(not BUNDLED_MODEL.exists(), reason="no bundled model in assets/models")


def test_checkpoint_records_its_data_and_held_out_accuracy():
    info = json.loads(BUNDLED_MODEL.read_text())
    held_out = info["metrics"]["held_out"]
    assert "SynthLip" in info["trained_on"] and "seed" in held_out["data"]
    assert 0 < held_out["top5"] <= 1 and 0 < held_out["top1"] <= held_out["top5"] and held_out["clips"] >= 1000
    files = [BUNDLED_MODEL, BUNDLED_MODEL.with_suffix(".safetensors"), *BUNDLED_MODEL.parent.glob("*.onnx")]
    assert sum(p.stat().st_size for p in files) < 20e6


@pytest.mark.slow
def test_shipped_onnx_export_agrees_with_pytorch_on_the_sample():
    from benchmarks.bench_runtime import agreement, recording_frames

    torch.set_num_threads(2)
    net, _, description, _ = load_model(None, quiet=True)
    assert description.startswith("small (bundled)")
    for spikes in (False, True):  # shipped: no export at first use, headless or in the window
        assert onnx_file_for(net, sparse=True, spikes=spikes).parent == BUNDLED_MODEL.parent
    runner = load_model(None, quiet=True, runtime="sparse").net
    frames = recording_frames()
    with torch.inference_mode():
        free_running = agreement({"models": {"pytorch eager": net, "sparse": runner}}, frames)["sparse"]
    assert free_running["steps"] > 300 and free_running["top1_running_mean"] >= 0.99
