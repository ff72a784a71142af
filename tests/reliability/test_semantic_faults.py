"""Well-formed files with wrong content, through `spikelip inspect` and `replay`: time going
backwards, pauses of hours, repeated data, coordinates off the sensor, a ROI that does not fit,
empty files and recordings with frames but no events."""
from __future__ import annotations

import re

import dv_processing as dv
import numpy as np
import pytest

from stream.events import SensorSize
from stream.sources.npy import NpyClipSource, save_clip
from stream.writer import AedatWriter
from reliability_helpers import (REPLAY, clip, events, one_error_line, packet_layout, patch_times, read_all, run_cli,
                                 write_uncompressed)

DAVIS = SensorSize(346, 260)
T0 = 1_700_000_000_000_000


def recording(path, ev, sensor=DAVIS, per_packet=2_000):
    with AedatWriter(path, sensor, "TestCam") as w:
        for i in range(0, len(ev), per_packet):
            w.write(ev[i : i + per_packet])
    return path


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """8,000 events over 40 ms in four uncompressed packets, to patch timestamps into."""
    ev = events(8_000, 40_000)
    return write_uncompressed(tmp_path_factory.mktemp("plain") / "plain.aedat4", ev, 2_000), ev


def patched(tmp_path, plain, t):
    path, _ = plain
    out = tmp_path / "patched.aedat4"
    out.write_bytes(path.read_bytes())
    patch_times(out, t)
    return out


# --------------------------------------------------------------------------- time order


def test_a_few_events_going_back_are_reordered_with_a_warning(tmp_path, plain, capsys):
    _, ev = plain
    t = ev["t"].copy()
    t[100], t[101] = t[101] + 40, t[100]  # within a packet
    t[2_000:2_003] = t[1_999] - np.array([3_000, 2_000, 1_000])  # across a packet border, up to 3 ms back
    path = patched(tmp_path, plain, t)
    code, out, _ = run_cli(["inspect", path], capsys)
    assert code == 0 and "8,000 (" in out and "re-sorted" in out
    got, _ = read_all(path)
    assert np.array_equal(got["t"], np.sort(t))  # every event, in time order

    c = clip()
    c["t"][[10, 11]] = c["t"][[11, 10]] + np.array([7, 0])
    save_clip(tmp_path / "swap.npy", c)
    code, out, _ = run_cli(["inspect", tmp_path / "swap.npy"], capsys)
    assert code == 0 and "1 out-of-order event(s) reordered" in out
    source = NpyClipSource(tmp_path / "swap.npy")
    assert (np.diff(source.events["t"]) >= 0).all() and len(source.events) == len(c)


def test_timestamps_going_back_wholesale_are_refused(tmp_path, plain, capsys):
    _, ev = plain
    t = ev["t"].copy()
    t[4_000:] -= 30_000_000  # the second half 30 s earlier: two recordings joined
    path = patched(tmp_path, plain, t)
    code, _, err = run_cli(["inspect", path], capsys)
    assert code == 2 and "not time-ordered" in one_error_line(err, "inspect", path)

    c = clip()
    save_clip(tmp_path / "joined.npy", np.concatenate([c[1_500:], c[:1_500]]))
    code, _, err = run_cli(["inspect", tmp_path / "joined.npy"], capsys)
    assert code == 2 and "timestamps go backwards" in one_error_line(err, "inspect", tmp_path / "joined.npy")


# --------------------------------------------------------------------------- gaps


@pytest.mark.slow
def test_a_pause_of_hours_is_skipped_and_reported(tmp_path, capsys):
    ev = events(20_000, 2_000_000)
    ev["t"][10_000:] += 3 * 3600 * 10**6
    path = recording(tmp_path / "gap.aedat4", ev)
    code, out, _ = run_cli(["inspect", path], capsys)
    assert code == 0 and "20,000 (" in out and "pause 1 time(s) for over 10 s (longest 3.0 h" in out
    code, out, _ = run_cli([*REPLAY, path], capsys)
    assert code == 0
    steps = int(out.split("done: ")[1].split(" steps")[0])
    assert 140 <= steps <= 160  # 2 s of events; not the 810,000 bins of the pause
    assert "skipped 809,999 empty bins (10,800.0 s) in pauses longer than 10 s" in out
    assert "20,000 events" in out


# --------------------------------------------------------------------------- repeated data


