"""AedatFileSource: the events of an AEDAT4 recording in time-ordered batches, with warnings
for whatever damage was read around."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, SensorSize
from stream.frames import Frame, FrameQueue
from stream.sources.aedat4.decoders import (
    _V13,
    _aedat_chunks,
    _native_chunks,
    _Stats,
    liblz4_available,
)
from stream.sources.aedat4.frames import _FrameSink
from stream.sources.aedat4.header import (
    COMPRESSION_NAMES,
    _open_checked,
    _read_header,
    _streams_list,
)
from stream.sources.aedat4.packets import _index_intact, _WalkEnd
from stream.sources.aedat4.time_order import JUMP_US, REORDER_WINDOW_US, _TimeOrder
from stream.sources.base import EventSource

_READ_BUFFER = 1 << 20  # packet headers and small packets come out of one read
_REPEAT_MEMORY = 64  # packets remembered to recognise one that is written again


class AedatFileSource(EventSource):
    """Events of an AEDAT4 recording, in time-ordered batches of at most `batch_events`.

    Reads packet by packet (memory stays flat on any file size) and only the event stream;
    frames, IMU and triggers are listed in `streams` and skipped, frames only while
    `want_frames` is off: set, it decodes the APS frame stream in the same walk for
    `take_frames()`. Damage yields what can be read plus lines in `warnings`; see the package
    docstring. `decoder` picks the packet decoder: "auto" (native where possible, else
    `aedat`), "native" or "aedat".
    """

    binning = "floor"
    live = False

    def __init__(self, path, batch_events: int = 100_000, decoder: str = "auto", want_frames: bool = False) -> None:
        super().__init__()
        if batch_events < 1:
            raise ValueError("batch_events must be positive")
        if decoder not in ("auto", "native", "aedat"):
            raise ValueError(f"decoder must be 'auto', 'native' or 'aedat', not {decoder!r}")
        self.path = Path(path)
        self.batch_events = int(batch_events)
        with _open_checked(self.path) as f:
            self.header = _read_header(self.path, f)
        stream = self.header.event_stream()
        self._stream = stream
        self.sensor = SensorSize(stream.width, stream.height)
        self.name = stream.source or self.path.stem
        self.streams = _streams_list(self.header)
        native_ok = self.header.compression == 0 or (self.header.compression in (1, 2) and liblz4_available())
        if decoder == "native" and not native_ok:
            raise SpikeLipError(
                f"{self.path}: the native decoder cannot read {COMPRESSION_NAMES[self.header.compression]} data "
                f"here (liblz4 not found); use decoder='auto'"
            )
        self.decoder = "native" if (decoder == "native" or (decoder == "auto" and native_ok)) else "aedat"
        self._file = None
        self.stats = _Stats()
        self.want_frames = want_frames
        self._frame_stream = self.header.frame_stream()
        self._frames = FrameQueue()
        self._events_t: int | None = None  # newest event time yielded

    def take_frames(self) -> list[Frame]:
        return self._frames.take(self._events_t)

    def __repr__(self) -> str:
        return f"AedatFileSource({str(self.path)!r}, {self.sensor}, camera={self.name!r}, decoder={self.decoder!r})"

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        self.close()
        self.warnings = []
        self.stats = stats = _Stats()
        end = _WalkEnd()
        try:
            self._file = f = open(self.path, "rb", buffering=_READ_BUFFER)
        except OSError as e:
            raise SpikeLipError(f"{self.path}: cannot open the file ({e.strerror or e}); check the path") from None
        order = _TimeOrder(self.path, stats)
        self._frames.clear()
        self._events_t = None
        sink = None
        if self.want_frames and self._frame_stream is not None:
            sink = _FrameSink(self._frame_stream.id, self.sensor, self._frames)
        w, h = self.sensor.width, self.sensor.height
        cap = self.batch_events
        carry = np.zeros(0, EVENT_DTYPE)
        try:
            if self.decoder == "native":
                chunks = _native_chunks(f, self.header, self._stream.id, stats, end, sink)
            else:
                chunks = _aedat_chunks(self.path, f, self.header, self._stream.id, stats, end, sink)
            buf = np.empty(cap, EVENT_DTYPE)
            fill = 0
            dirty = False  # some packet in `buf` is out of order or jumps by more than JUMP_US
            prev_t = None  # last timestamp of the previous packet
            recent: dict[tuple, None] = {}  # signatures of the last packets, to spot one written twice
            for chunk, t in _guard_io(self.path, chunks):
                k = len(chunk)
                sig = (k, chunk[:4].tobytes(), chunk[-4:].tobytes())
                if prev_t is not None and t[0] < prev_t and sig in recent:
                    stats.repeated_packets += 1
                    stats.repeated_events += k
                    continue
                recent[sig] = None
                if len(recent) > _REPEAT_MEMORY:
                    del recent[next(iter(recent))]
                if k > 1:
                    d = t[1:] - t[:-1]
                    # in order, and (checked cheaply through the span) no step over JUMP_US
                    if d.min() < 0 or (t[-1] - t[0] > JUMP_US and d.max() > JUMP_US):
                        big = np.abs(d) > JUMP_US
                        if big.sum() >= 3 and (d[big] < 0).any():
                            # A writer never puts events seconds back in time inside one packet:
                            # this packet's data is scrambled. Drop it whole.
                            stats.bad_packet("timestamps scrambled")
                            stats.scrambled_events += k
                            continue
                        dirty = True
                stats.events_in += k
                if prev_t is not None and not (prev_t <= t[0] <= prev_t + JUMP_US):
                    dirty = True
                prev_t = int(t[-1])
                if sink is not None:
                    sink.event_t = prev_t
                pos = 0
                while pos < k:
                    m = min(k - pos, len(buf) - fill)
                    buf[fill : fill + m].view(_V13)[...] = chunk[pos : pos + m]
                    fill += m
                    pos += m
                    if fill == len(buf):
                        out, carry = self._finish_batch(buf, order, w, h, final=False, dirty=dirty)
                        if len(out):
                            stats.events_out += len(out)
                            self._events_t = int(out["t"][-1])
                            yield out
                        buf = np.empty(cap + len(carry), EVENT_DTYPE)
                        buf[: len(carry)] = carry
                        fill = len(carry)
                        dirty = bool(len(carry))
            if fill:
                out, _ = self._finish_batch(buf[:fill], order, w, h, final=True, dirty=dirty)
                if len(out):
                    stats.events_out += len(out)
                    self._events_t = int(out["t"][-1])
                    yield out
            self._end_warnings(end, stats)
            if end.reason == "end" and not _index_intact(f, self.header):
                self.warnings.append(
                    f"{self.path}: the file is cut short inside its closing index (every packet is "
                    f"intact and all {stats.events_in:,} events were read); DV may refuse to open it"
                )
            if stats.events_in == 0 and end.reason == "end" and not stats.packets_bad:
                self.warnings.append(f"{self.path}: the recording holds no events")
            if stats.events_out == 0 and (end.reason != "end" or stats.packets_bad):
                reason = {
                    "truncated": f"the file is truncated ({end.detail})",
                    "unclosed": "the recording was interrupted before any event was saved",
                    "corrupt": f"the packet structure is damaged ({end.detail})",
                }.get(end.reason, "every event packet is damaged")
                raise SpikeLipError(f"{self.path}: no events could be read: {reason}; record again")
        finally:
            self._count_warnings(stats)
            if sink is not None and sink.bad:
                self.warnings.append(sink.warning(self.path))
            self.close()

    def _finish_batch(self, ev: np.ndarray, order: _TimeOrder, w: int, h: int, final: bool, dirty: bool):
        st = self.stats
        if len(ev) and (ev["x"].view(np.uint16).max() >= w or ev["y"].view(np.uint16).max() >= h):
            inside = (ev["x"].view(np.uint16) < w) & (ev["y"].view(np.uint16) < h)
            st.outside += int(len(ev) - inside.sum())
            ev = ev[inside]
        if len(ev) and ev["p"].view(np.uint8).max() > 1:
            bad = ev["p"].view(np.uint8) > 1
            st.bad_polarity += int(bad.sum())
            ev["p"] = ev["p"] != 0
        return order.process(ev, final, dirty)

    def _end_warnings(self, end: _WalkEnd, st: _Stats) -> None:
        if end.reason == "truncated":
            self.warnings.append(
                f"{self.path}: file truncated after {st.events_in:,} events (incomplete last packet dropped; "
                f"{end.detail}); recovered {st.events_out:,} events"
            )
        elif end.reason == "unclosed":
            self.warnings.append(
                f"{self.path}: the file was not closed by its writer (no index at the end; recording "
                f"interrupted?); recovered all {st.events_in:,} events of its complete packets"
            )
        if end.size_fixes:
            self.warnings.append(
                f"{self.path}: {end.size_fixes:,} packet header(s) had a wrong size field; "
                f"their data and the packets after them were read all the same"
            )
        if end.resyncs:
            lost = sum(n for _, n in end.resyncs)
            where = ", ".join(f"byte {p:,}" for p, _ in end.resyncs[:3]) + (" ..." if len(end.resyncs) > 3 else "")
            self.warnings.append(
                f"{self.path}: skipped {lost:,} bytes after {len(end.resyncs)} damaged packet header(s) "
                f"(at {where}) and read on from the next intact packet"
            )
        if end.reason == "corrupt":
            self.warnings.append(
                f"{self.path}: the packet structure is damaged ({end.detail}); read {st.events_in:,} events "
                f"before it, the rest of the file is unreadable"
            )

    def _count_warnings(self, st: _Stats) -> None:
        p = self.path
        if st.packets_bad:
            reasons = "; ".join(f"{r} x{c}" if c > 1 else r for r, c in st.packet_bad_reasons.items())
            lost = f"; {st.scrambled_events:,} events in the scrambled ones" if st.scrambled_events else ""
            self.warnings.append(f"{p}: skipped {st.packets_bad:,} damaged packet(s) ({reasons}{lost})")
        if st.repeated_packets:
            self.warnings.append(
                f"{p}: skipped {st.repeated_packets:,} packet(s) repeating earlier ones ({st.repeated_events:,} "
                f"duplicate events: data written twice)"
            )
        if st.header_fixes:
            self.warnings.append(
                f"{p}: {st.header_fixes:,} event packet(s) had a damaged stream id and were recognised by their content"
            )
        if st.outside:
            self.warnings.append(
                f"{p}: dropped {st.outside:,} events with coordinates outside the {self.sensor} sensor (damaged data)"
            )
        if st.bad_polarity:
            self.warnings.append(f"{p}: {st.bad_polarity:,} events had an invalid polarity byte (treated as ON)")
        if st.excursions:
            self.warnings.append(
                f"{p}: dropped {st.excursion_events:,} events in {st.excursions:,} run(s) of corrupt timestamps "
                f"(jumps of over {JUMP_US / 1e6:g} s that returned)"
            )
        if st.reordered:
            moved = f" ({st.clamped:,} of them moved up to the time already read)" if st.clamped else ""
            self.warnings.append(
                f"{p}: {st.reordered:,} events arrived up to {REORDER_WINDOW_US / 1000:g} ms out of time order "
                f"and were re-sorted{moved}"
            )
        if st.far_back:
            self.warnings.append(
                f"{p}: dropped {st.far_back:,} events more than {REORDER_WINDOW_US / 1000:g} ms behind the "
                f"stream's time"
            )


def _guard_io(path: Path, chunks: Iterator[tuple]) -> Iterator[tuple]:
    """Turns OS read errors (disk gone, I/O error) into SpikeLipError."""
    try:
        yield from chunks
    except OSError as e:
        raise SpikeLipError(f"{path}: read error ({e.strerror or e}); check the disk and copy the file again") from None
