"""AEDAT4 event packet decoders: "native" (liblz4 through ctypes, bounds-checked flatbuffer
parse) and "aedat" (the `aedat` Rust decoder); both bounded and always progressing."""
from __future__ import annotations

import ctypes
import ctypes.util
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE
from stream.sources.aedat4.header import COMPRESSION_NAMES, AedatHeader
from stream.sources.aedat4.packets import _LZ4_MAGIC, _walk_packets, _WalkEnd

# One LZ4 frame cannot expand more than 255x; cap the output to stay safe on garbage.
_MAX_EXPANSION = 256

_V13 = np.dtype("V13")
assert EVENT_DTYPE.itemsize == 13


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


def _packet_table(buf, n: int, identifier: bytes, what: str) -> int:
    """Where the root table of a size-prefixed flatbuffer packet of `n` bytes lies, after checking
    its size prefix and file identifier (b"EVTS", b"FRME"); `what` names it in the error."""
    prefix, root = struct.unpack_from("<II", buf, 0)
    if prefix != n - 4:
        raise _CorruptPacket(f"{what} packet length does not match its size prefix")
    if bytes(buf[8:12]) != identifier:
        raise _CorruptPacket(f"packet is not {'an' if what[0] in 'aeiou' else 'a'} {what} packet (identifier mismatch)")
    table = 4 + root
    if table + 4 > n:
        raise _CorruptPacket(f"{what} packet root out of range")
    return table


def _event_vector(buf, n: int) -> tuple[int, int]:
    """(byte offset, count) of the 16-byte Event structs in a size-prefixed EventPacket flatbuffer."""
    if n < 12:
        raise _CorruptPacket("event packet too short")
    try:
        table = _packet_table(buf, n, b"EVTS", "event")
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


def _native_chunks(f, header: AedatHeader, sid: int, stats: _Stats, end: _WalkEnd, frames=None) -> Iterator[tuple]:
    """(V13 view, timestamp view) of each event packet's events; valid until the next packet.
    `frames` (an aedat4.frames._FrameSink, or None) takes the packets of its frame stream."""
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
            if psid != sid and psid != -1 and (frames is None or psid != frames.sid):
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
                if frames is not None and psid == frames.sid:
                    frames.packet(memoryview(buf), len(buf))
                    continue
                start, count = _event_vector(memoryview(buf), len(buf))
            except _CorruptPacket as e:
                if frames is not None and psid == frames.sid:
                    frames.damaged(str(e))
                    continue
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


def _aedat_chunks(path: Path, f, header: AedatHeader, sid: int, stats: _Stats, end: _WalkEnd, frames=None) -> Iterator[tuple]:
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
            if frames is not None and packet.get("stream_id") == frames.sid and "frame" in packet:
                frames.decoded(packet["frame"])
            continue
        events = packet.get("events")
        if events is not None and len(events):
            ev = np.ascontiguousarray(events).view(EVENT_DTYPE)
            yield ev.view(_V13), ev["t"]
