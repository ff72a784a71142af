"""APS frames: the bounded queue, grey conversion, AEDAT4 frame streams written and read back
(ours and dv-processing's reader), damaged frame packets, and sources without frames."""
from __future__ import annotations

import struct
from pathlib import Path

import dv_processing as dv
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.errors import SpikeLipError
from stream.events import SensorSize, make_events
from stream.frames import FRAMES_KEPT, Frame, FrameQueue, grey, on_sensor
from stream.sources.aedat4 import AedatFileSource, liblz4_available
from stream.sources.aedat4.header import _read_header
from stream.sources.npy import NpyClipSource, save_clip
from stream.writer import AedatWriter
from aedat_helpers import packet_layout

SMALL = SensorSize(40, 30)
DECODERS = ["native", "aedat"] if liblz4_available() else ["aedat"]
T0 = 1_700_000_000_000_000


def image(seed: int, sensor: SensorSize = SMALL) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (sensor.height, sensor.width), dtype=np.uint8)


def events(t0: int, n: int, sensor: SensorSize = SMALL, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(t0 + np.arange(n) * 3, rng.integers(0, sensor.width, n), rng.integers(0, sensor.height, n),
                       rng.integers(0, 2, n))


def read_with_frames(path, **kw) -> tuple[np.ndarray, list[Frame], AedatFileSource]:
    """Every event and every frame taken after each batch, checking that no frame is newer
    than the events handed out before it."""
    src = AedatFileSource(path, want_frames=True, **kw)
    parts, frames, newest = [], [], None
    for batch in src:
        parts.append(batch)
        newest = int(batch["t"][-1])
        got = src.take_frames()
        assert all(f.t_us <= newest for f in got)
        frames += got
    return np.concatenate(parts), frames, src


def read_dv_frames(path) -> list[Frame]:
    rec = dv.io.MonoCameraRecording(str(path))
    out = []
    while (f := rec.getNextFrame()) is not None:
        out.append(Frame(f.timestamp, f.image))
    return out


def test_the_queue_hands_out_frames_once_the_events_reach_them_and_keeps_the_newest():
    q = FrameQueue()
    assert q.take(None) == [] and q.take(10**9) == []
    for t in (100, 200, 300):
        q.put(Frame(t, image(t)))
    assert q.take(None) == []  # no event yet
    assert [f.t_us for f in q.take(250)] == [100, 200]
    assert q.take(250) == [] and len(q) == 1
    for t in range(400, 400 + 100 * (FRAMES_KEPT + 3), 100):
        q.put(Frame(t, image(0)))
    got = q.take(10**9)
    assert len(got) == FRAMES_KEPT and got[-1].t_us == 400 + 100 * (FRAMES_KEPT + 2)


def test_grey_and_sensor_placement():
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 2] = 255  # red
    assert grey(bgr)[0, 0] == 76 and grey(bgr[..., ::-1].copy(), "RGB")[0, 0] == 76
    bgra = np.dstack([bgr, np.full((2, 3), 7, np.uint8)])
    assert grey(bgra)[0, 0] == 76 and grey(bgr[..., :1]).shape == (2, 3)
    full = image(1)
    assert on_sensor(full, SMALL) is full
    part = np.full((10, 8), 9, np.uint8)
    placed = on_sensor(part, SMALL, 35, -4)  # hangs over the right and top edges
    assert placed.shape == (30, 40) and placed.sum() == 9 * 5 * 6 and (placed[:6, 35:] == 9).all()


