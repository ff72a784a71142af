"""Live event cameras (DAVIS, DVXplorer) through dv-processing.

`CameraSource` yields EVENT_DTYPE batches as the camera delivers them, plus an empty batch
whenever `batch_timeout_s` passes without events, so a consumer can advance time in silence
(`now_us()` says how far: the camera-clock time that corresponds to the host's now). When the
camera is unplugged it yields what had arrived and raises `CameraDisconnected`, a
`SpikeLipError`, so a recorder can close its file in a `finally`/`with`; `ReconnectingCamera`
waits for it to come back instead.
"""
from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, SensorSize
from stream.frames import Frame, FrameQueue, grey, on_sensor
from stream.sources.base import EventSource, LiveClock

NO_CAMERA = (
    "no event camera found: connect a DAVIS or DVXplorer over USB (and check that no other "
    "program is using it), then see `spikelip record --list-cameras`"
)
_V13 = np.dtype("V13")
_IDLE_SLEEP_S = 0.001  # poll interval while the camera has nothing new
_FRAMES_PER_POLL = 4  # frames fetched per event batch at most (a DAVIS makes a few per batch)


class CameraDisconnected(SpikeLipError):
    """The camera stopped delivering (unplugged, USB error) in the middle of a stream."""


def _dv():
    try:
        import dv_processing
    except ImportError:  # pragma: no cover - a dependency of the package
        raise SpikeLipError("live cameras need dv-processing: pip install dv-processing") from None
    return dv_processing


def _model_name(descriptor) -> str:
    model = getattr(descriptor, "cameraModel", None)
    name = getattr(model, "name", None) or str(model or "camera")
    return {"DAVIS": "DAVIS", "DVXPLORER": "DVXplorer", "DVXPLORER_M": "DVXplorerM", "DVXPLORER_S": "DVXplorerS"}.get(
        name, name
    )


def _describe(descriptor) -> str:
    return f"{_model_name(descriptor)}_{descriptor.serialNumber}"


def list_cameras() -> list[str]:
    """Names ("<model>_<serial>") of the event cameras connected now; [] when there are none."""
    try:
        return [_describe(d) for d in _dv().io.camera.discover()]
    except SpikeLipError:
        raise
    except Exception:  # a USB stack that cannot even enumerate has no camera for us
        return []


def _store_to_events(store) -> np.ndarray:
    a = store.numpy()
    n = len(a)
    out = np.empty(n, EVENT_DTYPE)
    fields = a.dtype.fields or {}
    if (
        n
        and a.dtype.names == ("timestamp", "x", "y", "polarity")
        and [fields[k][1] for k in a.dtype.names] == [0, 8, 10, 12]
        and [fields[k][0].itemsize for k in a.dtype.names] == [8, 2, 2, 1]
    ):
        # Same field layout (t, x, y, p at 0, 8, 10, 12); copy the first 13 bytes of each record.
        src = np.ndarray((n,), _V13, buffer=a, strides=(a.dtype.itemsize,))
        out.view(_V13)[...] = src
    elif n:
        out["t"] = a["timestamp"]
        out["x"] = a["x"]
        out["y"] = a["y"]
        out["p"] = a["polarity"]
    return out


