"""Word clips cut from sentence recordings: the cut rule, the clips read back against the
recording, reuse of a cut, and `train --sentences`."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.sentence_clips import (AFTER_PREVIOUS_BINS, BEFORE_NEXT_BINS, CONTEXT_BINS, cut_recording, cut_sentences,
                                  word_windows)
from model.train import train
from stream.constants import BIN_US, CLIP_BINS
from stream.errors import SpikeLipError
from stream.roi import Crop, Roi
from stream.sources import open_file
from stream.sources.npy import read_clip
from stream.synthlip import generate_sentence
from tests.model.test_train_eval import TINY, config, make_data

T0 = 1_000_000


@st.composite
def sentences(draw):
    """Word spans (start_us, end_us) in time order: words of 0.1-0.8 s, gaps of 0-1 s."""
    t, spans = T0 + draw(st.integers(0, 800_000)), []
    for _ in range(draw(st.integers(1, 8))):
        start = t + draw(st.integers(0, 1_000_000))
        end = start + draw(st.integers(100_000, 800_000))
        spans.append((start, end))
        t = end
    return spans


@settings(max_examples=200, deadline=None)
@given(sentences(), st.integers(0, 2**32 - 1))
def test_a_window_holds_rest_before_its_word_and_nothing_of_its_neighbours(spans, seed):
    windows = word_windows(spans, T0, np.random.default_rng(seed))
    assert len(windows) == len(spans)
    for i, ((start, end), (lo, hi)) in enumerate(zip(spans, windows)):
        floor = max(T0, spans[i - 1][1] + AFTER_PREVIOUS_BINS * BIN_US if i else T0)
        assert lo >= floor - 1  # never before the recording, nor into the previous word's end
        # as much rest before the word as drawn, unless the floor cut it short
        assert start - CONTEXT_BINS[1] * BIN_US - 1 <= lo <= max(start - CONTEXT_BINS[0] * BIN_US, floor) + 1
        assert hi - lo <= CLIP_BINS * BIN_US + 1
        if i + 1 < len(spans):
            assert hi <= spans[i + 1][0] - BEFORE_NEXT_BINS * BIN_US + 1
        if lo < hi:  # the clip starts before its word ends
            assert lo < end


@pytest.fixture(scope="module")
def sentence(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sentences")
    generate_sentence("water million allow", folder / "7.aedat4", seed=7, pause_s=(0.2, 0.3))
    return folder


def test_clips_are_the_recordings_events_in_each_window(sentence, tmp_path):
    recording = sentence / "7.aedat4"
    doc = json.loads(recording.with_suffix(".json").read_text())
    assert cut_recording(recording, tmp_path, ["water", "allow", "about"], np.random.default_rng(1)) == 2
    assert sorted(p.parent.name for p in (tmp_path / "train").rglob("*.npy")) == ["allow", "water"]  # million: not asked for
    windows = word_windows([(w["start_us"], w["end_us"]) for w in doc["words"]], doc["t_start_us"], np.random.default_rng(1))
    with open_file(recording) as source:
        events = np.concatenate(list(source))
    x0, y0, w, h = doc["mouth_roi"]
    for i, name in ((0, "water"), (2, "allow")):
        lo, hi = windows[i]
        inside = (events["t"] >= lo) & (events["t"] < hi) & (events["x"] >= x0) & (events["x"] < x0 + w) \
            & (events["y"] >= y0) & (events["y"] < y0 + h)
        clip, warnings = read_clip(tmp_path / "train" / name / f"7_{i}.npy")
        assert not warnings
        np.testing.assert_array_equal(clip["t"], events["t"][inside] - lo)
        np.testing.assert_array_equal(clip["x"], events["x"][inside] - x0)
        np.testing.assert_array_equal(clip["y"], events["y"][inside] - y0)
        np.testing.assert_array_equal(clip["p"], events["p"][inside])
        start, end = doc["words"][i]["start_us"] - lo, doc["words"][i]["end_us"] - lo
        assert 0 < start and end < CLIP_BINS * BIN_US  # the whole word, with rest before it
    with open_file(recording) as source:  # the region cut is the one the app crops by default
        assert Crop(source.sensor).roi == Roi(*doc["mouth_roi"])


def test_a_cut_is_reused_for_the_same_folders_and_seed(sentence, tmp_path):
    out = tmp_path / "cut"
    words = ["water", "million", "allow"]
    assert cut_sentences([str(sentence)], out, words, seed=0) == 3
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}
    ends = {p: int(read_clip(p)[0]["t"][-1]) for p in written}
    assert cut_sentences([str(sentence)], out, words, seed=0) == 3
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")} == written  # not cut again
    assert cut_sentences([str(sentence)], out, words, seed=1) == 3  # another draw of the rest before each word
    assert {p: int(read_clip(p)[0]["t"][-1]) for p in written} != ends
    with pytest.raises(SpikeLipError, match="no sentence recordings in it.*spikelip synth"):
        cut_sentences([str(tmp_path / "cut")], tmp_path / "again", words, seed=0)


@pytest.mark.slow
def test_train_with_sentences_adds_their_words(sentence, tmp_path):
    make_data(tmp_path / "data", words=("water", "allow"))
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(TINY))
    cfg = config(tmp_path, cfg_path, "run", epochs=1, sentences=[str(sentence)])
    assert train(cfg)["step"] == 5  # (6 clips of data + 3 words of the sentence) / batch 2, rounded up
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["trained_on"].endswith(f"the words of the sentences in {sentence}")
    assert card["training"]["recipe"]["sentences"] == [str(sentence)]
    assert len(list((tmp_path / "run" / "sentence-clips" / "train").rglob("*.npy"))) == 3
