"""Once streaming starts, what was loaded before it (libraries, the model) is out of the cyclic
garbage collector's reach: a full collection in mid-stream then scans only the stream's own
objects, instead of stalling a step for ~100 ms."""
import gc

import numpy as np
import pytest
import torch

from app.latency import compare
from app.models import ASSETS
from app.pipeline import Pipeline
from model import Readout
from stream.sources import open_file


class ZeroModel:
    def initial_state(self, batch_size=1):
        return None

    def step(self, x, state):
        return torch.zeros(1, 2), state


def tracked(obj) -> bool:
    return any(o is obj for o in gc.get_objects())


@pytest.mark.slow
def test_streaming_moves_what_was_loaded_before_it_out_of_the_collectors_reach():
    loaded_before = {"a model's": ["weights"]}
    assert tracked(loaded_before)
    with open_file(ASSETS / "samples" / "sample.aedat4") as source:
        steps = iter(Pipeline(source, ZeroModel(), Readout(["a", "b"]), speed=None))
        next(steps)
        made_during = {"a stream's": ["objects"]}
        assert not tracked(loaded_before) and tracked(made_during)


def test_the_interleaved_comparison_measures_under_the_same_collector_as_the_live_path():
    loaded_before = {"a model's": ["weights"]}
    compare([np.zeros((2, 128, 128), np.float32)], [0.1], {"zero": (ZeroModel(), ["a", "b"])})
    assert not tracked(loaded_before)
