"""The Enrol panel: prompted takes of your words from what the window plays, then one button to adapt.

It takes its takes from the window's own run (camera, DV stream or recording), never opening
the camera a second time: every `Step` message the window handles also reaches the panel, whose
`app.enroll.Cutter` keeps the last seconds of ROI events and cuts the word the segmenter finds
after "say it now". Clips go to DIR/train/<word>/<k>.npy as they are kept (`app.enroll.Enrolment`,
resumable: a folder with takes carries on with the first missing one) and the window records
the whole session to DIR/sessions/<time>.aedat4. A recording stands still during the countdown
and while a take is judged, and its words are taken in prompt order. **Adapt** runs
`model.adapt.adapt` in a thread with a progress bar, then switches the window to the new model.
"""
from __future__ import annotations

import threading
import traceback
from pathlib import Path

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from app.enroll import COUNTDOWN_S, DEFAULT_TAKES, NO_SPEECH_HINT, TIMEOUT_S, AdaptProgress, Cut, Cutter, Enrolment, \
    Prompt, check_clip_crop, read_words, take_image
from app.gui import theme
from app.gui.session import Finished, Started, Step
from app.segment import segmenter_for
from stream.errors import SpikeLipError
from stream.roi import Crop

IMAGE_PX = 176  # the take's picture: 128 x 128 events, shown larger
ADAPT_MINUTES = 10.0


