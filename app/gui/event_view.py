"""The event view: ON and OFF events of the whole sensor with a fading trail, the ROI the
model reads (draggable) and the 88 x 88 centre crop it actually sees.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from app.gui import theme
from stream.constants import BIN_MS, INPUT_SIDE, MOUTH_SIDE
from stream.events import SensorSize
from stream.roi import Crop, Roi

SATURATION = 1.5  # events per pixel at which the colour is 50 % of full brightness
LEVELS = 256  # colour table entries over 0 .. MAX_COUNT events
MAX_COUNT = 8 * SATURATION
DEFAULT_DECAY = 0.6  # brightness kept per 13.3 ms bin: a trail of ~25 ms


class EventView(QtWidgets.QWidget):
    """Feed it raw events with `add`, paint with `refresh`; emits `roi_changed` after a drag."""

    roi_changed = QtCore.pyqtSignal(object)  # Roi
    auto_changed = QtCore.pyqtSignal(bool)  # the "Auto" box: the ROI follows the mouth

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sensor = SensorSize(128, 128)
        self.decay = DEFAULT_DECAY
        self._acc = np.zeros((2, 128, 128), np.float32)
        self._dirty = True
        self._lut_on, self._lut_off = _luts()

        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(False, False)
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        theme.style_plot(self.plot, "x (pixels)", "y (pixels)")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.crop_box = QtWidgets.QGraphicsRectItem()
        self.crop_box.setPen(_pen((235, 235, 235), dashed=True))
        self.plot.addItem(self.crop_box)
        self.input_side = INPUT_SIDE
        self.crop_label = _label(f"model input {INPUT_SIDE}×{INPUT_SIDE}", (235, 235, 235), anchor=(0, 0))
        self.plot.addItem(self.crop_label)
        self.roi_label = _label("ROI", theme.ACCENT)
        self.plot.addItem(self.roi_label)
        self.roi_item: pg.ROI | None = None
        self._shown: Crop | None = None  # the crop drawn
        self._resize: float | None = None  # and the mouth's resize (Auto)

        self.decay_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.decay_slider.setRange(0, 95)
        self.decay_slider.setValue(int(DEFAULT_DECAY * 100))
        self.decay_slider.valueChanged.connect(lambda v: self.set_decay(v / 100))
        self.decay_label = QtWidgets.QLabel()
        self.decay_label.setMinimumWidth(190)
        legend = QtWidgets.QLabel(
            f"<span style='color:{theme.css(theme.ON)}'>■</span> ON &nbsp; "
            f"<span style='color:{theme.css(theme.OFF)}'>■</span> OFF"
        )
        self.auto_box = QtWidgets.QCheckBox("Auto ROI")
        self.auto_box.setToolTip("Let the ROI follow the mouth: found from the events (and the APS frames of a DAVIS), "
                                 "moved only between words. Dragging the ROI turns it off.")
        self.auto_box.toggled.connect(self.auto_changed)
        controls = QtWidgets.QHBoxLayout()
        controls.addWidget(legend)
        controls.addSpacing(12)
        controls.addWidget(QtWidgets.QLabel("Trail"))
        controls.addWidget(self.decay_slider, 1)
        controls.addWidget(self.decay_label)
        controls.addSpacing(12)
        controls.addWidget(self.auto_box)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(controls)
        self.set_decay(DEFAULT_DECAY)

    def configure(self, sensor: SensorSize, crop: Crop, editable: bool, input_side: int = INPUT_SIDE) -> None:
        """A new source: size the view to its sensor and show its crop, and in it the centre
        `input_side` px the model reads."""
        self.sensor = sensor
        self.input_side = input_side
        self.crop_label.setText(f"model input {input_side}×{input_side}")
        self._acc = np.zeros((2, sensor.height, sensor.width), np.float32)
        self._dirty = True
        self.image.setImage(np.zeros((sensor.height, sensor.width, 3), np.uint8), autoLevels=False, levels=(0, 255))
        self.plot.setRange(xRange=(0, sensor.width), yRange=(-0.08 * sensor.height, sensor.height), padding=0.02)
        if self.roi_item is not None:
            self.plot.removeItem(self.roi_item)
            self.roi_item = None
        r = crop.roi
        roi = pg.ROI((r.x, r.y), (r.w, r.h), pen=_pen(theme.ACCENT, width=2), movable=editable,
                     rotatable=False, resizable=False, removable=False,
                     maxBounds=QtCore.QRectF(0, 0, sensor.width, sensor.height))
        if editable:
            roi.addScaleHandle([1, 1], [0, 0], lockAspect=True)
            roi.setToolTip("Drag to move the model's region of interest; the corner handle resizes it")
            roi.sigRegionChangeFinished.connect(self._roi_dragged)
        roi.sigRegionChanged.connect(self._place_labels)
        self.plot.addItem(roi)
        self.roi_item = roi
        self.show_crop(crop)

    def set_auto(self, on: bool) -> None:
        """Tick or clear the "Auto" box without emitting `auto_changed`."""
        blocked = self.auto_box.blockSignals(True)
        self.auto_box.setChecked(on)
        self.auto_box.blockSignals(blocked)

    def show_roi(self, roi: Roi, resize: float | None = None) -> None:
        """The ROI moved or resized the mouth by itself (Auto): draw it there, same size."""
        if self.roi_item is None or self._shown is None or (self._shown.roi, self._resize) == (roi, resize):
            return
        crop = Crop(self.sensor, roi=roi, scale=self._shown.scale)
        self.show_crop(crop, resize)

    def show_crop(self, crop: Crop, resize: float | None = None) -> None:
        """Draw the ROI and, inside it, the part the network reads: the centred 88 x 88 (`input_side`)
        of the binned frame, or of the mouth resized `resize` x about the ROI's centre (88 / resize
        ROI pixels)."""
        self._shown, self._resize = crop, resize
        r, s = crop.roi, crop.scale
        if self.roi_item is not None:
            self.roi_item.setPos((r.x, r.y), update=False, finish=False)
            self.roi_item.setSize((r.w, r.h), update=True, finish=False)
        w, h = crop.sensor.width, crop.sensor.height
        read_x, read_y = min(self.input_side, w), min(self.input_side, h)
        side_x, side_y = read_x / (resize or 1.0), read_y / (resize or 1.0)
        left, top = (w - read_x) // 2 + (read_x - side_x) / 2, (h - read_y) // 2 + (read_y - side_y) / 2
        self.crop_box.setRect(QtCore.QRectF(r.x + left * s, r.y + top * s, side_x * s, side_y * s))
        self.roi_label.setText(f"ROI {r.w}×{r.h}" + (f" ÷{s}" if s > 1 else "") + (f", mouth ×{resize:.2f}" if resize else ""))
        self._place_labels()

    def set_decay(self, decay: float) -> None:
        self.decay = float(decay)
        tau = -BIN_MS / np.log(self.decay) if 0 < self.decay < 1 else 0.0
        self.decay_label.setText(f"{self.decay:.2f} per bin (τ ≈ {tau:.0f} ms)" if tau else "off (this bin only)")

    def clear(self) -> None:
        self._acc[:] = 0
        self._dirty = True

    def add(self, raw: np.ndarray, steps: int = 1) -> None:
        """Fade the trail by `steps` bins and add the raw (full-sensor) events."""
        if steps:
            self._acc *= self.decay**steps
            self._dirty = True
        if len(raw) == 0:
            return
        h, w = self._acc.shape[1:]
        x, y = raw["x"].astype(np.int64), raw["y"].astype(np.int64)
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        idx = (raw["p"][inside] == 0).astype(np.int64) * (h * w) + y[inside] * w + x[inside]
        self._acc += np.bincount(idx, minlength=2 * h * w).reshape(2, h, w).astype(np.float32)
        self._dirty = True

    def refresh(self) -> None:
        if not self._dirty:
            return
        on = np.minimum(self._acc[0] * (LEVELS / MAX_COUNT), LEVELS - 1).astype(np.intp)
        off = np.minimum(self._acc[1] * (LEVELS / MAX_COUNT), LEVELS - 1).astype(np.intp)
        rgb = np.take(self._lut_on, on, axis=0) + np.take(self._lut_off, off, axis=0)  # see _luts
        np.minimum(rgb, 255, out=rgb)
        self.image.setImage(rgb.astype(np.uint8), autoLevels=False, levels=(0, 255))
        self._dirty = False

    def _roi_dragged(self, item: pg.ROI) -> None:
        roi = snap_roi(item.pos().x(), item.pos().y(), item.size().x(), self.sensor)
        item.setPos((roi.x, roi.y), update=False, finish=False)
        item.setSize((roi.w, roi.h), update=True, finish=False)
        self.roi_changed.emit(roi)

    def _place_labels(self) -> None:
        if self.roi_item is not None:
            pos = self.roi_item.pos()
            self.roi_label.setPos(pos.x(), pos.y())
        rect = self.crop_box.rect()
        self.crop_label.setPos(rect.x(), rect.y() + rect.height())


def _luts() -> tuple[np.ndarray, np.ndarray]:
    """Colour tables: event count -> RGB, saturating like c / (c + SATURATION).

    The ON table includes the background and the OFF table only adds its colour on top, so
    their sum is the pixel (uint16, clipped after the sum).
    """
    counts = np.arange(LEVELS) * (MAX_COUNT / LEVELS)
    level = (counts / (counts + SATURATION))[:, None]
    bg = np.array(theme.BACKGROUND, np.float64)
    on = bg + level * (np.array(theme.ON) - bg)
    off = level * (np.array(theme.OFF) - bg)
    return np.round(on).astype(np.uint16), np.round(np.maximum(off, 0)).astype(np.uint16)


def snap_roi(x: float, y: float, side: float, sensor: SensorSize) -> Roi:
    """A dragged square -> the nearest ROI the model can read: 128 x N pixels, inside the sensor."""
    largest = max(1, min(sensor.width, sensor.height) // MOUTH_SIDE)
    scale = int(np.clip(round(side / MOUTH_SIDE), 1, largest))
    w, h = min(MOUTH_SIDE * scale, sensor.width), min(MOUTH_SIDE * scale, sensor.height)
    x = int(np.clip(round(x), 0, sensor.width - w))
    y = int(np.clip(round(y), 0, sensor.height - h))
    return Roi(x, y, w, h)


def _pen(rgb, width: float = 1.5, dashed: bool = False) -> QtGui.QPen:
    pen = pg.mkPen(rgb, width=width)
    pen.setCosmetic(True)
    if dashed:
        pen.setStyle(QtCore.Qt.PenStyle.DashLine)
    return pen


def _label(text: str, rgb, anchor=(0, 1)) -> pg.TextItem:
    item = pg.TextItem(text, color=rgb, anchor=anchor)
    item.setFont(theme.axis_font())
    return item
