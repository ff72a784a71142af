"""`make demo` must fall back to headless, not abort, when Qt cannot open a window."""
import subprocess

from app.commands import replay


def test_no_display_means_headless(monkeypatch):
    monkeypatch.setattr(replay.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert replay.display_available() is False


def test_a_display_qt_cannot_use_is_reported_and_skipped(monkeypatch, capsys):
    monkeypatch.setattr(replay.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 134))
    assert replay.display_available() is False
    err = capsys.readouterr().err
    assert "Qt cannot open a window" in err and "libxcb-cursor0" in err and err.count("\n") == 1
