"""The SpikeLip window: source and transport controls, event view, spike raster, predictions,
transcript and latency, fed by one worker thread at a time.

The worker runs the model on every timestep; a ~40 Hz timer drains its messages, folds every
step into the views (so the raster, transcript and statistics miss nothing) and paints only
the latest state. Errors from a source end its run with a status-bar message.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PyQt6 import QtCore, QtGui, QtWidgets

from app.gui import roi_memory, theme
from app.gui.connect_dialog import SETTINGS_KEY as NETWORK_KEY, ConnectDialog
from app.gui.controls import SAMPLE, ControlBar
from app.gui.dataset_panel import DatasetPanel
from app.gui.event_view import EventView
from app.gui.latency import WINDOW_S, LatencyPanel, LatencyStats
from app.gui.playback import Playback
from app.gui.predictions import SpeechIndicator, Top5Bars, TranscriptView
from app.gui.raster_view import RasterView
from app.gui.session import Failed, Finished, Notice, Session, Started, Step
from app.gui.worker import DurationProbe, Worker
from app.models import ASSETS, BUNDLED_MODEL, load_model
from app.options import AUTO, roi_text
from app.segment import Word
from app.truth import WordSpan, read_word_times, spoken_at
from stream.constants import BIN_S, MOUTH_SIDE
from stream.errors import SpikeLipError
from stream.roi import Crop, Roi
from stream.sources import open_file
from stream.sources.base import EventSource

PAINT_MS = 25  # ~40 frames/s
RASTER_EVERY = 2  # the raster and rate plots cost most to paint: ~20 frames/s is smooth enough
STATS_MS = 250
PLAYLIST_PAUSE_MS = 800
FILE_FILTER = "Event recordings (*.aedat4 *.npy);;AEDAT4 recordings (*.aedat4);;DVS-Lip clips (*.npy)"
MODEL_FILTER = "Models (*.json *.safetensors *.pt *.pth *.onnx);;All files (*)"


@dataclass
class SourceSpec:
    """What to play: how to open it, what to call it, and what it holds."""

    label: str
    open: Callable[[], EventSource]
    path: Path | None = None
    camera: str | None = None  # set for live sources (a camera, a DV stream): no seeking
    truth: str | None = None  # the true word of a DVS-Lip clip
    network: bool = False  # DV's network output: opening it may take seconds (the worker waits, not the window)


def window_model(spec: str | None):
    """The model as the window steps it: the fastest runtime whose export also gives every
    layer's spikes for the rasters (onnxruntime, sparse; PyTorch for a model that cannot stream,
    or whose export fails). Eager PyTorch here missed deadlines while the window painted
    (`benchmarks/bench_window.py`)."""
    try:
        return load_model(spec, quiet=True, runtime="fastest", spikes=True)
    except SpikeLipError:  # an export that failed; a model that does not load fails again, with its own message
        return load_model(spec, quiet=True, runtime="torch")


class MainWindow(QtWidgets.QMainWindow):
    """`model` is a ready `(net, words, description)`, else `model_spec` is loaded (None: the bundled model)."""

    def __init__(
        self,
        model: tuple | None = None,
        model_spec: str | None = None,
        speed: float | None = 1.0,
        roi: Roi | None = None,
        scale: int = 1,
        settings: QtCore.QSettings | None = None,
        on_disconnect: str = "wait",
    ) -> None:
        super().__init__()
        self.setWindowTitle("SpikeLip")
        self.resize(1400, 850)
        self.setAcceptDrops(True)
        self.settings = settings or QtCore.QSettings("SpikeLip", "spikelip")
        self.net, self.words, self.model_description, _ = model or window_model(model_spec)
        self.model_spec = None if model else model_spec
        self.speed = speed
        self.cli_crop = (roi, scale) if roi is not None or scale != 1 else None
        self.spec: SourceSpec | None = None
        self.worker: Worker | None = None
        self.probe: DurationProbe | None = None
        self._durations: dict[Path | None, float] = {}  # file lengths learnt by probing
        self.started: Started | None = None
        self.position_s = 0.0
        self.finished = False
        self.failed: str | None = None  # why the last run ended early
        self.saved_recording: Path | None = None  # the file the run's recording was finalised into
        self.last_step: Step | None = None
        self.stats = LatencyStats()
        self._steps_since_paint = 0
        self._paint_count = 0
        self._truth_sentence: list[WordSpan] = []

        self._build_controls()
        self.controls.wait_box.setChecked(on_disconnect == "wait")
        self._build_views()
        from app.gui.enrol_panel import EnrolPanel

        self.enrol = EnrolPanel.install(self)  # the Enrol dock (prompted takes, then adapt); sees every message
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.drain_and_paint)
        self.timer.start(PAINT_MS)
        self.stats_timer = QtCore.QTimer(self)
        self.stats_timer.timeout.connect(self.show_stats)
        self.stats_timer.start(STATS_MS)
        self.playlist_timer = QtCore.QTimer(self)  # a pause between the clips of a playlist
        self.playlist_timer.setSingleShot(True)
        self.playlist_timer.setInterval(PLAYLIST_PAUSE_MS)
        self.playlist_timer.timeout.connect(self._play_next_clip)
        self.refresh_cameras()
        self.status("Open a recording, a DVS-Lip folder or a camera — or drop a file on the window")

    # ------------------------------------------------------------------ layout

    def _build_controls(self) -> None:
        c = self.controls = ControlBar(self.speed)
        c.camera_button.clicked.connect(self._connect_camera)
        c.rescan_button.clicked.connect(self.refresh_cameras)
        c.network_button.clicked.connect(self._ask_network)
        c.open_button.clicked.connect(self._ask_file)
        c.folder_button.clicked.connect(self._ask_folder)
        c.sample_button.clicked.connect(self.open_sample)
        c.model_box.activated.connect(self._model_chosen)
        c.record_button.clicked.connect(self._record_clicked)
        c.play_button.clicked.connect(self.toggle_pause)
        c.restart_button.clicked.connect(self.restart)
        c.speed_box.currentIndexChanged.connect(lambda i: self.set_speed(c.speed_box.itemData(i)))
        c.seek_bar.seek_requested.connect(self.seek)
        self._fill_models()
        self.dataset = DatasetPanel()
        self.dataset.play.connect(lambda path, word: self.open_file(path, truth=word))
        self.dataset.hide()
        c.layout().addWidget(self.dataset)
        QtGui.QShortcut(QtGui.QKeySequence("Space"), self, activated=self.toggle_pause)
        QtGui.QShortcut(QtGui.QKeySequence("R"), self, activated=self.restart)
        QtGui.QShortcut(QtGui.QKeySequence.StandardKey.Open, self, activated=self._ask_file)

    def _build_views(self) -> None:
        self.event_view = EventView()
        self.event_view.roi_changed.connect(self.set_roi)
        self.event_view.auto_changed.connect(self.set_auto)
        self.raster = RasterView()
        self.top5 = Top5Bars()
        self.indicator = SpeechIndicator()
        self.truth_label = QtWidgets.QLabel()
        self.truth_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.transcript = TranscriptView()
        self.latency = LatencyPanel()

        predictions = QtWidgets.QVBoxLayout()
        predictions.addWidget(self.indicator)
        predictions.addWidget(self.top5)
        predictions.addWidget(self.truth_label)
        left = QtWidgets.QVBoxLayout()
        left.addWidget(_group("Events", _wrap(self.event_view)), 1)
        left.addWidget(_group(f"Latency (last {WINDOW_S:.0f} s)", _wrap(self.latency)))
        right = QtWidgets.QVBoxLayout()
        right.addWidget(_group("Prediction (top 5)", predictions))
        right.addWidget(_group("Transcript", _wrap(self.transcript)), 1)
        grid = QtWidgets.QHBoxLayout()
        grid.addLayout(left, 12)
        grid.addWidget(_group("Spikes", _wrap(self.raster)), 9)
        grid.addLayout(right, 8)

        central = QtWidgets.QWidget()
        outer = QtWidgets.QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.controls)
        body = QtWidgets.QWidget()
        body.setLayout(grid)
        grid.setContentsMargins(8, 0, 8, 4)
        grid.setSpacing(8)
        outer.addWidget(body, 1)
        self.setCentralWidget(central)

    # ------------------------------------------------------------------ sources

    def open_file(self, path: str | Path, truth: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.open_dataset(path)
            return
        if truth is None and path.suffix.lower() == ".npy" and path.parent.name in self.words:
            truth = path.parent.name  # DVS-Lip layout: <split>/<word>/<k>.npy
        self.play(SourceSpec(path.name, lambda: open_file(path), path=path, truth=truth))

    def open_sample(self) -> None:
        self.open_file(SAMPLE)

    def open_dataset(self, root: str | Path) -> None:
        try:
            self.dataset.open(root, self.words)
        except SpikeLipError as exc:
            self.status(str(exc), error=True)
            return
        self.dataset.show()
        self.status(f"{root}: pick a split, word and clip, or play a shuffled playlist")

    def open_camera(self, name: str | None = None) -> None:
        try:
            from stream.sources.camera import open_camera
        except ImportError as exc:
            self.status(f"camera support is not available: {exc}", error=True)
            return
        on_disconnect = "wait" if self.controls.wait_box.isChecked() else "stop"
        self.play(SourceSpec(name or "camera", lambda: open_camera(name, on_disconnect), camera=name or ""))

    def open_network(self, address) -> None:
        """Play DV's network output at `address` (text for `parse_address`, or its result); the
        address is remembered for the "Connect to DV…" dialog. Connecting happens in the worker."""
        from stream.sources.network import NetworkSource, format_address, parse_address

        try:
            parsed = parse_address(address) if isinstance(address, str) else address
        except ValueError as exc:
            self.status(str(exc), error=True)
            return
        label = format_address(parsed)
        self.settings.setValue(NETWORK_KEY, label)
        self.play(SourceSpec(f"DV {label}", lambda: NetworkSource(parsed), camera=label, network=True))

    def refresh_cameras(self) -> list[str]:
        names = _camera_names()
        self.controls.camera_box.clear()
        if names:
            self.controls.camera_box.addItems(names)
        else:
            self.controls.camera_box.addItem("no camera found")
        self.controls.camera_box.setEnabled(bool(names))
        self.controls.camera_button.setEnabled(bool(names))
        return names

    def play(self, spec: SourceSpec, seek_s: float | None = None, paused: bool = False) -> None:
        """Stop whatever runs and start `spec` from the beginning (fast-forwarding to `seek_s`)."""
        self._stop_worker()
        self.playlist_timer.stop()
        self.begin(spec)
        playback = Playback(self.speed, paused=paused, seek_s=seek_s)
        session = Session(spec.open, self.net, self.words, self.crop_chooser(), playback)
        self.worker = Worker(session).start()
        self.controls.show_paused(paused)
        self.status(f"{'connecting to' if spec.network else 'opening'} {spec.label}…")

    def crop_chooser(self) -> Callable[[EventSource], Crop]:
        """How the session picks its crop: a snapshot of the settings (QSettings stays in this thread)."""
        return functools.partial(roi_memory.choose_crop, self.cli_crop, roi_memory.snapshot(self.settings))

    def begin(self, spec: SourceSpec) -> None:
        """Clear the views for a new run of `spec` (the messages then come through `handle`)."""
        self.spec = spec
        self.started, self.last_step, self.finished, self.failed = None, None, False, None
        self.saved_recording = None
        self.position_s = 0.0
        self.event_view.clear()
        self.raster.clear()
        self.transcript.clear()
        self.top5.set_top5([])
        self.top5.set_truth(spec.truth)
        self.stats.clear()
        self._truth_sentence = read_word_times(spec.path) if spec.path is not None else []
        self._show_truth()
        self.setWindowTitle(f"SpikeLip — {spec.label}")

    # ------------------------------------------------------------------ transport

    def toggle_pause(self) -> None:
        if self.worker is None:
            return
        if self.finished or not self.worker.running:
            self.restart()
            return
        playback = self.worker.session.playback
        playback.set_paused(not playback.paused)
        self.controls.show_paused(playback.paused)

    @property
    def paused(self) -> bool:
        return self.worker is not None and self.worker.session.playback.paused

    def restart(self) -> None:
        if self.spec is not None:
            self.play(self.spec)

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        if self.worker is not None:
            self.worker.session.playback.set_speed(speed)

    def seek(self, target_s: float) -> None:
        """Forward within a run fast-forwards; backward (or after the end) re-opens and fast-forwards."""
        if self.spec is None or self.spec.camera is not None:
            return
        running = self.worker is not None and self.worker.running and not self.finished
        if running and target_s > self.position_s:
            self.worker.session.playback.seek(target_s)
            self.status(f"seeking to {target_s:.2f} s…")
        else:
            self.play(self.spec, seek_s=target_s if target_s > 0 else None, paused=self.paused and not self.finished)

    def set_auto(self, on: bool) -> None:
        """The "Auto" box: the ROI follows the mouth (remembered), or stays where it is now."""
        self.settings.setValue(roi_memory.AUTO_KEY, "true" if on else "false")
        if on and self.cli_crop is not None and self.cli_crop[0] != AUTO:
            self.cli_crop = None  # the box overrides a fixed --roi from the command line
        if self.worker is not None and self.worker.session.follow(on):
            self.status("ROI: follows the mouth, moving only between words" if on else "ROI: held where it is")

    def set_roi(self, roi: Roi) -> None:
        """A dragged ROI: remember it for this camera and move the model's crop (Auto goes off)."""
        if self.started is None:
            return
        if self.event_view.auto_box.isChecked():
            self.event_view.set_auto(False)
            self.settings.setValue(roi_memory.AUTO_KEY, "false")
        self.cli_crop = None
        self.settings.setValue(roi_memory.key(self.started.name, self.started.sensor), str(roi))
        crop = roi_memory.crop_for_roi(self.started.sensor, roi)
        self.event_view.show_crop(crop)
        if self.worker is not None and self.worker.session.set_crop(crop):
            self.status(f"ROI {roi} (remembered for {self.started.name})")
        elif self.spec is not None and self.spec.camera is None:
            self.play(self.spec, seek_s=self.position_s or None, paused=self.paused)

    def set_model(self, spec: str | None) -> bool:
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            self.net, self.words, self.model_description, _ = window_model(spec)
            self.model_spec = spec
        except SpikeLipError as exc:
            self.status(str(exc), error=True)
            return False
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        self._fill_models()
        self.status(f"model: {self.model_description}")
        self.restart()
        return True

    def start_recording(self, path: str | Path) -> None:
        if self.worker is None or not self.worker.running:
            self.status("nothing is playing: open a camera or a file to record", error=True)
            self.controls.record_button.setChecked(False)
            return
        self.worker.session.recorder.start(path)
        self.controls.record_button.setChecked(True)

    def stop_recording(self) -> None:
        if self.worker is not None:
            self.worker.session.recorder.stop()
        self.controls.record_button.setChecked(False)

    # ------------------------------------------------------------------ the paint loop

    def drain_and_paint(self) -> None:
        """The timer's work: take every queued message, then paint once if anything changed."""
        if self.worker is None:
            return
        for message in self.worker.drain():
            self.handle(message)
        self._show_recording()
        live_paused = self.started is not None and self.started.live and self.worker.session.playback.paused
        if self._steps_since_paint and not live_paused:
            self.paint()

    def handle(self, message: Started | Step | Finished | Failed | Notice) -> None:
        if isinstance(message, Step):
            self._take_step(message)
        elif isinstance(message, Started):
            self._take_start(message)
        elif isinstance(message, Finished):
            self._take_finish(message)
        elif isinstance(message, Failed):
            self.finished, self.failed = True, message.message
            self.controls.show_paused(paused=True)
            self._show_failure_and_recording()
        elif isinstance(message, Notice):
            self.status(message.message, error=message.error)

    def paint(self) -> None:
        """Push the latest state to the widgets (at most once per timer tick)."""
        step = self.last_step
        self.event_view.refresh()
        if self._paint_count % RASTER_EVERY == 0:
            self.raster.refresh()
        if step is not None:
            self.top5.set_top5(step.top5)
            self.indicator.set_state(step.speaking, step.level, self.started.segmented if self.started else True)
        self.controls.show_time(self.position_s, self.duration_s)
        self._steps_since_paint = 0
        self._paint_count += 1
        if step is not None:
            self.stats.add_display((time.perf_counter() - step.t_published) * 1e3)

    @property
    def duration_s(self) -> float | None:
        if self.started is None:
            return None
        if self.started.duration_s:
            return self.started.duration_s
        key = self.spec.path
        if key not in self._durations and self.probe is not None and self.probe.duration_s is not None:
            self._durations[key] = self.probe.duration_s
        return self._durations.get(key)

    def _take_start(self, m: Started) -> None:
        self.started = m
        if m.duration_s is None and not m.live and self.spec.path not in self._durations:
            self.probe = DurationProbe(self.spec.open)
        editable = m.sensor.width > MOUTH_SIDE or m.sensor.height > MOUTH_SIDE
        self.event_view.configure(m.sensor, m.crop, editable, m.input_side)
        self.raster.set_step_s(m.bin_s)
        self.stats.set_step_s(m.bin_s)
        self.event_view.set_auto(hasattr(m.crop, "tracker"))
        self.event_view.auto_box.setEnabled(editable)
        self.controls.seek_bar.setEnabled(not m.live)
        self.indicator.set_state(False, 0.0, m.segmented)
        extra = f" — {'; '.join(m.warnings)}" if m.warnings else ""
        self.status(f"{self.spec.label}: {m.name} {m.sensor}, ROI {roi_text(m.crop)}"
                    f"{f' ÷{m.crop.scale}' if m.crop.scale > 1 else ''} → {m.crop.sensor}, "
                    f"model {self.model_description}{extra}")

    def _take_step(self, m: Step) -> None:
        self.last_step = m
        self.position_s = m.t_s
        self._steps_since_paint += 1
        self.event_view.add(m.raw, 1)
        if m.roi is not None:
            self.event_view.show_roi(m.roi, m.resize)
        self.raster.add(m.layers)
        self.stats.add_step(m.timings_ms, m.events)
        if m.revised is not None:
            self.transcript.revise(m.revised, self._said(m.revised))
        if m.word is not None:
            self._commit(m.word)

    def _take_finish(self, m: Finished) -> None:
        self.finished = True
        self.controls.show_paused(paused=True)
        if m.top5:
            self.top5.set_top5(m.top5)
        if m.stopped:
            return
        clip = self.started is not None and not self.started.segmented
        if m.word is not None:
            self._commit(m.word, clip)
            if clip and self.spec.truth is not None:
                self.dataset.record(m.word.word == self.spec.truth)
                self._show_truth(m.word.word)
        step_s = self.started.bin_s if self.started is not None else BIN_S
        self.status(f"{self.spec.label}: end of stream after {m.steps} steps ({m.steps * step_s:.2f} s)")
        if self.dataset.playlist and self.dataset.shuffle_button.isChecked():
            self.playlist_timer.start()

    def _play_next_clip(self) -> None:
        nxt = self.dataset.next_clip()
        if nxt is not None:
            self.open_file(nxt[0], truth=nxt[1])

    def _commit(self, word: Word, clip: bool = False) -> None:
        self.transcript.add(word, self.spec.truth if clip else self._said(word))

    def _said(self, word: Word) -> str | None:
        """The word of the loaded sentence's ground truth spoken where `word` was heard, if known."""
        spoken = spoken_at(self._truth_sentence, word.start_s, word.end_s)
        return spoken.word if spoken else None

    def _show_truth(self, predicted: str | None = None) -> None:
        truth = self.spec.truth if self.spec else None
        if truth is None:
            if self._truth_sentence:
                words = " ".join(w.word for w in self._truth_sentence)
                self.truth_label.setText(f"<span style='color:{theme.css(theme.MUTED)}'>spoken: {words}</span>")
            else:
                self.truth_label.setText("")
            return
        mark = ""
        if predicted is not None:
            ok = predicted == truth
            mark = f" &nbsp;<b style='color:{theme.css(theme.GOOD if ok else theme.BAD)}'>{'✓ right' if ok else '✗ wrong'}</b>"
        self.truth_label.setText(f"true word: <b>{truth}</b>{mark}")

    def show_stats(self) -> None:
        if self.stats.steps:
            live = self.started is not None and self.started.live
            self.latency.show_summary(self.stats.summary(), live_read=live)

    def _show_recording(self) -> None:
        rec = self.worker.session.recorder if self.worker is not None else None
        if rec is None:
            return
        if rec.error:
            self.status(rec.error, error=True)
            rec.error = None
        if rec.finished is not None:
            self.saved_recording, rec.finished = rec.finished, None
            self._show_failure_and_recording()
        self.controls.show_recording(rec.elapsed_s if rec.recording else None, rec.events_written)

    def _show_failure_and_recording(self) -> None:
        """Why the run failed and where its recording went, in one line, whichever came first:
        a source error finalises the recording before the failure reaches the window."""
        saved = f"recording saved: {self.saved_recording}" if self.saved_recording is not None else None
        self.status(" — ".join(part for part in (self.failed, saved) if part), error=self.failed is not None)

    # ------------------------------------------------------------------ helpers

    def _stop_worker(self) -> None:
        if self.probe is not None:
            self.probe.stop()
            self.probe = None
        if self.worker is not None:
            # A DV stream still connecting ends on its own within its timeouts: do not wait for it.
            connecting = self.spec is not None and self.spec.network and self.started is None
            if not self.worker.stop(timeout=0.2 if connecting else 5.0) and not connecting:
                self.status("the previous source did not stop in time; it will end on its own", error=True)
            self.worker = None

    def status(self, text: str, error: bool = False) -> None:
        bar = self.statusBar()
        bar.setStyleSheet(f"color: {theme.css(theme.BAD if error else theme.TEXT)}")
        bar.showMessage(text)

    def _fill_models(self) -> None:
        self.controls.model_box.blockSignals(True)
        self.controls.model_box.clear()
        self.controls.model_box.addItem(self.model_description, None)
        self.controls.model_box.setToolTip(f"model: {self.model_description}")  # the box may cut it short
        current = Path(self.model_spec or BUNDLED_MODEL).resolve()
        for path in sorted((ASSETS / "models").glob("*.json")):  # checkpoints; their ONNX exports ride along
            if path.resolve() != current:
                self.controls.model_box.addItem(f"bundled: {path.stem}", str(path))
        self.controls.model_box.addItem("Open checkpoint or ONNX file…", "?")
        self.controls.model_box.setCurrentIndex(0)
        self.controls.model_box.blockSignals(False)

    def _model_chosen(self, index: int) -> None:
        spec = self.controls.model_box.itemData(index)
        if spec == "?":
            path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a model", str(ASSETS / "models"), MODEL_FILTER)
            spec = path or None
        if spec is None:
            self.controls.model_box.setCurrentIndex(0)
            return
        self.set_model(spec)

    def _ask_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a recording or clip", "", FILE_FILTER)
        if path:
            self.open_file(path)

    def _ask_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a DVS-Lip or SynthLip folder")
        if path:
            self.open_dataset(path)

    def _ask_network(self) -> None:
        dialog = ConnectDialog(self, str(self.settings.value(NETWORK_KEY, "") or ""))
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.open_network(dialog.address())

    def _connect_camera(self) -> None:
        if self.controls.camera_box.isEnabled():
            self.open_camera(self.controls.camera_box.currentText())

    def _record_clicked(self, checked: bool) -> None:
        if not checked:
            self.stop_recording()
            return
        default = Path.home() / time.strftime("spikelip-%Y%m%d-%H%M%S.aedat4")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Record to", str(default), "AEDAT4 (*.aedat4)")
        if path:
            self.start_recording(path)
        else:
            self.controls.record_button.setChecked(False)

    # ------------------------------------------------------------------ Qt events

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if _dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802
        path = _dropped_path(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.open_file(path)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        for timer in (self.timer, self.stats_timer, self.playlist_timer):
            timer.stop()
        self._stop_worker()
        super().closeEvent(event)


def _camera_names() -> list[str]:
    try:
        from stream.sources.camera import list_cameras

        return [str(c) for c in list_cameras()]
    except (ImportError, SpikeLipError, OSError):
        return []


def _dropped_path(mime: QtCore.QMimeData) -> Path | None:
    for url in mime.urls():
        path = Path(url.toLocalFile())
        if path.is_dir() or path.suffix.lower() in (".aedat4", ".npy"):
            return path
    return None


def _wrap(widget: QtWidgets.QWidget) -> QtWidgets.QLayout:
    layout = QtWidgets.QVBoxLayout()
    layout.setContentsMargins(6, 4, 6, 6)
    layout.addWidget(widget)
    return layout


def _group(title: str, layout: QtWidgets.QLayout) -> QtWidgets.QGroupBox:
    box = QtWidgets.QGroupBox(title)
    box.setLayout(layout)
    return box
