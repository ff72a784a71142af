"""After each committed word the model starts again from rest, as every training clip does: on
the bundled sample the pipeline restarts it once per word, and the next step gets the initial
state. The word stage is the pipeline's own: every consumer reads words from its results."""
import numpy as np
import pytest
import torch

from app.models import ASSETS
from app.pipeline import Pipeline
from model import Readout
from stream.constants import BIN_S
from stream.events import SensorSize, make_events
from stream.sources import open_file
from stream.sources.base import EventSource

SAMPLE = ASSETS / "samples" / "sample.aedat4"


class ArraySource(EventSource):
    """Events already in memory, on a 346 x 260 sensor, in batches of 2,000."""

    sensor = SensorSize(346, 260)

    def __init__(self, events, binning="floor"):
        super().__init__()
        self.events, self.binning = events, binning
        if binning == "round":
            self.sensor = SensorSize(128, 128)

    def __iter__(self):
        for k in range(0, len(self.events), 2000):
            yield self.events[k:k + 2000]


class CountingModel:
    """Its state counts the steps since it last started; records the state each step was given."""

    def __init__(self):
        self.seen = []

    def initial_state(self, batch_size=1):
        return 0

    def step(self, x, state):
        self.seen.append(state)
        return torch.zeros(1, 2), state + 1


@pytest.mark.slow
def test_the_step_after_restart_model_starts_from_the_initial_state():
    net = CountingModel()
    with open_file(SAMPLE) as source:
        pipeline = Pipeline(source, net, Readout(["a", "b"]), speed=None, segment=False)
        for r in pipeline:
            if r.step in (10, 11, 40):
                pipeline.restart_model()
    n = len(net.seen)
    assert n == pipeline.steps and n > 50
    expected = list(range(11)) + [0] + list(range(29)) + list(range(n - 41))
    assert net.seen == expected


def given_states(pipeline, net):
    """The state the pipeline's own step got at each bin (the first model call in `_step`; the
    others are a state warming up during a rest and the last word's reading), and the results."""
    given, results, first = [], [], []
    step = pipeline._step

    def marked(*args):
        first.append(len(net.seen))
        return step(*args)

    pipeline._step = marked
    for r in pipeline:
        given.append(net.seen[first[-1]])
        results.append(r)
    return given, results


@pytest.mark.slow
def test_the_pipeline_restarts_the_model_after_each_word_it_commits():
    net = CountingModel()
    with open_file(SAMPLE) as source:
        given, results = given_states(Pipeline(source, net, Readout(["a", "b"]), speed=None), net)
    committed = [r.step for r in results if r.word is not None]
    assert len(committed) >= 4
    # the step after each commit starts from the initial state, and only those steps do
    restarted = [k for k in range(1, len(given)) if given[k] == 0]
    assert restarted == [k + 1 for k in committed if k + 1 < len(given)]


class SaysAWhenBusy(CountingModel):
    """Logits favour "a" in busy bins (over 100 events) and "b" in quiet ones."""

    def step(self, x, state):
        _, state = super().step(x, state)
        return torch.tensor([[1.0, 0.0]] if float(x.abs().sum()) > 100 else [[0.0, 1.5]]), state


def test_a_committed_word_is_read_on_by_its_own_state_and_revised_when_that_reads_another_word():
    """A word (30 busy bins) is committed as "a" once the lips have rested 9 bins; its own state
    then reads READ_ON_BINS more bins of rest beside the restarted one, after which the readout
    says "b": the result at that bin revises the word, same span, while the pipeline's own
    state restarted at the commit."""
    from app.pipeline import READ_ON_BINS

    rng = np.random.default_rng(1)
    bin_us = BIN_S * 1e6
    word = np.sort(rng.uniform(20 * bin_us, 50 * bin_us, 30 * 400))  # 400 events a bin
    rest = np.sort(rng.uniform(50 * bin_us, 130 * bin_us, 80 * 5))
    t = np.concatenate([[0], word, rest]).astype(np.int64)
    events = make_events(t, rng.integers(100, 200, len(t)), rng.integers(100, 150, len(t)), rng.integers(0, 2, len(t)))
    net = SaysAWhenBusy()
    given, results = given_states(Pipeline(ArraySource(events), net, Readout(["a", "b"]), speed=None), net)
    committed = [r for r in results if r.word is not None]
    revised = [r for r in results if r.revised is not None]
    assert [r.word.word for r in committed] == ["a"] and len(revised) == 1
    k = committed[0].step
    assert revised[0].step == k + READ_ON_BINS + 1  # read after each result is out: it goes with the next
    assert revised[0].revised.word == "b" and revised[0].revised.confidence > 0.5
    assert (revised[0].revised.start_s, revised[0].revised.end_s) == (committed[0].word.start_s, committed[0].word.end_s)
    assert given[k + 1] == 0  # the pipeline's own state restarted at the commit
    # the word's state went on from where it was: one more step for each bin read on
    reading = [state for state in net.seen if state > given[k]]
    assert reading[:READ_ON_BINS] == list(range(given[k] + 1, given[k] + 1 + READ_ON_BINS))


