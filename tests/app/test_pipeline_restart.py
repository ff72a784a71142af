"""After each committed word the model starts again from rest, as every training clip does: on
the bundled sample the pipeline restarts it once per word, and the next step gets the initial
state."""
import torch

from app.latency import WordClock, measure
from app.models import ASSETS
from app.pipeline import Pipeline
from app.segment import SegmentedReadout
from app.truth import read_word_times
from model import Readout
from stream.sources import open_file

SAMPLE = ASSETS / "samples" / "sample.aedat4"


class CountingModel:
    """Its state counts the steps since it last started; records the state each step was given."""

    def __init__(self):
        self.seen = []

    def initial_state(self, batch_size=1):
        return 0

    def step(self, x, state):
        self.seen.append(state)
        return torch.zeros(1, 2), state + 1


def test_the_step_after_restart_model_starts_from_the_initial_state():
    net = CountingModel()
    with open_file(SAMPLE) as source:
        pipeline = Pipeline(source, net, Readout(["a", "b"]), speed=None)
        for r in pipeline:
            if r.step in (10, 11, 40):
                pipeline.restart_model()
    n = len(net.seen)
    assert n == pipeline.steps and n > 50
    expected = list(range(11)) + [0] + list(range(29)) + list(range(n - 41))
    assert net.seen == expected


def test_measure_restarts_the_model_after_each_committed_word(monkeypatch):
    restarts = []
    monkeypatch.setattr(Pipeline, "restart_model", lambda self: restarts.append(self.steps - 1))
    net = CountingModel()
    with open_file(SAMPLE) as source:
        readout = SegmentedReadout(Readout(["a", "b"]))
        clock = WordClock(readout, read_word_times(SAMPLE))
        committed = []
        observe = clock.observe
        monkeypatch.setattr(clock, "observe", lambda r: _track(observe, r, committed))
        measure(Pipeline(source, net, readout, speed=None), words=clock)
    assert len(committed) >= 4 and restarts == committed  # each word committed in the stream, then a restart


def _track(observe, r, committed):
    word = observe(r)
    if word is not None:
        committed.append(r.step)
    return word
