"""Frame packets of AEDAT4 recordings (type "FRME": one dv-processing `Frame` flatbuffer each),
decoded in the same packet walk as the events, bounds-checked, into grey sensor-sized frames.

Frame table fields (dv-processing frame.fbs): 0 timestamp (int64), 1-4 start/end of frame and
of exposure, 5 format (int8: 0 grey, 16 BGR, 24 BGRA), 6 sizeX, 7 sizeY, 8 positionX,
9 positionY (int16), 10 pixels ([ubyte], rows top to bottom). A packet that does not parse is
skipped and counted, so is one whose timestamp lies over `JUMP_US` from the events read by then.
"""
from __future__ import annotations

import struct

import numpy as np

from stream.events import SensorSize
from stream.frames import Frame, FrameQueue, grey, on_sensor
from stream.sources.aedat4.decoders import _CorruptPacket, _packet_table
from stream.sources.aedat4.header import MAX_SENSOR_SIDE, _fb_field
from stream.sources.aedat4.time_order import JUMP_US

_CHANNELS = {0: 1, 16: 3, 24: 4}  # FrameFormat -> colour channels
_AEDAT_FORMATS = {"L": 1, "RGB": 3, "RGBA": 4}  # the `aedat` decoder's names (colour as RGB)


def parse_frame(buf, n: int) -> tuple[int, np.ndarray, int, int]:
    """(timestamp, pixels (H, W[, C]) as stored, positionX, positionY) of a size-prefixed Frame
    flatbuffer of `n` bytes; `_CorruptPacket` when anything is out of range."""
    try:
        table = _packet_table(buf, n, b"FRME", "frame")

        def value(index: int, fmt: str, default: int = 0) -> int:
            pos = _fb_field(buf, table, index)
            return default if pos is None else struct.unpack_from(fmt, buf, pos)[0]

        t = value(0, "<q")
        channels = _CHANNELS.get(value(5, "<b"))
        w, h = value(6, "<h"), value(7, "<h")
        x, y = value(8, "<h"), value(9, "<h")
        if channels is None:
            raise _CorruptPacket("frame format unknown")
        if not (0 < w <= MAX_SENSOR_SIDE and 0 < h <= MAX_SENSOR_SIDE):
            raise _CorruptPacket("frame size out of range")
        pos = _fb_field(buf, table, 10)
        if pos is None:
            raise _CorruptPacket("frame has no pixels")
        vec = pos + struct.unpack_from("<I", buf, pos)[0]
        (count,) = struct.unpack_from("<I", buf, vec)
        if count != w * h * channels or vec + 4 + count > n:
            raise _CorruptPacket("frame pixels do not match its size")
    except (struct.error, ValueError) as e:
        raise _CorruptPacket(f"frame packet damaged ({e})") from None
    shape = (h, w) if channels == 1 else (h, w, channels)
    pixels = np.frombuffer(buf, np.uint8, count, vec + 4).reshape(shape)
    return t, pixels, x, y


class _FrameSink:
    """Takes the chosen frame stream's packets during the walk into `queue`; counts damage.
    `event_t` is the last event time read (set by the reader) that frame times are checked against."""

    def __init__(self, sid: int, sensor: SensorSize, queue: FrameQueue) -> None:
        self.sid = sid
        self.sensor = sensor
        self.queue = queue
        self.event_t: int | None = None
        self.bad: dict[str, int] = {}

    def packet(self, buf, n: int) -> None:
        """A native-decoded packet's flatbuffer (valid only during the call: pixels are copied)."""
        try:
            t, pixels, x, y = parse_frame(buf, n)
        except _CorruptPacket as e:
            self.damaged(str(e))
            return
        self._add(t, np.array(grey(pixels, "BGR")), x, y)

    def decoded(self, frame: dict) -> None:
        """A frame from the `aedat` decoder (a dict; colour comes as RGB)."""
        pixels = np.asarray(frame.get("pixels"))
        channels = _AEDAT_FORMATS.get(frame.get("format"))
        shape_ok = pixels.ndim == 2 if channels == 1 else pixels.ndim == 3 and pixels.shape[2] == channels
        if channels is None or pixels.dtype != np.uint8 or not shape_ok:
            self.damaged("frame format unknown")
            return
        self._add(int(frame["t"]), grey(pixels, "RGB"), int(frame["offset_x"]), int(frame["offset_y"]))

    def _add(self, t: int, image: np.ndarray, x: int, y: int) -> None:
        if self.event_t is not None and abs(t - self.event_t) > JUMP_US:
            self.damaged(f"timestamp over {JUMP_US / 1e6:g} s away from the events'")
            return
        self.queue.put(Frame(int(t), on_sensor(image, self.sensor, x, y)))

    def damaged(self, reason: str) -> None:
        self.bad[reason] = self.bad.get(reason, 0) + 1

    def warning(self, path) -> str:
        """The line for `warnings` about the damaged frame packets (when `bad` has any)."""
        reasons = "; ".join(f"{r} x{c}" if c > 1 else r for r, c in self.bad.items())
        return f"{path}: skipped {sum(self.bad.values()):,} damaged frame packet(s) ({reasons}); the events are unaffected"