class CameraSource(EventSource):
    """Events from a live camera: the one named (see `list_cameras()`), or the first found.

    Iterating yields batches as they arrive and an empty batch after every `batch_timeout_s`
    of silence. `record_to` (an AedatWriter) receives each batch in the camera's own format,
    without a conversion round trip, before it is yielded. With `want_frames` set, a camera
    with APS frames (a DAVIS) has them fetched between batches for `take_frames()` (and written
    to `record_to` where it has a frame stream).
    """

    binning = "floor"
    live = True

    def __init__(self, name: str | None = None, batch_timeout_s: float = 0.05, record_to=None, *, _camera=None) -> None:
        super().__init__()
        if batch_timeout_s <= 0:
            raise ValueError("batch_timeout_s must be positive")
        self.batch_timeout_s = float(batch_timeout_s)
        self.record_to = record_to
        self._camera = _camera if _camera is not None else self._open(name)
        try:
            resolution = self._camera.getEventResolution()
            camera_name = self._camera.getCameraName()
        except Exception as e:
            raise CameraDisconnected(f"camera {name or ''}: it stopped answering while being opened ({e})") from None
        if resolution is None:
            raise SpikeLipError(
                f"camera {camera_name}: it has no event output (frames only?); use a DAVIS or DVXplorer event camera"
            )
        self.sensor = SensorSize(int(resolution[0]), int(resolution[1]))
        self.name = camera_name
        streams = ["events"]
        for kind, check in (("frames", "isFrameStreamAvailable"), ("imu", "isImuStreamAvailable"), ("triggers", "isTriggerStreamAvailable")):
            try:
                if getattr(self._camera, check)():
                    streams.append(kind)
            except Exception:
                pass
        self.streams = streams
        self.events_read = 0
        self._clock = LiveClock()
        self._closed = False
        self._frames = FrameQueue()

    def take_frames(self) -> list[Frame]:
        return self._frames.take(self._clock.last_t)

    @staticmethod
    def _open(name: str | None):
        dv = _dv()
        try:
            found = list(dv.io.camera.discover())
        except Exception:
            found = []
        if not found:
            raise SpikeLipError(NO_CAMERA)
        if name is None:
            descriptor = found[0]
        else:
            matches = [d for d in found if name in (_describe(d), d.serialNumber)]
            if not matches:
                names = ", ".join(_describe(d) for d in found)
                raise SpikeLipError(f"no camera named {name!r}; connected: {names}")
            descriptor = matches[0]
        try:
            return dv.io.camera.open(descriptor)
        except Exception as e:
            raise SpikeLipError(
                f"camera {_describe(descriptor)}: cannot open it ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                f"check that no other program (DV, another spikelip) is using it and that you may access USB devices"
            ) from None

    def now_us(self) -> int | None:
        """The camera-clock time (us) matching the host's now (`LiveClock`)."""
        return self._clock.now_us()

    def __iter__(self) -> Iterator[np.ndarray]:
        cam = self._camera
        if cam is None:
            raise SpikeLipError(f"camera {self.name}: the source is closed")
        last_yield = time.monotonic()
        empty = np.zeros(0, EVENT_DTYPE)
        while True:
            try:
                running = bool(cam.isRunning())
            except Exception:
                running = False
            if not running:
                yield from self._drain(cam)
                raise CameraDisconnected(
                    f"camera {self.name}: disconnected after {self.events_read:,} events "
                    f"(unplugged or USB error); reconnect it and start again"
                )
            try:
                store = cam.getNextEventBatch()
                ready = self._ready_frames(cam) if self.want_frames and "frames" in self.streams else ()
            except Exception as e:
                yield from self._drain(cam)
                raise CameraDisconnected(
                    f"camera {self.name}: stopped with an error after {self.events_read:,} events "
                    f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); reconnect it and start again"
                ) from None
            for f in ready:
                self._add_frame(f)
            if store is not None and len(store) > 0:
                yield self._deliver(store)
                last_yield = time.monotonic()
                continue
            now = time.monotonic()
            if now - last_yield >= self.batch_timeout_s:
                yield empty
                last_yield = time.monotonic()
            else:
                time.sleep(min(_IDLE_SLEEP_S, self.batch_timeout_s - (now - last_yield)))

    def _deliver(self, store) -> np.ndarray:
        if self.record_to is not None:
            self.record_to.write(store)
        events = _store_to_events(store)
        self.events_read += len(events)
        self._clock.saw(events)
        return events

    @staticmethod
    def _ready_frames(cam) -> list:
        """The dv-processing frames the camera has ready (a few at most)."""
        ready = []
        for _ in range(_FRAMES_PER_POLL):
            f = cam.getNextFrame()
            if f is None:
                break
            ready.append(f)
        return ready

    def _add_frame(self, f) -> None:
        """Queues a dv-processing frame, grey and in sensor coordinates (and records it)."""
        frame = Frame(int(f.timestamp), on_sensor(grey(f.image), self.sensor, int(f.positionX), int(f.positionY)))
        self._frames.put(frame)
        if self.record_to is not None and self.record_to.frames:
            self.record_to.write_frame(frame)

    def _drain(self, cam) -> Iterator[np.ndarray]:
        """Whatever the camera had buffered when it went away (bounded: it is not running)."""
        for _ in range(10_000):
            try:
                store = cam.getNextEventBatch()
            except Exception:
                return
            if store is None or len(store) == 0:
                return
            yield self._deliver(store)

    def close(self) -> None:
        self._camera = None  # dv-processing stops the device when the object is released

    def __repr__(self) -> str:
        return f"CameraSource({self.name!r}, {self.sensor})"


