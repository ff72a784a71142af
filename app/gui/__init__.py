"""The SpikeLip window (PyQt6 + pyqtgraph), opened by `spikelip demo` and `spikelip replay`."""
from app.gui.launch import run_camera_window, run_replay_window

__all__ = ["run_camera_window", "run_replay_window"]
