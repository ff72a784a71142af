"""AEDAT4 reading: round trips, other streams, damaged files (no hangs), time order, bad inputs."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import dv_processing as dv
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, SensorSize, make_events
from stream.sources.aedat4 import AedatFileSource, liblz4_available, read_info
from stream.sources.aedat4 import decoders
from stream.sources.aedat4.header import _read_header
from stream.writer import AedatWriter
from aedat_helpers import packet_layout, patch_times, read_all, read_dv, write_uncompressed

REPO = Path(__file__).resolve().parents[2]
DAVIS = SensorSize(346, 260)
DECODERS = ["native", "aedat"] if liblz4_available() else ["aedat"]
T0 = 1_700_000_000_000_000


def synth(n: int, sensor: SensorSize = DAVIS, seed: int = 0, t0: int = T0, rate: float = 1e6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, max(1, int(n / rate * 1e6)), n))
    return make_events(t, rng.integers(0, sensor.width, n), rng.integers(0, sensor.height, n), rng.integers(0, 2, n))


def write_file(path, events, sensor=DAVIS, batch=10_000, name="TestCam") -> Path:
    with AedatWriter(path, sensor, name) as w:
        for i in range(0, len(events), batch):
            w.write(events[i : i + batch])
    return Path(path)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory) -> tuple[Path, np.ndarray]:
    ev = synth(60_000, seed=1)
    path = write_file(tmp_path_factory.mktemp("aedat") / "small.aedat4", ev, batch=6_000)
    return path, ev


@pytest.fixture(scope="module")
def mixed_file(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """Events, frames, IMU and triggers, interleaved, written by dv-processing's writer."""
    path = tmp_path_factory.mktemp("aedat") / "mixed.aedat4"
    cfg = dv.io.MonoCameraWriter.Config("DAVIS346_00000499")
    cfg.addEventStream((346, 260))
    cfg.addFrameStream((346, 260))
    cfg.addImuStream()
    cfg.addTriggerStream()
    writer = dv.io.MonoCameraWriter(str(path), cfg)
    ev = synth(50_000, seed=2)
    rng = np.random.default_rng(3)
    for i in range(0, len(ev), 5_000):
        part = ev[i : i + 5_000]
        store = dv.EventStore()
        for e in part:
            store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
        t = int(part["t"][0])
        writer.writeEvents(store)
        writer.writeFrame(dv.Frame(t, rng.integers(0, 255, (260, 346), dtype=np.uint8)))
        writer.writeImu(dv.IMU(t, 25.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        writer.writeTrigger(dv.Trigger(t, dv.TriggerType.EXTERNAL_SIGNAL_RISING_EDGE))
    del writer
    return path, ev


# --------------------------------------------------------------------------- round trips


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sensor=st.sampled_from([SensorSize(346, 260), SensorSize(640, 480), SensorSize(128, 128), SensorSize(1280, 720)]),
    n=st.integers(0, 30_000),
    batches=st.integers(1, 40),
    batch_events=st.sampled_from([1, 997, 100_000]),
    seed=st.integers(0, 2**31 - 1),
)
def test_roundtrip_writer_reader_and_dv(tmp_path, sensor, n, batches, batch_events, seed):
    ev = synth(n, sensor, seed=seed)
    path = tmp_path / f"rt_{seed}.aedat4"
    per = max(1, -(-n // batches))
    write_file(path, ev, sensor, batch=per)
    assert np.array_equal(read_dv(path), ev)
    for decoder in DECODERS:
        if batch_events == 1 and n > 3_000:
            continue  # one-event batches: correct but slow; covered by the smaller cases
        got, src = read_all(path, decoder=decoder, batch_events=batch_events)
        assert got.dtype == EVENT_DTYPE
        assert np.array_equal(got, ev), decoder
        assert src.sensor == sensor and src.name == "TestCam" and src.streams == ["events"]
        assert src.warnings == ([] if n else [f"{path}: the recording holds no events"])


def test_batches_are_bounded_and_time_ordered(small_file):
    path, ev = small_file
    for decoder in DECODERS:
        src = AedatFileSource(path, batch_events=7_000, decoder=decoder)
        sizes = []
        last = None
        for b in src:
            assert 0 < len(b) <= 7_000
            assert (np.diff(b["t"]) >= 0).all() and (last is None or b["t"][0] >= last)
            last = b["t"][-1]
            sizes.append(len(b))
        assert sum(sizes) == len(ev)


def test_other_streams_are_listed_and_skipped(mixed_file):
    path, ev = mixed_file
    for decoder in DECODERS:
        got, src = read_all(path, decoder=decoder)
        assert np.array_equal(got, ev)
        assert src.streams == ["events", "frames", "imu", "triggers"]
        assert src.name == "DAVIS346_00000499" and src.sensor == DAVIS
        assert src.warnings == []
    info = read_info(path, scan=True)
    assert info["streams"] == ["events", "frames", "imu", "triggers"]
    assert info["camera"] == "DAVIS346_00000499" and info["sensor"] == DAVIS
    assert info["compression"] == "LZ4" and info["finalised"] and info["state"] == "complete"
    assert info["packets"]["events"] == 10 and info["packets"]["frames"] == 10


@pytest.mark.slow
def test_memory_stays_flat(tmp_path):
    """Reading never holds more than a batch and a packet: ~27 MB decoded, well under 16 MB peak."""
    ev = synth(2_000_000, seed=4, rate=4e6)
    path = write_file(tmp_path / "big.aedat4", ev, batch=50_000)
    del ev
    for decoder in DECODERS:
        n = 0
        tracemalloc.start()
        for b in AedatFileSource(path, decoder=decoder):
            n += len(b)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert n == 2_000_000
        assert peak < 16 << 20, (decoder, peak)


# --------------------------------------------------------------------------- bad inputs


def test_missing_empty_and_foreign_files(tmp_path):
    missing = tmp_path / "nope.aedat4"
    with pytest.raises(SpikeLipError, match=r"nope\.aedat4: no such file"):
        AedatFileSource(missing)
    empty = tmp_path / "empty.aedat4"
    empty.write_bytes(b"")
    with pytest.raises(SpikeLipError, match=r"empty\.aedat4: the file is empty"):
        AedatFileSource(empty)
    text = tmp_path / "notes.aedat4"
    text.write_text("hello, this is not a recording\n")
    with pytest.raises(SpikeLipError, match=r"notes\.aedat4: not an AEDAT4 file"):
        AedatFileSource(text)
    old = tmp_path / "old.aedat"
    old.write_bytes(b"#!AER-DAT3.1\r\n#Format: RAW\r\n")
    with pytest.raises(SpikeLipError, match=r"old\.aedat: this is an AEDAT 3.1 file"):
        AedatFileSource(old)
    with pytest.raises(SpikeLipError, match="is a directory"):
        AedatFileSource(tmp_path)
    for bad in (missing, empty, text):
        with pytest.raises(SpikeLipError, match=str(bad.name)):
            read_info(bad)


def test_file_without_event_stream(tmp_path):
    path = tmp_path / "frames_only.aedat4"
    cfg = dv.io.MonoCameraWriter.FrameOnlyConfig("DAVIS346_1", (346, 260))
    w = dv.io.MonoCameraWriter(str(path), cfg)
    w.writeFrame(dv.Frame(T0, np.zeros((260, 346), np.uint8)))
    del w
    with pytest.raises(SpikeLipError, match=r"frames_only\.aedat4: the recording holds no event stream \(only frames\)"):
        AedatFileSource(path)


def test_message_is_one_line_with_path(tmp_path):
    p = tmp_path / "x.aedat4"
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(SpikeLipError) as e:
        AedatFileSource(p)
    assert "\n" not in str(e.value) and str(e.value).startswith(str(p))


# --------------------------------------------------------------------------- damaged files
# Each damaged copy is read in a child process under faulthandler's watchdog, so a hang (or a
# crash) fails these tests instead of freezing the run.

_CHILD = textwrap.dedent(
    """
    import faulthandler, json, sys, time
    sys.path.insert(0, {repo!r})
    from stream.errors import SpikeLipError
    from stream.sources.aedat4 import AedatFileSource
    out = []
    for path in sys.argv[2:]:
        faulthandler.dump_traceback_later(float(sys.argv[1]), exit=True)
        t = time.perf_counter(); n = 0; res = {{"path": path}}
        try:
            src = AedatFileSource(path, decoder={decoder!r})
            for b in src:
                n += len(b)
            res.update(kind="ok", warnings=src.warnings)
        except SpikeLipError as e:
            res.update(kind="error", message=str(e))
        except BaseException as e:
            res.update(kind="crash", message=repr(e))
        faulthandler.cancel_dump_traceback_later()
        res.update(events=n, seconds=time.perf_counter() - t)
        out.append(res)
    print(json.dumps(out))
    """
)


def read_in_child(paths: list[Path], decoder: str, per_file_s: float = 5.0) -> list[dict]:
    code = _CHILD.format(repo=str(REPO), decoder=decoder)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(per_file_s), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=per_file_s * len(paths) + 30,
    )
    assert proc.returncode == 0, f"reader child died (hang or crash):\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


def _expected_prefix(events_total, layout, cut):
    """Events in the event packets that lie completely before byte `cut`."""
    return sum(n for off, _sid, size, n in layout if off + size <= cut)


@pytest.fixture(scope="module")
def mixed_layout(mixed_file):
    path, ev = mixed_file
    with open(path, "rb") as f:
        event_sid = next(s.id for s in _read_header(path, f).streams.values() if s.type == "EVTS")
    layout = []
    k = 0
    for off, sid, size in packet_layout(path):
        n = 5_000 if sid == event_sid else 0
        layout.append((off, sid, size, n))
        k += n
    assert k == len(ev)
    return layout


@pytest.mark.parametrize("decoder", DECODERS)
def test_truncated_files_yield_every_complete_packet(tmp_path, mixed_file, mixed_layout, decoder):
    path, ev = mixed_file
    data = path.read_bytes()
    first = mixed_layout[0][0] - 8
    ev_packets = [(off, size) for off, sid, size, n in mixed_layout if n]
    cuts = {
        "right_after_header": first,
        "inside_first_packet_header": first + 5,
        "mid_first_event_packet": ev_packets[0][0] + ev_packets[0][1] // 2,
        "after_third_event_packet": ev_packets[2][0] + ev_packets[2][1],
        "mid_packet": ev_packets[5][0] + 17,
        "one_byte_short_of_table": mixed_layout[-1][0] + mixed_layout[-1][2] - 1,
        "inside_table": len(data) - 10,
        "inside_file_header": 40,
    }
    files = []
    for name, cut in cuts.items():
        p = tmp_path / f"cut_{name}.aedat4"
        p.write_bytes(data[:cut])
        files.append(p)
    results = dict(zip(cuts, read_in_child(files, decoder)))
    for name, cut in cuts.items():
        r = results[name]
        expected = _expected_prefix(len(ev), mixed_layout, cut)
        assert r["seconds"] < 5
        if name == "inside_table":
            # all packets intact, only the closing index is cut: every event, and a warning
            assert r["kind"] == "ok" and r["events"] == len(ev) and r["warnings"], r
            continue
        if expected == 0:
            assert r["kind"] == "error" and str(files[0].parent) in r["message"], r
            continue
        assert r["kind"] == "ok", r
        assert r["events"] == expected, (name, r)
        assert any("file truncated after" in w and f"recovered {expected:,} events" in w for w in r["warnings"]), r


def test_truncated_file_content_is_the_exact_prefix(tmp_path, small_file):
    path, ev = small_file
    layout = packet_layout(path)
    cut = layout[4][0] + 100  # inside the fifth packet
    p = tmp_path / "cut.aedat4"
    p.write_bytes(path.read_bytes()[:cut])
    for decoder in DECODERS:
        got, src = read_all(p, decoder=decoder)
        assert np.array_equal(got, ev[: 4 * 6_000])
        assert src.warnings and "file truncated after 24,000 events" in src.warnings[0]


def _flipped_copies(path: Path, out_dir: Path, count: int, seed: int) -> list[Path]:
    data = path.read_bytes()
    rng = np.random.default_rng(seed)
    files = []
    for i in range(count):
        b = bytearray(data)
        for q in rng.integers(0, len(b), int(rng.integers(1, 8))):
            b[q] ^= 1 << int(rng.integers(0, 8))
        p = out_dir / f"flip_{i:02d}.aedat4"
        p.write_bytes(bytes(b))
        files.append(p)
    return files


@pytest.mark.parametrize("decoder", DECODERS)
def test_bit_flips_never_hang_or_crash(tmp_path, mixed_file, decoder):
    """~30 seeded copies with 1-7 flipped bits each (about a third of these spin dv-processing
    forever): each is read fully, partly with warnings, or refused with SpikeLipError, fast."""
    path, ev = mixed_file
    files = _flipped_copies(path, tmp_path, 30, seed=11)
    results = read_in_child(files, decoder)
    kinds = {"ok": 0, "error": 0}
    for r in results:
        assert r["kind"] in ("ok", "error"), r
        kinds[r["kind"]] += 1
        assert r["seconds"] < 3, r
        assert r["events"] <= len(ev)
        if r["kind"] == "error":
            assert r["message"].startswith(r["path"]) and "\n" not in r["message"]
        elif r["events"] < len(ev):
            assert r["warnings"], r  # nothing lost silently
    assert kinds["ok"] >= 20  # most damage is local: the rest of the file is still read


# --------------------------------------------------------------------------- time order
# dv-processing refuses to write out-of-order data, so these files are written uncompressed
# and their timestamps patched in place.


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    ev = synth(8_000, seed=5, rate=2e5)  # 40 ms of events, 2,000 per packet
    path = write_uncompressed(tmp_path_factory.mktemp("plain") / "plain.aedat4", ev, 2_000)
    return path, ev


def _variant(tmp_path, plain, new_t):
    path, ev = plain
    p = tmp_path / "v.aedat4"
    p.write_bytes(path.read_bytes())
    patch_times(p, new_t)
    return p, ev


def test_uncompressed_files_read(plain):
    path, ev = plain
    assert read_info(path)["compression"] == "none"
    got, src = read_all(path)
    assert np.array_equal(got, ev) and src.warnings == []


@pytest.mark.parametrize("decoder", DECODERS)
def test_slightly_backwards_is_reordered(tmp_path, plain, decoder):
    _, ev = plain
    t = ev["t"].copy()
    t[100], t[101] = t[101] + 50, t[100]  # within a packet
    t[2_000:2_003] = t[1_999] - np.array([3_000, 2_000, 1_000])  # across a packet border
    p, _ = _variant(tmp_path, plain, t)
    got, src = read_all(p, decoder=decoder, batch_events=1_000)
    assert len(got) == len(ev)
    assert (np.diff(got["t"]) >= 0).all()
    assert any("out of time order and were re-sorted" in w for w in src.warnings), src.warnings


def test_corrupt_timestamp_run_is_cut_out(tmp_path, plain):
    _, ev = plain
    t = ev["t"].copy()
    t[500:505] += 3_600_000_000  # five events an hour in the future, then back
    t[6_000] -= 10**12  # one event years in the past
    p, _ = _variant(tmp_path, plain, t)
    got, src = read_all(p)
    assert len(got) == len(ev) - 6
    assert got["t"].max() < ev["t"].max() + 1 and got["t"].min() >= ev["t"].min()
    assert any("corrupt timestamps" in w for w in src.warnings), src.warnings


def test_a_few_far_backwards_are_dropped(tmp_path, plain):
    _, ev = plain
    t = ev["t"].copy()
    t[3_000:3_010] = t[3_000] - 200_000  # ten events 0.2 s back
    p, _ = _variant(tmp_path, plain, t)
    got, src = read_all(p)
    assert len(got) == len(ev) - 10 and (np.diff(got["t"]) >= 0).all()
    assert any("more than 10 ms behind" in w for w in src.warnings), src.warnings


def test_wholesale_backwards_is_an_error(tmp_path, plain):
    _, ev = plain
    t = ev["t"].copy()
    t[4_000:] -= 30_000_000  # the second half starts 30 s earlier: two recordings joined
    p, _ = _variant(tmp_path, plain, t)
    src = AedatFileSource(p, batch_events=1_000)
    got = []
    with pytest.raises(SpikeLipError, match=r"v\.aedat4: timestamps jump backwards by .* not time-ordered"):
        for b in src:
            got.append(b)
    assert sum(map(len, got)) >= 4_000  # what came before was delivered


# --------------------------------------------------------------------------- info


def test_read_info_is_cheap_and_complete(small_file, tmp_path):
    path, ev = small_file
    info = read_info(path)
    assert info["sensor"] == DAVIS and info["camera"] == "TestCam" and info["streams"] == ["events"]
    assert info["finalised"] and info["file_bytes"] == path.stat().st_size
    scanned = read_info(path, scan=True)
    assert scanned["packets"] == {"events": 10} and scanned["state"] == "complete"
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    info = read_info(cut, scan=True)
    assert not info["finalised"] and info["state"] == "truncated" and 0 < info["packets"]["events"] < 10


def test_source_is_a_context_manager_and_reiterable(small_file):
    path, ev = small_file
    with AedatFileSource(path) as src:
        assert src.live is False and src.binning == "floor"
        first = sum(map(len, src))
        second = sum(map(len, src))
    assert first == second == len(ev)
    src.close()
    src.close()


def test_early_stop_closes_the_file(small_file):
    path, _ = small_file
    src = AedatFileSource(path, batch_events=1_000)
    it = iter(src)
    next(it)
    it.close()
    assert src._file is None


def test_native_decoder_refused_without_liblz4(monkeypatch, small_file):
    path, ev = small_file
    monkeypatch.setattr(decoders, "_LZ4_LIB", None)
    monkeypatch.setattr(decoders, "_LZ4_TRIED", True)
    with pytest.raises(SpikeLipError, match="liblz4 not found"):
        AedatFileSource(path, decoder="native")
    got, src = read_all(path)  # auto falls back to the aedat decoder
    assert src.decoder == "aedat" and np.array_equal(got, ev)



@pytest.mark.parametrize(
    "damage, native_events, native_warning",
    [
        ("size_plus_one", 60_000, "wrong size field"),
        ("size_doubled", 60_000, "wrong size field"),
        ("size_huge", 54_000, "read on from the next intact packet"),
        ("stream_id", 60_000, "recognised by their content"),
        ("whole_header", 54_000, "read on from the next intact packet"),
    ],
)
def test_damaged_packet_headers(tmp_path, small_file, damage, native_events, native_warning):
    """The native reader re-finds the packet chain after a damaged header; the aedat decoder
    (which follows the chain blindly) stops there with a warning."""
    path, ev = small_file
    layout = packet_layout(path)
    at = layout[5][0] - 8  # the sixth packet's header
    b = bytearray(path.read_bytes())
    size = int.from_bytes(b[at + 4 : at + 8], "little")
    patch = {
        "size_plus_one": (at + 4, (size + 1).to_bytes(4, "little")),
        "size_doubled": (at + 4, (size * 2).to_bytes(4, "little")),
        "size_huge": (at + 4, (0x7FFFFF00).to_bytes(4, "little")),
        "stream_id": (at, (77).to_bytes(4, "little")),
        "whole_header": (at, b"\xff" * 8),
    }[damage]
    b[patch[0] : patch[0] + len(patch[1])] = patch[1]
    p = tmp_path / f"{damage}.aedat4"
    p.write_bytes(bytes(b))
    if "native" in DECODERS:
        got, src = read_all(p, decoder="native")
        assert len(got) == native_events and any(native_warning in w for w in src.warnings), src.warnings
        assert (np.diff(got["t"]) >= 0).all()
        assert np.isin(got["t"], ev["t"]).all()
    got, src = read_all(p, decoder="aedat")
    assert len(got) >= 30_000 and src.warnings
