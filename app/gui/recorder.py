"""Recording the raw input to AEDAT4 while it plays, started and stopped from the window.

The window only asks; the worker thread opens, writes and closes the file between event
slices, so the writer is never touched by two threads and is always finalised by the thread
that wrote it (also when the stream ends, fails or the window closes).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from stream.errors import SpikeLipError


class Recorder:
    """Start/stop requests from the window, applied by the worker in `poll`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request: tuple[str, Path | None] | None = None
        self._writer = None
        self.path: Path | None = None
        self.started = 0.0  # perf_counter when the file was opened
        self.events_written = 0
        self.error: str | None = None  # the last failure, for the status bar
        self.finished: Path | None = None  # the last file closed, for the status bar

    @property
    def recording(self) -> bool:
        return self._writer is not None

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started if self._writer is not None else 0.0

    def start(self, path: str | Path) -> None:
        with self._lock:
            self._request = ("start", Path(path))

    def stop(self) -> None:
        with self._lock:
            self._request = ("stop", None)

    def poll(self, sensor, camera_name: str) -> None:
        """Worker side: carry out the pending request, if any."""
        with self._lock:
            request, self._request = self._request, None
        if request is None:
            return
        action, path = request
        self.close()
        if action == "start":
            from stream.writer import AedatWriter

            try:
                self._writer = AedatWriter(path, sensor, camera_name)
            except (SpikeLipError, OSError) as exc:
                self.error = f"cannot record to {path}: {exc}"
                return
            self.path, self.started, self.events_written, self.error = path, time.perf_counter(), 0, None

    def write(self, events) -> None:
        if self._writer is None or len(events) == 0:
            return
        try:
            self._writer.write(events)
        except (SpikeLipError, OSError) as exc:
            self.error = f"recording to {self.path} stopped: {exc}"
            self.close()
            return
        self.events_written = self._writer.events_written

    def close(self) -> None:
        """Finalise the file being written, if any; safe to call twice."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()
            self.finished = self.path
        except (SpikeLipError, OSError) as exc:
            self.error = f"recording {self.path} may be incomplete: {exc}"
