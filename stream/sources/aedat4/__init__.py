"""AEDAT4 recordings (iniVation DV, DAVIS/DVXplorer): header, packet walk, robust event decoding.

An AEDAT4 file is `#!AER-DAT4.0\\r\\n`, a size-prefixed `IOHeader` flatbuffer (compression,
position of the closing data table, an XML description of the streams), then packets of
`int32 stream id, int32 size, size bytes` (one compressed, size-prefixed flatbuffer each) and,
once the writer closed the file, a compressed data table at the position the header names.

Why this package does not read through dv-processing (measured, see benchmarks/bench_aedat4.py
and the test suite): dv-processing 2.0.4's LZ4 decompressor retries a packet forever when
LZ4 reports an error (it resets the context and loops with no input consumed), so one damaged
packet spins the reading thread at 100 % CPU, and it unpacks packet flatbuffers without
verifying them. A truncated file (no data table) it refuses outright. Nothing in-process can
interrupt that loop, and a structural pre-scan cannot see damage inside compressed payloads.

So the reader walks the packet structure itself (reading only the 8-byte packet headers and
seeking over frames, IMU and trigger packets; frames are decoded too when a consumer wants
them) and decodes each event packet with a bounded, always-progressing decoder:

* "native": liblz4's frame decoder through ctypes (or no decompression for uncompressed
  files) and a bounds-checked flatbuffer parse; the fast path (tens of M events/s).
* "aedat": the `aedat` Rust decoder, used where liblz4 cannot be loaded or the file is
  Zstd-compressed; it decodes every packet (frames too), so it is slower, and it is stopped
  at the end of the packet chain the walk validated.

Damage is never fatal to what came before it: a packet whose data does not decode is skipped
and counted, so is a packet that repeats a recent one (data written twice), a file cut short
yields every complete packet, and every such event ends up as a line in `warnings`. Only problems that leave nothing usable (not an AEDAT4 file, no event
stream, timestamps running backwards wholesale) raise `SpikeLipError`.

The package follows that path, one module a step: `header` (magic, IOHeader, stream XML),
`packets` (the packet walk and resynchronisation), `decoders` (native and `aedat`),
`time_order` (repairing timestamps), `frames` (APS frame packets), `source` (AedatFileSource)
and `info` (read_info).
"""
from stream.sources.aedat4.decoders import liblz4_available
from stream.sources.aedat4.header import (
    COMPRESSION_NAMES,
    MAGIC,
    MAX_SENSOR_SIDE,
    STREAM_KINDS,
    AedatHeader,
    StreamInfo,
)
from stream.sources.aedat4.info import read_info
from stream.sources.aedat4.source import AedatFileSource
from stream.sources.aedat4.time_order import FAR_BACK_LIMIT, JUMP_US, REORDER_WINDOW_US

__all__ = [
    "COMPRESSION_NAMES",
    "FAR_BACK_LIMIT",
    "JUMP_US",
    "MAGIC",
    "MAX_SENSOR_SIDE",
    "REORDER_WINDOW_US",
    "STREAM_KINDS",
    "AedatFileSource",
    "AedatHeader",
    "StreamInfo",
    "liblz4_available",
    "read_info",
]