class ReconnectingCamera(EventSource):
    """A camera that may be unplugged and plugged in again: the stream waits instead of ending.

    On a disconnect it sets `notice`, yields an empty batch every `batch_timeout_s` (stream time
    goes on, so consumers see silence) and re-opens the camera by name every `retry_s` until
    one with the same sensor is back. Timestamps stay monotonic across the gap (frames' too:
    `want_frames` passes to each camera opened). `_open(name)` replaces `CameraSource(name)` in tests.
    """

    binning = "floor"
    live = True

    def __init__(self, name: str | None = None, batch_timeout_s: float = 0.05, retry_s: float = 1.0, *, _open=None) -> None:
        super().__init__()
        self._open = _open or (lambda n: CameraSource(n, batch_timeout_s))
        self.camera = self._open(name)
        self.sensor, self.name, self.streams = self.camera.sensor, self.camera.name, self.camera.streams
        self.batch_timeout_s = float(batch_timeout_s)
        self.retry_s = float(retry_s)
        self.notice: str | None = None  # the last change of state (disconnected, back), for the user
        self.events_read = 0
        self._offset = 0  # added to the timestamps of a re-opened camera whose clock restarted
        self._reached: tuple[int, float] | None = None  # (stream time, host time) when the camera went away

    @property
    def waiting(self) -> bool:
        """The camera is gone and being waited for."""
        return self.camera is None

    def now_us(self) -> int | None:
        if self.camera is not None:
            now = self.camera.now_us()
            return None if now is None else now + self._offset
        if self._reached is None:
            return None
        t, host = self._reached
        return t + int((time.monotonic() - host) * 1e6)

    def take_frames(self) -> list[Frame]:
        if self.camera is None:
            return []
        frames = self.camera.take_frames()
        return [Frame(f.t_us + self._offset, f.image) for f in frames] if self._offset else frames

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                self.camera.want_frames = self.want_frames
                try:
                    for batch in self.camera:
                        if len(batch):
                            if self._reached is not None:  # first events after a reconnect
                                t, host = self._reached
                                reached = t + int((time.monotonic() - host) * 1e6)
                                self._offset = max(0, reached - int(batch["t"][0]))
                                self._reached = None
                            if self._offset:
                                batch["t"] += self._offset
                            self.events_read += len(batch)
                        yield batch
                except CameraDisconnected:
                    now = self.now_us()
                    self._reached = (now, time.monotonic()) if now is not None else self._reached
                    self.camera.close()
                    self.camera = None
                    self.notice = (
                        f"camera {self.name}: disconnected after {self.events_read:,} events; "
                        f"waiting for it to come back (plug it in again, or stop)"
                    )
                    lost = time.monotonic()
                    yield from self._wait()
                    self.notice = f"camera {self.name}: reconnected after {time.monotonic() - lost:.1f} s"
        finally:
            self.close()

    def _wait(self) -> Iterator[np.ndarray]:
        """Empty batches until the camera opens again."""
        empty = np.zeros(0, EVENT_DTYPE)
        while True:
            retry = time.monotonic() + self.retry_s
            while time.monotonic() < retry:
                time.sleep(self.batch_timeout_s)
                yield empty
            try:
                camera = self._open(self.name)
            except SpikeLipError:
                continue
            if camera.sensor == self.sensor:
                self.camera = camera
                return
            camera.close()
            self.notice = (
                f"camera {self.name}: a camera with a {camera.sensor} sensor answered instead of the "
                f"{self.sensor} one; still waiting"
            )

    def close(self) -> None:
        camera, self.camera = self.camera, None
        if camera is not None:
            camera.close()

    def __repr__(self) -> str:
        return f"ReconnectingCamera({self.name!r}, {self.sensor})"


ON_DISCONNECT = ("stop", "wait")


def open_camera(name: str | None = None, on_disconnect: str = "stop") -> EventSource:
    """The camera as the user chose to handle an unplug: "stop" ends the stream with
    `CameraDisconnected`, "wait" waits for the camera to come back (`ReconnectingCamera`)."""
    if on_disconnect not in ON_DISCONNECT:
        raise ValueError(f"on_disconnect must be one of {ON_DISCONNECT}, not {on_disconnect!r}")
    return ReconnectingCamera(name) if on_disconnect == "wait" else CameraSource(name)
