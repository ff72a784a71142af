"""Word clips cut from sentence recordings: the cut rules (words and rests), the clips read back
against the recording, reuse of a cut, no-word clips in training, and `train --sentences`."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import torch

from model.data import DvsLipDataset
from model.sentence_clips import (AFTER_PREVIOUS_BINS, BEFORE_NEXT_BINS, CONTEXT_BINS, REST_MARGIN_BINS, REST_MIN_BINS,
                                  cut_recording, cut_sentences, rest_windows, word_windows)
from model.train import clip_loss, readout_loss, targets, train
from stream.constants import BIN_US, CLIP_BINS
from stream.errors import SpikeLipError
from stream.roi import Crop, Roi
from stream.sources import open_file
from stream.sources.npy import NO_WORD, read_clip
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


@settings(max_examples=200, deadline=None)
@given(sentences(), st.integers(0, 8_000_000), st.integers(0, 2**32 - 1))
def test_rest_clips_lie_in_the_rests_clear_of_every_word(spans, tail_us, seed):
    t_end = spans[-1][1] + tail_us
    windows = rest_windows(spans, T0, t_end, np.random.default_rng(seed))
    margin, bins = REST_MARGIN_BINS * BIN_US, CLIP_BINS * BIN_US
    rests = [(a + margin, b - margin) for a, b in zip([T0 - margin] + [e for _, e in spans], [s for s, _ in spans] + [t_end + margin])]
    for lo, hi in windows:
        assert REST_MIN_BINS * BIN_US - 1 <= hi - lo <= bins + 1
        assert any(a - 1 <= lo and hi <= b + 1 for a, b in rests)  # inside one rest, with its margins
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(windows, windows[1:]))  # in time order, no overlap
    expected = sum(int((b - a) // bins) or int(b - a >= REST_MIN_BINS * BIN_US) for a, b in rests if b > a)
    assert len(windows) == expected  # every rest as many whole clips as it holds


def test_a_no_word_clip_is_trained_towards_no_word():
    labels = torch.tensor([2, -1])
    assert torch.equal(targets(labels, 4), torch.tensor([[0, 0, 1, 0], [0.25] * 4]))
    logits = torch.zeros(2, 6, 4, requires_grad=True)
    with torch.no_grad():
        logits[0, :, 2] = 3.0  # the word clip read right
    loss = clip_loss(logits, labels, streaming_from=2) + readout_loss(logits, labels, torch.tensor([[0, 2], [0, 2]]), 1)
    loss.backward()
    assert logits.grad[1].abs().max() < 1e-7  # flat logits are what a no-word clip asks for
    assert logits.grad[0, :, 2].max() < 0  # the word's logit is still pushed up


@pytest.fixture(scope="module")
def sentence(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sentences")
    generate_sentence("water million allow", folder / "7.aedat4", seed=7, pause_s=(1.2, 1.3))
    return folder


def test_clips_are_the_recordings_events_in_each_window(sentence, tmp_path):
    recording = sentence / "7.aedat4"
    doc = json.loads(recording.with_suffix(".json").read_text())
    rng = np.random.default_rng(1)
    spans = [(w["start_us"], w["end_us"]) for w in doc["words"]]
    windows = word_windows(spans, doc["t_start_us"], rng)
    rests = rest_windows(spans, doc["t_start_us"], doc["t_end_us"], rng)
    assert len(rests) >= 2  # the 1.2-1.3 s between words
    assert cut_recording(recording, tmp_path, ["water", "allow", "about"], np.random.default_rng(1)) == 2 + len(rests)
    assert sorted(p.parent.name for p in (tmp_path / "train").rglob("*.npy")) == sorted(
        ["allow", "water"] + [NO_WORD] * len(rests))  # million: not asked for
    with open_file(recording) as source:
        events = np.concatenate(list(source))
    x0, y0, w, h = doc["mouth_roi"]
    cuts = [((0, "water"), windows[0]), ((2, "allow"), windows[2])]
    cuts += [((f"rest{k}", NO_WORD), window) for k, window in enumerate(rests)]
    for (i, name), (lo, hi) in cuts:
        inside = (events["t"] >= lo) & (events["t"] < hi) & (events["x"] >= x0) & (events["x"] < x0 + w) \
            & (events["y"] >= y0) & (events["y"] < y0 + h)
        clip, warnings = read_clip(tmp_path / "train" / name / f"7_{i}.npy")
        assert not warnings
        np.testing.assert_array_equal(clip["t"], events["t"][inside] - lo)
        np.testing.assert_array_equal(clip["x"], events["x"][inside] - x0)
        np.testing.assert_array_equal(clip["y"], events["y"][inside] - y0)
        np.testing.assert_array_equal(clip["p"], events["p"][inside])
        if name != NO_WORD:
            start, end = doc["words"][i]["start_us"] - lo, doc["words"][i]["end_us"] - lo
            assert 0 < start and end < CLIP_BINS * BIN_US  # the whole word, with rest before it
    with open_file(recording) as source:  # the region cut is the one the app crops by default
        assert Crop(source.sensor).roi == Roi(*doc["mouth_roi"])


def test_a_cut_is_reused_for_the_same_folders_and_seed(sentence, tmp_path):
    out = tmp_path / "cut"
    words = ["water", "million", "allow"]
    clips = cut_sentences([str(sentence)], out, words, seed=0)
    assert clips == len(list(out.rglob("*.npy"))) > 3  # three words and the rests
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}
    ends = {p: int(read_clip(p)[0]["t"][-1]) for p in written}
    assert cut_sentences([str(sentence)], out, words, seed=0) == clips
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")} == written  # not cut again
    cut_sentences([str(sentence)], out, words, seed=1)  # another draw of the rest before each word
    assert {p: int(read_clip(p)[0]["t"][-1]) for p in written if p.exists()} != ends
    with pytest.raises(SpikeLipError, match="no sentence recordings in it.*spikelip synth"):
        cut_sentences([str(tmp_path / "cut")], tmp_path / "again", words, seed=0)


@pytest.mark.slow
def test_train_with_sentences_adds_their_words(sentence, tmp_path):
    make_data(tmp_path / "data", words=("water", "allow"))
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(TINY))
    cfg = config(tmp_path, cfg_path, "run", epochs=1, sentences=[str(sentence)])
    row = train(cfg)
    cut = tmp_path / "run" / "sentence-clips" / "train"
    rests = len(list((cut / NO_WORD).glob("*.npy")))
    assert len(list(cut.rglob("*.npy"))) == 3 + rests
    assert row["step"] == -(-(6 + 3 + rests) // 2)  # 6 clips of data, 3 words and the rests of the sentence, batch 2
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["trained_on"].endswith(f"the words of the sentences in {sentence}")
    assert card["training"]["recipe"]["sentences"] == [str(sentence)]
    labels = [label for _, label in DvsLipDataset(cut.parent, "train", no_word=True).clips]
    assert labels.count(-1) == rests and len(DvsLipDataset(cut.parent, "train").clips) == 3  # listed only when asked


def test_a_recording_without_word_times_gets_one_clear_line(sentence, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "1.aedat4").write_bytes((sentence / "7.aedat4").read_bytes())
    (bad / "1.json").write_text('{"words": [{"word": "water"}]}')
    with pytest.raises(SpikeLipError, match=r"1\.json: not the ground truth of a sentence .*spikelip synth --sentences"):
        cut_sentences([str(bad)], tmp_path / "out", ["water"], seed=0)