def write_mixed(path: Path, plan: list[tuple[int, int]], sensor: SensorSize = SMALL) -> tuple[np.ndarray, list[Frame]]:
    """Writes, in order, a frame and then `n` events at and after its time, for each (gap, n) of
    `plan` (gap: microseconds from the last event to the frame)."""
    written_ev, written_fr = [], []
    t = T0
    with AedatWriter(path, sensor, "DAVIS346_test", frames=True) as w:
        for k, (gap, n) in enumerate(plan):
            t += gap
            frame = Frame(t, image(k, sensor))
            w.write_frame(frame)
            ev = events(t, n, sensor, seed=k)
            w.write(ev)
            written_fr.append(frame)
            written_ev.append(ev)
            t = int(ev["t"][-1])
        assert w.frames_written == len(plan)
    return np.concatenate(written_ev), written_fr


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(st.tuples(st.integers(0, 5_000), st.integers(1, 60)), min_size=1, max_size=3 * FRAMES_KEPT),
    data=st.data(),
    decoder=st.sampled_from(DECODERS),
)
def test_events_and_frames_round_trip(tmp_path, plan, data, decoder):
    """Batches no longer than the shortest run of events between frames hand out every frame
    (a batch spans at most two frames, far below what the queue keeps)."""
    batch_events = data.draw(st.integers(1, min(n for _, n in plan)))
    path = tmp_path / "mixed.aedat4"
    ev, frames = write_mixed(path, plan)
    got_ev, got_fr, src = read_with_frames(path, batch_events=batch_events, decoder=decoder)
    assert np.array_equal(got_ev, ev) and src.warnings == []
    assert [f.t_us for f in got_fr] == [f.t_us for f in frames]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(got_fr, frames))
    theirs = read_dv_frames(path)  # a standard file: dv-processing reads the same
    assert [f.t_us for f in theirs] == [f.t_us for f in frames]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(theirs, frames))


def test_reading_without_frames_is_unchanged(tmp_path):
    path = tmp_path / "mixed.aedat4"
    ev, _ = write_mixed(path, [(100, 50)] * 20)
    src = AedatFileSource(path, batch_events=30)
    assert "frames" in src.streams and not src.want_frames
    got = []
    for batch in src:
        got.append(batch)
        assert src.take_frames() == []
    assert np.array_equal(np.concatenate(got), ev)


def test_a_consumer_that_never_takes_frames_holds_only_the_newest(tmp_path):
    path = tmp_path / "many.aedat4"
    _, frames = write_mixed(path, [(100, 5)] * (3 * FRAMES_KEPT))
    src = AedatFileSource(path, want_frames=True)  # one batch: every frame is read before it
    list(src)
    got = src.take_frames()
    assert [f.t_us for f in got] == [f.t_us for f in frames[-FRAMES_KEPT:]]


def test_colour_and_cropped_frames_become_grey_sensor_frames(tmp_path):
    path = tmp_path / "colour.aedat4"
    cfg = dv.io.MonoCameraWriter.Config("DAVIS346COLOR_test", dv.CompressionType.NONE)
    cfg.addEventStream((SMALL.width, SMALL.height))
    cfg.addFrameStream((SMALL.width, SMALL.height))
    w = dv.io.MonoCameraWriter(str(path), cfg)
    bgr = np.dstack([image(1), image(2), image(3)])
    bgra = np.dstack([bgr, image(4)])
    crop = image(5)[:10, :8]
    w.writeFrame(dv.Frame(T0, bgr), "frames")
    w.writeFrame(dv.Frame(T0 + 10, bgra), "frames")
    w.writeFrame(dv.Frame(T0 + 20, 0, 12, 6, crop, dv.FrameSource.SENSOR), "frames")
    store = dv.EventStore()
    store.push_back(T0 + 30, 1, 1, True)
    w.writeEvents(store)
    del w
    for decoder in DECODERS:
        _, got, src = read_with_frames(path, decoder=decoder)
        assert src.warnings == [] and [f.t_us for f in got] == [T0, T0 + 10, T0 + 20]
        assert np.array_equal(got[0].image, grey(bgr)) and np.array_equal(got[1].image, grey(bgra))
        assert np.array_equal(got[2].image, on_sensor(crop, SMALL, 12, 6))


def frame_packets(path: Path) -> list[tuple[int, int]]:
    """(data offset, size) of the frame packets."""
    with open(path, "rb") as f:
        header = _read_header(path, f)
    fid = header.frame_stream().id
    return [(off, size) for off, sid, size in packet_layout(path) if sid == fid]


def uncompressed_mixed(path: Path, n: int = 6) -> tuple[np.ndarray, list[Frame]]:
    cfg = dv.io.MonoCameraWriter.Config("DAVIS346_test", dv.CompressionType.NONE)
    cfg.addEventStream((SMALL.width, SMALL.height))
    cfg.addFrameStream((SMALL.width, SMALL.height))
    w = dv.io.MonoCameraWriter(str(path), cfg)
    all_ev, frames = [], []
    for k in range(n):
        t = T0 + k * 1_000
        frames.append(Frame(t, image(k)))
        w.writeFrame(dv.Frame(t, frames[-1].image), "frames")
        ev = events(t, 20, seed=k)
        store = dv.EventStore()
        for e in ev:
            store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
        w.writeEvents(store)
        all_ev.append(ev)
    del w
    return np.concatenate(all_ev), frames