@pytest.mark.slow
def test_word_times_and_the_open_word_at_the_end_come_from_the_pipeline():
    """Words count from the stream's first bin; a word cut off by the end of the stream is
    committed by `finish` at the last bin's end, as `replay`, `demo`, `latency` and the window do."""
    with open_file(SAMPLE) as source:
        events = np.concatenate(list(source))
    cut = events[events["t"] < events["t"][0] + 1_000_000]  # the first word is still being spoken at 1 s
    pipeline = Pipeline(ArraySource(cut), CountingModel(), Readout(["a", "b"]), speed=None)
    results = list(pipeline)
    assert results[0].t_s == 0 and results[0].t_us == pytest.approx(pipeline.origin_us, abs=1)
    assert [r.t_s for r in results] == pytest.approx([k * BIN_S for k in range(len(results))], abs=1e-6)
    assert not any(r.word for r in results) and results[-1].speaking
    word = pipeline.finish()
    assert word is not None and word.end_s == pytest.approx(len(results) * BIN_S)
    assert 0.3 < word.start_s < word.end_s and pipeline.finish() is None


def test_a_clip_of_one_word_is_not_segmented():
    clip = make_events(np.arange(0, 900_000, 100), np.full(9000, 60), np.full(9000, 60), np.ones(9000))
    net = CountingModel()
    pipeline = Pipeline(ArraySource(clip, binning="round"), net, Readout(["a", "b"]), speed=None)
    results = list(pipeline)
    assert pipeline.words is None and all(r.speaking and r.word is None for r in results)
    assert net.seen == list(range(len(results))) and pipeline.finish() is None  # never restarted


def test_during_a_long_rest_the_model_never_runs_on_more_than_half_a_second_of_it():
    """While the lips rest, a second state started 0.25 s into the pause takes over every 0.25 s:
    the state each step gets has seen at most 2 x WARM_BINS bins of rest (a training clip holds
    0.15-0.5 s before its word), and takeovers are states that have already seen WARM_BINS."""
    from app.pipeline import WARM_BINS

    rng = np.random.default_rng(0)
    n = 8000  # 4 s of a resting mouth: ~27 events a bin
    t = np.sort(rng.integers(0, 4_000_000, n))
    rest = make_events(t, rng.integers(150, 200, n), rng.integers(100, 150, n), rng.integers(0, 2, n))

    net = CountingModel()
    given, _ = given_states(Pipeline(ArraySource(rest), net, Readout(["a", "b"]), speed=None), net)
    assert len(given) > 250 and len(net.seen) > len(given)  # the second state steps too
    assert max(given) <= 2 * WARM_BINS
    takeovers = [k for k in range(1, len(given)) if given[k] < given[k - 1]]
    assert takeovers[0] <= 2 * WARM_BINS + 2 and len(takeovers) >= len(given) // WARM_BINS - 3
    assert all(WARM_BINS <= given[k] <= WARM_BINS + 2 for k in takeovers)  # states with 0.25 s of rest


def test_at_an_onset_a_fresh_state_reads_the_last_bins_again_and_takes_over_once_caught_up():
    """After a long rest, a word's onset starts a fresh state on the last ONSET_BINS bins' inputs;
    it steps CATCH_UP_STEPS of them after each result and takes over at the first bin it has read
    everything before: that bin's state has read exactly the bins from ONSET_BINS before the onset."""
    from app.pipeline import CATCH_UP_STEPS, ONSET_BINS

    rng = np.random.default_rng(2)
    bin_us = BIN_S * 1e6
    rest = np.sort(rng.uniform(0, 40 * bin_us, 40 * 5))
    word = np.sort(rng.uniform(40 * bin_us, 80 * bin_us, 40 * 400))
    after = np.sort(rng.uniform(80 * bin_us, 120 * bin_us, 40 * 5))
    t = np.concatenate([rest, word, after]).astype(np.int64)
    events = make_events(t, rng.integers(150, 200, len(t)), rng.integers(100, 150, len(t)), rng.integers(0, 2, len(t)))
    net = SaysAWhenBusy()
    given, results = given_states(Pipeline(ArraySource(events), net, Readout(["a", "b"]), speed=None), net)
    onset = next(r.step for r in results if r.onset)
    took_over = [r.step for r in results if r.reread_onset]
    assert onset > ONSET_BINS and len(took_over) == 1
    j = took_over[0]
    assert given[j] == ONSET_BINS + (j - 1 - onset)  # the inputs from ONSET_BINS before the onset to bin j - 1
    assert given[j - 1] == given[onset] + (j - 1 - onset)  # until then the old state stepped on
    # it gains CATCH_UP_STEPS - 1 bins on the stream a bin: caught up at the first bin it can be
    assert (j - onset - 1) * (CATCH_UP_STEPS - 1) + CATCH_UP_STEPS >= ONSET_BINS
    assert (j - onset - 2) * (CATCH_UP_STEPS - 1) + CATCH_UP_STEPS < ONSET_BINS
    assert [r.word.word for r in results if r.word is not None] == ["a"]
