"""AEDAT4 recordings (iniVation DV, DAVIS/DVXplorer): header, packet walk, robust event decoding.

An AEDAT4 file is `#!AER-DAT4.0\\r\\n`, a size-prefixed `IOHeader` flatbuffer (compression,
position of the closing data table, an XML description of the streams), then packets of
`int32 stream id, int32 size, size bytes` (one compressed, size-prefixed flatbuffer each) and,
once the writer closed the file, a compressed data table at the position the header names.

Why this module does not read through dv-processing (measured, see benchmarks/bench_aedat4.py
and the test suite): dv-processing 2.0.4's LZ4 decompressor retries a packet forever when
LZ4 reports an error (it resets the context and loops with no input consumed), so one damaged
packet spins the reading thread at 100 % CPU, and it unpacks packet flatbuffers without
verifying them. A truncated file (no data table) it refuses outright. Nothing in-process can
interrupt that loop, and a structural pre-scan cannot see damage inside compressed payloads.

So the reader walks the packet structure itself (reading only the 8-byte packet headers and
seeking over frames, IMU and trigger packets) and decodes each event packet with a bounded,
always-progressing decoder:

* "native": liblz4's frame decoder through ctypes (or no decompression for uncompressed
  files) and a bounds-checked flatbuffer parse; the fast path (tens of M events/s).
* "aedat": the `aedat` Rust decoder, used where liblz4 cannot be loaded or the file is
  Zstd-compressed; it decodes every packet (frames too), so it is slower, and it is stopped
  at the end of the packet chain the walk validated.

Damage is never fatal to what came before it: a packet whose data does not decode is skipped
and counted, so is a packet that repeats a recent one (data written twice), a file cut short
yields every complete packet, and every such event ends up as a line in `warnings`. Only problems that leave nothing usable (not an AEDAT4 file, no event
stream, timestamps running backwards wholesale) raise `SpikeLipError`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, SensorSize
from stream.sources.base import EventSource

MAGIC = b"#!AER-DAT4.0\r\n"
COMPRESSION_NAMES = {0: "none", 1: "LZ4", 2: "LZ4 (high)", 3: "Zstd", 4: "Zstd (high)"}
STREAM_KINDS = {
    "EVTS": "events",
    "FRME": "frames",
    "IMUS": "imu",
    "TRIG": "triggers",
    "POSE": "poses",
    "BBOX": "bounding boxes",
    "LMRS": "landmarks",
}
_MAX_HEADER_BYTES = 16 << 20
MAX_SENSOR_SIDE = 4096  # the largest event sensors are 1280 x 960; more is a damaged header
# A packet the writer made holds at most a few MB; a size field beyond this is damage.
_MAX_PACKET_BYTES = 256 << 20
_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_RESYNC_CHUNK = 1 << 20
_READ_BUFFER = 1 << 20  # packet headers and small packets come out of one read
# One LZ4 frame cannot expand more than 255x; cap the output to stay safe on garbage.
_MAX_EXPANSION = 256

# Time-order repair (see _TimeOrder).
REORDER_WINDOW_US = 10_000  # backwards by up to this: re-sorted (counted)
JUMP_US = 1_000_000  # a jump of more than this that returns later marks corrupt timestamps
FAR_BACK_LIMIT = 1_000  # more out-of-window events than this (and > 1 %): not time-ordered
_EXCURSION_MAX_EVENTS = 4_096  # longest run of corrupt timestamps that is cut out
_EXCURSION_MAX_JUMPS = 64  # beyond this many jumps in one batch, skip the excursion search
_REPEAT_MEMORY = 64  # packets remembered to recognise one that is written again

_V13 = np.dtype("V13")
assert EVENT_DTYPE.itemsize == 13


# --------------------------------------------------------------------------- header


@dataclass
class StreamInfo:
    id: int
    type: str  # four-letter flatbuffer identifier: EVTS, FRME, IMUS, TRIG, ...
    name: str  # the stream's output name in the file, e.g. "events"
    width: int | None = None
    height: int | None = None
    source: str | None = None  # camera name, e.g. "DAVIS346_00000499"

    @property
    def kind(self) -> str:
        return STREAM_KINDS.get(self.type, self.name or self.type.lower())


@dataclass
class AedatHeader:
    path: Path
    file_bytes: int
    compression: int
    data_table_position: int  # -1: the writer never closed the file
    first_packet: int  # byte offset of the first packet header
    streams: dict[int, StreamInfo] = field(default_factory=dict)
    xml: str = ""

    @property
    def finalised(self) -> bool:
        return self.first_packet <= self.data_table_position <= self.file_bytes

    def event_stream(self) -> StreamInfo:
        events = [s for s in self.streams.values() if s.type == "EVTS"]
        if not events:
            kinds = ", ".join(sorted({s.kind for s in self.streams.values()})) or "nothing"
            raise SpikeLipError(
                f"{self.path}: the recording holds no event stream (only {kinds}); "
                f"record it again with the event output enabled"
            )
        named = [s for s in events if s.name == "events"]
        chosen = (named or sorted(events, key=lambda s: s.id))[0]
        if not chosen.width or not chosen.height:
            raise SpikeLipError(
                f"{self.path}: the event stream '{chosen.name}' does not state its resolution "
                f"(sizeX/sizeY) in the file header; re-export the recording with DV"
            )
        if not (0 < chosen.width <= MAX_SENSOR_SIDE and 0 < chosen.height <= MAX_SENSOR_SIDE):
            raise SpikeLipError(
                f"{self.path}: the file header declares a {chosen.width}x{chosen.height} event sensor, which no "
                f"camera has (1..{MAX_SENSOR_SIDE} pixels a side); the header is damaged - re-export the recording with DV"
            )
        return chosen


def _open_checked(path: Path):
    try:
        if path.is_dir():
            raise SpikeLipError(f"{path}: is a directory, not an AEDAT4 recording; give the .aedat4 file")
        return open(path, "rb")
    except FileNotFoundError:
        raise SpikeLipError(f"{path}: no such file; check the path") from None
    except PermissionError:
        raise SpikeLipError(f"{path}: permission denied; make the file readable") from None
    except OSError as e:
        raise SpikeLipError(f"{path}: cannot open the file ({e.strerror or e}); check the path") from None


def _read_header(path: Path, f) -> AedatHeader:
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        raise SpikeLipError(f"{path}: the file is empty (0 bytes); the recording was never written — record again")
    head = f.read(len(MAGIC) + 4)
    if not head.startswith(MAGIC):
        if head.startswith(b"#!AER-DAT"):
            version = head[9:12].decode("ascii", "replace")
            raise SpikeLipError(
                f"{path}: this is an AEDAT {version} file; only AEDAT4 is supported — "
                f"convert it to AEDAT4 with DV"
            )
        if len(head) < len(MAGIC) and MAGIC.startswith(head):
            raise SpikeLipError(f"{path}: the file is cut short inside its AEDAT4 header ({size} bytes); record again")
        raise SpikeLipError(
            f"{path}: not an AEDAT4 file (it does not start with '#!AER-DAT4.0'); "
            f"give a recording saved by DV or `spikelip record`"
        )
    if len(head) < len(MAGIC) + 4:
        raise SpikeLipError(f"{path}: the file is cut short inside its AEDAT4 header ({size} bytes); record again")
    (hsize,) = struct.unpack_from("<I", head, len(MAGIC))
    first = len(MAGIC) + 4 + hsize
    if hsize > _MAX_HEADER_BYTES:
        raise SpikeLipError(f"{path}: the AEDAT4 header is damaged (it claims {hsize:,} bytes); the file cannot be read")
    if first > size:
        raise SpikeLipError(
            f"{path}: the file is cut short inside its AEDAT4 header ({size:,} of {first:,} bytes); "
            f"no events can be recovered — record again"
        )
    buf = f.read(hsize)
    try:
        compression, dtp, xml = _parse_ioheader(buf)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as e:
        raise SpikeLipError(f"{path}: the AEDAT4 header is damaged ({e}); the file cannot be read") from None
    if compression not in COMPRESSION_NAMES:
        raise SpikeLipError(
            f"{path}: the AEDAT4 header names an unknown compression ({compression}); "
            f"the header is damaged or the file comes from a newer DV"
        )
    header = AedatHeader(path, size, compression, dtp, first, xml=xml)
    try:
        header.streams = _parse_streams(xml)
    except (ET.ParseError, ValueError) as e:
        raise SpikeLipError(f"{path}: the stream description in the AEDAT4 header is damaged ({e})") from None
    return header


def _fb_field(buf: bytes, table: int, index: int) -> int | None:
    """Absolute position of field `index` of the flatbuffer table at `table`, or None."""
    (soff,) = struct.unpack_from("<i", buf, table)
    vt = table - soff
    if vt < 0 or vt + 4 > len(buf):
        raise ValueError("vtable out of range")
    vtlen, _ = struct.unpack_from("<HH", buf, vt)
    slot = 4 + 2 * index
    if slot + 2 > vtlen:
        return None
    (off,) = struct.unpack_from("<H", buf, vt + slot)
    if off == 0:
        return None
    pos = table + off
    if pos >= len(buf):
        raise ValueError("field out of range")
    return pos


def _parse_ioheader(buf: bytes) -> tuple[int, int, str]:
    (root,) = struct.unpack_from("<I", buf, 0)
    pos = _fb_field(buf, root, 0)
    compression = struct.unpack_from("<i", buf, pos)[0] if pos is not None else 0
    pos = _fb_field(buf, root, 1)
    dtp = struct.unpack_from("<q", buf, pos)[0] if pos is not None else -1
    pos = _fb_field(buf, root, 2)
    if pos is None:
        raise ValueError("no stream description")
    spos = pos + struct.unpack_from("<I", buf, pos)[0]
    (slen,) = struct.unpack_from("<I", buf, spos)
    if spos + 4 + slen > len(buf):
        raise ValueError("stream description out of range")
    return compression, dtp, buf[spos + 4 : spos + 4 + slen].decode("utf-8")


def _attrs(node) -> dict[str, str]:
    return {a.get("key"): (a.text or "") for a in node.findall("attr")}


def _parse_streams(xml: str) -> dict[int, StreamInfo]:
    root = ET.fromstring(xml)
    out_info = next((n for n in root.iter("node") if n.get("name") == "outInfo"), None)
    if out_info is None:
        raise ValueError("no outInfo node")
    streams: dict[int, StreamInfo] = {}
    for node in out_info.findall("node"):
        try:
            sid = int(node.get("name", ""))
        except ValueError:
            continue
        attrs = _attrs(node)
        info = next((n for n in node.findall("node") if n.get("name") == "info"), None)
        iattrs = _attrs(info) if info is not None else {}

        def _int(key):
            try:
                return int(iattrs[key])
            except (KeyError, ValueError):
                return None

        streams[sid] = StreamInfo(
            id=sid,
            type=attrs.get("typeIdentifier", "?"),
            name=attrs.get("originalOutputName", str(sid)),
            width=_int("sizeX"),
            height=_int("sizeY"),
            source=iattrs.get("source") or None,
        )
    return streams


def _streams_list(header: AedatHeader) -> list[str]:
    chosen = header.event_stream()
    out = ["events"]
    for s in sorted(header.streams.values(), key=lambda s: s.id):
        if s is chosen:
            continue
        kind = s.kind if s.type != "EVTS" else f"events ({s.name})"
        if kind not in out:
            out.append(kind)
    return out


# --------------------------------------------------------------------------- packet walk


@dataclass
class _WalkEnd:
    """Why and where the packet walk stopped."""

    reason: str = "end"  # end | unclosed | truncated | corrupt
    position: int = 0
    detail: str = ""
    resyncs: list = field(default_factory=list)  # (byte offset, bytes skipped) after damaged headers
    actual_size: int | None = None  # set by a decoder that found the packet's data shorter than its size field
    size_fixes: int = 0  # packets whose size field was wrong but whose data ended where a sound header starts


def _walk_packets(f, header: AedatHeader, end: _WalkEnd) -> Iterator[tuple[int, int, int]]:
    """Yields (data offset, stream id, data size) of each structurally sound packet.

    Reads only packet headers. Stops at the data table (clean end), at the end of an
    unclosed file, at a packet cut by the end of the file (truncated), or at a header that
    cannot be a packet (corrupt); `end` says which. A packet whose stream id is unknown but
    whose size lands exactly on a valid next header is skipped as one damaged packet.
    """
    size = header.file_bytes
    dtp = header.data_table_position if header.finalised else -1
    pos = header.first_packet
    last_data = None  # data offset of the last packet yielded
    while True:
        if end.reason == "corrupt":
            # A damaged packet header: look for the next sound one and carry on from there
            # (searching from inside the last packet: its size field may be what was damaged).
            start = last_data + 1 if last_data is not None else end.position + 1
            nxt = _resync(f, header, start, dtp)
            if nxt is None:
                return
            end.resyncs.append((end.position, nxt - end.position))
            end.reason, end.detail = "end", ""
            pos = nxt
        if pos == dtp:
            end.reason, end.position = "end", pos
            return
        if pos == size:
            if header.data_table_position > size:
                end.reason, end.detail = "truncated", f"the file ends at byte {size:,} but its index was at byte {header.data_table_position:,}"
            else:
                end.reason = "unclosed" if dtp < 0 else "corrupt"
                if dtp >= 0:
                    end.detail = "the packets run past the file's index position"
            end.position = pos
            return
        if pos + 8 > size:
            end.reason, end.position = "truncated", pos
            end.detail = "the last packet header is incomplete"
            return
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            end.reason, end.position, end.detail = "truncated", pos, "the last packet header is incomplete"
            return
        sid, psize = struct.unpack("<iI", hdr)
        known = sid in header.streams
        if psize == 0 or psize > _MAX_PACKET_BYTES:
            end.reason, end.position = "corrupt", pos
            end.detail = f"packet header at byte {pos:,} is damaged (size {psize:,})"
            continue
        nxt = pos + 8 + psize
        if nxt > size:
            if known and (dtp < 0 or header.data_table_position > size) and _resync(f, header, pos + 1, dtp) is None:
                end.reason, end.position = "truncated", pos
                end.detail = f"the last packet needs {psize:,} bytes, only {size - pos - 8:,} are there"
                return
            end.reason, end.position = "corrupt", pos
            end.detail = f"packet header at byte {pos:,} is damaged"
            continue
        if not known:
            if _plausible_header(f, header, nxt, dtp):
                yield (pos + 8, -1, psize)  # damaged stream id; caller counts it
                pos = nxt
                continue
            end.reason, end.position = "corrupt", pos
            end.detail = f"packet header at byte {pos:,} is damaged (unknown stream {sid})"
            continue
        last_data = pos + 8
        yield (pos + 8, sid, psize)
        if end.actual_size is not None:
            alt = pos + 8 + end.actual_size
            end.actual_size = None
            if alt < nxt and _plausible_header(f, header, alt, dtp):
                end.size_fixes += 1
                pos = alt
                continue
        pos = nxt


def _index_intact(f, header: AedatHeader) -> bool:
    """Whether the data table at the end is whole (one complete LZ4 or Zstd frame, or a
    flatbuffer whose size prefix matches); only checked where the packets ended cleanly at its position."""
    size = header.file_bytes - header.data_table_position
    if size <= 0:
        return False
    f.seek(header.data_table_position)
    table = f.read(min(size, 64 << 20))
    if len(table) < size:
        return True  # too big to check cheaply; the packets were fine
    if header.compression == 0:
        return len(table) >= 4 and struct.unpack_from("<I", table, 0)[0] + 4 == size
    if header.compression in (3, 4):
        return _zstd_frame_end(table) == len(table)
    if len(table) < 7 or table[:4] != b"\x04\x22\x4d\x18":
        return False
    flg = table[4]
    pos = 6 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0) + 1  # descriptor, header checksum
    block_sum = 4 if flg & 0x10 else 0
    while pos + 4 <= len(table):
        (bsize,) = struct.unpack_from("<I", table, pos)
        pos += 4
        if bsize == 0:  # end mark
            return pos + (4 if flg & 0x04 else 0) == len(table)
        pos += (bsize & 0x7FFFFFFF) + block_sum
    return False


def _zstd_frame_end(buf: bytes) -> int | None:
    """Where the Zstd frame at the start of `buf` ends (RFC 8878 frame and block headers), or None."""
    if len(buf) < 6 or buf[:4] != b"\x28\xb5\x2f\xfd":
        return None
    fhd = buf[4]
    single = fhd >> 5 & 1
    fcs = (0, 2, 4, 8)[fhd >> 6] or single
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
    while pos + 3 <= len(buf):
        block = int.from_bytes(buf[pos : pos + 3], "little")
        kind, bsize = block >> 1 & 3, block >> 3
        if kind == 3:
            return None
        pos += 3 + (1 if kind == 1 else bsize)
        if block & 1:  # last block
            pos += 4 if fhd & 4 else 0
            return pos if pos <= len(buf) else None
    return None


def _resync(f, header: AedatHeader, start: int, dtp: int) -> int | None:
    """Offset of the first sound packet header at or after `start`, or None.

    A header is sound when its stream is known, its size fits, its payload starts like a
    packet of this file (an LZ4 frame, or a size-prefixed flatbuffer with the stream's type
    identifier), and the header after it is sound too (or is the index or the end)."""
    size = header.file_bytes
    stop = dtp if dtp >= 0 else size
    lz4 = header.compression in (1, 2)
    if header.compression not in (0, 1, 2):
        return None
    types = sorted({st.type for st in header.streams.values()})
    pos = start
    while pos + 16 <= stop:
        f.seek(pos)
        chunk = f.read(min(_RESYNC_CHUNK + 16, stop - pos))
        # where a packet's payload would start: an LZ4 frame, or a type identifier 8 bytes in
        marks = [(_LZ4_MAGIC, 8)] if lz4 else [(t.encode("ascii", "replace")[:4], 16) for t in types]
        candidates = []
        for mark, back in marks:
            i = chunk.find(mark, back)
            while i != -1:
                candidates.append(i - back)
                i = chunk.find(mark, i + 1)
        candidates.sort()
        for c in candidates:
            if c + 16 > len(chunk):
                break
            sid, psize = struct.unpack_from("<iI", chunk, c)
            stream = header.streams.get(sid)
            if stream is None or psize < 8 or pos + c + 8 + psize > size:
                continue
            if not lz4 and chunk[c + 16 : c + 20] != stream.type.encode("ascii", "replace")[:4]:
                continue
            if _plausible_header(f, header, pos + c + 8 + psize, dtp):
                return pos + c
        pos += _RESYNC_CHUNK
    return None


def _plausible_header(f, header: AedatHeader, pos: int, dtp: int) -> bool:
    if pos == dtp or pos == header.file_bytes:
        return True
    if pos + 8 > header.file_bytes:
        return False
    f.seek(pos)
    hdr = f.read(8)
    if len(hdr) < 8:
        return False
    sid, psize = struct.unpack("<iI", hdr)
    return sid in header.streams and 0 < psize and pos + 8 + psize <= header.file_bytes


# --------------------------------------------------------------------------- decoders


class _CorruptPacket(Exception):
    pass


def _load_liblz4():
    names = {
        "linux": ["liblz4.so.1", "liblz4.so"],
        "darwin": ["liblz4.1.dylib", "liblz4.dylib", "/opt/homebrew/lib/liblz4.dylib", "/usr/local/lib/liblz4.dylib"],
        "win32": ["liblz4.dll", "lz4.dll"],
    }.get(sys.platform, ["liblz4.so.1"])
    for name in [*names, None]:
        if name is None:  # last resort: ask the system's library search (slow: runs ldconfig)
            name = ctypes.util.find_library("lz4")
            if not name:
                return None
        try:
            lib = ctypes.CDLL(name)
            lib.LZ4F_createDecompressionContext.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint]
            lib.LZ4F_createDecompressionContext.restype = ctypes.c_size_t
            lib.LZ4F_freeDecompressionContext.argtypes = [ctypes.c_void_p]
            lib.LZ4F_freeDecompressionContext.restype = ctypes.c_size_t
            lib.LZ4F_decompress.argtypes = [
                ctypes.c_void_p,
                ctypes.c_void_p,
                ctypes.POINTER(ctypes.c_size_t),
                ctypes.c_void_p,
                ctypes.POINTER(ctypes.c_size_t),
                ctypes.c_void_p,
            ]
            lib.LZ4F_decompress.restype = ctypes.c_size_t
            lib.LZ4F_isError.argtypes = [ctypes.c_size_t]
            lib.LZ4F_isError.restype = ctypes.c_uint
            lib.LZ4F_getErrorName.argtypes = [ctypes.c_size_t]
            lib.LZ4F_getErrorName.restype = ctypes.c_char_p
            return lib
        except (OSError, AttributeError):
            continue
    return None


_LZ4_LIB: object | None = None
_LZ4_TRIED = False


def liblz4_available() -> bool:
    """Whether the fast native decoder can be used (liblz4 found on this system)."""
    global _LZ4_LIB, _LZ4_TRIED
    if not _LZ4_TRIED:
        _LZ4_LIB, _LZ4_TRIED = _load_liblz4(), True
    return _LZ4_LIB is not None


class _Lz4Frames:
    """Decodes one LZ4 frame per call into a reusable buffer; every call ends (no retry loops)."""

    _LZ4F_VERSION = 100

    def __init__(self) -> None:
        if not liblz4_available():
            raise RuntimeError("liblz4 not available")
        self._lib = _LZ4_LIB
        self._ctx = ctypes.c_void_p()
        self._fresh = True
        self._out = np.empty(1 << 20, np.uint8)
        self._dsz = ctypes.c_size_t()
        self._ssz = ctypes.c_size_t()
        self.consumed = 0
        self._ptr_cache = self._ptr_cache2 = (None, 0)
        self._dsz_ref = ctypes.byref(self._dsz)
        self._ssz_ref = ctypes.byref(self._ssz)

    def _new_context(self) -> None:
        if self._ctx.value:
            self._lib.LZ4F_freeDecompressionContext(self._ctx)
            self._ctx = ctypes.c_void_p()
        err = self._lib.LZ4F_createDecompressionContext(ctypes.byref(self._ctx), self._LZ4F_VERSION)
        if self._lib.LZ4F_isError(err):
            raise MemoryError("cannot create an LZ4 decompression context")
        self._fresh = True

    def close(self) -> None:
        if self._ctx.value:
            self._lib.LZ4F_freeDecompressionContext(self._ctx)
            self._ctx = ctypes.c_void_p()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _ptr(self, a: np.ndarray) -> int:
        """Address of a whole buffer's data (asking numpy costs microseconds; buffers are reused)."""
        if self._ptr_cache[0] is not a:
            if self._ptr_cache2[0] is a:
                self._ptr_cache, self._ptr_cache2 = self._ptr_cache2, self._ptr_cache
            else:
                self._ptr_cache2 = self._ptr_cache
                self._ptr_cache = (a, _address(a))
        return self._ptr_cache[1]

    def decompress(self, src: np.ndarray, n: int) -> np.ndarray:
        """The first `n` bytes of buffer `src` hold one LZ4 frame; returns a view of the decoded
        bytes (valid until the next call). `consumed` says how many of the `n` the frame used."""
        if n < 7 or bytes(src[:4]) != _LZ4_MAGIC:
            raise _CorruptPacket("not an LZ4 frame")
        if not self._fresh or not self._ctx.value:
            self._new_context()  # a fresh context per frame: no state survives an error
        self._fresh = False
        lib = self._lib
        limit = max(1 << 16, n * _MAX_EXPANSION)
        out = self._out
        if len(out) < min(4 * n, limit):
            out = self._out = np.empty(min(4 * n, limit), np.uint8)
        keep_alive = []  # earlier output buffers LZ4 may still read back-references from
        src_ptr = self._ptr(src)
        out_ptr = self._ptr(out)
        dsz, ssz = self._dsz, self._ssz
        dsz_ref, ssz_ref = self._dsz_ref, self._ssz_ref
        s_off = d_off = 0
        while True:
            dsz.value = len(out) - d_off
            ssz.value = n - s_off
            ret = lib.LZ4F_decompress(self._ctx, out_ptr + d_off, dsz_ref, src_ptr + s_off, ssz_ref, None)
            if lib.LZ4F_isError(ret):
                raise _CorruptPacket(f"LZ4 data damaged ({lib.LZ4F_getErrorName(ret).decode()})")
            s_off += ssz.value
            d_off += dsz.value
            if ret == 0:
                self._fresh = True  # the frame ended cleanly; the context is reset
                self.consumed = s_off  # less than n: bytes after the frame (a damaged size field)
                return out[:d_off]
            if d_off == len(out):
                if len(out) >= limit:
                    raise _CorruptPacket("LZ4 frame expands beyond any plausible packet")
                bigger = np.empty(min(2 * len(out), limit), np.uint8)
                bigger[:d_off] = out[:d_off]
                keep_alive.append(out)
                out = self._out = bigger
                out_ptr = self._ptr(out)
                continue
            if s_off >= n:
                raise _CorruptPacket("LZ4 frame is incomplete")
            if ssz.value == 0 and dsz.value == 0:
                raise _CorruptPacket("LZ4 decoder made no progress")


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _event_vector(buf, n: int) -> tuple[int, int]:
    """(byte offset, count) of the 16-byte Event structs in a size-prefixed EventPacket flatbuffer."""
    if n < 12:
        raise _CorruptPacket("event packet too short")
    try:
        prefix, root = struct.unpack_from("<II", buf, 0)
        if prefix != n - 4:
            raise _CorruptPacket("event packet length does not match its size prefix")
        if bytes(buf[8:12]) != b"EVTS":
            raise _CorruptPacket("packet is not an event packet (identifier mismatch)")
        table = 4 + root
        if table + 4 > n:
            raise _CorruptPacket("event packet root out of range")
        (soff,) = struct.unpack_from("<i", buf, table)
        vt = table - soff
        if vt < 4 or vt + 4 > n:
            raise _CorruptPacket("event packet vtable out of range")
        (vtlen,) = struct.unpack_from("<H", buf, vt)
        if vtlen < 6:
            return 0, 0
        (fo,) = struct.unpack_from("<H", buf, vt + 4)
        if fo == 0:
            return 0, 0
        fpos = table + fo
        if fpos + 4 > n:
            raise _CorruptPacket("event vector offset out of range")
        vec = fpos + struct.unpack_from("<I", buf, fpos)[0]
        if vec + 4 > n:
            raise _CorruptPacket("event vector out of range")
        (count,) = struct.unpack_from("<I", buf, vec)
        if vec + 4 + 16 * count > n:
            raise _CorruptPacket("event vector longer than the packet")
    except struct.error as e:
        raise _CorruptPacket(f"event packet damaged ({e})") from None
    return vec + 4, count


