"""Datasets on disk: DVS-Lip layout, determinism across worker counts, disjoint speakers."""
import json

import numpy as np
import pytest

from stream.sources.npy import DVSLIP_DTYPE
from stream.synthlip import generate_dataset, load_words
from stream.synthlip.dataset import clip_speaker_id
from stream.synthlip.speakers import make_speaker, split_speaker_ids

WORDS = ["million", "water", "perhaps"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    a = tmp_path_factory.mktemp("one_worker")
    b = tmp_path_factory.mktemp("two_workers")
    sa = generate_dataset(a, 2, seed=4, split="both", workers=1, progress=False, words=WORDS)
    sb = generate_dataset(b, 2, seed=4, split="both", workers=2, progress=False, words=WORDS)
    return a, b, sa, sb


@pytest.mark.slow
def test_layout_matches_dvs_lip(made):
    a, _, summary, _ = made
    vocab = load_words()
    for split in ("train", "test"):
        folders = sorted(p.name for p in (a / split).iterdir())
        assert folders == sorted(WORDS)
        assert all(f in vocab for f in folders)  # label = index in words.txt
        for word in WORDS:
            assert sorted(p.name for p in (a / split / word).iterdir()) == ["0.npy", "1.npy"]
    ev = np.load(a / "train" / "water" / "1.npy")
    assert ev.dtype == DVSLIP_DTYPE and ev.dtype.names == ("t", "x", "y", "p")  # as DVS-Lip ships
    assert np.all(np.diff(ev["t"]) >= 0) and ev["t"].min() >= 0
    assert 0 <= ev["x"].min() and ev["x"].max() <= 127 and 0 <= ev["y"].min() and ev["y"].max() <= 127
    assert set(np.unique(ev["p"])) == {0, 1}
    assert summary["clips"] == 12
    manifest = json.loads((a / "synthlip.json").read_text())
    assert manifest["seed"] == 4 and manifest["words"] == sorted(WORDS)


def test_worker_count_does_not_change_a_byte(made):
    a, b, _, _ = made
    files = sorted(p.relative_to(a) for p in a.rglob("*.npy"))
    assert len(files) == 12
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "synthlip.json").read_bytes() == (b / "synthlip.json").read_bytes()


def test_rerun_with_the_same_seed_is_identical_and_another_seed_differs(made, tmp_path):
    a, _, _, _ = made
    generate_dataset(tmp_path / "same", 1, seed=4, split="test", workers=1, progress=False, words=["water"])
    generate_dataset(tmp_path / "other", 1, seed=5, split="test", workers=1, progress=False, words=["water"])
    ref = (a / "test" / "water" / "0.npy").read_bytes()
    assert (tmp_path / "same" / "test" / "water" / "0.npy").read_bytes() == ref
    assert (tmp_path / "other" / "test" / "water" / "0.npy").read_bytes() != ref


def test_train_and_test_speakers_are_disjoint():
    train, test = set(split_speaker_ids("train")), set(split_speaker_ids("test"))
    assert train and test and not train & test
    used = {s: {clip_speaker_id(0, s, label, k) for label in range(100) for k in range(20)} for s in ("train", "test")}
    assert used["train"] <= train and used["test"] <= test
    assert used["train"] == train  # every train speaker is used
    # Different ids are different faces.
    a, b = make_speaker(0, 0), make_speaker(0, 1000)
    assert (a.half_width, a.skin) != (b.half_width, b.skin)


def test_each_speaker_says_each_word_about_equally_often():
    ids = split_speaker_ids("train")
    got = [clip_speaker_id(0, "train", 7, k) for k in range(len(ids) * 2)]
    assert sorted(got) == sorted(ids * 2)
