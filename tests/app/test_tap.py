"""The GUI's source tap looks live to the pipeline; a paced file behind it must never be shed."""
import numpy as np
import pytest

from app.gui.playback import Playback
from app.gui.recorder import Recorder
from app.gui.tap import SourceTap
from app.pipeline import Pipeline
from model import Readout, build
from stream.constants import BIN_US
from stream.events import SensorSize, make_events
from stream.sources.base import EventSource


class Bursts(EventSource):
    """A file-like source: 30 bins of 1,500 events each."""

    def __init__(self):
        super().__init__()
        self.sensor, self.name = SensorSize(128, 128), "bursts"

    def __iter__(self):
        rng = np.random.default_rng(0)
        for k in range(30):
            t = (k * BIN_US + np.sort(rng.uniform(0, BIN_US, 1500))).astype(np.int64)
            yield make_events(t, rng.integers(20, 108, 1500), rng.integers(20, 108, 1500), rng.integers(0, 2, 1500))


@pytest.mark.slow
def test_a_slow_motion_replay_keeps_every_event():
    """At 0.25 x the stream runs behind the wall clock by design; judged as a camera, the
    pipeline would think it lags and shed most events (as the window did)."""
    tap = SourceTap(Bursts(), Playback(0.25), Recorder())
    assert tap.live and not tap.realtime
    net = build("small", frontend_widths=[4, 4, 8, 8], hidden_size=8).eval()
    pipeline = Pipeline(tap, net, Readout([f"w{i}" for i in range(100)]), speed=None)
    events = sum(r.events for r in pipeline)
    assert pipeline.events_dropped == 0 and events == 30 * 1500
