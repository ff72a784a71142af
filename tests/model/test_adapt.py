"""`spikelip adapt`: a shifted toy set gets better, new words round-trip, bad folders are one line."""
import json
import types

import numpy as np
import pytest
import torch

from app.cli import main
from app.models import BUNDLED_MODEL
import model.adapt
from model import build
from model.adapt import (AdaptConfig, Views, adapt, cosine_lr, fine_tune, recalibrate_batchnorm, split_takes,
                         with_words)
from model.data import DvsLipDataset, eval_transform
from stream.synthlip import generate_dataset, generate_sentence
from stream.transforms import Affine, BackgroundNoise, Compose, DropEvents, shift_folder

pytestmark = pytest.mark.skipif(not BUNDLED_MODEL.exists(), reason="bundled model missing")

WORDS = ["water", "price", "million", "evening", "allow", "court", "several", "leaders"]
# 80 % of events lost: beyond what the bundled model was trained with (RandomShift: up to 60 %), so
# it still reads few of these clips until its BatchNorm statistics follow them.
SHIFT = Compose(Affine(1.25, dx=8), DropEvents(0.8), BackgroundNoise(0.3))


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    """8 DVS-Lip words: 2 takes each of train speakers and 3 of test speakers, all shifted; no
    words.txt, so the model keeps all 100 words."""
    tmp = tmp_path_factory.mktemp("adapt")
    generate_dataset(tmp / "clean", 2, seed=5, split="train", workers=1, progress=False, words=WORDS)
    generate_dataset(tmp / "clean", 3, seed=2, split="test", workers=1, progress=False, words=WORDS)
    (tmp / "clean" / "words.txt").unlink()
    shift_folder(tmp / "clean", tmp / "shifted", SHIFT, seed=3)
    return tmp / "shifted"


def test_a_new_word_list_keeps_the_rows_of_known_words():
    net = build(str(BUNDLED_MODEL))
    out = with_words(net, ["water", "kumquat", "price"])
    assert out.words == ["water", "kumquat", "price"] and out.readout.out_features == 3
    known = net.words.index("price")
    assert torch.equal(out.readout.weight[2], net.readout.weight[known])
    assert not out.readout.weight[1].any()
    assert torch.equal(out.backend[0].w.weight, net.backend[0].w.weight)
    assert with_words(net, net.words) is net


