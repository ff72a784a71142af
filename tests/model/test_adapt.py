"""`spikelip adapt`: a shifted toy set gets better, new words round-trip, bad folders are one line."""
import json

import numpy as np
import pytest
import torch

from app.cli import main
from app.models import BUNDLED_MODEL
from model import build
from model.adapt import AdaptConfig, adapt, recalibrate_batchnorm, split_takes, with_words
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
def test_fine_tuning_keeps_the_best_epoch_on_the_held_out_takes(shifted, tmp_path):
    result = adapt(AdaptConfig(data=str(shifted), out=str(tmp_path / "run"), model=str(BUNDLED_MODEL),
                               method="readout", lr=1e-2,
                               minutes=1, max_epochs=3, workers=0, progress=False), log=lambda line: None)
    record = result["adapt"]
    assert record["epochs"] == 3 and len(record["history"]) == 3 and record["held_out_takes"] == len(WORDS)
    scores = [0.0] + [h["held_out_top1"] for h in record["history"]]
    assert scores[record["best_epoch"]] == max(scores[1:] + [scores[record["best_epoch"]]])


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