def test_a_packet_written_twice_is_read_once(tmp_path, capsys):
    ev = events(12_000, 60_000)
    path = recording(tmp_path / "once.aedat4", ev)
    data = path.read_bytes()
    off, _, size = packet_layout(path)[2]
    twice = data[: off + size] + data[off - 8 : off + size] + data[off + size :]  # the third packet again
    (tmp_path / "twice.aedat4").write_bytes(twice)
    got, source = read_all(tmp_path / "twice.aedat4")
    assert np.array_equal(got, ev)
    assert any("skipped 1 packet(s) repeating earlier ones (2,000 duplicate events" in w for w in source.warnings)
    code, out, _ = run_cli(["inspect", tmp_path / "twice.aedat4"], capsys)
    assert code == 0 and "12,000 (" in out and "repeating earlier ones" in out


def test_a_clip_with_a_stretch_written_twice_is_refused(tmp_path, capsys):
    c = clip()
    save_clip(tmp_path / "again.npy", np.concatenate([c[:2_000], c[1_000:]]))
    code, _, err = run_cli(["inspect", tmp_path / "again.npy"], capsys)
    line = one_error_line(err, "inspect", tmp_path / "again.npy")
    late = int(re.search(r"([\d,]+) events are out of time order", line).group(1).replace(",", ""))
    assert code == 2 and 990 <= late <= 1_000 and "part of the clip repeated" in line  # the copies, less ties


# --------------------------------------------------------------------------- coordinates and ROI


def test_events_off_the_sensor(tmp_path, capsys):
    ev = events(4_000, 20_000)
    ev["x"][[5, 50, 3_000]] = [346, 1_000, 30_000]
    path = write_uncompressed(tmp_path / "off.aedat4", ev, 1_000)
    code, out, _ = run_cli(["inspect", path], capsys)
    assert code == 0 and "3,997 (" in out and "dropped 3 events with coordinates outside the 346x260 sensor" in out

    c = clip()
    c["y"][7] = 128
    np.save(  # as another tool would write it: save_clip refuses such events
        tmp_path / "off.npy", np.rec.fromarrays([c["t"], c["x"], c["y"], c["p"]], names="t,x,y,p"))
    code, _, err = run_cli(["inspect", tmp_path / "off.npy"], capsys)
    assert code == 2 and "outside the 128x128 sensor" in one_error_line(err, "inspect", tmp_path / "off.npy")


def test_a_roi_that_does_not_fit_the_sensor(tmp_path, capsys):
    save_clip(tmp_path / "c.npy", clip())
    code, _, err = run_cli([*REPLAY, "--roi", "100,0,64,64", tmp_path / "c.npy"], capsys)
    assert code == 2 and "does not fit the 128x128 sensor" in one_error_line(err, "replay", tmp_path / "c.npy")
    small = recording(tmp_path / "small.aedat4", events(3_000, 100_000, SensorSize(64, 48)), SensorSize(64, 48))
    code, _, err = run_cli([*REPLAY, small], capsys)
    line = one_error_line(err, "replay", small)
    assert code == 2 and "the model reads 88x88 pixels but the region given to it is 64x48" in line


# --------------------------------------------------------------------------- empty


@pytest.mark.slow
def test_empty_files_and_recordings_without_events(tmp_path, capsys):
    for name, message in [("zero.aedat4", "the file is empty"), ("zero.npy", "not a readable .npy file")]:
        (tmp_path / name).write_bytes(b"")
        code, _, err = run_cli(["inspect", tmp_path / name], capsys)
        assert code == 2 and message in one_error_line(err, "inspect", tmp_path / name)
    path = recording(tmp_path / "none.aedat4", events(0, 1))
    code, out, _ = run_cli(["inspect", path], capsys)
    assert code == 0 and "events      0 (" in out and "the recording holds no events" in out
    code, out, _ = run_cli([*REPLAY, path], capsys)
    assert code == 0 and "no events: nothing to replay" in out


def test_frames_but_no_events(tmp_path, capsys):
    frames_only = tmp_path / "frames.aedat4"
    w = dv.io.MonoCameraWriter(str(frames_only), dv.io.MonoCameraWriter.FrameOnlyConfig("DAVIS346_1", (346, 260)))
    w.writeFrame(dv.Frame(T0, np.zeros((260, 346), np.uint8)))
    del w
    code, _, err = run_cli(["inspect", frames_only], capsys)
    assert code == 2 and "holds no event stream (only frames)" in one_error_line(err, "inspect", frames_only)

    declared = tmp_path / "declared.aedat4"  # an event stream in the header, only frames in the file
    cfg = dv.io.MonoCameraWriter.Config("DAVIS346_1")
    cfg.addEventStream((346, 260))
    cfg.addFrameStream((346, 260))
    w = dv.io.MonoCameraWriter(str(declared), cfg)
    for k in range(3):
        w.writeFrame(dv.Frame(T0 + k * 10_000, np.zeros((260, 346), np.uint8)))
    del w
    code, out, _ = run_cli(["inspect", declared], capsys)
    assert code == 0 and "events      0 (" in out and "holds no events" in out and "frames" in out
