"""`--roi auto` through the one streaming path: on a SynthLip sentence with the mouth moved far
from the centre and drifting, the crop follows the mouth's ground-truth track, never moves
while a word is under way, moves at the same bins whatever the pace, and the bundled model
reads the words the centred original gives. Commands that cut a fixed region refuse it."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from app.cli import main
from app.models import load_model
from app.pipeline import Pipeline
from model import Readout
from stream.mouth_size import SPREAD
from stream.mouth_tracker import FollowingCrop
from stream.roi import Crop, Roi
from stream.sources import open_file
from stream.synthlip import generate_sentence
from stream.transforms import Affine

WORDS = "water leaders price"
MOUTH, DRIFT = (255.0, 178.0), (15.0, 10.0)


@pytest.fixture(scope="module")
def sentences(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roi-auto")
    centred, moved = folder / "centred.aedat4", folder / "moved.aedat4"
    generate_sentence(WORDS, centred, seed=6)
    generate_sentence(WORDS, moved, seed=6, mouth=MOUTH, drift_px=DRIFT)
    return centred, moved


class ZeroModel:
    """Logits of zeros: the crop's moves depend on the events and the segmenter only."""

    def initial_state(self, batch_size=1):
        return None

    def step(self, x, state):
        return torch.zeros(1, 2), state


def run(path, crop_of, model=None, words=("a", "b"), speed=None):
    with open_file(path) as source:
        pipeline = Pipeline(source, model or ZeroModel(), Readout(list(words)), crop=crop_of(source.sensor), speed=speed,
                            max_lag_us=None)  # paced, but every event read: nothing shed
        results = list(pipeline)
        last = pipeline.finish()
    return results, last


def test_the_crop_follows_the_mouth_and_stays_still_during_words(sentences):
    _, moved = sentences
    doc = json.loads(moved.with_suffix(".json").read_text())
    track = np.array(doc["mouth_track"], float)
    results, _ = run(moved, FollowingCrop)
    rois = [r.roi for r in results]
    assert rois[0] == Roi(109, 66, 128, 128)  # starts centred
    for before, r in zip(results, results[1:]):
        if r.roi != before.roi:
            assert not before.speaking and not r.speaking  # never within a word
    spoken = [r for r in results if any(w["start_us"] <= r.t_us < w["end_us"] for w in doc["words"][1:])]
    errors = []
    for r in spoken:  # from the second word on, the crop is on the mouth
        i = min(np.searchsorted(track[:, 0], r.t_us), len(track) - 1)
        errors.append(np.hypot(r.roi.x + 64 - track[i, 1], r.roi.y + 64 - track[i, 2]))
    assert spoken and np.median(errors) < 6 and max(errors) < 10


@pytest.mark.slow
def test_moves_happen_at_the_same_bins_at_any_pace(sentences):
    _, moved = sentences
    fast, _ = run(moved, FollowingCrop)
    paced, _ = run(moved, FollowingCrop, speed=25.0)  # 1 ms slices, paced
    assert [(r.t_us, r.roi, r.events) for r in fast] == [(r.t_us, r.roi, r.events) for r in paced]
    assert len({r.roi for r in fast}) > 1


@pytest.mark.slow
def test_the_moved_sentence_reads_as_the_centred_one(sentences):
    centred, moved = sentences
    net, words, _, _ = load_model(None, runtime="torch", quiet=True)

    def heard(path, crop_of):
        results, last = run(path, crop_of, net, words)
        return [r.word.word for r in results if r.word is not None] + ([last.word] if last else [])

    def right(words):  # a word said may be read as a similar one: the classifier's noise, not the crop's
        return sum(a == b for a, b in zip(words, WORDS.split())) if len(words) == 3 else 0

    assert right(heard(centred, Crop)) >= 2
    assert heard(moved, Crop) == []  # the fixed centred crop misses the moved mouth
    # The crop finds the mouth early in the first word and reads that word again through it.
    assert right(heard(moved, FollowingCrop)) >= 2


@pytest.mark.slow
def test_replay_roi_auto_from_the_command_line(sentences, capsys):
    centred, moved = sentences
    assert main(["replay", str(centred), "--headless", "--speed", "0"]) == 0
    heard = [line for line in capsys.readouterr().out.splitlines() if line.startswith("heard: ")]
    assert main(["replay", str(moved), "--headless", "--speed", "0", "--roi", "auto"]) == 0
    out = capsys.readouterr().out
    assert "ROI auto: moved" in out
    assert [line for line in out.splitlines() if line.startswith("heard: ")] == heard  # as the centred one


