"""The word-boundary head: its step is its sequence, it learns where words end on a toy set
where only the logits tell a pause inside a word from the end of one, its decision rule, its
scoring, and its file round trip through a checkpoint and `load_model`."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from model.boundary import (
    BoundaryHead, Decider, Decision, Sequence, head_edges, load_head, min_word_steps, probabilities, save_head,
    score_segments, score_sequences, segments, train_head,
)


def test_step_by_step_equals_the_whole_sequence():
    torch.manual_seed(0)
    head = BoundaryHead(7).eval()
    logits, events = torch.randn(3, 25, 7), torch.randint(0, 3000, (3, 25)).float()
    whole = head(logits, events)
    state = head.initial_state(3)
    for t in range(25):
        y, state = head.step(logits[:, t], events[:, t], state)
        torch.testing.assert_close(y, whole[:, t])


def toy_sentence(rng: np.random.Generator, n_words: int = 6) -> Sequence:
    """Words are bursts of events with a quiet pause of 3-5 bins inside each (a syllable gap,
    as quiet as a rest); only logit 0, high while a word is unfinished, tells that pause from a
    word's end."""
    logits, events, speaking, spans, t = [], [], [], [], 0
    for _ in range(n_words):
        rest = int(rng.integers(15, 30))
        a, gap, b = (int(v) for v in rng.integers(6, 12, 3))
        gap = int(rng.integers(3, 6))
        for kind, n in (("rest", rest), ("word", a), ("gap", gap), ("word", b)):
            for _ in range(n):
                unfinished = kind == "word" or kind == "gap"
                lg = rng.normal(0, 0.3, 4).astype(np.float32)
                lg[0] += 3.0 if unfinished else -3.0
                logits.append(lg)
                events.append(float(rng.integers(800, 2000) if kind == "word" else rng.integers(5, 40)))
                speaking.append(1.0 if kind != "rest" else 0.0)
        spans.append((t + rest, t + rest + a + gap + b))
        t += rest + a + gap + b
    for _ in range(15):  # the lips rest at the end too
        logits.append(np.r_[-3.0, rng.normal(0, 0.3, 3)].astype(np.float32))
        events.append(float(rng.integers(5, 40)))
        speaking.append(0.0)
    t += 15
    starts = np.arange(t, dtype=np.float64)
    return Sequence(np.stack(logits), np.asarray(events, np.float32), np.asarray(speaking, np.float32), starts,
                    [(s, e) for s, e in spans])


@pytest.mark.slow
def test_a_head_learns_where_words_end_on_a_toy_set():
    rng = np.random.default_rng(0)
    train = [toy_sentence(rng) for _ in range(24)]
    test = [toy_sentence(rng) for _ in range(6)]
    head = train_head(train, 4, epochs=25, window=120, seed=0, log=lambda line: None)
    decision = Decision(on=0.5, off=0.5, on_steps=2, off_steps=2, min_steps=4)
    r = score_sequences(test, head_edges(head, decision), decision.on_steps + 1, decision.off_steps)
    assert r["words"] == 36 and r["errors"] == 0, r  # no word split at its inner pause
    # starts_us count bins here: a word is committed a few bins after its end
    assert r["commit_ms_p90"] * 1e3 <= decision.off_steps + 3, r


def test_the_decision_needs_on_steps_drops_blips_and_ends_after_off_steps():
    d = Decider(Decision(on=0.5, off=0.5, on_steps=2, off_steps=3, min_steps=4))
    p = [0.9, 0.1, 0.9, 0.9] + [0.9] * 2 + [0.1] * 3 + [0.1] + [0.9, 0.9] + [0.1] * 3
    edges = [d.update(v) for v in p]
    assert edges[:4] == [None, None, None, "onset"]  # one bin above is not enough
    assert edges[8] == "offset"  # 3 bins below: the word (6 bins long) ends
    assert "onset" in edges[10:12] and edges[-1] is None and not d.speaking  # a 2-bin blip: no word
    assert segments(edges, lookback=3, hangover=3) == [(1, 6, 8)]


def test_stretches_shorter_than_the_shortest_training_word_are_blips():
    rng = np.random.default_rng(4)
    data = [toy_sentence(rng, 3) for _ in range(4)]
    shortest = min(b - a for s in data for a, b in s.spans)  # the toy's bins are 1 unit long
    n = min_word_steps(data)
    assert n == int(0.9 * shortest) and n < shortest
    decision = Decision(on=0.5, off=0.5, on_steps=2, off_steps=2, min_steps=n)
    for length, word in ((n - 1, False), (n, True)):
        d = Decider(decision)
        edges = [d.update(v) for v in [0.1] * 3 + [0.9] * length + [0.1] * 2]
        assert edges.count("onset") == 1 and (edges[-1] == "offset") == word, (length, edges)


