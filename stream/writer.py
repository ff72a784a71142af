"""Writes events (and, optionally, APS frames) to LZ4 AEDAT4 files through dv-processing's
MonoCameraWriter.

A recording must survive the way recordings end in practice: an exception, Ctrl-C, SIGTERM
from a service manager, or a crash. `AedatWriter` hands every `write()` to dv-processing as
one packet; `close()` (idempotent, run by the `with` block however it is left) flushes and
writes the file's index, with SIGINT/SIGTERM held off while it does. Use
`finalise_on_sigterm()` around the recording loop in the main thread so SIGTERM unwinds like
Ctrl-C instead of killing the process before `close()` runs.

What a hard kill (SIGKILL, power loss) leaves: dv-processing writes through a 64 KiB file
buffer on its own thread and has no flush call, so the file ends at the last 64 KiB boundary
it wrote, mid-packet, without an index. `stream.sources.aedat4.AedatFileSource` reads such a
file up to its last complete packet (and says so in a warning); dv-processing itself refuses
it.

dv-processing aborts the whole process (std::terminate on its writer thread) when the disk
fills up, so the writer checks the free space before each write and stops with
`SpikeLipError` while there is still room to finalise the file.
"""
from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from collections import deque
from pathlib import Path

import numpy as np

from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, SensorSize, as_events
from stream.frames import Frame

# Stop writing while this much space is still free: enough for dv-processing to flush its
# buffer and write the index, far from the abort it does on a full disk.
MIN_FREE_BYTES = 64 << 20