def test_a_nearer_face_is_resized_to_the_width_the_model_learnt(tmp_path):
    """The same sentence with the face 1.3 and 1.6 x as large on the sensor (a camera nearer): once
    three words were read, the crop's mouth is measured about 1.3 x as wide as the original's, and
    is resized to the width the model learnt when it is beyond the speakers' own spread."""
    said = "water leaders price about"
    paths = {k: tmp_path / f"{k}.aedat4" for k in (1.0, 1.3, 1.6)}
    for k, path in paths.items():
        generate_sentence(said, path, seed=6, mouth_scale=k)
    net, words, _, _ = load_model(None, runtime="torch", quiet=True)
    assert net.mouth["width"] > 0  # the bundled checkpoint records its training mouths' width
    width = {}
    for k, path in paths.items():
        with open_file(path) as source:
            pipeline = Pipeline(source, net, Readout(words), crop=FollowingCrop(source.sensor), speed=None)
            sizes = [(pipeline.crop.size.place, pipeline.resize) for _ in pipeline]
        assert sizes[0] == (None, None)  # nothing is known before words were read
        width[k] = sizes[-1][0].width
        ratio = width[k] / net.mouth["width"]
        if 1 / SPREAD <= ratio <= SPREAD:  # within the speakers' own spread: read as it is
            assert sizes[-1][1] is None and pipeline.moves is None
        else:
            assert sizes[-1][1] == pytest.approx(1 / ratio)
            assert pipeline.moves == Affine(1 / ratio, sensor=pipeline.crop.sensor)
    assert width[1.6] / net.mouth["width"] > SPREAD  # a face this near is resized
    # The lips' activity grows a little less than the face (SynthLip's blur and head motion do not
    # scale): over 20 ten-word sentences it was 1.24 x as wide (sd 0.03) for a face 1.3 x as large.
    assert 1.12 < width[1.3] / width[1.0] < 1.35


def test_no_resize_without_a_learnt_width_or_with_an_adapted_models_own(sentences):
    _, moved = sentences
    with open_file(moved) as source:
        pipeline = Pipeline(source, ZeroModel(), Readout(["a", "b"]), crop=FollowingCrop(source.sensor), speed=None)
        list(pipeline)
    assert pipeline.crop.size.place is not None and pipeline.resize is None and pipeline.moves is None
    adapted = ZeroModel()
    adapted.config = {"input_affine": {"scale": 0.9, "dx": 4.0, "dy": -2.0}}
    adapted.mouth = {"width": 19.0}
    pipeline.model = adapted  # the user's own move, found on their clips, wins
    assert pipeline.moves == Affine(0.9, sensor=pipeline.crop.sensor)


def test_commands_that_cut_a_fixed_region_refuse_auto(tmp_path, sentences):
    centred, _ = sentences
    proc = subprocess.run([sys.executable, "-m", "app.cli", "convert", str(centred), str(tmp_path / "x.npy"),
                           "--roi", "auto"], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--roi" in lines[0] and "auto" in lines[0] and "X,Y,W,H" in lines[0]


@pytest.mark.slow
def test_a_face_in_the_aps_frames_places_the_crop_before_anyone_speaks(tmp_path):
    """A DAVIS recording of a real face (a photo) drifting 20 px, with APS frames: `--roi auto`
    puts the crop on its mouth at the first frame searched, and follows it no further than the
    detector's steps, with no word spoken at all."""
    from types import SimpleNamespace

    from app.options import crop_for
    from stream.events import SensorSize
    from stream.synthlip.photo import write_photo_recording

    sensor = SensorSize(346, 260)
    n = 600  # 2 ms steps: 1.2 s, a frame every 40 ms
    times = 1_000_000 + 2_000 * np.arange(n)
    track = np.stack([np.linspace(230, 250, n), np.linspace(160, 166, n)], 1)
    path = tmp_path / "face.aedat4"
    photo = write_photo_recording(path, sensor, track, times, frame_every=20)
    args = SimpleNamespace(roi="auto", scale=1)
    with open_file(path) as source:
        assert "frames" in source.streams
        crop = crop_for(source.sensor, args, frames=True)
        assert crop.tracker.finder is not None
        results = list(Pipeline(source, ZeroModel(), Readout(["a", "b"]), crop=crop, speed=None, max_lag_us=None))
    placed = [r for r in results if r.roi != results[0].roi]
    assert placed and placed[0].t_us - results[0].t_us < 100_000  # the first frame is searched at once
    side = photo.mouths[0].side
    for r in placed:
        i = min(np.searchsorted(times, r.t_us), n - 1)
        centre = (r.roi.x + 64, r.roi.y + 64)
        assert np.hypot(centre[0] - track[i, 0], centre[1] - track[i, 1]) < 0.25 * side
