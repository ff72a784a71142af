"""The bundled model: a checkpoint that says what it was trained and measured on, small enough to
ship, its ONNX export shipped beside it, and that export agreeing with PyTorch on the sample."""
import json

import numpy as np
import pytest
import torch

from app.latency import binned_frames
from app.models import BUNDLED_MODEL, load_model, onnx_file_for
from app.pipeline import model_input
from model import Readout
from stream.roi import Crop, Roi
from stream.sources import open_file

SAMPLES = BUNDLED_MODEL.parents[1] / "samples"
pytestmark = pytest.mark.skipif(not BUNDLED_MODEL.exists(), reason="no bundled model in assets/models")


def test_checkpoint_records_its_data_and_held_out_accuracy():
    info = json.loads(BUNDLED_MODEL.read_text())
    held_out = info["metrics"]["held_out"]
    assert "SynthLip" in info["trained_on"] and "seed" in held_out["data"]
    assert 0 < held_out["top5"] <= 1 and 0 < held_out["top1"] <= held_out["top5"] and held_out["clips"] >= 1000
    files = [BUNDLED_MODEL, BUNDLED_MODEL.with_suffix(".safetensors"), *BUNDLED_MODEL.parent.glob("*.onnx")]
    assert sum(p.stat().st_size for p in files) < 20e6


def test_shipped_onnx_export_agrees_with_pytorch_on_the_sample():
    torch.set_num_threads(2)
    net, words, description, _ = load_model(None, quiet=True)
    assert description.startswith("small (bundled)")
    assert onnx_file_for(net, sparse=True).parent == BUNDLED_MODEL.parent  # shipped: no export at first use
    runner = load_model(None, quiet=True, runtime="sparse").net
    meta = json.loads((SAMPLES / "sample.json").read_text())
    with open_file(SAMPLES / "sample.aedat4") as source:
        frames, _ = binned_frames(source, Crop(source.sensor, Roi(*meta["mouth_roi"])))
    ref_read, got_read = Readout(words), Readout(words)
    agree = 0
    with torch.inference_mode():
        ref_state, got_state = net.initial_state(1), runner.initial_state(1)
        for frame in frames:
            x = model_input(frame)
            ref, ref_state = net.step(x, ref_state)
            got, got_state = runner.step(x, got_state)
            ref_read.update(ref[0])
            got_read.update(got[0])
            agree += int(np.argmax(ref_read.mean) == np.argmax(got_read.mean))
    assert len(frames) > 300 and agree >= 0.99 * len(frames)