@pytest.mark.slow
def test_batchnorm_statistics_are_those_of_the_new_clips(shifted):
    """After recalibration each BatchNorm's running mean is the mean of its inputs over the clips."""
    net = build(str(BUNDLED_MODEL))
    data = DvsLipDataset(shifted, "train", WORDS, eval_transform())
    norm = next(m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    seen = []
    hook = norm.register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
    recalibrate_batchnorm(net, data, batch_size=len(data), workers=0)
    hook.remove()
    x = seen[0].transpose(0, 1).reshape(seen[0].shape[1], -1)
    assert torch.allclose(norm.running_mean, x.mean(1), atol=1e-5)
    assert not net.training and norm.momentum == 0.1


def test_the_mouth_is_moved_only_when_there_is_something_to_go_by(tmp_path):
    """No learnt mouth in the base checkpoint, or clips whose activity is no mouth-sized patch:
    one log line, and the clips are read as they are."""
    from model.adapt import move_mouth
    from stream.events import make_events
    from stream.sources.npy import save_clip

    rng = np.random.default_rng(0)
    n = 5000
    path = tmp_path / "0.npy"
    save_clip(path, make_events(np.sort(rng.integers(0, 500_000, n)), rng.normal(64, 8, n).clip(0, 127).round(),
                                rng.normal(66, 4, n).clip(0, 127).round(), rng.integers(0, 2, n)))
    learnt = {"x": 63.7, "y": 66.5, "width": 19.0}
    lines = []
    net = build("small")
    assert move_mouth(net, None, [(path, 0)], lines.append) is None and "does not record" in lines[-1]
    assert move_mouth(net, learnt, [(path, 0)], lines.append) is None and "outside" in lines[-1]  # 8 px: 0.42 x
    assert "input_affine" not in net.config
    wide = {**learnt, "width": 9.0}  # the same clip against a model that learnt a narrower mouth
    record = move_mouth(net, wide, [(path, 0)], lines.append)
    assert record["input_affine"] == net.config["input_affine"] and 0.75 < 1 / net.config["input_affine"]["scale"] < 1.0


def test_the_pace_is_matched_only_when_there_is_something_to_go_by(tmp_path):
    """No learnt pace, too few clips of words the model knows, or a pace no speaker has: one log
    line, and the model keeps its own bins, as within 5 % of its pace; 12 takes said 1.3 x as slowly
    give input_pace 1.3."""
    from model.adapt import match_pace
    from stream.events import make_events
    from stream.pace import learnt_pace
    from stream.sources.npy import save_clip
    from stream.transforms import TimeScale

    def takes(name: str, factor: float, n: int = 12) -> list:
        out = []
        for k in range(n):
            rng = np.random.default_rng(k)
            t = np.sort(np.concatenate([[0, 1_500_000], rng.integers(100_000, 400_000 + 30_000 * k, 8000)]))
            path = tmp_path / name / f"{k}.npy"
            path.parent.mkdir(exist_ok=True)
            save_clip(path, TimeScale(factor)(make_events(t, rng.integers(40, 90, len(t)), rng.integers(50, 80, len(t)),
                                                          rng.integers(0, 2, len(t))), rng))
            out.append((path, k % 2))
        return out

    words = ["water", "price"]
    learnt = learnt_pace([(path, words[label]) for path, label in takes("train", 1.0)])
    lines = []
    net = build("small")
    assert match_pace(net, None, takes("slow", 1.3), words, lines.append) is None and "does not record" in lines[-1]
    assert match_pace(net, learnt, takes("few", 1.3, n=6), words, lines.append) is None and "6 of your clips" in lines[-1]
    assert match_pace(net, learnt, takes("crawl", 2.6), words, lines.append) is None and "outside" in lines[-1]
    assert match_pace(net, learnt, takes("slow", 1.3), ["kumquat", "fig"], lines.append) is None  # words it never learnt
    assert "input_pace" not in net.config
    net.config["input_pace"] = 1.4  # a base adapted to another user before
    near = match_pace(net, learnt, takes("near", 1.03), words, lines.append)  # within MIN_CHANGE: its own bins
    assert near["input_pace"] == 1.0 and abs(near["seen"] - 1.03) < 0.01 and "input_pace" not in net.config
    assert "within 5%" in lines[-1]
    record = match_pace(net, learnt, takes("slow", 1.3), words, lines.append)
    assert record == {"seen": net.config["input_pace"], "clips": 12, "input_pace": net.config["input_pace"]}
    assert abs(net.config["input_pace"] - 1.3) < 0.03 and "1.30 x as slowly" in lines[-1]


def test_a_fifth_of_each_words_takes_is_held_out():
    clips = [("a0", 0), ("a1", 0), ("a2", 0), ("b0", 1), ("c0", 2), ("c1", 2)] + [(f"d{k}", 3) for k in range(10)]
    fit, held = split_takes(clips)
    assert held == [2, 5, 14, 15] and fit == [0, 1, 3, 4] + list(range(6, 14))


@pytest.mark.slow
def test_a_tiny_adapt_run_improves_a_shifted_toy_set(shifted, tmp_path):
    result = adapt(AdaptConfig(data=str(shifted), out=str(tmp_path / "run"), model=str(BUNDLED_MODEL),
                               method="bn", workers=0,
                               progress=False), log=lambda line: None)
    m = result["metrics"]
    assert m["before"]["clips"] == m["after"]["clips"] == 3 * len(WORDS)
    assert m["after"]["top1"] > m["before"]["top1"] + 0.1
    saved = json.loads((tmp_path / "run" / "model.json").read_text())
    assert saved["words"] == build(str(BUNDLED_MODEL)).words and saved["metrics"]["after"] == m["after"]
    record = saved["training"]["adapt"]
    assert record["base"]["checkpoint"] == str(BUNDLED_MODEL) and record["train_clips"] == 2 * len(WORDS)
    assert record["data"] == str(shifted) and "adapted from" in saved["trained_on"]
    again = build(str(tmp_path / "run" / "model.json"))  # what every --model accepts
    assert again.words == saved["words"]
    # the mouth, 1.25 x as wide and 8 px right: moved back by about 1 / 1.25 and 8 / 1.25 px
    move = record["mouth"]["input_affine"]
    assert again.config["input_affine"] == move and saved["mouth"] == json.loads(BUNDLED_MODEL.read_text())["mouth"]
    assert abs(move["scale"] - 0.8) < 0.06 and abs(move["dx"] + 6.4) < 3 and abs(move["dy"]) < 3
    report = tmp_path / "eval.json"  # eval reads the clips through the same move
    assert main(["eval", "--model", str(tmp_path / "run" / "model.json"), "--data", str(shifted),
                 "--workers", "0", "--json", str(report)]) == 0
    assert round(json.loads(report.read_text())["top1"], 4) == m["after"]["top1"]


@pytest.mark.slow
def test_a_model_of_several_windows_adapts_on_one_windows_features_a_batch(shifted, tmp_path, monkeypatch):
    """Fine-tuning a model that reads its window at several offsets (config window_offsets) costs
    what one window's does: the takes it trains on, and their copies, come as one window's
    readings; the held-out takes that choose the epoch as every reading."""
    import shutil

    import model.adapt as adapt_module
    from model.config import FOUR_PHASES

    base = tmp_path / "base"
    base.mkdir()
    card = json.loads(BUNDLED_MODEL.read_text())
    card["config"]["window_offsets"] = FOUR_PHASES
    card.pop("boundary", None)
    (base / "small.json").write_text(json.dumps(card))
    shutil.copy(BUNDLED_MODEL.with_suffix(".safetensors"), base / "small.safetensors")
    readings = []
    real = adapt_module.frontend_features

    def recorded(*args, **kwargs):
        features = real(*args, **kwargs)
        readings.append((kwargs.get("one_window", False), features.tensors[0].shape[1]))
        return features

    monkeypatch.setattr(adapt_module, "frontend_features", recorded)
    result = adapt(AdaptConfig(data=str(shifted), out=str(tmp_path / "run"), model=str(base / "small.json"),
                               views=1, max_epochs=1, workers=0, progress=False), log=lambda line: None)
    assert sorted(readings) == [(False, 8), (True, 2), (True, 2)]  # held out; the takes and their copy
    assert result["adapt"]["epochs"] == 1
    assert build(str(tmp_path / "run" / "model.json")).config["window_offsets"] == FOUR_PHASES


def test_the_learning_rate_decays_as_torchs_cosine_annealing():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7)
    for epoch in range(1, 8):
        assert cosine_lr(1e-3, epoch, 7) == pytest.approx(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert cosine_lr(1e-3, 7, 7) < 1e-4


def test_views_draw_each_take_from_every_view():
    views = Views([torch.utils.data.TensorDataset(torch.full((4, 1), float(v))) for v in range(3)])
    assert len(views) == 4
    seen = {float(views[2][0]) for _ in range(100)}
    assert seen == {0.0, 1.0, 2.0}


def _toy_features(words, labels=None, readings: int = 1):
    """(features (N, readings, T, F), spans, labels) of two words whose frontend features differ in
    which half spikes, labelled `labels` (default: `words`)."""
    f = torch.zeros(len(words), 20, 64)
    for i, w in enumerate(words):
        f[i, :, 32 * w : 32 * (w + 1)] = (torch.rand(20, 32) < 0.5).float()
    f = f.unsqueeze(1).expand(-1, readings, -1, -1)
    return torch.utils.data.TensorDataset(f, torch.tensor([[0, 19]] * len(words)), torch.tensor(labels or words))


@pytest.mark.parametrize("held_agree", [True, False])
def test_fine_tuning_is_kept_only_when_the_held_out_takes_read_it_better(held_agree):
    torch.manual_seed(0)
    net = with_words(build(str(BUNDLED_MODEL)), ["yes", "no"])  # new words: their readout starts at zero
    labels = [0, 1] * 8
    fit = _toy_features(labels, readings=net.readings)
    held = _toy_features(labels, None if held_agree else [1 - y for y in labels], net.readings)  # disagreeing: fine-tuning misleads
    before = {k: v.clone() for k, v in net.state_dict().items()}
    cfg = AdaptConfig(data="-", out="-", model="-", method="readout", lr=1e-2, max_epochs=4, batch_size=4,
                      workers=0, progress=False)
    record = fine_tune(net, fit, held, True, cfg, deadline=float("inf"), log=lambda line: None)
    assert record["epochs"] == 4 and [h["epoch"] for h in record["history"]] == [1, 2, 3, 4]
    assert [h["lr"] for h in record["history"]] == [float(f"{cosine_lr(1e-2, e, 4):.3g}") for e in range(1, 5)]
    changed = not torch.equal(net.readout.weight, before["readout.weight"])
    if held_agree:
        assert record["best_epoch"] == 4 and changed and record["history"][-1]["held_out_top1"] == 1.0
    else:
        assert record["best_epoch"] == 0 and not changed
        assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_fine_tuning_fits_its_schedule_to_the_time_budget(monkeypatch):
    clock = iter(np.arange(0.0, 1e4, 0.01))  # every reading of the clock 10 ms later: the same on any machine, under any load
    monkeypatch.setattr(model.adapt, "time", types.SimpleNamespace(perf_counter=lambda: float(next(clock))))
    torch.manual_seed(0)
    net = with_words(build(str(BUNDLED_MODEL)), ["yes", "no"])
    toy = _toy_features([0, 1] * 8, readings=net.readings)
    cfg = AdaptConfig(data="-", out="-", model="-", method="readout", max_epochs=1000, workers=0, progress=False)
    lines = []
    record = fine_tune(net, toy, toy, True, cfg, deadline=model.adapt.time.perf_counter() + 3, log=lines.append)
    assert 1 < record["epochs"] < 1000
    assert record["history"][-1]["lr"] < record["history"][0]["lr"] == 1e-3  # the schedule shrank to the budget
    assert lines[-1].startswith(f"epoch {record['epochs']} of ")
    lines.clear()
    record = fine_tune(net, toy, toy, True, cfg, deadline=model.adapt.time.perf_counter() - 1, log=lines.append)
    assert record["epochs"] == 0 and record["best_epoch"] == 0 and "time budget" in lines[-1]


@pytest.mark.slow
def test_new_words_round_trip_through_synth_adapt_eval_and_replay(tmp_path, capsys):
    words = ["yes", "no", "stop"]
    data = tmp_path / "mine"
    assert main(["synth", str(data), "--clips-per-word", "4", "--seed", "1", "--split", "train",
                 "--words", ",".join(words), "--workers", "1", "--no-progress"]) == 0
    assert main(["synth", str(data), "--clips-per-word", "3", "--seed", "2", "--split", "test",
                 "--words", ",".join(words), "--workers", "1", "--no-progress"]) == 0
    run = tmp_path / "run"
    assert main(["adapt", "--data", str(data), "--out", str(run), "--minutes", "1", "--method", "backend",
                 "--lr", "1e-3", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "before: top-1" in out and "after:  top-1" in out and f"spikelip replay --model {run}" in out
    assert "mouth: " in out and "as wide as the model learnt" in out
    assert main(["eval", "--model", str(run / "model.json"), "--data", str(data), "--json", str(tmp_path / "e.json"),
                 "--workers", "0"]) == 0
    report = json.loads((tmp_path / "e.json").read_text())
    assert set(report["per_word"]) == set(words) and report["top1"] > 1 / 3
    sentence = tmp_path / "s.aedat4"
    generate_sentence("no yes stop", sentence, seed=4)
    capsys.readouterr()
    assert main(["replay", str(sentence), "--headless", "--speed", "0", "--model", str(run / "model.json")]) == 0
    out = capsys.readouterr().out
    assert "mouth resized" in out.splitlines()[0]  # the header says the model moves the mouth
    heard = [line for line in out.splitlines() if line.startswith("  heard")]
    assert heard and all(line.split("'")[1] in words for line in heard)


def test_bad_folders_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["adapt", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spikelip adapt: error: ") and "train" in err[0]
    assert main(["adapt", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]
    words = tmp_path / "words"
    (words / "train" / "water").mkdir(parents=True)
    np.save(words / "train" / "water" / "0.npy", np.zeros(3))
    assert main(["adapt", "--data", str(words), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0.npy" in err[0]
