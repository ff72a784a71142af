"""Training lowers the loss, resume continues identically, eval numbers follow from predictions."""
import argparse
import csv
import dataclasses
import json
import os
import time

import numpy as np
import pytest
import torch

from model.build import build
from model.checkpoint import weights_digest
from model.data import DvsLipDataset
from model.evaluate import activity_span, activity_spans, evaluate, streaming_prediction
from model.network import Readings, moved_window
from model.readout import Readout
from model.config import default_words
from model.train import (TrainConfig, add_arguments, batch_loss, config_from_args, distill_loss, learning_rate,
                         readout_loss, train)
from stream.errors import SpikeLipError
from stream.events import make_events
from stream.sources.npy import save_clip

TINY = {"name": "tiny", "input_size": 88, "in_channels": 2, "num_classes": 100, "frontend_neuron": "plif",
        "frontend_mode": "causal", "frontend_widths": [4, 4, 8, 8], "temporal_kernel": 5, "backend": "spikgru2+",
        "hidden_size": 16, "num_layers": 1, "bidirectional": False, "dropout_frontend": 0.0,
        "dropout_backend": 0.0, "dropout_readout": 0.0, "alpha_init": 0.9}


def make_data(root, words=("allow", "water"), clips=3, seed=0):
    """Two classes that differ in where the events are: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for label, word in enumerate(words):
            for k in range(clips):
                n = 3000
                x0 = 30 if label == 0 else 70
                save_clip(root / split / word / f"{k}.npy", make_events(
                    np.sort(rng.integers(0, 160_000, n)), rng.integers(x0, x0 + 25, n), rng.integers(30, 90, n),
                    rng.integers(0, 2, n)))


@pytest.fixture
def setup(tmp_path):
    make_data(tmp_path / "data")
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(TINY))
    return tmp_path, cfg_path


def config(tmp_path, cfg_path, out, epochs, **kw):
    return TrainConfig(data=str(tmp_path / "data"), model=str(cfg_path), out=str(tmp_path / out), epochs_constant=epochs,
                       epochs_cosine=0, warmup_epochs=0, batch_size=2, lr=3e-3, bins=12, workers=0, seed=3,
                       spatial_augment=False, temporal_augment=False, **kw)


def test_schedule_follows_the_paper():
    cfg = TrainConfig(epochs_constant=100, epochs_cosine=100)
    assert learning_rate(cfg, 0.5) == pytest.approx(1.5e-4, rel=0.01)  # warm-up
    assert learning_rate(cfg, 50) == 3e-4
    assert learning_rate(cfg, 100) == pytest.approx(1e-4)
    assert learning_rate(cfg, 200) == pytest.approx(5e-6)


@pytest.mark.slow
def test_a_few_steps_lower_the_loss(setup):
    tmp_path, cfg_path = setup
    history = [train(config(tmp_path, cfg_path, "run", epochs=e)) for e in range(1, 5)]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["metrics"]["test_top1"] == history[-1]["test_top1"] and card["config"]["name"] == "tiny"
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]  # each call resumed and ran one more epoch
    assert float(rows[-1]["test_top1"]) == history[-1]["test_top1"]


@pytest.mark.slow
def test_a_run_by_minutes_lays_the_schedule_over_the_time_and_stops_when_it_is_spent(setup, monkeypatch):
    """--minutes: with a clock that advances 1 s at each reading, the run stops at the first step
    past the time, the learning rate goes from the constant phase down the cosine as the time is
    spent, and a resume with the minutes spent trains nothing more."""
    import types

    import model.train as train_module

    tmp_path, cfg_path = setup
    ticks = iter(range(10_000))
    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(time=lambda: float(next(ticks))))
    lrs = []
    real_step = train_module.optimizer_step
    monkeypatch.setattr(train_module, "optimizer_step", lambda learner, x, y, lr, *t: lrs.append(lr) or real_step(learner, x, y, lr, *t))
    cfg = dataclasses.replace(config(tmp_path, cfg_path, "timed", epochs=2, minutes=0.25),  # 15 "seconds"
                              epochs_cosine=4, lr=1e-3, lr_cosine=1e-3, lr_min=1e-5)
    row = train(cfg)
    history = torch.load(tmp_path / "timed" / "last.pt", weights_only=False)["history"]
    assert 15 <= sum(r["epoch_s"] for r in history) <= 17
    assert lrs[0] == 1e-3 and lrs[-1] < 1e-4 and any(1e-4 < lr < 1e-3 for lr in lrs)
    assert lrs == sorted(lrs, reverse=True)
    assert len(history) > cfg.epochs / 2 and "test_top1" in row and row == history[-1]
    steps = len(lrs)
    assert train(cfg) == row and len(lrs) == steps


@pytest.mark.slow
def test_a_network_reading_a_wider_window_trains_and_evaluates_on_it(setup, tmp_path):
    """input_size 104: the training crops, the held-out crops and the checkpoint all follow it."""
    root, _ = setup
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps({**TINY, "input_size": 104}))
    row = train(config(root, wide, "wide", epochs=1))
    assert "test_top1" in row and build(tmp_path / "wide" / "model.json").config["input_size"] == 104


@pytest.mark.slow
def test_tensorboard_logs_what_the_csv_logs_and_a_resume_continues_it(setup):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    tmp_path, cfg_path = setup
    train(config(tmp_path, cfg_path, "run", epochs=1))
    # event files are read in name order, and a name's time is in whole seconds (then a per-process
    # counter that sorts 10 before 9): each file gets a second of its own, as real runs have
    time.sleep(1.1)
    with SummaryWriter(str(tmp_path / "run" / "tensorboard")) as killed:  # a run killed in epoch 2
        for step in (4, 5):
            killed.add_scalar("step/loss", 99.0, step)
    time.sleep(1.1)
    train(config(tmp_path, cfg_path, "run", epochs=2))  # resumed from epoch 1: a third event file
    board = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    board.Reload()
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    for key in ("lr", "train_loss", "train_acc", "test_top1"):
        logged = board.Scalars(f"epoch/{key}")
        assert [e.step for e in logged] == [int(r["step"]) for r in rows] == [3, 6]
        assert [e.value for e in logged] == pytest.approx([float(r[key]) for r in rows], rel=1e-6)
    losses = board.Scalars("step/loss")
    assert [e.step for e in losses] == [1, 2, 3, 4, 5, 6] and 99.0 not in [e.value for e in losses]
    train(config(tmp_path, cfg_path, "off", epochs=1, tensorboard=False))
    assert not (tmp_path / "off" / "tensorboard").exists()


@pytest.mark.slow
def test_resume_continues_identically(setup):
    tmp_path, cfg_path = setup
    straight = train(config(tmp_path, cfg_path, "a", epochs=2))
    train(config(tmp_path, cfg_path, "b", epochs=1))
    resumed = train(config(tmp_path, cfg_path, "b", epochs=2))  # picks up b/last.pt at epoch 1
    assert resumed["train_loss"] == straight["train_loss"]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


@pytest.mark.slow
def test_fine_tuning_starts_from_the_checkpoint_and_records_it(setup):
    tmp_path, cfg_path = setup
    train(config(tmp_path, cfg_path, "base", epochs=2, trained_on="tiny data"))
    base = tmp_path / "base" / "model.json"
    card = json.loads(base.read_text())
    assert card["training"]["epochs"] == 2 and card["training"]["steps"] == 6 and card["training"]["started_from"] is None
    assert card["training"]["recipe"]["lr"] == 3e-3
    # where the training clips' mouth sits (for adapt): make_data's two uniform patches, x 30-54 and
    # 70-94 (mean 62, sd sqrt((25^2 - 1) / 12 + 20^2)), y 30-89; most pixels see nothing (floor 0)
    mouth = card["mouth"]
    assert mouth["clips"] == 6 and mouth["events"] == 6 * 3000
    assert abs(mouth["x"] - 62) < 0.6 and abs(mouth["y"] - 59.5) < 0.6 and abs(mouth["width"] - 21.26) < 0.3
    # and how long each word's movement lasts there (for adapt's pace): events over 0-160 ms
    assert card["pace"]["clips"] == 6 and set(card["pace"]["span_ms"]) == {"allow", "water"}
    assert all(0 < span <= 160 for span in card["pace"]["span_ms"].values())
    cfg = config(tmp_path, cfg_path, "ft", epochs=1, trained_on="tiny data")
    cfg.model, cfg.lr = str(base), 0.0  # lr 0: the weights must stay those of the checkpoint
    train(cfg)
    start = build(str(base)).state_dict()
    tuned = torch.load(tmp_path / "ft" / "last.pt", weights_only=False)["model"]
    for name, _ in build(TINY).named_parameters():  # parameters only: BatchNorm statistics move in train mode
        torch.testing.assert_close(tuned[name], start[name], rtol=0, atol=0)
    origin = json.loads((tmp_path / "ft" / "model.json").read_text())["training"]["started_from"]
    assert origin["checkpoint"] == str(base) and origin["training"]["epochs"] == 2
    assert origin["trained_on"] == "tiny data" and origin["metrics"] == card["metrics"]


@pytest.mark.slow
def test_extra_train_folders_join_the_training_set(setup):
    tmp_path, cfg_path = setup
    make_data(tmp_path / "more", clips=2, seed=1)
    cfg = config(tmp_path, cfg_path, "mix", epochs=1, extra_train=[str(tmp_path / "more")], streaming_loss_after_end=40.0)
    assert train(cfg)["step"] == 5  # (6 + 4 train clips) / batch 2
    card = json.loads((tmp_path / "mix" / "model.json").read_text())
    assert card["trained_on"] == f"{tmp_path / 'data'} (train split) + {tmp_path / 'more'} (train split)"
    assert card["training"]["recipe"]["extra_train"] == [str(tmp_path / "more")]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--data", "d", "--extra-train", "e1", "e2"])
    assert config_from_args(args).extra_train == ["e1", "e2"]
    args = parser.parse_args(["--data", "d", "--extra-train", "e1", "--extra-train", "e2"])  # repeated: all kept
    assert config_from_args(args).extra_train == ["e1", "e2"]
    assert config_from_args(parser.parse_args(["--data", "d"])).extra_train == []
    cfg.extra_train, cfg.out = [str(tmp_path / "nowhere")], str(tmp_path / "bad")
    with pytest.raises(SpikeLipError, match="nowhere: no 'train' folder"):
        train(cfg)


def test_readout_loss_trains_what_the_app_shows_after_the_word():
    """Against the app's own `Readout`, stepped bin by bin and reset at each clip's onset."""
    torch.manual_seed(0)
    logits, labels = torch.randn(3, 20, 5, dtype=torch.float64), torch.tensor([0, 3, 4])
    spans = torch.tensor([[2, 9], [0, 15], [5, 19]])
    expected = []
    for b, (onset, end) in enumerate(spans.tolist()):
        readout = Readout([str(c) for c in range(5)])
        for t in range(20):
            if t == onset:
                readout.reset()
            p = readout.update(logits[b, t])
            if t >= min(end + 3, 19):
                expected.append(-np.log(p[labels[b]]))
    assert float(readout_loss(logits, labels, spans, after_end_bins=3)) == pytest.approx(np.mean(expected))


def test_distill_loss_is_the_tempered_kl_of_the_clip_means():
    """Against the KL divergence written out in NumPy (Hinton et al.'s T^2 scaling)."""
    torch.manual_seed(0)
    logits, teacher, t = torch.randn(3, 7, 5, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64), 2.0

    def log_softmax(z):
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    student, target = log_softmax(logits.mean(1).numpy() / t), log_softmax(teacher.numpy() / t)
    expected = t * t * np.mean((np.exp(target) * (target - student)).sum(1))
    assert float(distill_loss(logits, teacher, t)) == pytest.approx(expected)
    assert float(distill_loss(teacher[:, None].expand(3, 7, 5), teacher)) == pytest.approx(0, abs=1e-12)


def test_the_gpus_bfloat16_loss_runs_on_the_cpu_and_matches_float32(tmp_path):
    """A GPU trains under bfloat16 autocast; every loss term (clip, spike, readout, distillation)
    runs that way here too, backward included, and lands near the float32 loss."""
    torch.manual_seed(0)
    cfg = TrainConfig(model="small", out=str(tmp_path), spike_loss=1e-3, streaming_loss_after_end=20.0)
    net = build("small")
    x = torch.poisson(torch.full((2, 8, 2, 88, 88), 0.05)) * torch.tensor([1.0, -1.0]).view(1, 1, 2, 1, 1)
    y, teacher = torch.tensor([3, 7]), torch.randn(2, 100)
    losses = {}
    for bf16 in (False, True):
        net.zero_grad()
        logits, loss = batch_loss(cfg, net, net, torch.device("cpu"), bf16=bf16)(x, y, teacher)
        loss.backward()
        assert logits.dtype == (torch.bfloat16 if bf16 else torch.float32)
        assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
        losses[bf16] = float(loss.detach())
    assert losses[True] == pytest.approx(losses[False], rel=0.05)


@pytest.mark.slow
def test_distillation_reads_the_teacher_once_on_the_clean_centred_clips(setup):
    tmp_path, cfg_path = setup
    train(config(tmp_path, cfg_path, "base", epochs=1))
    base = tmp_path / "base" / "model.json"
    cfg = config(tmp_path, cfg_path, "robust", epochs=1, distill=str(base), camera_augment=True,
                 camera_augment_fraction=0.5)
    cfg.model = str(base)
    assert train(cfg)["step"] == 3
    stored = tmp_path / "robust" / "teacher-logits.npz"
    teacher, clean = build(str(base)), DvsLipDataset(tmp_path / "data", "train", default_words(100), bins=12)
    with torch.no_grad(), np.load(stored) as f:
        assert f["clips"].tolist() == [str(path) for path, _ in clean.clips]
        expected = torch.stack([teacher(x[None]).mean(1)[0] for x, _ in clean])
        np.testing.assert_allclose(f["logits"], expected.numpy(), rtol=1e-5, atol=1e-5)
    made = stored.stat().st_mtime_ns
    cfg.epochs_constant = 2  # resumed: the same teacher and clips, read back
    assert train(cfg)["step"] == 6 and stored.stat().st_mtime_ns == made
    cfg.distill = str(tmp_path / "robust" / "model.json")  # another teacher: made again
    for epochs in (3, 4):  # the second time, the same path holds other weights: made again too
        cfg.epochs_constant, teacher = epochs, weights_digest(build(cfg.distill))
        train(cfg)
        with np.load(stored) as f:
            assert str(f["teacher"]) == f"{teacher}, 1 reading(s)"


def test_one_reading_trains_through_the_centre_unmirrored_and_the_checkpoint_keeps_every_reading(setup, capsys):
    tmp_path, cfg_path = setup
    many = {**TINY, "mirror": True, "window_offsets": [[2, 2], [2, -2]], "dropout_backend": 0.3}
    net, one = build(many), build(TINY)
    one.load_state_dict(net.state_dict())
    net.training_reading = Readings()
    x = torch.rand(2, 6, 2, 88, 88)
    net.train(), one.train()
    torch.manual_seed(1)
    trained = net(x)
    torch.manual_seed(1)  # the same dropout masks: the same rows
    torch.testing.assert_close(trained, one(x))
    net.eval(), one.eval()
    with torch.no_grad():  # evaluation reads all four: each window, each mirrored
        rows = [moved_window(x, 2, 2), moved_window(x, 2, -2)]
        expected = torch.stack([one(r) for r in rows + [r.flip(-1) for r in rows]]).mean(0)
        torch.testing.assert_close(net(x), expected)
    cfg_path.write_text(json.dumps(many))
    train(config(tmp_path, cfg_path, "base", epochs=1))
    assert "reads each bin 4 times and trains through every reading (--one-reading" in capsys.readouterr().out
    base = tmp_path / "base" / "model.json"
    cfg = config(tmp_path, cfg_path, "one", epochs=1, one_reading=True, distill=str(base))
    cfg.model = str(base)
    assert train(cfg)["step"] == 3 and "--one-reading" not in capsys.readouterr().out
    card = json.loads((tmp_path / "one" / "model.json").read_text())
    assert card["config"]["mirror"] is True and card["config"]["window_offsets"] == [[2, 2], [2, -2]]
    assert card["training"]["recipe"]["one_reading"] is True
    teacher = build(str(base))
    teacher.reading = Readings()
    clean = DvsLipDataset(tmp_path / "data", "train", default_words(100), bins=12)
    with torch.no_grad(), np.load(tmp_path / "one" / "teacher-logits.npz") as f:
        assert str(f["teacher"]) == f"{weights_digest(teacher)}, 1 reading(s)"
        expected = torch.stack([teacher(x[None]).mean(1)[0] for x, _ in clean])
        np.testing.assert_allclose(f["logits"], expected.numpy(), rtol=1e-5, atol=1e-5)


def test_activity_spans_find_the_moving_mouth():
    x = torch.zeros(3, 30, 2, 8, 8)
    x[0, 4:20, 0, 2, 2] = 5.0
    x[0, 25, 1, 3, 3] = 1.0  # a noise event, below a quarter of the busy bins' activity
    x[1, 10:12] = 1.0
    assert activity_spans(x).tolist() == [[4, 19], [10, 11], [0, 29]]  # the last clip is silent
    assert activity_span(x[0]) == (4, 19)


def test_eval_numbers_follow_from_the_predictions(setup):
    tmp_path, _ = setup
    net = build(TINY).eval()
    ds = DvsLipDataset(tmp_path / "data", "test", net.words, bins=12)
    result = evaluate(net, ds, batch_size=4, workers=0, progress=False)
    with torch.no_grad():
        xs = torch.stack([ds[i][0] for i in range(len(ds))])
        ys = torch.tensor([ds[i][1] for i in range(len(ds))])
        logits = net(xs)
    clip = logits.mean(1)
    assert result["clips"] == len(ds)
    assert result["top1"] == pytest.approx(float((clip.argmax(1) == ys).float().mean()))
    assert result["top5"] == pytest.approx(float((clip.topk(5, 1).indices == ys[:, None]).any(1).float().mean()))
    conf = np.array(result["confusion"])
    assert conf.sum() == len(ds) and conf.trace() == round(result["top1"] * len(ds))
    onsets = [activity_span(x)[0] for x in xs]
    # at the onset bin the app's readout has just restarted: its prediction is that bin's logits alone
    at_onset = np.mean([int(logits[b, onsets[b]].argmax() == ys[b]) for b in range(len(ds))])
    onset_curve = result["accuracy_since_onset"]
    assert onset_curve[0]["ms"] == 0 and onset_curve[0]["clips"] == len(ds)
    assert onset_curve[0]["accuracy"] == pytest.approx(at_onset)
    assert sum(p["clips"] for p in onset_curve) == sum(12 - o for o in onsets)


def test_whole_clips_are_each_read_to_their_own_end(tmp_path):
    """`bins=None`: every clip's mean logits over its own bins (at least min_bins), each clip stepped
    alone; the fixed window cuts the longer clips, so it reads them otherwise."""
    rng = np.random.default_rng(4)
    for k, end_us in enumerate((100_000, 266_667, 400_000)):  # up to bins 8, 20 and 30
        for word in ("allow", "water"):
            n = 2000
            save_clip(tmp_path / "test" / word / f"{k}.npy", make_events(
                np.linspace(0, end_us, n).astype(np.int64), rng.integers(20, 70, n), rng.integers(30, 90, n),
                rng.integers(0, 2, n)))
    net = build(TINY).eval()
    whole = DvsLipDataset(tmp_path, "test", net.words, bins=None, min_bins=12)
    result = evaluate(net, whole, batch_size=4, workers=0, progress=False)
    with torch.no_grad():
        clips = [whole[i] for i in range(len(whole))]
        assert sorted({len(x) for x, _ in clips}) == [12, 21, 31]
        means = torch.stack([net(x[None])[0].mean(0) for x, _ in clips])
    ys = torch.tensor([y for _, y in clips])
    assert result["top1"] == pytest.approx(float((means.argmax(1) == ys).float().mean()))
    assert np.array_equal(np.array(result["confusion"]).sum(1)[ys.unique()], [3, 3])

    from app.cli import main
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    for flag, read in (["--whole-clips"], "whole"), ([], "first 90 bins"):
        assert main(["eval", "--model", str(tmp_path / "tiny.json"), "--data", str(tmp_path), "--workers", "0",
                     "--json", str(tmp_path / "e.json"), *flag]) == 0
        report = json.loads((tmp_path / "e.json").read_text())
        assert report["clips_read"] == read and report["clips"] == 6


def test_streaming_prediction_restarts_the_running_mean_at_onset():
    logits = torch.randn(20, 7)
    for onset in (0, 1, 6, 19):
        expected = [int(logits[: k + 1].mean(0).argmax()) if k < onset else int(logits[onset: k + 1].mean(0).argmax())
                    for k in range(20)]
        assert streaming_prediction(logits, onset).tolist() == expected


@pytest.mark.slow
def test_bundle_records_the_held_out_evaluation(setup, monkeypatch, capsys):
    from app.cli import main
    from app.models import onnx_file_for
    from model.boundary import BoundaryHead, Decision, load_head, save_head
    from model.checkpoint import load_checkpoint, save_checkpoint

    tmp_path, _ = setup
    monkeypatch.setenv("SPIKELIP_CACHE", str(tmp_path / "cache"))
    mouth = {"x": 63.0, "y": 66.0, "width": 19.0, "clips": 6, "events": 18000}
    trained = save_checkpoint(build(TINY).eval(), tmp_path / "run" / "model", trained_on="tiny train split",
                              training={"epochs": 3}, mouth=mouth)
    report = tmp_path / "eval.json"
    assert main(["eval", "--model", str(trained), "--data", str(tmp_path / "data"), "--workers", "0",
                 "--json", str(report)]) == 0
    out = tmp_path / "models" / "small.json"
    assert main(["bundle", str(trained), "--eval", str(report), "--evaluated-on", "held-out speakers",
                 "--out", str(out)]) == 0
    bundled, original = load_checkpoint(out), load_checkpoint(trained)
    for k, v in original.network.state_dict().items():
        torch.testing.assert_close(bundled.network.state_dict()[k], v, rtol=0, atol=0)
    measured = json.loads(report.read_text())
    held_out = bundled.info["metrics"]["held_out"]
    assert held_out["top1"] == measured["top1"] and held_out["data"] == "held-out speakers"
    assert bundled.info["trained_on"] == "tiny train split" and bundled.info["training"] == {"epochs": 3}
    assert bundled.info["mouth"] == mouth  # what adapt moves a user's mouth to
    assert len(list(out.parent.glob("tiny-*-sparse.onnx"))) == 1  # shipped, so no export on first use
    assert len(list(out.parent.glob("tiny-*-sparse-spikes.onnx"))) == 1  # and the window's

    assert "boundary" not in bundled.info

    retrained = save_checkpoint(build(TINY).eval(), tmp_path / "run2" / "model", trained_on="tiny, longer")
    head = BoundaryHead(len(build(TINY).words))
    save_head(head, retrained, Decision(min_steps=12), trained_on="tiny sentences")  # a head for these weights
    assert main(["bundle", str(retrained), "--eval", str(report), "--evaluated-on", "held-out speakers",
                 "--out", str(out)]) == 0
    kept, decision = load_head(out)  # bundled with the weights it was trained for
    assert decision.min_steps == 12 and json.loads(out.read_text())["boundary"]["trained_on"] == "tiny sentences"
    assert all(torch.equal(kept.state_dict()[k], v) for k, v in head.state_dict().items())
    assert sorted(p.name for p in out.parent.glob("tiny-*.onnx")) == sorted(
        onnx_file_for(build(out), sparse=True, spikes=spikes).name for spikes in (False, True))  # the old ones gone

    measured["confusion"] = measured["confusion"][:3]  # a report of another word list
    report.write_text(json.dumps(measured))
    capsys.readouterr()
    assert main(["bundle", str(trained), "--eval", str(report), "--evaluated-on", "x", "--out", str(out)]) == 2
    assert "another word list" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_trains_on_two_cpu_processes(setup):
    """The multi-GPU path (DistributedDataParallel under torchrun) runs on CPU with gloo: each
    process takes half of every epoch, rank 0 writes the checkpoint, and the loss goes down."""
    import subprocess
    import sys

    tmp_path, cfg_path = setup
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "model.train", "--data", str(tmp_path / "data"), "--model", str(cfg_path),
           "--out", str(tmp_path / "ddp"), "--epochs-constant", "4", "--epochs-cosine", "0", "--warmup-epochs", "0",
           "--batch-size", "2", "--lr", "3e-3", "--bins", "12", "--workers", "0", "--seed", "3",
           "--no-spatial-augment", "--no-temporal-augment", "--eval-every", "4"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-6000:]  # the processes' own messages come before torchrun's summary
    with open(tmp_path / "ddp" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]  # 6 clips / (2 processes x batch 2), rounded up
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert build(tmp_path / "ddp" / "model.json").config["name"] == "tiny" and rows[-1]["test_top1"] != ""


