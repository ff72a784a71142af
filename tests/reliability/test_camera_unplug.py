"""A camera unplugged mid-stream (a scripted fake that fails after N batches): `record` keeps every
event received before the fault; `--on-disconnect stop` ends the run with one line, `wait` waits
for the camera to come back and carries on, and the terminal and the window say which."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from model import Readout, build
from app.pipeline import Pipeline
from stream.errors import SpikeLipError
from stream.events import make_events
from stream.sources.camera import CameraSource, ReconnectingCamera
from stream.sources.npy import dvslip_words
from reliability_helpers import FakeCamera, one_error_line, read_dv, run_cli, store

T0 = 1_700_000_000_000_000


@pytest.fixture
def one_thread():
    """One torch thread, as the app steps models (and fast on a busy machine); restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def batches(t0: int, count: int, per: int = 1_000, step_us: int = 10_000) -> list:
    return [store(t0 + i * step_us, per) for i in range(count)]


def as_events(stores) -> np.ndarray:
    parts = [s.numpy() for s in stores]
    return np.concatenate([make_events(a["timestamp"], a["x"], a["y"], a["polarity"]) for a in parts])


def cameras(monkeypatch, *answers):
    """CameraSource opens these in turn: a FakeCamera, or an exception (nothing plugged in)."""
    queue = list(answers)

    def _open(name):
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(CameraSource, "_open", staticmethod(_open))
    return queue


def test_record_stop_saves_every_event_received_before_the_fault(tmp_path, monkeypatch, capsys):
    sent = batches(T0, 5)
    cameras(monkeypatch, FakeCamera(sent, error=RuntimeError("USB transfer failed")))
    out = tmp_path / "stop.aedat4"
    code, _, err = run_cli(["record", out], capsys)  # stop is record's default
    line = one_error_line(err, "record", "camera DVXplorer_DXA00093")
    assert code == 2 and "stopped with an error after 5,000 events (USB transfer failed)" in line
    assert f"5,000 events before it are saved in {out}" in line
    assert np.array_equal(read_dv(out), as_events(sent))  # finalised: dv-processing opens it


@pytest.mark.slow
def test_record_wait_goes_on_in_the_same_file_after_the_camera_is_back(tmp_path, monkeypatch, capsys):
    before = batches(T0, 3)
    after = batches(5_000_000, 2)  # the camera's clock restarted: time must still go forward in the file
    cameras(monkeypatch, FakeCamera(before), SpikeLipError("no event camera found"),
            FakeCamera(after, error=KeyboardInterrupt()))  # ... and then the user presses Ctrl-C
    out = tmp_path / "wait.aedat4"
    code, _, err = run_cli(["record", out, "--on-disconnect", "wait"], capsys)
    assert code == 0, err
    assert any("disconnected after 3,000 events; waiting for it to come back" in line for line in err)
    assert any("reconnected after" in line for line in err)
    assert err[-1] == f"stopped by the user: wrote 5,000 events to {out}"
    got, sent = read_dv(out), as_events(before + after)
    assert len(got) == 5_000 and (np.diff(got["t"]) >= 0).all()
    assert np.array_equal(got[:3_000], sent[:3_000])
    for field in "xyp":
        assert np.array_equal(got[field], sent[field])
    shift = got["t"][3_000:] - sent["t"][3_000:]
    assert (shift == shift[0]).all() and got["t"][3_000] > got["t"][2_999]


@pytest.mark.slow
def test_the_pipeline_steps_through_the_outage_when_waiting(one_thread):
    net = build("small").eval()
    answers = [FakeCamera(batches(T0, 4)), FakeCamera(batches(1_000, 3), error=KeyboardInterrupt())]  # clock restarted
    source = ReconnectingCamera(retry_s=0.2, _open=lambda name: CameraSource(_camera=answers.pop(0)))
    pipeline = Pipeline(source, net, Readout(dvslip_words()))
    steps, notices = [], []
    with pytest.raises(KeyboardInterrupt):
        for r in pipeline:
            steps.append((r.t_us, r.events))
            if source.notice and source.notice not in notices:
                notices.append(source.notice)
    assert "disconnected after 4,000 events" in notices[0] and "reconnected after" in notices[1]
    t_lost = T0 + 3 * 10_000 + 999
    silent = [t for t, n in steps if t > t_lost and n == 0]
    assert len(silent) >= 10  # time went on while waiting
    assert any(n for t, n in steps if t > silent[9])  # the events after the reconnect came later, and were binned
    assert pipeline.events_in == 7_000 and pipeline.binner.late == 0


