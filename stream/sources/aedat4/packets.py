"""The AEDAT4 packet walk: packet headers read and checked (never the payloads), resynchronisation
after a damaged header, and whether the closing data table is whole."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterator

from stream.sources.aedat4.header import AedatHeader

# A packet the writer made holds at most a few MB; a size field beyond this is damage.
_MAX_PACKET_BYTES = 256 << 20
_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_RESYNC_CHUNK = 1 << 20


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
