"""Spike raster of one chosen layer over the last ~2 s and the mean firing rate of every stage.

+1 and -1 spikes (SpikGRU2+ fires both) get the ON and OFF colours of the event view. The
window keeps the history of every layer, so switching layers shows the past at once.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtWidgets

from app.gui import theme
from app.gui.session import RASTER_UNITS
from stream.constants import BIN_S

HISTORY = 150  # steps shown: 2 s of 13.3 ms bins (more for a model binning at a slower user's pace)
DEFAULT_LAYER = "backend.0"


def stage_of(layer: str) -> str:
    """Rate-plot group of a recorded layer: frontend.res2.1.out -> res2, backend.0 -> gru1."""
    parts = layer.split(".")
    if parts[0] == "backend" and len(parts) > 1 and parts[1].isdigit():
        return f"gru{int(parts[1]) + 1}"
    return parts[1] if parts[0] == "frontend" and len(parts) > 1 else layer


class RasterView(QtWidgets.QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.layer_box = QtWidgets.QComboBox()
        self.layer_box.setMinimumContentsLength(16)
        self.layer_box.currentTextChanged.connect(lambda _: self._mark_dirty())
        self.units_label = QtWidgets.QLabel()
        self.units_label.setStyleSheet(f"color: {theme.css(theme.MUTED)}")
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("Layer"))
        top.addWidget(self.layer_box)
        top.addWidget(self.units_label, 1)
        top.addWidget(QtWidgets.QLabel(
            f"<span style='color:{theme.css(theme.ON)}'>■</span> +1 &nbsp; "
            f"<span style='color:{theme.css(theme.OFF)}'>■</span> −1"))

        self.graphics = pg.GraphicsLayoutWidget()
        self.raster_plot = self.graphics.addPlot(row=0, col=0)
        self.rate_plot = self.graphics.addPlot(row=1, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
        for plot in (self.raster_plot, self.rate_plot):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(False, False)
        self.set_step_s(BIN_S)
        self.rate_plot.setXLink(self.raster_plot)
        theme.style_plot(self.raster_plot, "time (s)", "unit")
        theme.style_plot(self.rate_plot, "time (s)", "rate (Hz)")
        self.raster_plot.setYRange(0, RASTER_UNITS, padding=0)
        self.rate_plot.showGrid(x=False, y=True, alpha=0.15)
        self.graphics.setAntialiasing(False)  # 3x cheaper to paint; thin lines on black still look clean
        self.legend = QtWidgets.QLabel()
        self.legend.setWordWrap(True)
        self.raster = pg.ImageItem()
        lut = np.array([theme.OFF, theme.BACKGROUND, theme.ON], np.uint8)
        self.raster.setLookupTable(lut)
        self.raster_plot.addItem(self.raster)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.legend)
        self.clear()

    def clear(self) -> None:
        """Forget the history (a new source or model)."""
        self._spikes: dict[str, np.ndarray] = {}  # layer -> (HISTORY, units) int8, circular
        self._rates: dict[str, np.ndarray] = {}  # stage -> (HISTORY,) Hz, circular
        self._head = 0
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._rate_top = 0.0
        self._shown: str | None = None  # the layer the raster was last sized for
        self.legend.setText("")
        self.rate_plot.clear()
        self._units: dict[str, int] = {}  # layer -> all its units
        self._dirty = True

    def add(self, layers: dict[str, tuple[float, np.ndarray, int]]) -> None:
        """One step's spikes: layer -> (mean rate Hz, signs of the unit subset, units in the layer)."""
        if not layers:
            return
        if not self._spikes:
            self._start(layers)
        stages: dict[str, list[float]] = {}
        for name, (rate, signs, _) in layers.items():
            buf = self._spikes.get(name)
            if buf is not None and buf.shape[1] == len(signs):
                buf[self._head] = signs
            stages.setdefault(stage_of(name), []).append(rate)
        for stage, rates in stages.items():
            if stage in self._rates:
                self._rates[stage][self._head] = float(np.mean(rates))
        self._head = (self._head + 1) % HISTORY
        self._dirty = True

    def set_step_s(self, step_s: float) -> None:
        """Seconds of stream per step: the time axis's scale."""
        if step_s != getattr(self, "step_s", None):
            self.step_s, self._shown = step_s, None  # the raster's rectangle is set again at the next refresh
            for plot in (self.raster_plot, self.rate_plot):
                plot.setXRange(-HISTORY * step_s, 0, padding=0)

    def refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        name = self.layer_box.currentText()
        buf = self._spikes.get(name)
        x = np.arange(-HISTORY + 1, 1) * self.step_s
        if buf is not None:
            ordered = np.roll(buf, -self._head, axis=0).T.astype(np.int16) + 1  # (units, steps) in 0..2
            self.raster.setImage(ordered.astype(np.uint8), autoLevels=False, levels=(0, 2))
            if self._shown != name:
                self._shown = name
                self.raster.setRect(-HISTORY * self.step_s, 0, HISTORY * self.step_s, buf.shape[1])
                self.raster_plot.setYRange(0, buf.shape[1], padding=0)
                total = self._units.get(name, buf.shape[1])
                self.units_label.setText(f"{buf.shape[1]} of {total:,} units" if total > buf.shape[1] else f"{total} units")
        for stage, curve in self._curves.items():
            curve.setData(x, np.roll(self._rates[stage], -self._head))
        self._fit_rates()

    def _fit_rates(self) -> None:
        """Rescale the rate axis only when the curves outgrow it or shrink well inside it:
        a y axis that moved every frame would cost a full repaint of the plot."""
        peak = max((float(r.max()) for r in self._rates.values()), default=0.0)
        top = _nice_ceiling(max(peak * 1.15, 1.0))
        if top != self._rate_top and (top > self._rate_top or top < self._rate_top / 2):
            self._rate_top = top
            self.rate_plot.setYRange(0, top, padding=0)

    def _start(self, layers) -> None:
        """First step of a run: learn the layer names and build the combo box and curves."""
        for name, (_, signs, units) in layers.items():
            self._spikes[name] = np.zeros((HISTORY, len(signs)), np.int8)
            self._units[name] = units
        previous = self.layer_box.currentText()
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(list(layers))
        choice = previous if previous in layers else (DEFAULT_LAYER if DEFAULT_LAYER in layers else list(layers)[-1])
        self.layer_box.setCurrentText(choice)
        self.layer_box.blockSignals(False)
        for i, stage in enumerate(dict.fromkeys(stage_of(n) for n in layers)):
            self._rates[stage] = np.zeros(HISTORY, np.float32)
            colour = theme.LAYER_COLOURS[i % len(theme.LAYER_COLOURS)]
            self._curves[stage] = self.rate_plot.plot(pen=pg.mkPen(colour, width=1))
        self.legend.setText("mean rate per stage: " + " &nbsp;".join(
            f"<span style='color:{theme.css(theme.LAYER_COLOURS[i % len(theme.LAYER_COLOURS)])}'>━&nbsp;{stage}</span>"
            for i, stage in enumerate(self._curves)))


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^k at or above `value`."""
    power = 10.0 ** np.floor(np.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)
