"""AEDAT4 file header: the magic line, the IOHeader flatbuffer (compression, data table
position, stream XML) and the streams it declares."""
from __future__ import annotations

import os
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from stream.errors import SpikeLipError

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

    def frame_stream(self) -> StreamInfo | None:
        """The APS frame stream ("frames", else the first one), or None where there is none."""
        frames = sorted((s for s in self.streams.values() if s.type == "FRME"), key=lambda s: (s.name != "frames", s.id))
        return frames[0] if frames else None


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