@pytest.mark.parametrize("damage", ["identifier", "pixel count", "vtable", "far timestamp"])
def test_a_damaged_frame_packet_is_skipped_with_a_warning(tmp_path, damage):
    path = tmp_path / "damaged.aedat4"
    ev, frames = uncompressed_mixed(path)
    data = bytearray(path.read_bytes())
    off, _ = frame_packets(path)[2]
    if damage == "identifier":
        data[off + 8 : off + 12] = b"XXXX"
    elif damage == "far timestamp":
        root = 4 + struct.unpack_from("<I", data, off + 4)[0]
        table = off + root
        vt = table - struct.unpack_from("<i", data, table)[0]
        field = table + struct.unpack_from("<H", data, vt + 4)[0]  # field 0: timestamp
        struct.pack_into("<q", data, field, T0 + 5_000_000)
    else:
        root = 4 + struct.unpack_from("<I", data, off + 4)[0]
        table = off + root
        if damage == "vtable":
            struct.pack_into("<i", data, table, -10**6)
        else:
            vt = table - struct.unpack_from("<i", data, table)[0]
            field = table + struct.unpack_from("<H", data, vt + 4 + 2 * 10)[0]
            vec = field + struct.unpack_from("<I", data, field)[0]
            struct.pack_into("<I", data, vec, 10**6)
    path.write_bytes(bytes(data))
    got_ev, got_fr, src = read_with_frames(path, decoder="native" if "native" in DECODERS else "aedat")
    assert np.array_equal(got_ev, ev)
    assert [f.t_us for f in got_fr] == [f.t_us for i, f in enumerate(frames) if i != 2]
    assert len(src.warnings) == 1 and "skipped 1 damaged frame packet(s)" in src.warnings[0]
    assert "the events are unaffected" in src.warnings[0]
    plain = AedatFileSource(path)  # frames not wanted: not even looked at
    list(plain)
    assert plain.warnings == []


@pytest.mark.skipif(not liblz4_available(), reason="needs the native decoder")
def test_a_frame_packet_whose_lz4_data_is_damaged_is_skipped(tmp_path):
    path = tmp_path / "lz4.aedat4"
    ev, frames = write_mixed(path, [(1_000, 20)] * 5)
    data = bytearray(path.read_bytes())
    off, size = frame_packets(path)[1]
    data[off + 20 : off + size - 8] = bytes(size - 28)  # zeroed LZ4 blocks
    path.write_bytes(bytes(data))
    got_ev, got_fr, src = read_with_frames(path, decoder="native")
    assert np.array_equal(got_ev, ev)
    assert [f.t_us for f in got_fr] == [f.t_us for i, f in enumerate(frames) if i != 1]
    assert len(src.warnings) == 1 and "damaged frame packet" in src.warnings[0]


def test_writer_frame_checks(tmp_path):
    with AedatWriter(tmp_path / "events.aedat4", SMALL) as w, pytest.raises(ValueError, match="frames=True"):
        w.write_frame(Frame(T0, image(0)))
    with AedatWriter(tmp_path / "frames.aedat4", SMALL, frames=True) as w:
        with pytest.raises(ValueError, match=r"\(30, 40\) uint8"):
            w.write_frame(Frame(T0, image(0)[:, :20]))
        with pytest.raises(ValueError, match="uint8"):
            w.write_frame(Frame(T0, image(0).astype(np.uint16)))
        w.write_frame(Frame(T0 + 10, image(0)))
        w.write_frame(Frame(T0 + 5, image(1)))  # older than the last one: skipped
        assert w.frames_written == 1 and w.frames_skipped == 1
    with pytest.raises(SpikeLipError, match="already closed"):
        w.write_frame(Frame(T0 + 20, image(0)))
    assert [f.t_us for f in read_dv_frames(tmp_path / "frames.aedat4")] == [T0 + 10]


def test_sources_without_frames_return_none(tmp_path):
    save_clip(tmp_path / "clip.npy", events(0, 100, SensorSize(128, 128)))
    src = NpyClipSource(tmp_path / "clip.npy")
    src.want_frames = True
    list(src)
    assert src.take_frames() == [] and "frames" not in src.streams
