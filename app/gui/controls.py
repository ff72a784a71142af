"""The bar above the views: source choice (camera, DV stream, file, sample, DVS-Lip folder), model, record,
and the transport (play/pause, restart, speed, seek). Widgets only; the window wires them.
"""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from app.gui import theme
from app.models import ASSETS

SPEEDS = (("0.25×", 0.25), ("0.5×", 0.5), ("1×", 1.0), ("2×", 2.0), ("4×", 4.0), ("max", None))
SAMPLE = ASSETS / "samples" / "sample.aedat4"


class ControlBar(QtWidgets.QWidget):
    def __init__(self, speed: float | None) -> None:
        super().__init__()
        icon = QtWidgets.QStyle.StandardPixmap
        standard = self.style().standardIcon
        self.camera_box = QtWidgets.QComboBox()
        self.camera_box.setMinimumContentsLength(15)  # "no camera found"
        self.rescan_button = QtWidgets.QToolButton()
        self.rescan_button.setIcon(standard(icon.SP_BrowserReload))
        self.rescan_button.setToolTip("Look for connected cameras")
        self.camera_button = QtWidgets.QPushButton("Connect")
        self.camera_button.setToolTip("Open the selected camera (again, after an unplug)")
        self.wait_box = QtWidgets.QCheckBox("Wait if unplugged")
        self.wait_box.setChecked(True)
        self.wait_box.setToolTip("When the camera is unplugged, wait for it to come back and carry on "
                                 "(otherwise the stream stops; a recording is saved either way)")
        self.network_button = QtWidgets.QToolButton()  # short: the bar must fit a 1400-pixel window
        self.network_button.setText("DV…")
        self.network_button.setToolTip("Connect to DV…: live events from iniVation DV's network output "
                                       "(HOST:PORT of its TCP server, or its local socket)")
        self.open_button = QtWidgets.QPushButton(standard(icon.SP_DialogOpenButton), "Open file…")
        self.folder_button = QtWidgets.QPushButton(standard(icon.SP_DirOpenIcon), "DVS-Lip folder…")
        self.sample_button = QtWidgets.QPushButton("Sample")
        self.sample_button.setToolTip(str(SAMPLE))
        self.model_box = QtWidgets.QComboBox()
        self.model_box.setMinimumContentsLength(22)
        self.model_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.record_button = QtWidgets.QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.record_button.setMinimumWidth(200)
        self.record_button.setToolTip("Record the raw input to an AEDAT4 file")

        self.play_button = QtWidgets.QPushButton(standard(icon.SP_MediaPause), "Pause")
        self.play_button.setMinimumWidth(90)
        self.restart_button = QtWidgets.QPushButton(standard(icon.SP_MediaSkipBackward), "Restart")
        self.speed_box = QtWidgets.QComboBox()
        for label, value in SPEEDS:
            self.speed_box.addItem(label, value)
        self.speed_box.setCurrentIndex(next((i for i, (_, v) in enumerate(SPEEDS) if v == speed), 2))
        self.seek_bar = SeekSlider()
        self.time_label = QtWidgets.QLabel("0.00 s")
        self.time_label.setFont(QtGui.QFont("DejaVu Sans Mono", theme.FONT_SIZE))
        self.time_label.setMinimumWidth(150)

        source_row = QtWidgets.QHBoxLayout()
        for widget in (_caption("Camera"), self.camera_box, self.rescan_button, self.camera_button, self.wait_box,
                       self.network_button, _separator(),
                       self.open_button, self.folder_button, self.sample_button, _separator(), _caption("Model"),
                       self.model_box):
            source_row.addWidget(widget)
        source_row.addStretch(1)
        source_row.addWidget(self.record_button)
        transport = QtWidgets.QHBoxLayout()
        for widget in (self.play_button, self.restart_button, _caption("Speed"), self.speed_box):
            transport.addWidget(widget)
        transport.addWidget(self.seek_bar, 1)
        transport.addWidget(self.time_label)
        rows = QtWidgets.QVBoxLayout(self)
        rows.setContentsMargins(8, 6, 8, 0)
        rows.setSpacing(4)
        rows.addLayout(source_row)
        rows.addLayout(transport)

    def show_paused(self, paused: bool) -> None:
        icon = QtWidgets.QStyle.StandardPixmap
        self.play_button.setIcon(self.style().standardIcon(icon.SP_MediaPlay if paused else icon.SP_MediaPause))
        self.play_button.setText("Play" if paused else "Pause")

    def show_time(self, position_s: float, duration_s: float | None) -> None:
        if duration_s and not self.seek_bar.isSliderDown():
            self.seek_bar.set_position(position_s, duration_s)
        self.time_label.setText(f"{position_s:6.2f} / {duration_s:.2f} s" if duration_s else f"{position_s:6.2f} s")

    def show_recording(self, elapsed_s: float | None, events: int = 0) -> None:
        """`elapsed_s` None: not recording."""
        if elapsed_s is None:
            self.record_button.setText("● Record")
            self.record_button.setStyleSheet("")
            self.record_button.setChecked(False)
            return
        s = int(elapsed_s)
        self.record_button.setText(f"■ Stop  {s // 60:02d}:{s % 60:02d}  {_count(events)} events")
        self.record_button.setStyleSheet(f"color: {theme.css(theme.BAD)}; font-weight: bold")


class SeekSlider(QtWidgets.QSlider):
    """A time slider that jumps to where it is clicked and reports seeks in seconds."""

    seek_requested = QtCore.pyqtSignal(float)
    TICKS_PER_S = 100

    def __init__(self) -> None:
        super().__init__(QtCore.Qt.Orientation.Horizontal)
        self.setRange(0, 0)
        self.setEnabled(False)
        self.sliderReleased.connect(lambda: self.seek_requested.emit(self.value() / self.TICKS_PER_S))

    def set_position(self, position_s: float, duration_s: float) -> None:
        self.blockSignals(True)
        self.setMaximum(int(duration_s * self.TICKS_PER_S))
        self.setValue(int(position_s * self.TICKS_PER_S))
        self.blockSignals(False)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if event.button() == QtCore.Qt.MouseButton.LeftButton and self.isEnabled():
            value = QtWidgets.QStyle.sliderValueFromPosition(
                self.minimum(), self.maximum(), int(event.position().x()), max(1, self.width()))
            self.setValue(value)
            self.seek_requested.emit(value / self.TICKS_PER_S)
            event.accept()
            return
        super().mousePressEvent(event)


def _count(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.0f} k" if n >= 1e3 else str(n)


def _caption(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    label.setStyleSheet(f"color: {theme.css(theme.MUTED)}")
    return label


def _separator() -> QtWidgets.QFrame:
    line = QtWidgets.QFrame()
    line.setFrameShape(QtWidgets.QFrame.Shape.VLine)
    line.setStyleSheet("color: rgb(60, 65, 78)")
    return line