@dataclass
class _Stats:
    events_in: int = 0  # events decoded from packets
    events_out: int = 0  # events yielded
    packets_bad: int = 0
    packet_bad_reasons: dict[str, int] = field(default_factory=dict)
    outside: int = 0
    bad_polarity: int = 0
    reordered: int = 0
    clamped: int = 0
    far_back: int = 0
    excursions: int = 0
    excursion_events: int = 0
    scrambled_events: int = 0
    header_fixes: int = 0  # event packets read although their stream id was damaged
    repeated_packets: int = 0  # event packets identical to a recent one (data written twice)
    repeated_events: int = 0

    def bad_packet(self, reason: str) -> None:
        self.packets_bad += 1
        self.packet_bad_reasons[reason] = self.packet_bad_reasons.get(reason, 0) + 1


def _native_chunks(f, header: AedatHeader, sid: int, stats: _Stats, end: _WalkEnd) -> Iterator[tuple]:
    """(V13 view, timestamp view) of each event packet's events; valid until the next packet."""
    lz4 = _Lz4Frames() if header.compression in (1, 2) else None
    src = np.empty(1 << 20, np.uint8)
    # With a single event stream, a packet whose stream id is damaged is still recognisable
    # as ours by the identifier inside its data.
    lone = sum(1 for s in header.streams.values() if s.type == "EVTS") == 1
    try:
        for off, psid, psize in _walk_packets(f, header, end):
            if psid == -1 and not lone:
                stats.bad_packet("damaged packet header")
                continue
            if psid != sid and psid != -1:
                continue
            if len(src) < psize:
                src = np.empty(max(psize, 2 * len(src)), np.uint8)
            f.seek(off)
            view = src[:psize]
            got = f.readinto(view)
            if got != psize:
                end.reason, end.position, end.detail = "truncated", off - 8, "the last packet is incomplete"
                return
            try:
                if lz4 is not None:
                    buf = lz4.decompress(src, psize)
                    if lz4.consumed < psize:
                        end.actual_size = lz4.consumed  # the walker checks where the next packet really is
                else:
                    buf = view
                start, count = _event_vector(memoryview(buf), len(buf))
            except _CorruptPacket as e:
                stats.bad_packet("damaged packet header" if psid == -1 else str(e))
                continue
            if psid == -1:
                stats.header_fixes += 1
            if count:
                yield (
                    np.ndarray((count,), _V13, buffer=buf, offset=start, strides=(16,)),
                    np.ndarray((count,), np.int64, buffer=buf, offset=start, strides=(16,)),
                )
    finally:
        if lz4 is not None:
            lz4.close()


