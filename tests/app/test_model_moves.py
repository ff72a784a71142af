"""An adapted model's input_affine is applied where the stream is cropped: the model is handed
exactly the frames it would get from events moved beforehand, and a crop that follows the mouth
keeps only the resizing (it places the mouth itself)."""
import numpy as np
import pytest
import torch

from app.pipeline import Pipeline, model_moves
from model import Readout
from stream.events import SensorSize, make_events
from stream.sources.base import EventSource
from stream.transforms import Affine, TimeScale


class ClipSource(EventSource):
    """A 128 x 128 clip's events in memory, binned like DVS-Lip clips, in batches of 1,500."""

    sensor = SensorSize(128, 128)
    binning = "round"

    def __init__(self, events):
        super().__init__()
        self.events = events

    def __iter__(self):
        for k in range(0, len(self.events), 1500):
            yield self.events[k:k + 1500]


class InputRecorder:
    """Records every input it is stepped with; `config` as a checkpoint's."""

    def __init__(self, config):
        self.config, self.inputs = config, []

    def initial_state(self, batch_size=1):
        return None

    def step(self, x, state):
        self.inputs.append(x.clone())
        return torch.zeros(1, 2), state


def mouth_events(n: int = 30_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 800_000, n))
    x = np.clip(np.rint(rng.normal(64, 16, n)), 0, 127)
    y = np.clip(np.rint(rng.normal(67, 8, n)), 0, 127)
    return make_events(t, x, y, rng.integers(0, 2, n))


def inputs_of(model, events) -> torch.Tensor:
    pipeline = Pipeline(ClipSource(events), model, Readout(["a", "b"]), speed=None, segment=False)
    for _ in pipeline:
        pass
    return torch.cat(model.inputs)


@pytest.mark.parametrize("affine", [{"scale": 1.0, "dx": 7.0, "dy": -5.0},
                                    {"scale": 0.8, "dx": -3.0, "dy": 4.0, "rotate_deg": -9.0}])
def test_the_model_reads_the_events_moved_as_its_config_says(affine):
    events = mouth_events()
    moved = Affine(affine["scale"], affine.get("rotate_deg", 0.0), affine["dx"], affine["dy"])(events, np.random.default_rng(0))
    adapted = inputs_of(InputRecorder({"input_affine": affine}), events)
    plain = inputs_of(InputRecorder({}), moved)
    assert adapted.shape == plain.shape and adapted.abs().sum() > 0
    assert torch.equal(adapted, plain)
    assert not torch.equal(adapted, inputs_of(InputRecorder({}), events))


def test_a_following_crop_keeps_only_the_resizing():
    model = InputRecorder({"input_affine": {"scale": 0.9, "dx": 4.0, "dy": -2.0}})
    sensor = SensorSize(128, 128)
    assert model_moves(model, sensor) == Affine(0.9, dx=4.0, dy=-2.0, sensor=sensor)
    assert model_moves(model, sensor, following=True) == Affine(0.9, sensor=sensor)
    turned = InputRecorder({"input_affine": {"scale": 1.0, "dx": 4.0, "dy": 0.0, "rotate_deg": 5.0}})
    assert model_moves(turned, sensor, following=True) == Affine(1.0, 5.0, sensor=sensor)
    assert model_moves(InputRecorder({"input_affine": {"scale": 1.0, "dx": 4.0, "dy": 0.0}}), sensor, following=True) is None
    assert model_moves(InputRecorder({}), sensor) is None


def test_the_moves_follow_the_crop_of_the_moment():
    """The window switches a running pipeline's crop between fixed and following (Auto ROI)."""
    from stream.mouth_tracker import following_crop
    from stream.roi import Crop

    model = InputRecorder({"input_affine": {"scale": 0.9, "dx": 4.0, "dy": -2.0}})
    pipeline = Pipeline(ClipSource(mouth_events(100)), model, Readout(["a", "b"]), speed=None, segment=False)
    assert pipeline.moves == Affine(0.9, dx=4.0, dy=-2.0)
    pipeline.crop = following_crop(SensorSize(128, 128))
    assert pipeline.moves == Affine(0.9)
    pipeline.crop = Crop(SensorSize(128, 128))
    assert pipeline.moves == Affine(0.9, dx=4.0, dy=-2.0)


def test_an_onnx_export_carries_the_move(tmp_path):
    """`spikelip export` of an adapted model: the runner reads the move (and the centring) from the
    export's config, so every command that steps it moves the mouth the same way."""
    from app.models import load_model
    from model import build
    from model.onnx_export import export_onnx

    affine = {"scale": 0.9, "dx": -2.0, "dy": 1.5, "rotate_deg": 4.0}
    path = tmp_path / "adapted.onnx"
    export_onnx(build("small", input_affine=affine, input_centre={"x": 63.7, "y": 66.5}).eval(), path)
    loaded = load_model(str(path), quiet=True)
    assert loaded.net.config["input_affine"] == affine
    assert loaded.net.config["input_centre"] == {"x": 63.7, "y": 66.5}
    assert model_moves(loaded.net, SensorSize(128, 128)) == Affine(0.9, 4.0, -2.0, 1.5)
    assert "mouth resized 0.90 x, turned +4.0 degrees and moved -2.0, +1.5 px" in loaded.description


def test_the_model_reads_the_events_at_the_pace_its_config_says():
    """A model whose user speaks 1.25 x as slowly (config input_pace) gets bins 1.25 x as long: the
    frames it would get from the events stretched to its own pace beforehand."""
    events = mouth_events()
    events["t"] -= events["t"] % 5  # a whole number of us after the stretch by 1 / 1.25 ...
    events["t"] -= events["t"][0]  # ... from 0, where both binnings start
    slow = inputs_of(InputRecorder({"input_pace": 1.25}), events)
    plain = inputs_of(InputRecorder({}), TimeScale(0.8)(events, np.random.default_rng(0)))
    assert slow.shape == plain.shape and abs(len(slow) - 0.8 * len(inputs_of(InputRecorder({}), events))) <= 1
    assert torch.equal(slow, plain)


def test_a_fixed_crop_centres_the_mouth_for_a_model_that_asks():
    """config input_centre: the model is handed exactly the frames of the clip centred beforehand
    (`stream.centring.Centred`, as `eval` reads clips); a crop that follows the mouth places it itself."""
    from stream.centring import Centred
    from stream.mouth_tracker import following_crop

    events = mouth_events()
    events["x"] = np.clip(events["x"].astype(int) + 12, 0, 127)  # the mouth well right of where it was learnt
    centre = {"x": 63.7, "y": 66.5}
    centred = inputs_of(InputRecorder({"input_centre": centre}), events)
    plain = inputs_of(InputRecorder({}), Centred(**centre)(events))
    assert centred.shape == plain.shape and torch.equal(centred, plain)
    assert not torch.equal(centred, inputs_of(InputRecorder({}), events))
    pipeline = Pipeline(ClipSource(events), InputRecorder({"input_centre": centre}), Readout(["a", "b"]), speed=None,
                        segment=False)
    pipeline.crop = following_crop(SensorSize(128, 128))
    assert pipeline._crop(events[:100]).size == pipeline._for_model(pipeline.crop(events[:100])).size
    assert pipeline.centring.t0 is None  # never asked