@pytest.mark.slow
def test_torchrun_by_minutes_stops_every_process_together(setup):
    """Under DDP each process would stop at its own clock's minute (and step at its own learning
    rate): rank 0's clock is shared, so the run ends, saved, instead of hanging."""
    import subprocess
    import sys

    tmp_path, cfg_path = setup
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "model.train", "--data", str(tmp_path / "data"), "--model", str(cfg_path),
           "--out", str(tmp_path / "ddp"), "--minutes", "0.05", "--epochs-constant", "0", "--epochs-cosine", "1",
           "--warmup-epochs", "0", "--batch-size", "2", "--bins", "12", "--workers", "0", "--no-spatial-augment",
           "--no-temporal-augment", "--eval-every", "1000", "--no-tensorboard"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-6000:]  # the processes' own messages come before torchrun's summary
    with open(tmp_path / "ddp" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert 3 <= sum(float(r["epoch_s"]) for r in rows) < 3 + 2 * max(float(r["epoch_s"]) for r in rows)
    assert rows[-1]["test_top1"] != "" and all(r["test_top1"] == "" for r in rows[:-1])


@pytest.mark.slow
def test_a_run_killed_while_saving_keeps_the_last_whole_checkpoint(setup, monkeypatch):
    """Ctrl-C (or the end of a session) during an epoch's save must not leave a half-written
    last.pt or model.safetensors: the previous epoch's files stay whole and resume works."""
    tmp_path, cfg_path = setup
    first = train(config(tmp_path, cfg_path, "k", epochs=1))
    saved = (tmp_path / "k" / "last.pt").read_bytes(), (tmp_path / "k" / "model.safetensors").read_bytes()
    real_save = torch.save

    def killed(obj, f, *a, **kw):
        real_save(obj, f, *a, **kw)
        with open(f, "r+b") as out:
            out.truncate(100)  # half written ...
        raise KeyboardInterrupt  # ... when the run was stopped

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        train(config(tmp_path, cfg_path, "k", epochs=2))
    monkeypatch.undo()
    assert (tmp_path / "k" / "last.pt").read_bytes() == saved[0]
    assert not list((tmp_path / "k").glob(".*.tmp"))
    resumed = train(config(tmp_path, cfg_path, "k", epochs=2))  # picks up epoch 1's last.pt
    straight = train(config(tmp_path, cfg_path, "s", epochs=2))
    assert resumed["train_loss"] == straight["train_loss"] and first["epoch"] == 1
    assert (tmp_path / "k" / "model.safetensors").read_bytes() != saved[1]
