"""Sentence recordings: AEDAT4 file plus JSON ground truth."""
import json

import numpy as np
import pytest

from stream.errors import SpikeLipError
from stream.synthlip import generate_sentence, load_words


@pytest.fixture(scope="module")
def sentence(tmp_path_factory):
    out = tmp_path_factory.mktemp("sentence") / "s.aedat4"
    doc = generate_sentence("water million", out, seed=3)
    return out, doc


def test_ground_truth_is_consistent(sentence):
    out, doc = sentence
    assert json.loads(out.with_suffix(".json").read_text()) == doc
    assert doc["seed"] == 3
    assert doc["sensor"] == {"width": 346, "height": 260}
    assert [w["word"] for w in doc["words"]] == ["water", "million"]
    vocab = load_words()
    assert [w["label"] for w in doc["words"]] == [vocab.index("water"), vocab.index("million")]
    prev_end = doc["t_start_us"]
    for w in doc["words"]:
        assert prev_end < w["start_us"] < w["end_us"] < doc["t_end_us"]
        assert 150_000 < w["end_us"] - w["start_us"] < 1_500_000
        prev_end = w["end_us"]


def test_aedat4_holds_the_events_and_the_mouth_is_in_the_centre_crop(sentence):
    dv = pytest.importorskip("dv_processing")
    out, doc = sentence
    rec = dv.io.MonoCameraRecording(str(out))
    assert tuple(rec.getEventResolution()) == (346, 260)
    parts = []
    while (batch := rec.getNextEventBatch()) is not None:
        parts.append(batch.numpy())
    ev = np.concatenate(parts)
    assert len(ev) == doc["events"]
    t = ev["timestamp"]
    assert np.all(np.diff(t) >= 0)
    assert doc["t_start_us"] <= t[0] and t[-1] <= doc["t_end_us"]
    x0, y0, w, h = doc["mouth_roi"]
    assert (x0, y0, w, h) == ((346 - 128) // 2, (260 - 128) // 2, 128, 128)
    w0 = doc["words"][0]
    during = (t >= w0["start_us"]) & (t <= w0["end_us"])
    inside = (ev["x"] >= x0) & (ev["x"] < x0 + w) & (ev["y"] >= y0) & (ev["y"] < y0 + h)
    # While a word is spoken, the crop (14 % of the sensor) holds most of the events.
    assert inside[during].mean() > 0.5


def test_bad_requests_are_user_errors(tmp_path):
    with pytest.raises(SpikeLipError, match="xyzzy"):
        generate_sentence("water xyzzy", tmp_path / "x.aedat4", seed=1)
    with pytest.raises(SpikeLipError, match="aedat4"):
        generate_sentence("water", tmp_path / "x.npy", seed=1)


def test_shipped_samples_are_small_and_consistent():
    from stream.synthlip.phonemes import ASSETS
    from stream.synthlip.samples import SAMPLES

    folder = ASSETS / "samples"
    total = 0
    for name, text, seed in SAMPLES:
        rec, gt = folder / f"{name}.aedat4", folder / f"{name}.json"
        assert rec.is_file() and gt.is_file(), name
        total += rec.stat().st_size + gt.stat().st_size
        doc = json.loads(gt.read_text())
        assert doc["file"] == rec.name and doc["seed"] == seed
        assert [w["word"] for w in doc["words"]] == text.split()
        assert 4 <= len(doc["words"]) <= 6
        ends = [doc["t_start_us"]] + [t for w in doc["words"] for t in (w["start_us"], w["end_us"])] + [doc["t_end_us"]]
        assert ends == sorted(ends)
    assert total < 5 * 2**20


@pytest.mark.slow
def test_synth_sentences_makes_a_set_for_the_boundary_head(tmp_path, capsys):
    from app.cli import main

    assert main(["synth", str(tmp_path / "s"), "--sentences", "2", "--words-per-sentence", "3", "--seed", "41"]) == 0
    assert "wrote 2 sentence recordings" in capsys.readouterr().out
    docs = [json.loads((tmp_path / "s" / f"{seed}.json").read_text()) for seed in (41, 42)]
    assert [d["seed"] for d in docs] == [41, 42] and all(len(d["words"]) == 3 for d in docs)
    assert all(len({w["word"] for w in d["words"]}) == 3 for d in docs)  # different words in each
    assert (tmp_path / "s" / "41.aedat4").is_file()
    # a faster speaker says the same words sooner; a fidgeting head makes more events
    slow = generate_sentence("water million", tmp_path / "a.aedat4", seed=3)
    fast = generate_sentence("water million", tmp_path / "b.aedat4", seed=3, rate=1.5)
    fidget = generate_sentence("water million", tmp_path / "c.aedat4", seed=3, head_motion_px=8.0)
    near = generate_sentence("water million", tmp_path / "d.aedat4", seed=3, mouth_scale=1.3)
    length = [sum(w["end_us"] - w["start_us"] for w in d["words"]) for d in (slow, fast)]
    assert length[1] < 0.8 * length[0]
    assert fidget["events"] > 1.3 * slow["events"]
    assert near["events"] == pytest.approx(1.3**2 * slow["events"], rel=0.15)  # a nearer face: more pixels fire


def test_sentence_set_options_are_for_sentence_modes(tmp_path, capsys):
    from app.cli import main

    assert main(["synth", str(tmp_path / "d"), "--clips-per-word", "1", "--head-motion", "5"]) == 2
    assert "--head-motion is for sentence mode" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "d"), "--clips-per-word", "1", "--mouth-scale", "1.3"]) == 2
    assert "--mouth-scale is for sentence mode" in capsys.readouterr().err
    assert main(["synth", "--sentences", "2"]) == 2
    assert "needs OUT_DIR" in capsys.readouterr().err
