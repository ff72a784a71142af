"""`spikelip latency`: stage summaries, word timing against ground truth, JSON, plot, compare."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.cli import main
from app.latency import DEADLINE_MS, STAGES, WordClock, measure, summary
from app.pipeline import Pipeline
from app.segment import WordSegmenter, WordStage
from app.truth import WordSpan
from model import Readout, build
from stream.constants import BIN_US
from stream.events import SensorSize, make_events
from stream.sources.base import EventSource
from stream.synthlip import generate_sentence

CONFIGS = Path(__file__).resolve().parents[2] / "assets" / "configs"


def test_summary_matches_numpy_percentiles():
    ms = np.random.default_rng(0).exponential(3.0, 1001)
    s = summary(ms)
    for q in (50, 90, 99):
        assert s[f"p{q}_ms"] == pytest.approx(np.percentile(ms, q), abs=1e-4)
    assert s["max_ms"] == pytest.approx(ms.max(), abs=1e-4) and s["count"] == 1001
    assert summary([])["p50_ms"] is None


def test_word_clock_times_commits_from_the_true_word_end():
    """Activity from 0.2 s to 0.6 s: the segmenter commits after its hangover; latency follows."""
    words = ["about", "water"]
    stage = WordStage(Readout(words), WordSegmenter(on_rate=100, off_rate=40, min_on_steps=2,
                                                    hangover_steps=3, smooth_steps=1))
    truth = [WordSpan("water", 200_000, 600_000)]
    clock = WordClock(truth)
    active = []
    for i in range(80):
        t_us = int(i * BIN_US)
        if 200_000 <= t_us < 600_000:
            active.append(i)
        logits = np.array([0.0, 5.0]) if i < 30 else np.array([9.0, 0.0])  # "water" leads, then "about"
        word = stage.step(logits, 300 if active and active[-1] == i else 0, t_us / 1e6)
        clock.observe(SimpleNamespace(t_us=t_us, t_s=t_us / 1e6, onset=stage.onset, word=word, revised=None,
                                      top5=stage.top(5), latency_ms=2.0))
    report = clock.report()
    assert report["committed"] == 1 and report["detected"] == 1
    word = report["words"][0]
    assert word["predicted"] == "about" and not word["correct"]
    # the 3rd quiet bin after the last active one commits, at its end
    commit_end = (active[-1] + 4) * BIN_US
    assert word["commit_ms"] == pytest.approx((commit_end - 600_000) / 1e3 + 2.0, abs=0.01)
    # the running mean tips to "about" when its sum passes water's: 9 (i - 29) > 5 (29 - onset + 1)
    onset = active[1]  # the second active bin reports the onset (lookback replays the first)
    first = next(i for i in range(30, 80) if 9 * (i - 29) > 5 * (30 - active[0]))
    assert word["decision_ms"] == pytest.approx(((first + 1) * BIN_US - 600_000) / 1e3 + 2.0, abs=0.01)
    assert onset < first < active[-1]


def test_a_word_read_again_as_another_counts_as_that_word_in_the_end():
    """A commit of "about" where "water" was said, then the pipeline's `revised` "water" 20 bins
    later: `correct` counts the word in the end, `correct_at_commit` the commit."""
    from app.segment import Word

    clock = WordClock([WordSpan("water", 200_000, 600_000)])
    said = Word("about", 0.4, 0.2, 0.6)
    for i, (word, revised) in enumerate([(None, None)] * 50 + [(said, None)] + [(None, None)] * 19
                                        + [(None, Word("water", 0.6, 0.2, 0.6))]):
        t_us = int(i * BIN_US)
        clock.observe(SimpleNamespace(t_us=t_us, t_s=t_us / 1e6, onset=False, word=word, revised=revised,
                                      top5=[("about", 0.4)], latency_ms=1.0))
    report = clock.report()
    assert (report["correct"], report["correct_at_commit"], report["revised"]) == (1, 0, 1)
    word = report["words"][0]
    assert (word["predicted"], word["committed"], word["correct"]) == ("water", "about", True)
    assert word["commit_ms"] == pytest.approx((51 * BIN_US - 600_000) / 1e3 + 1.0, abs=0.01)
    assert word["revise_ms"] == pytest.approx((71 * BIN_US - 600_000) / 1e3 + 1.0, abs=0.01)


class LiveSource(EventSource):
    """A live source on the host clock, like a camera: epoch-microsecond timestamps."""

    live = True
    sensor = SensorSize(128, 128)

    def __iter__(self):
        import time

        start = int(time.time() * 1e6)
        for k in range(40):
            now = int(time.time() * 1e6)
            yield make_events(np.full(50, now), np.arange(50), np.arange(50), np.ones(50))
            time.sleep(0.005)
            if now - start > 0.3e6:
                return


@pytest.mark.slow
def test_camera_clock_gives_camera_to_prediction_latency():
    net = build("small", frontend_widths=[4, 4, 8, 8], hidden_size=16, num_layers=1).eval()
    pipeline = Pipeline(LiveSource(), net, Readout(net.words))
    report = measure(pipeline, camera_clock=True)
    cam = report["stages"]["camera_to_prediction"]
    assert cam["count"] == report["steps"] > 5 and report["deadline_ms"] == pytest.approx(DEADLINE_MS, abs=1e-3)
    # on one clock, a bin can only be published after it ends (how long after depends on the load)
    assert 0 < cam["p50_ms"] <= cam["max_ms"]


def test_a_model_binning_at_a_slower_users_pace_has_a_longer_deadline():
    """Its steps come a bin of its own apart (config input_pace): that bin is the deadline."""
    net = build("small", frontend_widths=[4, 4, 8, 8], hidden_size=16, num_layers=1, input_pace=1.2).eval()
    report = measure(Pipeline(LiveSource(), net, Readout(net.words)))
    assert report["deadline_ms"] == pytest.approx(1.2 * DEADLINE_MS, abs=1e-3)
    assert report["stream_s"] == pytest.approx(report["steps"] * 1.2 * DEADLINE_MS / 1e3, abs=1e-3)


@pytest.fixture(scope="module")
def sentence(tmp_path_factory):
    path = tmp_path_factory.mktemp("lat") / "s.aedat4"
    generate_sentence("water million", path, seed=2)
    return path


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    cfg = json.loads((CONFIGS / "small.json").read_text())
    cfg.update(name="tiny", frontend_widths=[4, 4, 8, 8], hidden_size=16, num_layers=1)
    path = tmp_path_factory.mktemp("cfg") / "tiny.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.mark.slow
def test_latency_command_reports_stages_words_json_and_plot(sentence, tiny_config, tmp_path, capsys):
    out, png = tmp_path / "lat.json", tmp_path / "lat.png"
    rc = main(["latency", str(sentence), "--model", str(tiny_config), "--runtime", "torch", "--speed", "4",
               "--json", str(out), "--plot", str(png)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "end_to_end" in text and "missed deadlines" in text and "words:" in text
    report = json.loads(out.read_text())
    for stage in STAGES:
        assert set(report["stages"][stage]) >= {"p50_ms", "p90_ms", "p99_ms", "max_ms"}
    s = report["stages"]["end_to_end"]
    assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"]
    assert report["stages"]["model"]["p50_ms"] <= s["p50_ms"] + 1e-6  # the model is one part of the path
    assert report["steps"] == s["count"] and report["deadline_ms"] == pytest.approx(DEADLINE_MS, abs=1e-3)
    assert report["words"]["true_words"] == 2 and report["events_in"] > 0 and report["runtime"] == "torch"
    from PIL import Image

    assert np.asarray(Image.open(png).convert("L")).std() > 5  # not blank


@pytest.mark.slow
def test_compare_steps_every_runtime_on_the_same_bins(sentence, tiny_config, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPIKELIP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cmp.json"
    rc = main(["latency", str(sentence), "--compare", "--models", str(tiny_config), "--runtimes", "torch,onnx",
               "--duration", "1", "--json", str(out)])
    assert rc == 0
    runs = json.loads(out.read_text())["runs"]
    assert len(runs) == 2
    steps = {r["steps"] for r in runs.values()}
    assert len(steps) == 1 and steps.pop() >= 70
    for r in runs.values():
        assert r["stages"]["model"]["p50_ms"] > 0 and "end_to_end" in r["stages"]
    assert "model step speed-up vs onnx" in capsys.readouterr().out


def test_bad_runtime_for_an_onnx_file_is_one_line(tmp_path, capsys):
    fake = tmp_path / "m.onnx"
    fake.write_bytes(b"not onnx")
    assert main(["latency", "--model", str(fake), "--runtime", "torch"]) == 2
    err = capsys.readouterr().err
    assert "m.onnx" in err and "onnx runtime only" in err and len(err.strip().splitlines()) == 1
