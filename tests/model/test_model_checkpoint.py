"""Checkpoints: round trip to identical logits; broken files are user errors naming the file."""
import json

import pytest
import torch
from model_helpers import SMALL_WIDTHS, events

import model
from stream.errors import SpikeLipError


@pytest.fixture
def saved(tmp_path):
    net = model.build("small", frontend_widths=SMALL_WIDTHS, hidden_size=16, input_size=40)
    net.train()
    with torch.no_grad():
        net(events(2, 4, 40, seed=0))  # non-trivial BatchNorm buffers
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    net.eval()
    meta = model.save_checkpoint(net, tmp_path / "ckpt" / "word-model", trained_on="unit test", metrics={"top1": 0.5})
    return net, meta


def test_round_trip_identical_logits(saved):
    net, meta = saved
    x = events(1, 5, 40, seed=1)
    with torch.no_grad():
        expected = net(x)
    for source in (meta, meta.with_suffix(".safetensors"), meta.parent, str(meta)):
        loaded = model.build(source)
        assert not loaded.training
        with torch.no_grad():
            assert torch.equal(loaded(x), expected)
    ckpt = model.load_checkpoint(meta)
    assert ckpt.network.words == net.words


def test_description_beside_weights(saved):
    net, meta = saved
    info = json.loads(meta.read_text())
    assert info["config"] == net.config
    assert info["words"][:3] == ["accused", "action", "allow"] and len(info["words"]) == 100
    assert info["trained_on"] == "unit test"
    assert info["metrics"] == {"top1": 0.5}
    assert info["created"] and info["spikelip_version"]
    assert (meta.parent / info["weights"]).is_file()
    assert "mouth" not in info  # only when the clips' mouth place was measured (training, adapt)


def test_the_learnt_mouth_place_is_kept(saved, tmp_path):
    net, _ = saved
    mouth = {"x": 63.7, "y": 66.5, "width": 19.1, "clips": 40, "events": 1000}
    meta = model.save_checkpoint(net, tmp_path / "m", mouth=mouth)
    assert model.load_checkpoint(meta).info["mouth"] == mouth


def one_line_error(source, fragment):
    with pytest.raises(SpikeLipError) as err:
        model.build(source)
    message = str(err.value)
    assert fragment in message and "\n" not in message
    return message


def test_corrupt_weights(saved):
    _, meta = saved
    weights = meta.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:200])
    message = one_line_error(meta, str(weights))
    assert "safetensors" in message


def test_missing_files(saved, tmp_path):
    _, meta = saved
    one_line_error(tmp_path / "nothing.safetensors", "nothing.safetensors")
    meta.with_suffix(".safetensors").unlink()
    one_line_error(meta, "word-model.safetensors")


def test_config_not_matching_weights(saved):
    _, meta = saved
    info = json.loads(meta.read_text())
    info["config"]["hidden_size"] = 24
    meta.write_text(json.dumps(info))
    message = one_line_error(meta, "word-model.safetensors")
    assert "do not match" in message and "backend.0" in message


def test_bad_config_in_checkpoint(saved):
    _, meta = saved
    info = json.loads(meta.read_text())
    info["config"]["backend"] = "transformer"
    meta.write_text(json.dumps(info))
    one_line_error(meta, "word-model.json")


def test_directory_with_two_checkpoints(saved):
    net, meta = saved
    model.save_checkpoint(net, meta.parent / "other")
    one_line_error(meta.parent, "2 checkpoints")
