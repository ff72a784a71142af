"""Word segmentation by event activity: onset, offset, hysteresis, and the readout it drives."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.segment import WordSegmenter, WordStage
from model.boundary import Decider, Decision

SAMPLES = Path(__file__).resolve().parents[2] / "assets" / "samples"


def edges(seg, trace):
    """(step, edge) for every edge the segmenter reports over an activity trace."""
    return [(i, e) for i, c in enumerate(trace) if (e := seg.update(c)) is not None]


def plain(**kw):
    """A segmenter without smoothing, so traces map to levels one to one."""
    return WordSegmenter(**{"on_rate": 100, "off_rate": 40, "min_on_steps": 3, "hangover_steps": 5, "smooth_steps": 1, **kw})


def test_onset_after_min_on_steps_of_activity():
    seg = plain()
    assert edges(seg, [10] * 5 + [300] * 2) == []  # two active bins are not enough
    assert not seg.speaking
    assert seg.update(300) == "onset" and seg.speaking  # the third is


def test_a_quiet_bin_restarts_the_onset_count():
    assert edges(plain(), [300, 300, 10, 300, 300, 10] * 5) == []


def test_offset_after_the_hangover():
    seg = plain()
    found = edges(seg, [300] * 10 + [10] * 4)
    assert found == [(2, "onset")] and seg.speaking  # 4 quiet bins: still the same word
    assert seg.update(10) == "offset" and not seg.speaking  # the 5th ends it


def test_short_dips_inside_a_word_do_not_end_it():
    trace = [300] * 8 + ([10] * 4 + [300] * 3) * 4 + [10] * 10
    assert [e for _, e in edges(plain(), trace)] == ["onset", "offset"]


def test_hysteresis_band_keeps_the_state():
    """Levels between off_rate and on_rate neither start nor end a word."""
    seg = plain()
    assert edges(seg, [70] * 50) == [] and not seg.speaking
    edges(seg, [300] * 3)
    assert seg.speaking
    assert edges(seg, [70] * 50) == [] and seg.speaking


def test_hysteresis_prevents_chatter_around_a_threshold():
    """Activity jittering around one level would toggle a single threshold every few bins."""
    rng = np.random.default_rng(0)
    trace = 100 + rng.normal(0, 25, 2000)
    with_band = edges(plain(off_rate=40), trace)
    without = edges(plain(off_rate=100, hangover_steps=1, min_on_steps=1), trace)
    assert len(without) > 200
    assert len(with_band) <= 1


def test_default_smoothing_ignores_blinks():
    seg = WordSegmenter()
    trace = ([20] * 10 + [400] * 2) * 20  # a blink: two busy bins every 160 ms
    assert edges(seg, trace) == []
    assert [e for _, e in edges(seg, [400] * 8 + [20] * 20)] == ["onset", "offset"]  # a short word is found


def test_rejects_inverted_thresholds():
    with pytest.raises(ValueError):
        WordSegmenter(on_rate=10, off_rate=20)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 600), max_size=300), st.integers(1, 5), st.integers(1, 10))
def test_edges_alternate_and_match_the_state(trace, min_on, hangover):
    seg = WordSegmenter(min_on_steps=min_on, hangover_steps=hangover)
    expected = "onset"
    for count in trace:
        edge = seg.update(count)
        if edge is not None:
            assert edge == expected
            expected = "offset" if edge == "onset" else "onset"
        assert seg.speaking == (expected == "offset")


class CountingReadout:
    """Readout API stand-in: remembers what it was fed since the last reset."""

    def __init__(self):
        self.seen = []

    def reset(self):
        self.seen = []

    def update(self, logits):
        self.seen.append(logits)

    def top(self, k=5):
        return [(f"w{len(self.seen)}", 0.5)][:k]


def test_readout_resets_at_onset_keeps_the_word_start_and_commits_at_offset():
    inner = CountingReadout()
    seg = WordSegmenter(on_rate=100, off_rate=40, min_on_steps=3, hangover_steps=4, smooth_steps=1)
    readout = WordStage(inner, seg, bin_s=0.01)
    trace = [10] * 20 + [300] * 10 + [10] * 4 + [10] * 5
    words = []
    for step, count in enumerate(trace):
        word = readout.step(step, count, t_s=step * 0.01)  # the "logits" are the step numbers
        assert readout.onset == (step == 22)
        if step == 22:  # onset: the fresh readout already holds the word's first bins
            assert inner.seen == [20, 21, 22]
        if word is not None:
            words.append((step, word))
    assert len(words) == 1
    step, word = words[0]
    assert step == 33 and word.word == "w14"  # the 10 word bins and the 4 of the hangover
    assert word.start_s == pytest.approx(0.20) and word.end_s == pytest.approx(0.30)
    assert not readout.speaking


def test_finish_commits_a_word_cut_off_by_the_end_of_the_stream():
    readout = WordStage(CountingReadout(), WordSegmenter(smooth_steps=1, min_on_steps=2))
    for step in range(10):
        assert readout.step(step, 1000, step * 0.0133) is None
    word = readout.finish(10 * 0.0133)
    assert word is not None and word.end_s == pytest.approx(0.133)
    assert readout.finish(0.2) is None


class GivenP:
    """The learnt segmenter's decision without its head: each bin's "logits" are p(in a word)."""

    onset_lookback = 3
    level = 0.0

    def __init__(self, decision, ps=None):
        self._ps = ps  # p per bin, when the "logits" are the readout's
        self._decider = Decider(decision)
        self.hangover_steps = decision.off_steps
        self.min_confidence = decision.min_confidence

    @property
    def speaking(self):
        return self._decider.speaking

    def reset(self):
        self._decider.reset()

    def update(self, events_in_bin, logits=None):
        return self._decider.update(next(self._ps) if self._ps else float(logits))

    def finish(self):
        return self._decider.finish()


def test_at_the_end_of_the_stream_a_blip_shorter_than_a_word_is_not_committed():
    decision = Decision(on=0.5, off=0.5, on_steps=2, off_steps=3, min_steps=8)
    for length, committed in ((7, False), (8, True)):
        stage = WordStage(CountingReadout(), GivenP(decision))
        for step, p in enumerate([0.1] * 3 + [0.9] * length):
            assert stage.step(p, 500, step * 0.0133) is None
        assert (stage.finish(0.2) is not None) == committed, length
        assert not stage.speaking and stage.finish(0.3) is None


def test_a_stretch_whose_word_the_readout_is_unsure_of_is_not_committed():
    from model.readout import Readout

    decision = Decision(on=0.5, off=0.5, on_steps=2, off_steps=3, min_steps=4, min_confidence=0.2)
    for margin, committed in ((0.5, False), (3.0, True)):  # top probability 0.15 or 0.69 of 10 words
        ps = [0.1] * 3 + [0.9] * 8 + [0.1] * 3
        stage = WordStage(Readout(list("abcdefghij")), GivenP(decision, iter(ps)))
        logits = np.r_[margin, np.zeros(9)]
        words = [stage.step(logits, 500, step * 0.0133) for step in range(len(ps))]
        assert (words[-1] is not None) == committed, margin


@pytest.mark.skipif(not (SAMPLES / "sample.aedat4").exists(), reason="bundled sample missing")
def test_default_thresholds_find_each_word_of_the_bundled_sentence():
    from stream.constants import BIN_US
    from stream.roi import Crop
    from stream.sources import open_file

    with open_file(SAMPLES / "sample.aedat4") as source:
        events = np.concatenate(list(source))
        inside = Crop(source.sensor)(events)
    t0 = events["t"][0]
    counts = np.bincount(((inside["t"] - t0) // BIN_US).astype(int))
    truth = json.loads((SAMPLES / "sample.json").read_text())["words"]
    seg = WordSegmenter()
    found = edges(seg, list(counts) + [0] * 20)
    onsets = [i for i, e in found if e == "onset"]
    offsets = [i for i, e in found if e == "offset"]
    assert len(onsets) == len(offsets) == len(truth)
    for on, off, word in zip(onsets, offsets, truth):
        start = (word["start_us"] - t0) / BIN_US
        end = (word["end_us"] - t0) / BIN_US
        assert start - 4 <= on - seg.onset_lookback + 1 and on <= start + 15  # found early in the word
        assert end <= off and off - seg.hangover_steps <= end + 20  # ended after it, before the next
