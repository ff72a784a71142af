"""The window on DV's network output, offscreen: "Connect to DV…" checks the address and
remembers it, a served stream plays (steps arrive, the end of the stream is reported), and a
dead address is a status line within seconds, from which the user can retry."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pytestqt")
pytest.importorskip("dv_processing")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stream"))

from PyQt6 import QtWidgets  # noqa: E402

from network_helpers import dv_writer, free_port  # noqa: E402

from app.gui.connect_dialog import ConnectDialog  # noqa: E402
from stream.sources import open_file  # noqa: E402
from stream.synthlip import generate_sentence  # noqa: E402


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    import numpy as np

    path = tmp_path_factory.mktemp("gui-connect") / "s.aedat4"
    generate_sentence("water million", path, seed=2)
    with open_file(path) as source:
        return np.concatenate([b for b in source if len(b)])


pytestmark = pytest.mark.usefixtures("gui_application")


def test_the_bar_still_fits_the_default_window(window):
    assert window.controls.network_button.isVisible() and window.controls.network_button.isEnabled()
    assert window.minimumSizeHint().width() <= 1400 and window.width() == 1400


def test_dialog_checks_the_address_as_it_is_typed(qtbot, window):
    dialog = ConnectDialog(window, "127.0.0.1:7777")
    qtbot.addWidget(dialog)
    assert dialog.connect_button.isEnabled() and dialog.problem.text() == ""
    dialog.edit.setText("not an address")
    assert not dialog.connect_button.isEnabled() and "is not a DV stream address" in dialog.problem.text()
    dialog.edit.setText("127.0.0.1:70000")
    assert not dialog.connect_button.isEnabled() and "port" in dialog.problem.text()
    dialog.edit.setText(" /tmp/dv-events.sock ")
    assert dialog.connect_button.isEnabled() and dialog.address() == "/tmp/dv-events.sock"
    dialog.edit.setText("")
    assert not dialog.connect_button.isEnabled() and dialog.problem.text() == ""


@pytest.mark.slow
def test_dead_address_is_a_status_line_and_retry_connects(qtbot, window, events, tmp_path, monkeypatch):
    port = free_port()
    address = f"127.0.0.1:{port}"
    asked = []

    def exec_(dialog):  # the user types the address and presses Connect
        asked.append(dialog.address())
        dialog.edit.setText(address)
        return QtWidgets.QDialog.DialogCode.Accepted

    monkeypatch.setattr(ConnectDialog, "exec", exec_)
    start = time.monotonic()
    window.controls.network_button.click()
    qtbot.waitUntil(lambda: window.finished, timeout=10_000)
    assert time.monotonic() - start < 5
    assert asked == [""]  # nothing remembered yet
    assert window.failed == f"{address}: nothing is listening; start DV's network output (TCP server) on that port, or check the address"
    assert window.statusBar().currentMessage() == window.failed
    assert window.settings.value("network/address") == address  # remembered for the next time
    assert window.controls.network_button.isEnabled()

    with dv_writer(address, events[events["t"] < events["t"][0] + 1_500_000], tmp_path, end="exit"):
        window.controls.network_button.click()  # retry: the dialog offers the remembered address
        assert asked == ["", address]
        qtbot.waitUntil(lambda: window.stats.steps > 30, timeout=15_000)
        assert window.failed is None and window.started.live
        assert window.started.name == f"DV stream at {address}" and not window.controls.seek_bar.isEnabled()
        qtbot.waitUntil(lambda: window.finished, timeout=15_000)
    window.drain_and_paint()
    assert window.failed is None and window.stats.steps > 100
    assert window.event_view.image.image.max() > 0
    assert "end of stream" in window.statusBar().currentMessage()


@pytest.mark.slow
def test_connect_while_connecting_does_not_wait_for_the_first(qtbot, window):
    """A server that accepts and says nothing holds the first run for its read timeout; a new
    connection must not freeze the window meanwhile."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        window.open_network(f"127.0.0.1:{silent.getsockname()[1]}")
        qtbot.wait(300)
        assert window.started is None and not window.finished
        start = time.monotonic()
        window.open_network(f"127.0.0.1:{free_port()}")
        assert time.monotonic() - start < 1.0
        qtbot.waitUntil(lambda: window.finished, timeout=10_000)
        assert "nothing is listening" in window.statusBar().currentMessage()
    finally:
        silent.close()


def test_demo_with_a_display_opens_the_window_on_the_stream(qtbot, monkeypatch, model):
    """`spikelip demo --connect ADDR` with a display: the window connects instead of looking for a camera."""
    from types import SimpleNamespace

    from app.gui import launch

    opened = {}
    monkeypatch.setattr(launch, "MainWindow", lambda **kw: opened.setdefault("w", FakeWindow()))
    monkeypatch.setattr(launch, "application", lambda: SimpleNamespace(exec=lambda: 0))
    args = SimpleNamespace(model=None, roi=None, scale=1, on_disconnect="wait", camera=None, connect=("127.0.0.1", 7777))
    assert launch.run_camera_window(args) == 0
    assert opened["w"].calls == [("refresh_cameras",), ("open_network", ("127.0.0.1", 7777)), ("show",)]


class FakeWindow:
    def __init__(self):
        self.calls = []

    def refresh_cameras(self):
        self.calls.append(("refresh_cameras",))
        return ["DVXplorer_1"]

    def open_network(self, address):
        self.calls.append(("open_network", address))

    def open_camera(self, name):
        self.calls.append(("open_camera", name))

    def show(self):
        self.calls.append(("show",))
