"""The dark look of the window: palette, fonts and the colours every view shares.

One place for colours so the event view, raster and bars agree on what ON/+1 and OFF/-1 look
like, and a demo-table screen stays readable from a step back.
"""
from __future__ import annotations

import pyqtgraph as pg
from PyQt6 import QtGui, QtWidgets

BACKGROUND = (18, 20, 26)
PANEL = (28, 31, 39)
TEXT = (225, 228, 235)
MUTED = (140, 146, 160)
ON = (40, 210, 255)  # ON events and +1 spikes
OFF = (255, 70, 150)  # OFF events and -1 spikes
ACCENT = (255, 196, 60)  # ROI, top-1 word, recording
GOOD = (90, 210, 120)
BAD = (240, 90, 80)
LAYER_COLOURS = [
    (40, 210, 255), (255, 196, 60), (255, 70, 150), (90, 210, 120), (170, 130, 255),
    (255, 140, 60), (120, 220, 220), (230, 230, 120), (200, 200, 200),
]
FONT_FAMILY = "DejaVu Sans"
FONT_SIZE = 10


def css(rgb) -> str:
    return "rgb({}, {}, {})".format(*rgb)


def apply(app: QtWidgets.QApplication) -> None:
    """Fusion style with a dark palette, a readable font and matching pyqtgraph defaults."""
    app.setStyle("Fusion")
    font = QtGui.QFont(FONT_FAMILY, FONT_SIZE)
    app.setFont(font)
    pal = QtGui.QPalette()
    role = QtGui.QPalette.ColorRole
    colours = {
        role.Window: PANEL, role.WindowText: TEXT, role.Base: BACKGROUND, role.AlternateBase: PANEL,
        role.Text: TEXT, role.Button: (40, 44, 54), role.ButtonText: TEXT, role.ToolTipBase: PANEL,
        role.ToolTipText: TEXT, role.Highlight: (50, 110, 170), role.HighlightedText: (255, 255, 255),
        role.PlaceholderText: MUTED, role.Link: ON,
    }
    for r, rgb in colours.items():
        pal.setColor(r, QtGui.QColor(*rgb))
    for r in (role.Text, role.ButtonText, role.WindowText):
        pal.setColor(QtGui.QPalette.ColorGroup.Disabled, r, QtGui.QColor(*MUTED))
    app.setPalette(pal)
    app.setStyleSheet(
        f"QGroupBox {{ border: 1px solid rgb(55, 60, 72); border-radius: 6px; margin-top: 14px; "
        f"padding-top: 6px; font-weight: bold; }}"
        f"QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {css(TEXT)}; }}"
        f"QStatusBar {{ color: {css(TEXT)}; }}"
    )
    pg.setConfigOptions(background=BACKGROUND, foreground=TEXT, antialias=True, imageAxisOrder="row-major")


def axis_font() -> QtGui.QFont:
    return QtGui.QFont(FONT_FAMILY, FONT_SIZE - 1)


def style_plot(plot: pg.PlotItem, x_label: str, y_label: str) -> None:
    """Labelled axes in the window's font on a plot item."""
    for name, label in (("bottom", x_label), ("left", y_label)):
        axis = plot.getAxis(name)
        axis.setLabel(label, color=css(MUTED))
        axis.setTickFont(axis_font())
        axis.setTextPen(pg.mkPen(MUTED))
        axis.setPen(pg.mkPen((70, 75, 88)))