def _aedat_chunks(path: Path, f, header: AedatHeader, sid: int, stats: _Stats, end: _WalkEnd) -> Iterator[tuple]:
    """The same through the `aedat` decoder, stopped at the end of the validated packet chain."""
    try:
        import aedat
    except ImportError:
        raise SpikeLipError(
            f"{path}: cannot decode this {COMPRESSION_NAMES[header.compression]}-compressed recording: "
            f"neither liblz4 nor the `aedat` package is available; `pip install aedat`"
        ) from None
    # Headers only (cheap). The Rust decoder follows the packet chain blindly, so it can use
    # the packets before the first damaged header, not the ones the walk resynchronised to.
    n_packets = 0
    for _ in _walk_packets(f, header, end):
        if end.resyncs:
            at = end.resyncs[0][0]
            end.resyncs.clear()
            end.reason, end.position = "corrupt", at
            end.detail = f"packet header at byte {at:,} is damaged"
            break
        n_packets += 1
    try:
        decoder = aedat.Decoder(str(path))
    except Exception as e:  # the Rust decoder raises plain exceptions with a message
        raise SpikeLipError(f"{path}: the `aedat` decoder cannot read this file ({e})") from None
    it = iter(decoder)
    for _ in range(n_packets):
        try:
            packet = next(it)
        except StopIteration:
            break
        except Exception as e:
            stats.bad_packet(str(e))
            continue
        if packet.get("stream_id") != sid:
            continue
        events = packet.get("events")
        if events is not None and len(events):
            ev = np.ascontiguousarray(events).view(EVENT_DTYPE)
            yield ev.view(_V13), ev["t"]


