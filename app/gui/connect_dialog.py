"""The "Connect to DV…" dialog: the address of DV's network output (HOST:PORT or a local socket
path), checked with `parse_address` as it is typed; the window remembers the last one."""
from __future__ import annotations

from PyQt6 import QtWidgets

from app.gui import theme
from stream.sources.network import parse_address

SETTINGS_KEY = "network/address"
PLACEHOLDER = "127.0.0.1:7777"


class ConnectDialog(QtWidgets.QDialog):
    """Asks for an address; Connect stays disabled until the text is one (`address()` then holds it)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, address: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to DV")
        self.setMinimumWidth(620)
        intro = QtWidgets.QLabel(
            "Live events from iniVation DV's network output: in DV, connect the camera's events to a network "
            "output module (TCP server, or local socket server), then give its address here.")
        intro.setWordWrap(True)
        self.edit = QtWidgets.QLineEdit(address)
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.edit.setToolTip("HOST:PORT (e.g. 127.0.0.1:7777, dvbox.local:7777, [::1]:7777) "
                             "or a local socket path (e.g. /tmp/dv-events.sock)")
        self.problem = QtWidgets.QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {theme.css(theme.BAD)}")
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.connect_button = self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        self.connect_button.setText("Connect")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QtWidgets.QFormLayout()
        form.addRow("Address", self.edit)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.edit.textChanged.connect(self._check)
        self._check()

    def address(self) -> str:
        return self.edit.text().strip()

    def _check(self) -> None:
        text = self.address()
        try:
            parse_address(text)
        except ValueError as exc:
            self.problem.setText(str(exc) if text else "")
            self.connect_button.setEnabled(False)
        else:
            self.problem.setText("")
            self.connect_button.setEnabled(True)
        self.adjustSize()
