"""The window, offscreen: replay updates every view, transport controls, screenshots, clean
shutdown and errors, recording, ROI memory and DVS-Lip clips, with the real `small` model."""
import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pytestqt")

from PyQt6 import QtCore, QtGui  # noqa: E402

from app.gui.main_window import MainWindow, SourceSpec  # noqa: E402
from app.gui.event_view import snap_roi  # noqa: E402
from stream.sources.camera import CameraDisconnected  # noqa: E402
from stream.events import SensorSize, make_events  # noqa: E402
from stream.roi import Roi  # noqa: E402
from stream.sources.base import EventSource  # noqa: E402
from stream.sources.npy import save_clip  # noqa: E402
from stream.sources.synthetic import SyntheticSource  # noqa: E402

BIN_US = 4e4 / 3


pytestmark = pytest.mark.usefixtures("gui_application")


class Sentence(EventSource):
    """Two 'words' (bursts of mouth-region events) separated and followed by near-silence."""

    binning = "floor"

    def __init__(self, sensor=SensorSize(200, 160), bins=(20, 30, 25, 30, 20), fail_after_bins=None, live=False,
                 mouth=None):
        super().__init__()
        self.sensor, self.name = sensor, "test sentence"
        self.bins, self.fail_after_bins, self.live = bins, fail_after_bins, live
        self.mouth = mouth or (sensor.width // 2, sensor.height // 2)

    def __iter__(self):
        rng = np.random.default_rng(0)
        k = 0
        for i, n_bins in enumerate(self.bins):
            busy = i % 2 == 1
            for _ in range(n_bins):
                if self.fail_after_bins is not None and k >= self.fail_after_bins:
                    raise CameraDisconnected("camera disconnected (test)")
                n = 1500 if busy else 15
                t = (k * BIN_US + np.sort(rng.uniform(0, BIN_US, n))).astype(np.int64)
                cx, cy = self.mouth
                x = np.clip(rng.normal(cx, 12, n), 0, self.sensor.width - 1)
                y = np.clip(rng.normal(cy, 8, n), 0, self.sensor.height - 1)
                yield make_events(t, x, y, rng.integers(0, 2, n))
                k += 1


def finish(qtbot, w, timeout=30_000):
    qtbot.waitUntil(lambda: w.finished, timeout=timeout)
    w.drain_and_paint()


@pytest.mark.slow
def test_replay_updates_event_view_raster_top5_and_transcript(qtbot, window, monkeypatch):
    from app.pipeline import Pipeline

    restarts = []
    monkeypatch.setattr(Pipeline, "restart_model", lambda self: restarts.append(self.steps))
    window.play(SourceSpec("sentence", lambda: Sentence()))
    finish(qtbot, window)
    assert window.failed is None
    assert window.started.segmented and window.stats.steps >= sum(Sentence().bins) - 1
    assert window.event_view.image.image.max() > 0  # events were drawn
    assert window.event_view.image.image.shape[:2] == (160, 200)
    assert window.raster.layer_box.count() > 1 and window.raster.layer_box.currentText() == "backend.0"
    raster = window.raster.raster.image
    assert raster.shape[0] == 64 and raster.shape[1] == 150
    assert any(np.any(r > 0) for r in window.raster._rates.values())  # some layer fired
    top5 = window.top5.top5
    assert len(top5) == 5 and all(0 <= p <= 1 for _, p in top5)
    words = [w for w, _ in window.transcript.words]
    assert len(words) == 2  # one per burst
    assert words[0].start_s < 20 * BIN_US / 1e6 + 0.1 < words[0].end_s < words[1].start_s
    assert len(restarts) == 2  # the model starts from rest again after each committed word
    window.show_stats()
    assert window.latency._cells["model"][0].text() not in ("–", "")


@pytest.mark.slow
def test_pause_stops_the_stream_and_seek_moves_it(qtbot, window):
    window.set_speed(1.0)
    window.play(SourceSpec("synthetic", lambda: SyntheticSource(rate_eps=50_000, duration_s=4, batch_us=250_000)))
    qtbot.waitUntil(lambda: window.position_s > 0.1, timeout=20_000)
    window.toggle_pause()
    assert window.worker.session.playback.paused and window.controls.play_button.text() == "Play"
    qtbot.wait(300)
    window.drain_and_paint()
    held = window.position_s
    qtbot.wait(500)
    window.drain_and_paint()
    assert window.position_s - held < 0.05  # at most the bin in flight
    window.seek(1.5)  # forward: fast-forwards even while paused
    qtbot.waitUntil(lambda: window.position_s >= 1.45, timeout=30_000)
    worker = window.worker
    window.seek(0.5)  # backward: re-opens the source, fast-forwards and stays paused
    assert window.worker is not worker and not worker.running
    qtbot.waitUntil(lambda: window.position_s >= 0.45 and not window.worker.session.playback.seeking, timeout=30_000)
    assert window.position_s < 1.2 and window.paused
    window.toggle_pause()
    assert not window.paused
    position = window.position_s
    qtbot.waitUntil(lambda: window.position_s > position + 0.1, timeout=20_000)


@pytest.mark.slow
def test_screenshot_is_not_blank(qtbot, window):
    window.play(SourceSpec("sentence", lambda: Sentence(bins=(10, 30, 12))))
    finish(qtbot, window)
    window.show_stats()
    image = window.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    assert (image.width(), image.height()) == (1400, 850)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    pixels = rows[:, : image.width() * 3].reshape(-1, 3)
    assert pixels.std() > 15
    colours = np.unique(pixels[::7] // 16, axis=0)  # coarse colour classes
    assert len(colours) > 20


@pytest.mark.slow
def test_closing_mid_replay_joins_the_worker(qtbot, model, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(model=model, settings=settings, speed=1.0)
    qtbot.addWidget(w)
    w.show()
    w.play(SourceSpec("long", lambda: SyntheticSource(rate_eps=50_000, duration_s=6, batch_us=250_000)))
    qtbot.waitUntil(lambda: w.stats.steps > 3, timeout=20_000)
    worker = w.worker
    assert worker.running
    w.close()
    assert not worker.thread.is_alive()
    assert w.worker is None


@pytest.mark.slow
def test_source_error_mid_stream_shows_in_the_status_bar(qtbot, window):
    window.play(SourceSpec("flaky camera", lambda: Sentence(fail_after_bins=30, live=True)))
    finish(qtbot, window)
    assert window.failed == "camera disconnected (test)"
    assert "camera disconnected" in window.statusBar().currentMessage()
    assert not window.worker.running
    assert window.stats.steps >= 25  # what came before the error was shown
    assert window.isVisible()


@pytest.mark.slow
def test_camera_unplug_while_recording_finalises_the_file(qtbot, window, tmp_path):
    pytest.importorskip("dv_processing")
    from stream.sources.aedat4 import AedatFileSource

    out = tmp_path / "unplugged.aedat4"
    window.play(SourceSpec("camera", lambda: Sentence(fail_after_bins=60, live=True), camera="test"))
    window.start_recording(out)
    finish(qtbot, window)
    message = window.statusBar().currentMessage()
    assert "camera disconnected" in message and f"recording saved: {out}" in message
    with AedatFileSource(out) as source:
        assert sum(len(b) for b in source) > 0 and not source.warnings


def test_failure_reported_after_the_saved_recording_keeps_both_in_the_status_bar(window, tmp_path):
    """The source's error finalises the recording before the failure is queued, so a paint can
    report the saved file first; the failure must not then hide it."""
    from types import SimpleNamespace

    from app.gui.session import Failed

    out = tmp_path / "unplugged.aedat4"
    recorder = SimpleNamespace(error=None, finished=out, recording=False, elapsed_s=0.0, events_written=10)
    window.worker = SimpleNamespace(session=SimpleNamespace(recorder=recorder))
    window._show_recording()
    assert window.statusBar().currentMessage() == f"recording saved: {out}"
    window.worker = None
    window.handle(Failed("camera disconnected (test)"))
    assert window.statusBar().currentMessage() == f"camera disconnected (test) — recording saved: {out}"


def test_no_camera_shows_in_the_status_bar(qtbot, window, monkeypatch):
    import stream.sources.camera as camera

    monkeypatch.setattr(camera, "list_cameras", lambda: [])
    assert window.refresh_cameras() == [] and not window.controls.camera_button.isEnabled()
    window.open_camera()
    finish(qtbot, window)
    assert window.failed and "camera" in window.statusBar().currentMessage()


def test_bad_file_shows_in_the_status_bar(qtbot, window, tmp_path):
    bad = tmp_path / "broken.npy"
    bad.write_bytes(b"not a numpy file")
    window.open_file(bad)
    finish(qtbot, window)
    assert "not a readable .npy file" in window.statusBar().currentMessage()


@pytest.mark.slow
def test_recording_writes_a_readable_aedat4(qtbot, model, tmp_path):
    pytest.importorskip("dv_processing")
    from stream.sources.aedat4 import AedatFileSource

    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(model=model, settings=settings, speed=1.0)
    qtbot.addWidget(w)
    w.play(SourceSpec("synthetic", lambda: SyntheticSource(rate_eps=50_000, duration_s=6, batch_us=250_000)))
    qtbot.waitUntil(lambda: w.stats.steps > 2, timeout=20_000)
    out = tmp_path / "rec.aedat4"
    w.start_recording(out)
    qtbot.waitUntil(lambda: w.worker.session.recorder.events_written > 5_000, timeout=20_000)
    w.drain_and_paint()
    assert w.controls.record_button.text().startswith("■ Stop")
    w.stop_recording()
    qtbot.waitUntil(lambda: w.worker.session.recorder.finished is not None or not w.worker.session.recorder.recording,
                    timeout=10_000)
    w.close()
    with AedatFileSource(out) as source:
        n = sum(len(b) for b in source)
        assert source.sensor == SensorSize(128, 128)
    assert n > 5_000


@pytest.mark.slow
def test_roi_drag_moves_the_crop_and_is_remembered(qtbot, window):
    window.set_speed(1.0)
    window.play(SourceSpec("sensor", lambda: Sentence(sensor=SensorSize(346, 260), bins=(400,))))
    qtbot.waitUntil(lambda: window.started is not None, timeout=20_000)
    window.set_roi(Roi(10, 20, 128, 128))
    qtbot.waitUntil(lambda: window.worker.session._pipeline.crop.roi == Roi(10, 20, 128, 128), timeout=10_000)
    key = "roi/test sentence 346x260"
    assert window.settings.value(key) == "10,20,128,128"
    window.restart()  # a new run of the same camera starts from the remembered ROI
    qtbot.waitUntil(lambda: window.started is not None, timeout=20_000)
    assert window.started.crop.roi == Roi(10, 20, 128, 128)
    rect = window.event_view.crop_box.rect()
    assert (rect.x(), rect.y(), rect.width()) == (30, 40, 88)


@pytest.mark.slow
def test_auto_roi_follows_the_mouth_and_a_drag_turns_it_off(qtbot, window):
    from app.gui.roi_memory import AUTO_KEY

    window.set_speed(1.0)
    mouth = (260, 190)  # outside the centred crop
    spec = SourceSpec("sensor", lambda: Sentence(sensor=SensorSize(346, 260), bins=(20, 30, 25, 30, 600), mouth=mouth))
    window.play(spec)
    qtbot.waitUntil(lambda: window.started is not None, timeout=20_000)
    assert not window.event_view.auto_box.isChecked()
    window.event_view.auto_box.setChecked(True)  # as a click does
    assert window.settings.value(AUTO_KEY) == "true"

    def on_mouth():
        r = window.worker.session._pipeline.crop.roi
        return abs(r.x + 64 - mouth[0]) < 8 and abs(r.y + 64 - mouth[1]) < 10

    qtbot.waitUntil(on_mouth, timeout=20_000)
    roi = window.worker.session._pipeline.crop.roi
    qtbot.waitUntil(lambda: window.event_view.roi_item.pos().x() == roi.x, timeout=5_000)  # the view shows it
    window.set_roi(Roi(10, 20, 128, 128))  # a drag takes the ROI back
    assert not window.event_view.auto_box.isChecked() and window.settings.value(AUTO_KEY) == "false"
    qtbot.waitUntil(lambda: window.worker.session._pipeline.crop.roi == Roi(10, 20, 128, 128), timeout=10_000)
    assert not hasattr(window.worker.session._pipeline.crop, "tracker")
    window.event_view.auto_box.setChecked(True)
    window.restart()  # the ticked box is remembered: a new run starts following
    qtbot.waitUntil(lambda: window.started is not None, timeout=20_000)
    assert hasattr(window.started.crop, "tracker") and window.event_view.auto_box.isChecked()


@pytest.mark.slow
def test_auto_roi_finds_the_face_in_a_recordings_aps_frames(qtbot, window, tmp_path):
    """The window's source wrapper hands the APS frames on: a DAVIS recording of a real face
    (a photo drifting 10 px, no speech) gets its crop on the mouth."""
    from app.gui.roi_memory import AUTO_KEY
    from stream.synthlip.photo import write_photo_recording

    n = 400  # 2 ms steps, a frame every 40 ms
    times = 1_000_000 + 2_000 * np.arange(n)
    track = np.stack([np.linspace(235, 245, n), np.full(n, 165.0)], 1)
    path = tmp_path / "face.aedat4"
    photo = write_photo_recording(path, SensorSize(346, 260), track, times, frame_every=20)
    window.settings.setValue(AUTO_KEY, "true")
    window.open_file(path)
    finish(qtbot, window)
    roi = window.last_step.roi
    assert np.hypot(roi.x + 64 - 245, roi.y + 64 - 165) < 0.25 * photo.mouths[-1].side


@pytest.mark.slow
def test_dropping_a_clip_plays_it(qtbot, window, tmp_path):
    path = tmp_path / "test" / "water" / "3.npy"
    rng = np.random.default_rng(2)
    save_clip(path, make_events(np.sort(rng.integers(0, 300_000, 2000)), rng.integers(0, 128, 2000),
                                rng.integers(0, 128, 2000), rng.integers(0, 2, 2000)))
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    event = QtGui.QDropEvent(QtCore.QPointF(100, 100), QtCore.Qt.DropAction.CopyAction, mime,
                             QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    finish(qtbot, window)
    assert window.spec.path == path and window.spec.truth == "water"  # the DVS-Lip folder names the word
    assert window.failed is None and len(window.transcript.words) == 1


def test_dragged_roi_snaps_to_what_the_model_reads():
    sensor = SensorSize(346, 260)
    assert snap_roi(100.4, 70.6, 140, sensor) == Roi(100, 71, 128, 128)
    assert snap_roi(300, -5, 128, sensor) == Roi(218, 0, 128, 128)  # kept inside the sensor
    assert snap_roi(10, 10, 250, sensor) == Roi(10, 4, 256, 256)  # 2 x 128, downscaled by 2
    assert snap_roi(0, 0, 900, SensorSize(640, 480)) == Roi(0, 0, 384, 384)


def test_the_event_view_shows_what_an_auto_resize_makes_the_network_read(qtbot):
    from app.gui.event_view import EventView
    from stream.roi import Crop

    view = EventView()
    qtbot.addWidget(view)
    sensor = SensorSize(346, 260)
    view.configure(sensor, Crop(sensor, Roi(10, 20, 128, 128)), editable=False)
    rect = view.crop_box.rect()
    assert (rect.x(), rect.y(), rect.width()) == (30, 40, 88) and view.roi_label.toPlainText() == "ROI 128×128"
    view.show_roi(Roi(10, 20, 128, 128), 0.8)  # a near face: its mouth shrunk 0.8 x for the network
    rect = view.crop_box.rect()
    assert rect.width() == pytest.approx(110) and rect.x() == pytest.approx(10 + 64 - 55)  # centred on the ROI
    assert view.roi_label.toPlainText() == "ROI 128×128, mouth ×0.80"


def played_with(qtbot, tmp_path, label: str, **config) -> MainWindow:
    """A window that has played `Sentence` through the untrained `small` with `config` changed."""
    from model import build
    from stream.sources.npy import dvslip_words

    net = build("small", **config).eval()
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(model=(net, dvslip_words(), label, "torch"), settings=settings, speed=None)
    qtbot.addWidget(w)
    w.show()
    w.play(SourceSpec("sentence", lambda: Sentence()))
    finish(qtbot, w)
    return w


@pytest.mark.slow
def test_a_model_reading_a_wider_window_is_stepped_and_shown_with_it(qtbot, tmp_path):
    """A config's input_size reaches the pipeline's crop and the event view's box and label."""
    w = played_with(qtbot, tmp_path, "small at 104 px (test)", input_size=104)
    assert w.failed is None and w.stats.steps >= sum(Sentence().bins) - 1 and w.started.input_side == 104
    rect = w.event_view.crop_box.rect()
    assert rect.width() == 104 and w.event_view.crop_label.toPlainText() == "model input 104×104"
    w.close()


def test_a_model_binning_at_a_slower_users_pace_shows_its_own_step(qtbot, tmp_path):
    """A config's input_pace makes the bins longer: the window's time axes, deadline and step count
    follow the run's step, not DVS-Lip's 13.3 ms."""
    w = played_with(qtbot, tmp_path, "small at 1.5 x the pace (test)", input_pace=1.5)
    step_s = 1.5 * BIN_US / 1e6
    assert w.failed is None and w.started.bin_s == pytest.approx(step_s)
    assert abs(w.stats.steps - sum(Sentence().bins) / 1.5) <= 1
    summary = w.stats.summary()
    assert summary["deadline_ms"] == pytest.approx(1e3 * step_s) and summary["window_s"] == pytest.approx(3, abs=step_s)
    assert w.raster.raster_plot.viewRange()[0][0] == pytest.approx(-150 * step_s, rel=0.02)
    w.close()


@pytest.mark.slow
def test_dvs_lip_folder_clip_is_judged_against_its_word(qtbot, window, tmp_path):
    rng = np.random.default_rng(0)
    n = 20_000
    events = make_events(np.sort(rng.integers(0, 1_000_000, n)), rng.integers(20, 108, n), rng.integers(30, 100, n),
                         rng.integers(0, 2, n))
    for word in ("action", "water"):
        save_clip(tmp_path / "dvs" / "test" / word / "0.npy", events)
    window.open_dataset(tmp_path / "dvs")
    assert window.dataset.isVisible() and window.dataset.word_box.count() == 2
    window.dataset.word_box.setCurrentText("water")
    window.dataset.play_button.click()
    finish(qtbot, window)
    assert not window.started.segmented and window.spec.truth == "water"
    assert window.dataset.total == 1
    assert len(window.transcript.words) == 1
    word, correct = window.transcript.words[0]
    assert correct == (word.word == "water")
    assert "water" in window.truth_label.text()
    assert 74 <= window.stats.steps <= 76  # the whole 1 s clip, every bin
    window.dataset.shuffle_button.setChecked(True)  # then both clips in a random order
    qtbot.waitUntil(lambda: window.dataset.total == 3, timeout=30_000)
    assert "3" in window.dataset.accuracy.text() and not window.dataset.playlist


def test_model_picker_lists_each_bundled_checkpoint_once(qtbot, window):
    from app.models import ASSETS, BUNDLED_MODEL

    box = window.controls.model_box
    items = [(box.itemText(i), box.itemData(i)) for i in range(box.count())]
    assert items[0] == ("small (test)", None) and items[-1][1] == "?"
    listed = [data for _, data in items[1:-1]]
    others = sorted(str(p) for p in (ASSETS / "models").glob("*.json") if p != BUNDLED_MODEL)
    assert sorted(listed) == others  # the current (bundled) model once, no weights or ONNX files


def test_a_word_read_again_as_another_replaces_the_last_in_the_transcript(qtbot):
    from app.gui.predictions import TranscriptView
    from app.segment import Word

    view = TranscriptView()
    qtbot.addWidget(view)
    view.add(Word("about", 0.4, 1.0, 1.4), truth="absolutely")
    view.add(Word("taking", 0.5, 2.0, 2.5), truth="started")
    view.revise(Word("started", 0.7, 2.0, 2.5), truth="started")
    assert [(w.word, ok) for w, ok in view.words] == [("about", False), ("started", True)]
    assert view.list.count() == 2 and "about" in view.list.item(0).text()
    assert "started" in view.list.item(1).text() and "read again" in view.list.item(1).text()
    assert "taking" not in view.list.item(1).text() and "taking" not in view.sentence.text()


def test_the_window_steps_an_export_that_gives_the_rasters_their_spikes(monkeypatch):
    import torch

    import app.models
    from app.gui.main_window import window_model
    from model.runtime import OnnxRunner
    from stream.errors import SpikeLipError

    loaded = window_model(None)  # the bundled model: its export with spikes is shipped
    assert isinstance(loaded.net, OnnxRunner) and loaded.runtime == "sparse" and loaded.net.spike_layers
    with torch.inference_mode():
        _, _, spikes = loaded.net.step(torch.zeros(1, *loaded.net.frame_shape), loaded.net.initial_state(1), record=True)
    assert list(spikes) == loaded.net.spike_layers and "backend.0" in spikes
    assert window_model("paper-offline").runtime == "torch"  # looks ahead: no step to export

    def fails(*args, **kwargs):
        raise SpikeLipError("ONNX export of 'small' failed: ...")

    monkeypatch.setattr(app.models, "onnx_file_for", fails)
    assert window_model(None).runtime == "torch"  # an export that fails leaves the window working


def test_an_onnx_model_without_spike_outputs_plays_with_empty_rasters(qtbot, tmp_path):
    from app.gui.main_window import window_model
    from app.models import BUNDLED_MODEL, load_model, onnx_file_for

    plain = onnx_file_for(load_model(str(BUNDLED_MODEL), quiet=True).net, sparse=True)  # shipped: no spikes
    loaded = window_model(str(plain))  # `--model FILE.onnx`: runs as it is
    assert not loaded.net.spike_layers
    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(model=loaded, settings=settings, speed=None)
    qtbot.addWidget(w)
    w.play(SourceSpec("sentence", lambda: Sentence()))
    finish(qtbot, w)
    assert w.failed is None and w.stats.steps >= sum(Sentence().bins) - 1
    assert w.transcript.words  # read as usual
    w.close()