def test_scoring_counts_missed_split_merged_and_spurious_words():
    spans = [(100, 200), (300, 400), (500, 600), (700, 800)]
    found = [(110, 190, 230),  # word 0, committed 30 us after its end
             (310, 340, 350), (360, 390, 420),  # word 1 split
             (520, 720, 800),  # words 2 and 3 merged into one segment
             (900, 950, 960)]  # no word there
    r = score_segments(found, spans)
    assert (r["missed"], r["split"], r["merged"], r["spurious"]) == (1, 1, 1, 1)
    assert r["commit_ms"] == [0.03, 0.2] and r["errors"] == 4


def test_the_head_rides_along_with_its_checkpoint(tmp_path):
    from app.models import load_model
    from app.pipeline import Pipeline
    from app.segment import LearnedSegmenter
    from model import build, save_checkpoint
    from model.readout import Readout
    from stream.sources.base import EventSource

    net = build("small").eval()
    path = save_checkpoint(net, tmp_path / "m", trained_on="nothing (a test)")
    assert load_head(path) is None
    torch.manual_seed(1)
    head = BoundaryHead(len(net.words)).eval()
    save_head(head, path, Decision(on=0.6), trained_on="a test")
    info = json.loads(path.read_text())
    assert info["boundary"]["decision"]["on"] == 0.6 and (tmp_path / info["boundary"]["weights"]).is_file()
    loaded, decision = load_head(path)
    seq = Sequence(np.random.default_rng(0).normal(size=(9, len(net.words))).astype(np.float32),
                   np.arange(9, dtype=np.float32) * 100, np.zeros(9, np.float32), np.arange(9.0), [])
    np.testing.assert_allclose(probabilities(loaded, seq), probabilities(head, seq))
    assert decision == Decision(on=0.6)
    model = load_model(str(path), quiet=True)
    assert model.net.boundary is not None and "word boundaries learnt" in model.description

    class Silence(EventSource):
        from stream.events import SensorSize

        sensor = SensorSize(346, 260)

        def __iter__(self):
            return iter(())

    pipeline = Pipeline(Silence(), model.net, Readout(model.words), speed=None)
    assert isinstance(pipeline.words.segmenter, LearnedSegmenter)
    # the segmenter's p, bin by bin (its NumPy step), is the head's (torch) over the same inputs
    seg = pipeline.words.segmenter
    got = []
    for t in range(9):
        seg.update(float(seq.events[t]), torch.from_numpy(seq.logits[t]))
        got.append(seg.p)
    np.testing.assert_allclose(got, probabilities(loaded, seq), rtol=1e-5)


def test_training_windows_start_from_rest_and_reproduce_with_a_seed():
    rng = np.random.default_rng(3)
    data = [toy_sentence(rng, 2) for _ in range(3)]
    a = train_head(data, 4, epochs=2, window=40, seed=5, log=lambda line: None)
    b = train_head(data, 4, epochs=2, window=40, seed=5, log=lambda line: None)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, msg=name)
    random.seed(0)


def test_sentence_files_are_found_at_any_depth_and_through_linked_folders(tmp_path):
    from model.boundary import sentence_files

    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    for folder, names in ((data / "a" / "b", ["1", "2"]), (elsewhere, ["3"])):
        folder.mkdir(parents=True)
        for name in names:
            (folder / f"{name}.aedat4").write_bytes(b"")
            (folder / f"{name}.json").write_text("{}")
    (data / "a" / "b" / "4.aedat4").write_bytes(b"")  # no ground truth beside it: not a sentence
    (data / "linked").symlink_to(elsewhere, target_is_directory=True)
    (data / "a" / "loop").symlink_to(data, target_is_directory=True)  # a link back up is not read twice
    assert [p.relative_to(data).as_posix() for p in sentence_files(data)] == ["a/b/1.aedat4", "a/b/2.aedat4",
                                                                            "linked/3.aedat4"]


@given(st.lists(st.tuples(st.integers(1, 200), st.integers(1, 100)), min_size=1, max_size=8),
       st.floats(0, 1), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_restarts_come_after_their_word_and_never_after_the_next_one_starts(gaps_and_lengths, late_share, seed):
    from model.boundary import restart_times

    bin_us, spans, t = 13_333.0, [], 0.0
    for gap, length in gaps_and_lengths:  # words `length` bins long, `gap` bins apart
        t += gap * bin_us
        spans.append((t, t + length * bin_us))
        t += length * bin_us
    times = restart_times(spans, bin_us, random.Random(seed), (2, 6), late_share, (7, 40))
    assert times == sorted(times) and len(times) <= len(spans)
    for t in times:
        word = max(k for k, (start, end) in enumerate(spans) if end < t)  # the word it restarts after
        assert spans[word][1] < t <= spans[word][1] + 40 * bin_us
        assert word + 1 == len(spans) or t < spans[word + 1][0]
    if late_share == 0:  # words followed by more than 6 bins of rest all get one, by 2 or fewer none
        gaps = [spans[k + 1][0] - end if k + 1 < len(spans) else np.inf for k, (_, end) in enumerate(spans)]
        assert sum(g > 6 * bin_us for g in gaps) <= len(times) <= sum(g > 2 * bin_us for g in gaps)
