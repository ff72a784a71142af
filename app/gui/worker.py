"""The worker thread: runs a `Session` and queues its messages for the window to drain.

The window polls the queue from a timer and never waits on the worker, so a slow paint can
only delay the display, never the model; the worker never waits on the window either.
"""
from __future__ import annotations

import queue
import threading

from app.gui.session import Session


class Worker:
    """One session in one background thread; `stop` ends it and joins."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.messages: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="spikelip-pipeline", daemon=True)

    def start(self) -> "Worker":
        self.thread.start()
        return self

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def drain(self, limit: int = 10_000) -> list:
        """Messages queued since the last call (at most `limit`, the rest stay for the next)."""
        out = []
        while len(out) < limit:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                break
        return out

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the session to end and wait for the thread; True when it has ended."""
        self.session.stop()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self) -> None:
        for message in self.session.updates():
            self.messages.put(message)


class DurationProbe:
    """Reads a file source once in the background to learn its length for the seek bar."""

    def __init__(self, open_source) -> None:
        self.open_source = open_source
        self.duration_s: float | None = None
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="spikelip-duration", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop = True
        self.thread.join(timeout)

    def _run(self) -> None:
        first = last = None
        try:
            with self.open_source() as source:
                for batch in source:
                    if self._stop:
                        return
                    if len(batch):
                        first = int(batch["t"][0]) if first is None else first
                        last = int(batch["t"][-1])
        except Exception:  # the session reports problems with the file; the probe just gives up
            return
        if first is not None:
            self.duration_s = (last - first) / 1e6
