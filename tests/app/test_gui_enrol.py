"""The window's Enrol panel, offscreen: takes cut from what the window plays (a SynthLip sentence of
the prompted words stands in for the camera), Keep and Redo, the session recording, resuming,
and Adapt switching the window to the new model."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pytestqt")


from app.enroll import Enrolment  # noqa: E402
from enrol_helpers import check_clips, sentence, takes  # noqa: E402
from stream.events import make_events  # noqa: E402
from stream.sources.npy import save_clip  # noqa: E402

pytestmark = pytest.mark.usefixtures("gui_application")


def start(panel, folder, words, takes=1) -> bool:
    panel.show()
    panel.folder_edit.setText(str(folder))
    panel.words_edit.setText(words)
    panel.takes_box.setValue(takes)
    panel.countdown_s = 0  # the test does not wait for "3 2 1"
    return panel.start()


def test_the_panel_says_what_is_missing_before_it_starts(window, tmp_path):
    panel = window.enrol
    assert panel.isHidden() and not panel.button.isChecked()
    panel.button.click()
    assert panel.isVisible()
    assert not start(panel, "", "water") and "choose a folder" in panel.cue_label.text()
    assert not start(panel, tmp_path / "me", "water,qxzvbt") and "qxzvbt" in panel.cue_label.text()
    assert start(panel, tmp_path / "me", "water,million")  # nothing plays yet: it waits for a source
    assert panel.state == "waiting" and "Open a camera or a recording" in panel.cue_label.text()
    assert (tmp_path / "me" / "words.txt").read_text() == "million\nwater\n"
    panel.stop()
    assert panel.state == "idle" and panel.start_button.isEnabled()


@pytest.mark.slow
def test_takes_come_from_the_window_and_keep_and_redo_make_the_clips(qtbot, window, tmp_path):
    said = ["water", "water", "million"]  # the first 'water' is redone
    recording = sentence(tmp_path / "said.aedat4", said, seed=11)
    panel, folder = window.enrol, tmp_path / "me"
    assert start(panel, folder, "water,million")
    window.open_file(recording)
    seen = []
    for answer in ("redo", "keep", "keep"):
        qtbot.waitUntil(lambda: panel.state == "review", timeout=60_000)
        seen.append((panel.prompt.word, panel.cut.word.start_s))
        assert panel.keep_button.isEnabled() and panel.image.pixmap() is not None
        assert "the model heard" in panel.take_label.text()
        if answer == "keep" and len(seen) == 2:
            window.grab().save(str(tmp_path / "enrol.png"))  # the panel with a take to judge
        (panel.redo_button if answer == "redo" else panel.keep_button).click()
    qtbot.waitUntil(lambda: panel.state == "done", timeout=30_000)
    assert [word for word, _ in seen] == ["water", "water", "million"]
    check_clips(folder, recording, spoken=[1, 2])  # 'water' from its second utterance
    assert panel.progress.value() == panel.progress.maximum() == 2
    assert panel.run_edit.text() == str(folder / "adapted") and "All 2 clips recorded" in panel.cue_label.text()
    sessions = list((folder / "sessions").glob("*.aedat4"))  # the window recorded the session
    assert len(sessions) == 1 and takes(folder)[0]["session"] == sessions[0].name
    qtbot.waitUntil(lambda: window.saved_recording is not None or window.finished, timeout=30_000)
    assert (tmp_path / "enrol.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_recording_waits_during_the_countdown_and_a_later_start_resumes(qtbot, window, tmp_path):
    folder = tmp_path / "me"
    save_clip(folder / "train" / "water" / "0.npy", make_events(np.arange(5) * 1000, [1] * 5, [2] * 5, [1] * 5))
    recording = sentence(tmp_path / "said.aedat4", ["million"], seed=12)
    panel = window.enrol
    assert start(panel, folder, "water,million")
    assert panel.prompt is None and panel.state == "waiting"
    panel.countdown_s = 1.0  # a real countdown: the recording must not move meanwhile
    window.open_file(recording)
    qtbot.waitUntil(lambda: panel.state == "countdown", timeout=30_000)
    assert panel.prompt.word == "million" and panel.prompt.take == 1 and panel.prompt.done == 1
    assert window.worker.session.playback.paused
    qtbot.waitUntil(lambda: panel.state == "review", timeout=60_000)
    panel.keep_button.click()
    qtbot.waitUntil(lambda: panel.state == "done", timeout=10_000)
    check_clips(folder, recording, spoken=[0])
    assert Enrolment(folder, ["water", "million"], 1).complete


@pytest.mark.slow
def test_adapt_runs_in_the_background_with_progress_and_switches_the_window(qtbot, window, tmp_path):
    from stream.synthlip import generate_dataset

    folder = tmp_path / "me"
    generate_dataset(folder, 2, seed=3, split="train", workers=1, progress=False, words=["water", "million"])
    panel = window.enrol
    panel.folder_edit.setText(str(folder))
    panel.minutes_box.setValue(0.1)
    assert panel.adapt()
    assert not panel.adapt_button.isEnabled()
    qtbot.waitUntil(lambda: panel.adapt_button.isEnabled(), timeout=120_000)
    assert panel.adapt_error is None and panel.adapt_bar.value() == 1000
    assert (folder / "adapted" / "model.json").exists()
    assert window.words == ["million", "water"] and str(folder / "adapted" / "model.json") in window.model_spec
    assert panel.adapt_label.text().startswith("reading with ")
