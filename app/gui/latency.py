"""Latency panel: per-stage p50/p99 over the last seconds, real-time factor, missed deadlines.

Stages: read (time in the source's reads, per step), bin (crop, binning and model input, from
the slice arriving to the model starting), model (one network step), display (from a step
being published to the window having painted it; the window paints at ~40 Hz so this includes
the wait for the next paint). A deadline is missed when a step's pipeline latency exceeds one
bin (13.3 ms; longer for a model binning at a slower user's pace).
"""
from __future__ import annotations

from collections import deque

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from app.gui import theme
from stream.constants import BIN_S

WINDOW_S = 3.0  # the stream time the panel's figures cover
STAGES = ("read", "bin", "model", "display")
DEADLINE_MS = BIN_S * 1e3  # one DVS-Lip bin (`LatencyStats.step_s` is the run's)


class LatencyStats:
    """Rolling per-step numbers; `summary()` gives what the panel shows."""

    def __init__(self, step_s: float = BIN_S) -> None:
        self.set_step_s(step_s)

    def set_step_s(self, step_s: float) -> None:
        """A run's bin (the deadline; longer for a model binning at a slower user's pace): the
        figures then cover WINDOW_S of its steps, from none."""
        self.step_s, self.window = step_s, round(WINDOW_S / step_s)
        self.clear()

    def clear(self) -> None:
        self._stage = {s: deque(maxlen=self.window) for s in STAGES}
        self._latency = deque(maxlen=self.window)
        self._events = deque(maxlen=self.window)
        self.missed = 0
        self.steps = 0

    def add_step(self, timings_ms: dict[str, float], events: int) -> None:
        for stage in ("read", "bin", "model"):
            self._stage[stage].append(timings_ms[stage])
        self._latency.append(timings_ms["latency"])
        self._events.append(events)
        self.steps += 1
        self.missed += timings_ms["latency"] > self.step_s * 1e3

    def add_display(self, ms: float) -> None:
        self._stage["display"].append(ms)

    def summary(self) -> dict:
        out = {}
        for stage, values in self._stage.items():
            out[stage] = tuple(np.percentile(values, (50, 99))) if values else (float("nan"),) * 2
        lat = np.asarray(self._latency)
        out["pipeline"] = tuple(np.percentile(lat, (50, 99))) if len(lat) else (float("nan"),) * 2
        compute = sum(self._stage["read"]) + sum(self._stage["bin"]) + sum(self._stage["model"])
        n = len(self._events)
        deadline_ms = self.step_s * 1e3
        out["rtf"] = compute / (n * deadline_ms) if n else float("nan")
        out["missed_recent"] = int((lat > deadline_ms).sum())
        out["missed"] = self.missed
        out["steps"] = self.steps
        out["events_per_s"] = sum(self._events) / (n * self.step_s) if n else 0.0
        out["deadline_ms"], out["window_s"] = deadline_ms, self.window * self.step_s
        return out


class LatencyPanel(QtWidgets.QWidget):
    """A small table that `show_summary` fills; refreshed a few times per second, not every paint."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(2)
        muted = f"color: {theme.css(theme.MUTED)}"
        for col, head in enumerate(("stage", "p50 ms", "p99 ms")):
            label = QtWidgets.QLabel(head)
            label.setStyleSheet(muted)
            grid.addWidget(label, 0, col, alignment=_align(col))
        self._cells: dict[str, tuple[QtWidgets.QLabel, QtWidgets.QLabel]] = {}
        rows = (*STAGES, "pipeline")
        for row, stage in enumerate(rows, start=1):
            name = QtWidgets.QLabel("source → model out" if stage == "pipeline" else stage)
            grid.addWidget(name, row, 0)
            cells = (QtWidgets.QLabel("–"), QtWidgets.QLabel("–"))
            for col, cell in enumerate(cells, start=1):
                cell.setFont(_mono())
                grid.addWidget(cell, row, col, alignment=_align(col))
            self._cells[stage] = cells
        self.footer = QtWidgets.QLabel()
        self.footer.setWordWrap(True)
        grid.addWidget(self.footer, len(rows) + 1, 0, 1, 3)
        grid.setColumnStretch(0, 1)

    def show_summary(self, s: dict, live_read: bool = False) -> None:
        for stage, (p50, p99) in ((k, s[k]) for k in self._cells):
            a, b = self._cells[stage]
            if stage == "read" and live_read:
                a.setText("camera")
                b.setText("")
                continue
            a.setText(_ms(p50))
            b.setText(_ms(p99))
            late = stage == "pipeline" and p99 == p99 and p99 > s["deadline_ms"]
            b.setStyleSheet(f"color: {theme.css(theme.BAD)}" if late else "")
        rtf = s["rtf"]
        rtf_colour = theme.GOOD if rtf == rtf and rtf < 1 else theme.BAD
        self.footer.setText(
            f"real-time factor <b style='color:{theme.css(rtf_colour)}'>{_num(rtf, 2)}</b> "
            f"(compute ÷ stream time) &nbsp; events/s <b>{_rate(s['events_per_s'])}</b><br>"
            f"missed deadlines (&gt; {s['deadline_ms']:.1f} ms): <b>{s['missed_recent']}</b> in the last "
            f"{s['window_s']:.0f} s, {s['missed']} of {s['steps']} steps in all"
        )


def _ms(v: float) -> str:
    return "–" if v != v else f"{v:6.2f}"


def _num(v: float, digits: int) -> str:
    return "–" if v != v else f"{v:.{digits}f}"


def _rate(v: float) -> str:
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k" if v >= 1e3 else f"{v:.0f}"


def _mono() -> QtGui.QFont:
    return QtGui.QFont("DejaVu Sans Mono", theme.FONT_SIZE)


def _align(col: int):
    return QtCore.Qt.AlignmentFlag.AlignRight if col else QtCore.Qt.AlignmentFlag.AlignLeft