# --------------------------------------------------------------------------- time order


class _TimeOrder:
    """Makes batches time-ordered and says what it had to repair.

    * an excursion - timestamps that jump by more than `JUMP_US` and then jump back to where
      they were (bit rot in a timestamp, replicated by the compressor) - is cut out;
    * events up to `REORDER_WINDOW_US` behind the newest event are re-sorted into place
      (across batch borders: moved up to the time already handed out);
    * events further behind are dropped; if more than `FAR_BACK_LIMIT` (and over 1 % of the
      events read) are, the file is not time-ordered and reading stops with SpikeLipError.

    To see whether a jump near the end of a batch returns, the run after it is held back
    into the next batch (at most `_EXCURSION_MAX_EVENTS` events).
    """

    def __init__(self, path: Path, stats: _Stats) -> None:
        self.path = path
        self.stats = stats
        self.last_t: int | None = None  # newest timestamp handed out

    def process(self, ev: np.ndarray, final: bool, dirty: bool) -> tuple[np.ndarray, np.ndarray]:
        """Returns (events to hand out now, events to hold back for the next batch).

        `dirty` says the packets of this batch were not all in order with steps of at most
        JUMP_US (checked per packet by the caller); a clean batch costs nothing here.
        """
        if len(ev) == 0:
            return ev, ev[:0]
        last = self.last_t
        if not dirty and (last is None or last <= ev["t"][0] <= last + JUMP_US):
            self.last_t = int(ev["t"][-1])
            return ev, ev[:0]
        return self._slow(ev, final)

    def _slow(self, ev: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray]:
        st = self.stats
        t = ev["t"].astype(np.int64)
        n = len(t)
        keep = np.ones(n, bool)
        # 1. excursions: a jump away and a jump back to within JUMP_US of the pre-jump time.
        ext = t if self.last_t is None else np.concatenate(([self.last_t], t))
        shift = 0 if self.last_t is None else 1
        jumps = np.flatnonzero(np.abs(np.diff(ext)) > JUMP_US)  # jump between ext[j] and ext[j+1]
        if 0 < len(jumps) <= _EXCURSION_MAX_JUMPS:
            k = 0
            while k < len(jumps):
                j0 = int(jumps[k])
                base = ext[j0]
                matched = False
                for k2 in range(k + 1, len(jumps)):
                    j1 = int(jumps[k2])
                    if j1 - j0 > _EXCURSION_MAX_EVENTS:
                        break
                    if abs(int(ext[j1 + 1]) - int(base)) <= JUMP_US:
                        lo, hi = j0 + 1 - shift, j1 + 1 - shift  # ext[j0+1 .. j1] in t coordinates
                        keep[max(lo, 0) : hi] = False
                        st.excursions += 1
                        st.excursion_events += hi - max(lo, 0)
                        k = k2 + 1
                        matched = True
                        break
                if not matched:
                    k += 1
        # 2. hold back a run after a late jump whose return may come in the next batch.
        carry_from = n
        if not final:
            idx = np.flatnonzero(keep)
            if len(idx) > 1:
                kt = t[idx]
                big = np.flatnonzero(np.abs(np.diff(kt)) > JUMP_US)
                if len(big) and len(idx) - (big[-1] + 1) <= _EXCURSION_MAX_EVENTS:
                    carry_from = int(idx[big[-1] + 1])
        carry = ev[carry_from:][keep[carry_from:]]  # excursions found there are already counted
        keep = keep[:carry_from]
        ev, t = ev[:carry_from], t[:carry_from]
        # 3. order: re-sort what is a little late, drop what is far behind.
        start = self.last_t if self.last_t is not None else (int(t[keep][0]) if keep.any() else 0)
        tk = np.where(keep, t, np.iinfo(np.int64).min)
        runmax = np.maximum.accumulate(np.concatenate(([start], tk)))[:-1]
        lag = runmax - t
        far = keep & (lag > REORDER_WINDOW_US)
        n_far = int(far.sum())
        if n_far:
            st.far_back += n_far
            keep &= ~far
            if st.far_back > FAR_BACK_LIMIT and st.far_back > 0.01 * max(st.events_in, 1):
                at = int(np.flatnonzero(far)[0])
                raise SpikeLipError(
                    f"{self.path}: timestamps jump backwards by {lag[at] / 1e6:.3f} s near event "
                    f"{st.events_out + at:,} ({st.far_back:,} events far out of time order); the file is not "
                    f"time-ordered (two recordings joined, or damaged) - re-export it with DV or record again"
                )
        out = ev[keep] if not keep.all() else ev.copy()
        late = lag[keep] > 0
        if late.any():
            st.reordered += int(late.sum())
            order = np.argsort(out["t"], kind="stable")
            out = out[order]
            if self.last_t is not None:
                early = out["t"] < self.last_t
                if early.any():
                    st.clamped += int(early.sum())
                    out["t"][early] = self.last_t
        if len(out):
            self.last_t = int(out["t"][-1])
        return out, carry