class TerminatedBySignal(KeyboardInterrupt):
    """SIGTERM (or another signal `finalise_on_sigterm` was asked to catch) arrived.

    A KeyboardInterrupt, so code that already winds down cleanly on Ctrl-C does the same.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def finalise_on_sigterm(signals=(signal.SIGTERM,)):
    """Within this block, SIGTERM raises `TerminatedBySignal` in the main thread.

    Python's default for SIGTERM is to die on the spot, skipping `finally` blocks and
    leaving a recording without its index. Outside the main thread this does nothing (only
    the main thread can own signal handlers). The previous handlers come back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, _frame):
        raise TerminatedBySignal(signum)

    previous = {}
    try:
        for s in signals:
            previous[s] = signal.signal(s, _raise)
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _signals_deferred():
    """Holds SIGINT/SIGTERM back (they stay pending) while the file is being finalised."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    mask = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, mask)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _dv():
    try:
        import dv_processing
    except ImportError:  # pragma: no cover - a dependency of the package
        raise SpikeLipError("writing AEDAT4 needs dv-processing: pip install dv-processing") from None
    return dv_processing


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    for line in text.splitlines():
        if "Error" in line and ":" in line:  # dv-processing: "FileError: Failed to open file ..."
            return line.strip()
    return text.splitlines()[0] if text else type(e).__name__


class AedatWriter:
    """An AEDAT4 file being written: `write()` event batches, then `close()` (or use `with`).

    Batches are EVENT_DTYPE arrays (or dv_processing.EventStore, written without conversion).
    Timestamps must not go backwards for dv-processing, so each batch is sorted if needed and
    events older than what was already written are moved up to that time; `reordered` and
    `clamped` count them. Events outside the sensor are dropped and counted in `dropped`.
    With `frames=True` the file also has a frame stream (a DAVIS recording): `write_frame()`
    adds sensor-sized grey frames, each a packet in the order written, so events and frames
    interleave in time as written; a frame older than the last one is skipped (`frames_skipped`).
    """

    def __init__(self, path, sensor: SensorSize, camera_name: str = "SpikeLip", frames: bool = False) -> None:
        self.path = Path(path)
        self.sensor = sensor
        self.camera_name = camera_name
        self._events_written = 0
        self._last_t: int | None = None
        self.reordered = 0
        self.clamped = 0
        self.dropped = 0
        self.frames = frames
        self.frames_written = 0
        self.frames_skipped = 0
        self._last_frame_t: int | None = None
        self._writer = None
        self._closed = False
        if sensor.width <= 0 or sensor.height <= 0 or sensor.width > 32767 or sensor.height > 32767:
            raise SpikeLipError(f"{self.path}: invalid sensor size {sensor} for an AEDAT4 recording")
        self._check_destination()
        dv = _dv()
        self._dv = dv
        try:
            resolution = (sensor.width, sensor.height)
            if frames:
                config = dv.io.MonoCameraWriter.Config(camera_name, dv.CompressionType.LZ4)
                config.addEventStream(resolution)
                config.addFrameStream(resolution)
            else:
                config = dv.io.MonoCameraWriter.EventOnlyConfig(camera_name, resolution, dv.CompressionType.LZ4)
            self._writer = dv.io.MonoCameraWriter(str(self.path), config)
        except (RuntimeError, OSError, ValueError, TypeError) as e:
            raise SpikeLipError(f"{self.path}: cannot create the recording ({_first_line(e)})") from None

    def _check_destination(self) -> None:
        p = self.path
        if p.is_dir():
            raise SpikeLipError(f"{p}: is a directory; give a file name such as {p / 'recording.aedat4'}")
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise SpikeLipError(f"{p}: the folder {parent} does not exist; create it or choose another path")
        try:  # what an open for writing would say, in plain words
            with open(p, "wb"):
                pass
        except OSError as e:
            raise SpikeLipError(f"{p}: cannot write here ({e.strerror or e}); choose another path") from None
        self._check_space()

    def _check_space(self) -> None:
        try:
            free = _free_bytes(self.path.parent if str(self.path.parent) else Path("."))
        except OSError:
            return
        if free < MIN_FREE_BYTES:
            raise SpikeLipError(
                f"{self.path}: the disk is almost full ({free / 2**20:.0f} MiB free); "
                f"free some space or record to another disk"
            )

    @property
    def events_written(self) -> int:
        """Events handed to the file so far (all of them are in it once the writer is closed)."""
        return self._events_written

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, events) -> None:
        if self._closed:
            raise SpikeLipError(f"{self.path}: the recording is already closed")
        dv = self._dv
        if isinstance(events, dv.EventStore):
            n = len(events)
            if n == 0:
                return
            if self._last_t is None or events.getLowestTime() >= self._last_t:
                self._write_store(events, n, events.getHighestTime())
                return
            events = _store_to_events(events)
        events = as_events(events, origin=str(self.path))
        if len(events) == 0:
            return
        events = self._prepare(events)
        if len(events) == 0:
            return
        store = dv.EventStore()
        deque(
            map(
                store.push_back,
                zip(
                    events["t"].tolist(),
                    events["x"].tolist(),
                    events["y"].tolist(),
                    (events["p"] != 0).tolist(),
                ),
            ),
            maxlen=0,
        )
        self._write_store(store, len(events), int(events["t"][-1]))

    def write_frame(self, frame: Frame) -> None:
        """One grey (H, W) uint8 sensor-sized frame; needs `frames=True`."""
        if self._closed:
            raise SpikeLipError(f"{self.path}: the recording is already closed")
        if not self.frames:
            raise ValueError("this recording has no frame stream: open the writer with frames=True")
        image = frame.image
        if image.dtype != np.uint8 or image.shape != (self.sensor.height, self.sensor.width):
            raise ValueError(f"frames must be ({self.sensor.height}, {self.sensor.width}) uint8, not {image.shape} {image.dtype}")
        t = int(frame.t_us)
        if self._last_frame_t is not None and t < self._last_frame_t:
            self.frames_skipped += 1
            return
        self._check_space_or_stop()
        try:
            with _signals_deferred():
                self._writer.writeFrame(self._dv.Frame(t, np.ascontiguousarray(image)), "frames")
                self.frames_written += 1
        except (RuntimeError, IndexError, ValueError) as e:
            raise SpikeLipError(f"{self.path}: writing failed ({_first_line(e)})") from None
        self._last_frame_t = t

    def _prepare(self, ev: np.ndarray) -> np.ndarray:
        w, h = self.sensor.width, self.sensor.height
        x, y = ev["x"], ev["y"]
        if x.min() < 0 or y.min() < 0 or x.max() >= w or y.max() >= h:
            inside = (x >= 0) & (y >= 0) & (x < w) & (y < h)
            self.dropped += int(len(ev) - inside.sum())
            ev = ev[inside]
            if len(ev) == 0:
                return ev
        t = ev["t"]
        if len(t) > 1 and (np.diff(t) < 0).any():
            order = np.argsort(t, kind="stable")
            self.reordered += int((order != np.arange(len(order))).sum())
            ev = ev[order]
        if self._last_t is not None and ev["t"][0] < self._last_t:
            ev = ev.copy()
            early = ev["t"] < self._last_t
            self.clamped += int(early.sum())
            ev["t"][early] = self._last_t
        return ev

    def _write_store(self, store, n: int, highest: int) -> None:
        self._check_space_or_stop()
        try:
            with _signals_deferred():  # a Ctrl-C lands after the count: `events_written` is what the file holds
                self._writer.writeEvents(store)
                self._events_written += n
        except (RuntimeError, IndexError, ValueError) as e:
            raise SpikeLipError(f"{self.path}: writing failed ({_first_line(e)})") from None
        self._last_t = int(highest) if self._last_t is None else max(self._last_t, int(highest))

    def _check_space_or_stop(self) -> None:
        try:
            self._check_space()
        except SpikeLipError:
            self.close()
            raise SpikeLipError(
                f"{self.path}: the disk is almost full; recording stopped and saved with "
                f"{self._events_written:,} events - free some space or record to another disk"
            ) from None

    def close(self) -> None:
        """Flush and write the index; the file is complete afterwards. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        writer, self._writer = self._writer, None
        with _signals_deferred():
            del writer  # the last reference: dv-processing flushes and writes the index here

    def __enter__(self) -> "AedatWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"AedatWriter({str(self.path)!r}, {self.sensor}, {self._events_written:,} events, {state})"


def _store_to_events(store) -> np.ndarray:
    """A dv_processing.EventStore as an EVENT_DTYPE array."""
    a = store.numpy()
    out = np.empty(len(a), EVENT_DTYPE)
    out["t"] = a["timestamp"]
    out["x"] = a["x"]
    out["y"] = a["y"]
    out["p"] = a["polarity"]
    return out


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def write_events(path, events: np.ndarray, sensor: SensorSize, camera_name: str = "SpikeLip") -> int:
    """Writes one array of events to a new AEDAT4 file; returns the number written."""
    with AedatWriter(path, sensor, camera_name) as w:
        w.write(events)
        return w.events_written


__all__ = [
    "AedatWriter",
    "MIN_FREE_BYTES",
    "TerminatedBySignal",
    "finalise_on_sigterm",
    "write_events",
]
