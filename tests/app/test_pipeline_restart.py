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


@pytest.mark.slow
def test_the_pipeline_restarts_the_model_after_each_word_it_commits():
    net = CountingModel()
    with open_file(SAMPLE) as source:
        pipeline = Pipeline(source, net, Readout(["a", "b"]), speed=None)
        committed = [r.step for r in pipeline if r.word is not None]
    assert len(committed) >= 4
    # the step after each commit starts from the initial state, and only those steps do
    restarted = [k for k in range(1, len(net.seen)) if net.seen[k] == 0]
    assert restarted == [k + 1 for k in committed if k + 1 < len(net.seen)]


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

    class Recording(CountingModel):
        """Which state each pipeline step got: the first step call of each bin."""

    net = Recording()
    pipeline = Pipeline(ArraySource(rest), net, Readout(["a", "b"]), speed=None)
    given, calls = [], 0
    for _ in pipeline:
        given.append(net.seen[calls])
        calls = len(net.seen)
    assert len(given) > 250 and calls > len(given)  # the second state steps too
    assert max(given) <= 2 * WARM_BINS
    takeovers = [k for k in range(1, len(given)) if given[k] < given[k - 1]]
    assert takeovers[0] <= 2 * WARM_BINS + 2 and len(takeovers) >= len(given) // WARM_BINS - 3
    assert all(WARM_BINS <= given[k] <= WARM_BINS + 2 for k in takeovers)  # states with 0.25 s of rest