@pytest.mark.parametrize("choice", ["stop", "wait"])
@pytest.mark.slow
def test_demo_headless_stops_or_waits_as_chosen(choice, monkeypatch, capsys, one_thread):
    first = FakeCamera(batches(T0, 3))
    if choice == "stop":
        cameras(monkeypatch, first)
    else:
        cameras(monkeypatch, first, FakeCamera(batches(T0 + 200_000, 2) + [0.05] * 4, error=KeyboardInterrupt()))
    code, out, err = run_cli(["demo", "--headless", "--runtime", "torch", "--on-disconnect", choice], capsys)
    if choice == "stop":
        assert code == 2 and "disconnected after 3,000 events" in one_error_line(err, "demo", "DVXplorer_DXA00093")
    else:
        assert code == 130 and err[-1] == "spikelip demo: interrupted"  # only Ctrl-C ended it
        assert "disconnected after 3,000 events; waiting for it to come back" in out and "reconnected after" in out


@pytest.fixture(scope="module")
def one_word(tmp_path_factory):
    """A SynthLip recording of one word ("water"): its events on T0's clock, as 10 ms camera
    batches, and the word's end (s from the first event)."""
    import json

    import dv_processing as dv

    from stream.sources import open_file
    from stream.synthlip import generate_sentence

    path = tmp_path_factory.mktemp("word") / "water.aedat4"
    generate_sentence("water", path, seed=3)
    with open_file(path) as source:
        events = np.concatenate(list(source))
    truth = json.loads(path.with_suffix(".json").read_text())["words"][0]
    end_s = (truth["end_us"] - events["t"][0]) / 1e6
    t = events["t"] - events["t"][0] + T0
    out = []
    cuts = np.flatnonzero(np.diff(t // 10_000)) + 1
    for part_t, part in zip(np.split(t, cuts), np.split(events, cuts)):
        s = dv.EventStore()
        for ti, x, y, pol in zip(part_t.tolist(), part["x"].tolist(), part["y"].tolist(), part["p"].tolist()):
            s.push_back(ti, x, y, bool(pol))
        out.append(s)
    return out, end_s


@pytest.mark.slow
def test_demo_headless_prints_each_word_when_the_lips_stop(monkeypatch, capsys, one_thread, one_word):
    """A word said to the camera, then the recording's rest: one word, printed once the segmenter
    hears the quiet (not a running guess every time the top word changes), timed at its end."""
    stores, end_s = one_word
    cameras(monkeypatch, FakeCamera(stores, error=RuntimeError("USB transfer failed")))
    code, out, err = run_cli(["demo", "--headless", "--runtime", "torch", "--on-disconnect", "stop"], capsys)
    assert code == 2 and "USB transfer failed" in one_error_line(err, "demo", "DVXplorer_DXA00093")
    lines = out.splitlines()
    assert lines[0].startswith("live from DVXplorer_DXA00093") and "words print as the lips stop" in lines[0]
    words = [re.fullmatch(r"t=\s*([\d.]+)s  (\w+) \((0\.\d\d)\)", line) for line in lines[1:]
             if not line.startswith("  read again: ")]
    assert len(words) == 1 and words[0] and words[0][2] in dvslip_words(), lines
    assert abs(float(words[0][1]) - end_s) < 0.1  # the word's end: its last busy bins, not when the quiet was heard


# --------------------------------------------------------------------------- the window


@pytest.fixture
def window(qtbot, tmp_path, one_thread):
    pytest.importorskip("pytestqt")
    from PyQt6 import QtCore

    from app.gui.launch import application
    from app.gui.main_window import MainWindow

    application()  # sets torch to one thread; `one_thread` restores it
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(model=(build("small").eval(), dvslip_words(), "small (test)", "torch"), settings=settings, speed=None)
    qtbot.addWidget(w)
    messages = []
    show = w.status
    w.status = lambda text, error=False: (messages.append((text, error)), show(text, error))
    yield w, messages
    w.close()


@pytest.mark.slow
def test_the_window_says_the_camera_is_gone_and_back(qtbot, window, monkeypatch):
    w, messages = window
    cameras(monkeypatch, FakeCamera(batches(T0, 3)), FakeCamera(batches(T0 + 200_000, 2) + [0.05] * 400))
    assert w.controls.wait_box.isChecked()  # waiting is the window's default
    w.open_camera("DVXplorer_DXA00093")
    qtbot.waitUntil(lambda: any("waiting for it to come back" in m for m, _ in messages), timeout=20_000)
    qtbot.waitUntil(lambda: any("reconnected after" in m for m, _ in messages), timeout=20_000)
    waiting = next(e for m, e in messages if "waiting for it to come back" in m)
    back = next(e for m, e in messages if "reconnected after" in m)
    assert waiting and not back and not w.failed  # red while waiting, normal once back; the run goes on


@pytest.mark.slow
def test_the_window_stops_when_told_not_to_wait(qtbot, window, monkeypatch):
    w, messages = window
    cameras(monkeypatch, FakeCamera(batches(T0, 3)))
    w.controls.wait_box.setChecked(False)
    w.open_camera("DVXplorer_DXA00093")
    qtbot.waitUntil(lambda: w.finished, timeout=20_000)
    w.drain_and_paint()
    assert "disconnected after 3,000 events" in w.failed
    assert "disconnected after 3,000 events" in w.statusBar().currentMessage()
