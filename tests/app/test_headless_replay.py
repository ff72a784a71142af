"""`spikelip replay --headless` reads a recording word by word, as the window does: one line per
word when the lips stop, judged against the recording's ground truth, and a clip as one word."""
import json
import re

import numpy as np
import pytest

from app.cli import main
from app.truth import read_word_times
from stream.events import make_events
from stream.sources.npy import save_clip
from app.models import ASSETS

SAMPLE = ASSETS / "samples" / "sample.aedat4"
HEARD = re.compile(r"  heard '(\w+)' \((0\.\d\d|1\.00)\) at ([\d.]+)-([\d.]+) s ?(.*)")


@pytest.mark.slow
def test_the_sample_is_read_word_by_word_and_judged(tmp_path, capsys, monkeypatch):
    from app.pipeline import Pipeline

    restarts = []
    restart = Pipeline.restart_model
    monkeypatch.setattr(Pipeline, "restart_model", lambda self: restarts.append(self.steps - 1) or restart(self))
    jsonl = tmp_path / "steps.jsonl"
    assert main(["replay", "--headless", "--speed", "0", "--runtime", "torch", "--jsonl", str(jsonl)]) == 0
    out = capsys.readouterr().out.splitlines()
    heard = [HEARD.fullmatch(line) for line in out if line.startswith("  heard")]
    truth = read_word_times(SAMPLE)
    assert len(truth) == 5 and 4 <= len(heard) <= len(truth) and all(heard)  # two words said fast may merge
    right, last = 0, -1.0
    for m in heard:  # in order, each judged against the word said that it overlaps most
        start, end = float(m[3]), float(m[4])
        assert start >= last
        last = end
        said = max(truth, key=lambda w: min(w.end, end) - max(w.start, start))
        assert start < said.end and end > said.start
        assert m[5] == ("✓" if m[1] == said.word else f"✗ (said: {said.word})")
        right += m[1] == said.word
    assert f"heard: {' '.join(m[1] for m in heard)}" in out
    assert f"said:  {' '.join(w.word for w in truth)}  ({right} of 5 words right, ground truth from sample.json)" in out
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    committed = [r["word"] for r in records if "word" in r]
    assert [w["word"] for w in committed] == [m[1] for m in heard[:len(committed)]]
    assert len(committed) >= 4  # the last word may only be committed when the stream ends
    assert restarts == [r["step"] for r in records if "word" in r]  # the model starts from rest after each word


@pytest.mark.slow
def test_a_clip_is_read_as_one_word_and_judged_by_its_folder(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 20_000
    clip = tmp_path / "test" / "water" / "0.npy"
    save_clip(clip, make_events(np.sort(rng.integers(0, 1_000_000, n)), rng.integers(30, 100, n),
                                rng.integers(40, 90, n), rng.integers(0, 2, n)))
    assert main(["replay", "--headless", "--speed", "0", "--runtime", "torch", str(clip)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert not any(line.startswith("  heard") for line in out)
    m = re.fullmatch(r"read: (\w+) \((0\.\d\d|1\.00)\) (.*)", out[-1])
    assert m and m[3] == ("✓" if m[1] == "water" else "✗ (said: water)")


@pytest.mark.slow
def test_events_shed_to_catch_up_are_reported(monkeypatch, capsys):
    """A replay that falls behind real time sheds events (stream.shedding): the run must say so,
    since the words it read may then differ from a full read."""
    from stream.shedding import LoadShedder

    def shed_half(self, events, lag_us, event_share=1.0):
        self.dropped += len(events) - len(events[::2])
        return events[::2]

    monkeypatch.setattr(LoadShedder, "__call__", shed_half)
    assert main(["replay", "--headless", "--speed", "8", "--runtime", "torch"]) == 0
    warning = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning: fell behind")]
    m = re.search(r"dropped ([\d,]+) of 196,928 events \((\d+\.\d)%\)", warning[0]) if len(warning) == 1 else None
    dropped = int(m[1].replace(",", "")) if m else 0
    assert 0.45 * 196_928 < dropped <= 0.5 * 196_928 and float(m[2]) == round(100 * dropped / 196_928, 1)  # odd batches keep one more


def test_a_word_read_again_as_another_is_a_line_and_a_jsonl_field(capsys):
    from types import SimpleNamespace

    from app.commands.replay import _jsonl_record, _print_word
    from app.segment import Word
    from app.truth import WordSpan

    truth = [WordSpan("allowed", 4.3, 4.8)]
    assert _print_word(Word("allowed", 0.83, 4.32, 4.84), truth, instead_of="allow") == ("allowed", "allowed")
    assert capsys.readouterr().out == "  read again 'allowed' (0.83) at 4.32-4.84 s instead of 'allow' ✓\n"
    r = SimpleNamespace(step=7, t_us=100, events=3, top5=[("allowed", 0.8)], latency_ms=1.0, word=None,
                        revised=Word("allowed", 0.83, 4.32, 4.84))
    record = _jsonl_record(r)
    assert "word" not in record and record["revised"] == {"word": "allowed", "confidence": 0.83, "start_s": 4.32,
                                                         "end_s": 4.84}