# --------------------------------------------------------------------------- source


class AedatFileSource(EventSource):
    """Events of an AEDAT4 recording, in time-ordered batches of at most `batch_events`.

    Reads packet by packet (memory stays flat on any file size) and only the event stream;
    frames, IMU and triggers are listed in `streams` and skipped. Damage yields what can be
    read plus lines in `warnings`; see the module docstring. `decoder` picks the packet
    decoder: "auto" (native where possible, else `aedat`), "native" or "aedat".
    """

    binning = "floor"
    live = False

    def __init__(self, path, batch_events: int = 100_000, decoder: str = "auto") -> None:
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
        w, h = self.sensor.width, self.sensor.height
        cap = self.batch_events
        carry = np.zeros(0, EVENT_DTYPE)
        try:
            if self.decoder == "native":
                chunks = _native_chunks(f, self.header, self._stream.id, stats, end)
            else:
                chunks = _aedat_chunks(self.path, f, self.header, self._stream.id, stats, end)
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
                            yield out
                        buf = np.empty(cap + len(carry), EVENT_DTYPE)
                        buf[: len(carry)] = carry
                        fill = len(carry)
                        dirty = bool(len(carry))
            if fill:
                out, _ = self._finish_batch(buf[:fill], order, w, h, final=True, dirty=dirty)
                if len(out):
                    stats.events_out += len(out)
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