class EnrolPanel(QtWidgets.QDockWidget):
    """A dock beside the views; `install(window)` adds it, its button and its share of the messages."""

    def __init__(self, window) -> None:
        super().__init__("Enrol", window)
        self.setObjectName("enrol")
        self.window = window
        self.enrolment: Enrolment | None = None
        self.cutter = Cutter()
        self.state = "idle"  # idle | waiting (for a source) | countdown | listening | review | done
        self.prompt: Prompt | None = None
        self.cut: Cut | None = None
        self.countdown_s = COUNTDOWN_S
        self.timeout_s = TIMEOUT_S
        self.live = False
        self.ended = False  # the source has ended (a recording played to its end)
        self.last_end_s = float("-inf")  # the previous take's end: a recording's next word comes after it
        self.session_path: Path | None = None  # the recording this panel started
        self._sensor = None
        self._crop_key = None
        self._count = 0
        self._listen_since = 0.0
        self._paused_by_us = False
        self.adapt_progress: AdaptProgress | None = None
        self.adapt_result: dict | None = None
        self.adapt_error: str | None = None
        self._adapt_thread: threading.Thread | None = None
        self._tick = QtCore.QTimer(self)
        self._tick.setSingleShot(True)
        self._tick.timeout.connect(self._count_down)
        self._adapt_timer = QtCore.QTimer(self)
        self._adapt_timer.setInterval(200)
        self._adapt_timer.timeout.connect(self._poll_adapt)
        self._build()

    @classmethod
    def install(cls, window) -> "EnrolPanel":
        """Dock the panel (hidden) on the window's right, put an **Enrol…** button beside Record,
        and pass the panel every message the window handles (after the window has)."""
        panel = cls(window)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, panel)
        panel.hide()
        button = QtWidgets.QToolButton()
        button.setText("Enrol…")
        button.setCheckable(True)
        button.setToolTip("Record takes of your own words as clips, then adapt the model to them")
        button.toggled.connect(panel.setVisible)
        panel.visibilityChanged.connect(button.setChecked)
        panel.button = button
        window.controls.layout().itemAt(1).layout().addWidget(button)  # the transport row: its seek bar gives way
        handle = window.handle

        def handle_and_enrol(message) -> None:
            handle(message)
            panel.on_message(message)

        window.handle = handle_and_enrol
        return panel

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.folder_edit = QtWidgets.QLineEdit()
        self.folder_edit.setPlaceholderText("folder for the clips, e.g. ~/spikelip/me")
        browse = QtWidgets.QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._ask_folder)
        self.words_edit = QtWidgets.QLineEdit()
        self.words_edit.setPlaceholderText("yes,no,water  or a word list file (default: the folder's, else the 100)")
        words_file = QtWidgets.QToolButton()
        words_file.setText("…")
        words_file.clicked.connect(self._ask_words)
        self.takes_box = QtWidgets.QSpinBox()
        self.takes_box.setRange(1, 50)
        self.takes_box.setValue(DEFAULT_TAKES)
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)

        form = QtWidgets.QGridLayout()
        form.addWidget(QtWidgets.QLabel("Folder"), 0, 0)
        form.addWidget(self.folder_edit, 0, 1)
        form.addWidget(browse, 0, 2)
        form.addWidget(QtWidgets.QLabel("Words"), 1, 0)
        form.addWidget(self.words_edit, 1, 1)
        form.addWidget(words_file, 1, 2)
        takes_row = QtWidgets.QHBoxLayout()
        takes_row.addWidget(self.takes_box)
        takes_row.addStretch(1)
        takes_row.addWidget(self.start_button)
        takes_row.addWidget(self.stop_button)
        form.addWidget(QtWidgets.QLabel("Takes"), 2, 0)
        form.addLayout(takes_row, 2, 1, 1, 2)

        self.word_label = QtWidgets.QLabel("—")
        self.word_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.word_label.setFont(QtGui.QFont(theme.FONT_FAMILY, 30, QtGui.QFont.Weight.Bold))
        self.word_label.setStyleSheet(f"color: {theme.css(theme.ACCENT)}")
        self.cue_label = QtWidgets.QLabel("Choose a folder and press Start")
        self.cue_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.cue_label.setFont(QtGui.QFont(theme.FONT_FAMILY, 15, QtGui.QFont.Weight.Bold))
        self.cue_label.setWordWrap(True)
        self.cue_label.setMinimumHeight(3 * self.cue_label.fontMetrics().lineSpacing())  # wrapped hints fit
        self.image = QtWidgets.QLabel()
        self.image.setFixedSize(IMAGE_PX, IMAGE_PX)
        self.image.setStyleSheet(f"background: {theme.css(theme.BACKGROUND)}; border: 1px solid rgb(55, 60, 72)")
        self.take_label = QtWidgets.QLabel("")
        self.take_label.setWordWrap(True)
        self.take_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        self.take_label.setMinimumHeight(3 * self.take_label.fontMetrics().lineSpacing())
        self.keep_button = QtWidgets.QPushButton("Keep")
        self.keep_button.clicked.connect(self.keep)
        self.redo_button = QtWidgets.QPushButton("Redo")
        self.redo_button.clicked.connect(self.redo)
        for b in (self.keep_button, self.redo_button):
            b.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v of %m clips")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

        take_row = QtWidgets.QHBoxLayout()
        take_row.addWidget(self.image)
        side = QtWidgets.QVBoxLayout()
        side.addStretch(1)
        side.addWidget(self.keep_button)
        side.addWidget(self.redo_button)
        take_row.addLayout(side, 1)
        prompt_box = QtWidgets.QVBoxLayout()
        prompt_box.addWidget(self.word_label)
        prompt_box.addWidget(self.cue_label)
        prompt_box.addLayout(take_row)
        prompt_box.addWidget(self.take_label)
        prompt_box.addWidget(self.progress)

        self.run_edit = QtWidgets.QLineEdit()
        self.run_edit.setPlaceholderText("model folder (default: DIR/adapted)")
        self.minutes_box = QtWidgets.QDoubleSpinBox()
        self.minutes_box.setRange(0.1, 120.0)
        self.minutes_box.setValue(ADAPT_MINUTES)
        self.minutes_box.setSuffix(" min")
        self.adapt_button = QtWidgets.QPushButton("Adapt and switch")
        self.adapt_button.setToolTip("Adapt the model to the clips in the folder, then read with it")
        self.adapt_button.clicked.connect(self.adapt)
        self.adapt_bar = QtWidgets.QProgressBar()
        self.adapt_bar.setRange(0, 1000)
        self.adapt_bar.setValue(0)
        self.adapt_bar.setTextVisible(False)
        self.adapt_label = QtWidgets.QLabel("")
        self.adapt_label.setWordWrap(True)
        self.adapt_label.setMinimumHeight(3 * self.adapt_label.fontMetrics().lineSpacing())
        adapt_box = QtWidgets.QGridLayout()
        adapt_box.addWidget(QtWidgets.QLabel("Into"), 0, 0)
        adapt_box.addWidget(self.run_edit, 0, 1, 1, 2)
        adapt_box.addWidget(self.minutes_box, 1, 1)
        adapt_box.addWidget(self.adapt_button, 1, 2)
        adapt_box.addWidget(self.adapt_bar, 2, 0, 1, 3)
        adapt_box.addWidget(self.adapt_label, 3, 0, 1, 3)

        body = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(body)
        layout.addWidget(_group("Takes", form))
        layout.addWidget(_group("Say the word", prompt_box))
        layout.addWidget(_group("Adapt", adapt_box))
        layout.addStretch(1)
        body.setMinimumWidth(310)
        self.setWidget(body)

    # ------------------------------------------------------------------ controls

    def start(self) -> bool:
        """Begin (or carry on) enrolling into the folder; the takes come from what the window plays."""
        folder = self.folder_edit.text().strip()
        if not folder:
            return self._error("choose a folder for the clips")
        try:
            words = read_words(self.words_edit.text().strip()) if self.words_edit.text().strip() else None
            self.enrolment = Enrolment(Path(folder).expanduser(), words, self.takes_box.value())
        except SpikeLipError as exc:
            return self._error(str(exc))
        self.last_end_s = float("-inf")
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._show_progress()
        if self.enrolment.complete:
            self._done()
            return True
        worker = self.window.worker
        if worker is None or not worker.running or self.window.started is None:
            self.state = "waiting"
            self.cue_label.setText("Open a camera or a recording: the takes come from what the window plays")
            return True
        if not self._begin_source(self.window.started):
            return False
        self._next()
        return True

    def stop(self) -> None:
        """Stop enrolling; the clips kept so far stay in the folder."""
        self._tick.stop()
        self.cutter.stop()
        self._resume()
        self._stop_recording()
        self.state = "idle"
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self._review_buttons(False)
        self.cue_label.setText("Stopped; Start carries on where you stopped")

    def keep(self) -> None:
        if self.state != "review" or self.cut is None:
            return
        try:
            path = self.enrolment.save(self.prompt.word, self.cut, self.session_path)
        except SpikeLipError as exc:
            self._error(str(exc))
            return
        self.window.status(f"enrol: saved {path}")
        self.cut = None
        self._show_progress()
        self._next()

    def redo(self) -> None:
        if self.state != "review":
            return
        self.cut = None
        self._next()

    # ------------------------------------------------------------------ messages from the window

    def on_message(self, message) -> None:
        if isinstance(message, Step):
            self._step(message)
        elif isinstance(message, Started):
            self.cutter.reset(Crop(message.sensor, roi=message.crop.roi, scale=message.crop.scale),
                              onset_lookback=segmenter_for(self.window.net).onset_lookback, bin_s=message.bin_s)
            self._sensor, self._crop_key = message.sensor, (message.crop.roi, message.crop.scale)
            if self.state in ("waiting", "countdown", "listening"):
                self.ended = False
                if self._begin_source(message):
                    self._next()
        elif isinstance(message, Finished):
            self.ended = True
            cut = self.cutter.finish(message.word)
            if cut is not None and self.state == "listening":
                self._show_take(cut)
            elif self.state == "listening":
                self._stream_ended()

    def _step(self, m: Step) -> None:
        if self.state == "idle" or self._sensor is None:
            return
        self._follow_crop(m)
        cut = self.cutter.feed(m.t_us, m.t_s, m.raw, m.onset, m.word, m.speaking)
        if self.state != "listening":
            return
        if cut is not None:
            self._show_take(cut)
        elif not self.cutter.heard and not self.cutter.speaking and \
                self.cutter.reached_s - self._listen_since > self.timeout_s:
            self.cutter.stop()
            self.window.status(f"enrol: {NO_SPEECH_HINT}")
            self.cue_label.setText("No speech heard — again")
            self._countdown()

    # ------------------------------------------------------------------ the prompts

    def _begin_source(self, started: Started) -> bool:
        crop = self.window.worker.session.crop if self.window.worker is not None else None
        crop = crop or started.crop
        try:
            check_clip_crop(crop, started.name)
        except SpikeLipError as exc:
            self.stop()
            return self._error(str(exc))
        self.live = started.live
        self._sensor = started.sensor
        if self.session_path is None and not self.window.worker.session.recorder.recording:
            self.session_path = self.enrolment.session_path()
            self.window.start_recording(self.session_path)
        return True

    def _next(self) -> None:
        self.prompt = self.enrolment.next_prompt()
        self._review_buttons(False)
        if self.prompt is None:
            self._done()
            return
        p = self.prompt
        self.word_label.setText(p.word)
        self.setWindowTitle(f"Enrol — take {p.take} of {self.enrolment.takes} of '{p.word}'")
        self._countdown()

    def _countdown(self) -> None:
        self.state = "countdown"
        self._pause()
        self._count = int(round(self.countdown_s))
        self._count_down()

    def _count_down(self) -> None:
        if self.state != "countdown":
            return
        if self._count <= 0:
            self._listen()
            return
        self.cue_label.setText(str(self._count))
        self._count -= 1
        self._tick.start(int(1000 * self.countdown_s / max(round(self.countdown_s), 1)))

    def _listen(self) -> None:
        self.state = "listening"
        self.cue_label.setText("say it now")
        self.cue_label.setStyleSheet(f"color: {theme.css(theme.GOOD)}")
        reached = self.cutter.reached_s
        self._listen_since = reached
        self._resume()
        cut = self.cutter.listen(max(self.last_end_s, reached) if self.live else self.last_end_s)
        if cut is not None:
            self._show_take(cut)
        elif self.ended:
            self._stream_ended()

    def _show_take(self, cut: Cut) -> None:
        self.state = "review"
        self.cut = cut
        self.last_end_s = cut.end_s
        self._pause()
        rgb = np.ascontiguousarray(take_image(cut.events, on=theme.ON, off=theme.OFF, background=theme.BACKGROUND))
        image = QtGui.QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QtGui.QImage.Format.Format_RGB888)
        self.image.setPixmap(QtGui.QPixmap.fromImage(image.copy()).scaled(
            IMAGE_PX, IMAGE_PX, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
            QtCore.Qt.TransformationMode.FastTransformation))
        heard = cut.word
        self.take_label.setText(
            f"take <b>{cut.duration_s:.2f} s</b>, {len(cut.events):,} events; spoken at "
            f"{heard.start_s:.2f}–{heard.end_s:.2f} s<br>the model heard <b>{heard.word}</b> ({heard.confidence:.2f})")
        self.cue_label.setText("Keep it, or redo it?")
        self.cue_label.setStyleSheet("")
        self._review_buttons(True)

    def _done(self) -> None:
        self.state = "done"
        self._resume()
        self._stop_recording()
        self.word_label.setText("✓")
        self.cue_label.setStyleSheet("")
        self.cue_label.setText(f"All {self.enrolment.total} clips recorded")
        self.take_label.setText(f"They are in {self.enrolment.root}; adapt the model to them below.")
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if not self.run_edit.text().strip():
            self.run_edit.setText(str(self.enrolment.root / "adapted"))

    def _stream_ended(self) -> None:
        self.state = "waiting"
        self.cue_label.setStyleSheet("")
        self.cue_label.setText(f"The stream ended: {self.enrolment.done} of {self.enrolment.total} clips; "
                               "play more (a camera or a recording) to carry on")
        self.session_path = None

    # ------------------------------------------------------------------ adapting

    def adapt(self) -> bool:
        """Adapt the model to the folder's clips in a thread; the window then reads with it."""
        if self._adapt_thread is not None and self._adapt_thread.is_alive():
            return False
        folder = Path(self.folder_edit.text().strip()).expanduser() if self.folder_edit.text().strip() else None
        if folder is None or not (folder / "train").is_dir():
            self.adapt_label.setText("no clips yet: record takes first (Start)")
            return False
        from app.models import BUNDLED_MODEL
        from model.adapt import AdaptConfig

        run = Path(self.run_edit.text().strip()).expanduser() if self.run_edit.text().strip() else folder / "adapted"
        self.run_edit.setText(str(run))
        minutes = float(self.minutes_box.value())
        cfg = AdaptConfig(data=str(folder), out=str(run), model=self.window.model_spec or str(BUNDLED_MODEL),
                          minutes=minutes, workers=0, progress=False)
        self.adapt_progress = AdaptProgress(minutes, cfg.max_epochs)
        self.adapt_result = self.adapt_error = None
        self.adapt_button.setEnabled(False)
        self.adapt_label.setText(f"adapting {cfg.model} to {folder}…")
        self._adapt_thread = threading.Thread(target=self._adapt_run, args=(cfg,), name="spikelip-adapt", daemon=True)
        self._adapt_thread.start()
        self._adapt_timer.start()
        return True

    def _adapt_run(self, cfg) -> None:
        from model.adapt import adapt

        try:
            self.adapt_result = adapt(cfg, log=self.adapt_progress.log)
        except SpikeLipError as exc:
            self.adapt_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the terminal gets the trace
            traceback.print_exc()
            self.adapt_error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            self.adapt_progress.done = True

    def _poll_adapt(self) -> None:
        progress = self.adapt_progress
        if progress is None:
            return
        self.adapt_bar.setValue(int(1000 * progress.fraction))
        if progress.line:
            self.adapt_label.setText(progress.line)
        if self._adapt_thread is not None and self._adapt_thread.is_alive():
            return
        self._adapt_timer.stop()
        self.adapt_button.setEnabled(True)
        if self.adapt_error is not None:
            self.adapt_label.setText(self.adapt_error)
            self.adapt_label.setStyleSheet(f"color: {theme.css(theme.BAD)}")
            return
        path = self.adapt_result["path"]
        self.adapt_label.setStyleSheet("")
        if self.window.set_model(path):
            self.adapt_label.setText(f"reading with {path}")
        else:
            self.adapt_label.setText(f"adapted into {path}, but it did not load (see the status bar)")

    # ------------------------------------------------------------------ helpers

    def _follow_crop(self, m: Step) -> None:
        """Cut where the model reads: the step's ROI (it moves when the ROI is dragged or follows the
        mouth), in a crop of the panel's own (the worker's crop changes as it goes)."""
        worker = self.window.worker
        crop = worker.session.crop if worker is not None else None
        if crop is None:
            return
        roi = getattr(m, "roi", None) or crop.roi
        if (roi, crop.scale) != self._crop_key:
            self._crop_key = (roi, crop.scale)
            self.cutter.crop = Crop(self._sensor, roi=roi, scale=crop.scale)

    def _pause(self) -> None:
        """A recording stands still while the panel is not listening (a camera goes on)."""
        worker = self.window.worker
        if self.live or worker is None or self.window.finished:
            return
        playback = worker.session.playback
        if not playback.paused:
            playback.set_paused(True)
            self.window.controls.show_paused(True)
            self._paused_by_us = True

    def _resume(self) -> None:
        worker = self.window.worker
        if self._paused_by_us and worker is not None:
            worker.session.playback.set_paused(False)
            self.window.controls.show_paused(False)
        self._paused_by_us = False

    def _stop_recording(self) -> None:
        if self.session_path is not None:
            self.window.stop_recording()
            self.session_path = None

    def _review_buttons(self, on: bool) -> None:
        self.keep_button.setEnabled(on)
        self.redo_button.setEnabled(on)

    def _show_progress(self) -> None:
        self.progress.setRange(0, self.enrolment.total)
        self.progress.setValue(self.enrolment.done)

    def _error(self, text: str) -> bool:
        self.cue_label.setStyleSheet(f"color: {theme.css(theme.BAD)}")
        self.cue_label.setText(text)
        self.window.status(f"enrol: {text}", error=True)
        return False

    def _ask_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder for the clips")
        if path:
            self.folder_edit.setText(path)

    def _ask_words(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Word list (one word a line)", "", "Text (*.txt);;All (*)")
        if path:
            self.words_edit.setText(path)


def _group(title: str, layout: QtWidgets.QLayout) -> QtWidgets.QGroupBox:
    box = QtWidgets.QGroupBox(title)
    box.setLayout(layout)
    return box
