"""read_info: what an AEDAT4 file's header says (and, scanned, its packet structure), without
decoding events."""
from __future__ import annotations

from pathlib import Path

from stream.events import SensorSize
from stream.sources.aedat4.decoders import liblz4_available
from stream.sources.aedat4.header import (
    COMPRESSION_NAMES,
    _open_checked,
    _read_header,
    _streams_list,
)
from stream.sources.aedat4.packets import _walk_packets, _WalkEnd


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