# --------------------------------------------------------------------------- info


def read_info(path, scan: bool = False) -> dict:
    """What the header says, without decoding events: sensor, camera, streams, compression.

    With `scan=True` it also walks the packet headers (fast: no decompression) and adds the
    packet count per stream and whether the file is complete, truncated or damaged.
    Raises SpikeLipError for files that are not AEDAT4 recordings with an event stream.
    """
    path = Path(path)
    with _open_checked(path) as f:
        header = _read_header(path, f)
        stream = header.event_stream()
        info = {
            "path": str(path),
            "format": "AEDAT4",
            "file_bytes": header.file_bytes,
            "compression": COMPRESSION_NAMES[header.compression],
            "camera": stream.source or path.stem,
            "sensor": SensorSize(stream.width, stream.height),
            "width": stream.width,
            "height": stream.height,
            "streams": _streams_list(header),
            "finalised": header.finalised,
            "decoder": "native"
            if header.compression == 0 or (header.compression in (1, 2) and liblz4_available())
            else "aedat",
        }
        if scan:
            end = _WalkEnd()
            counts: dict[str, int] = {}
            for _, sid, _size in _walk_packets(f, header, end):
                kind = header.streams[sid].kind if sid in header.streams else "damaged"
                counts[kind] = counts.get(kind, 0) + 1
            info["packets"] = counts
            info["state"] = {"end": "complete", "unclosed": "not closed by its writer"}.get(end.reason, end.reason)
            if end.detail:
                info["problem"] = end.detail
    return info
