"""AEDAT4 files in tests: read back through our reader and, independently, through dv-processing;
written uncompressed with timestamps patched in place (dv-processing refuses out-of-order data)."""
from pathlib import Path

import dv_processing as dv
import numpy as np

from stream.events import EVENT_DTYPE, make_events
from stream.sources.aedat4 import AedatFileSource
from stream.sources.aedat4.decoders import _event_vector
from stream.sources.aedat4.header import _read_header
from stream.sources.aedat4.packets import _walk_packets, _WalkEnd


def read_all(path, **kw) -> tuple[np.ndarray, AedatFileSource]:
    src = AedatFileSource(path, **kw)
    parts = list(src)
    return (np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)), src


def read_dv(path) -> np.ndarray:
    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while True:
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        a = batch.numpy()
        parts.append(make_events(a["timestamp"], a["x"], a["y"], a["polarity"]))
    return np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)


def packet_layout(path) -> list[tuple[int, int, int]]:
    """(data offset, stream id, size) of every packet, from the module's own walker."""
    p = Path(path)
    with open(p, "rb") as f:
        header = _read_header(p, f)
        return list(_walk_packets(f, header, _WalkEnd()))


def write_uncompressed(path: Path, ev: np.ndarray, batch: int) -> Path:
    """An uncompressed events-only 346 x 260 recording, one packet per `batch` events."""
    cfg = dv.io.MonoCameraWriter.EventOnlyConfig("TestCam", (346, 260), dv.CompressionType.NONE)
    w = dv.io.MonoCameraWriter(str(path), cfg)
    for i in range(0, len(ev), batch):
        store = dv.EventStore()
        for e in ev[i : i + batch]:
            store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
        w.writeEvents(store)
    del w
    return path


def patch_times(path: Path, new_t: np.ndarray) -> None:
    """Overwrites every event timestamp of an uncompressed file with `new_t` (in order)."""
    data = bytearray(path.read_bytes())
    k = 0
    for off, _sid, size in packet_layout(path):
        start, count = _event_vector(memoryview(data)[off : off + size], size)
        view = np.ndarray((count,), np.int64, buffer=data, offset=off + start, strides=(16,))
        view[:] = new_t[k : k + count]
        k += count
    assert k == len(new_t)
    path.write_bytes(bytes(data))
