"""CameraSource without a camera: discovery, the no-camera error, and the stream loop driven by a
fake dv-processing camera (events, silence, unplugging, recording on the side)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import cv2
import dv_processing as dv
import numpy as np
import pytest

from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, SensorSize
from stream.sources import camera as camera_module
from stream.sources.aedat4 import AedatFileSource
from stream.sources.camera import CameraDisconnected, CameraSource, ReconnectingCamera, list_cameras
from stream.writer import AedatWriter
from camera_helpers import FakeCamera, store

T0 = 1_700_000_000_000_000


def test_no_camera_attached():
    assert list_cameras() == []
    with pytest.raises(SpikeLipError, match="no event camera found: connect a DAVIS or DVXplorer"):
        CameraSource()
    with pytest.raises(SpikeLipError, match="no event camera found"):
        CameraSource("DAVIS346_00000499")


def test_discovery_and_open_by_name(monkeypatch):
    cams = [
        SimpleNamespace(cameraModel=dv.io.camera.CameraModel.DAVIS, serialNumber="00000499"),
        SimpleNamespace(cameraModel=dv.io.camera.CameraModel.DVXPLORER, serialNumber="DXA00093"),
    ]
    opened = []
    fake_dv = SimpleNamespace(
        io=SimpleNamespace(
            camera=SimpleNamespace(
                discover=lambda: cams,
                open=lambda d: opened.append(d) or FakeCamera([], name=f"X_{d.serialNumber}"),
            )
        )
    )
    monkeypatch.setattr(camera_module, "_dv", lambda: fake_dv)
    assert list_cameras() == ["DAVIS_00000499", "DVXplorer_DXA00093"]
    assert CameraSource().name == "X_00000499"
    assert CameraSource("DVXplorer_DXA00093").name == "X_DXA00093"
    assert CameraSource("DXA00093").name == "X_DXA00093"
    with pytest.raises(SpikeLipError, match=r"no camera named 'DAVIS_1'; connected: DAVIS_00000499, DVXplorer_DXA00093"):
        CameraSource("DAVIS_1")

    def refuse(d):
        raise RuntimeError("LIBUSB_ERROR_ACCESS")

    fake_dv.io.camera.open = refuse
    with pytest.raises(SpikeLipError, match="cannot open it .*LIBUSB_ERROR_ACCESS"):
        CameraSource()


def test_stream_silence_and_unplug():
    cam = FakeCamera(
        [store(T0, 300), None, store(T0 + 1_000, 200), 0.12, store(T0 + 200_000, 50)],
        after_unplug=[store(T0 + 210_000, 7)],
    )
    src = CameraSource(batch_timeout_s=0.05, _camera=cam)
    assert src.live and src.sensor == SensorSize(346, 260) and src.name == "DVXplorer_DXA00093"
    assert src.streams == ["events", "imu"]
    assert src.now_us() is None
    got = []
    with pytest.raises(CameraDisconnected, match="DVXplorer_DXA00093: disconnected after 557 events") as e:
        for b in src:
            assert b.dtype == EVENT_DTYPE
            got.append(b)
    assert isinstance(e.value, SpikeLipError)
    sizes = [len(b) for b in got]
    assert [s for s in sizes if s] == [300, 200, 50, 7]  # everything, including what was buffered at the unplug
    assert 0 in sizes  # the 0.12 s pause produced empty batches
    allev = np.concatenate(got)
    assert allev["t"][0] == T0 and allev["x"][5] == 5 and allev["p"][1] == 1 and allev["p"][0] == 0
    assert src.events_read == 557


def test_empty_batches_come_every_timeout_and_now_advances():
    cam = FakeCamera([store(T0, 10)] + [None] * 100_000)
    src = CameraSource(batch_timeout_s=0.02, _camera=cam)
    it = iter(src)
    first = next(it)
    assert len(first) == 10
    t_event = src.now_us()
    assert T0 + 9 <= t_event < T0 + 9 + 50_000
    start = time.monotonic()
    empties = 0
    while time.monotonic() - start < 0.2:
        b = next(it)
        assert len(b) == 0
        empties += 1
    assert 5 <= empties <= 12  # one per 20 ms of silence
    now = src.now_us()
    assert now - (T0 + 9) >= 150_000  # the camera clock estimate moved on with host time


def test_error_from_the_camera_is_a_disconnect():
    cam = FakeCamera([store(T0, 5)], error=RuntimeError("USB transfer failed\nstack..."))
    src = CameraSource(_camera=cam)
    got = []
    with pytest.raises(CameraDisconnected, match=r"stopped with an error after 5 events \(USB transfer failed\)"):
        for b in src:
            got.append(b)
    assert sum(map(len, got)) == 5


def test_recording_on_the_side_survives_the_unplug(tmp_path):
    path = tmp_path / "live.aedat4"
    cam = FakeCamera([store(T0, 1_000), store(T0 + 5_000, 1_000), None, store(T0 + 9_000, 500)])
    with AedatWriter(path, SensorSize(346, 260), "DVXplorer_DXA00093") as w:
        src = CameraSource(record_to=w, _camera=cam)
        with pytest.raises(CameraDisconnected):
            for _ in src:
                pass
    parts = list(AedatFileSource(path))
    assert sum(map(len, parts)) == 2_500 and w.events_written == 2_500


def test_camera_without_events_is_refused():
    with pytest.raises(SpikeLipError, match="no event output"):
        CameraSource(_camera=FakeCamera([], resolution=None))


def davis_frames(*times):
    """dv-processing frames of a colour DAVIS (BGR), one per time."""
    rng = np.random.default_rng(len(times))
    return [dv.Frame(t, rng.integers(0, 256, (260, 346, 3), dtype=np.uint8)) for t in times]


def test_frames_come_in_step_with_the_events_and_are_recorded(tmp_path):
    path = tmp_path / "davis.aedat4"
    sent = davis_frames(T0 + 500, T0 + 1_500, T0 + 99_000)
    cam = FakeCamera([store(T0, 300), store(T0 + 1_000, 600), store(T0 + 2_000, 10)], name="DAVIS346_00000499",
                     frames=sent)
    with AedatWriter(path, SensorSize(346, 260), "DAVIS346_00000499", frames=True) as w:
        src = CameraSource(record_to=w, _camera=cam)
        src.want_frames = True
        assert "frames" in src.streams
        taken, newest = [], None
        with pytest.raises(CameraDisconnected):
            for b in src:
                newest = int(b["t"][-1]) if len(b) else newest
                got = src.take_frames()
                assert all(f.t_us <= newest for f in got)
                taken.append([f.t_us for f in got])
    assert [t for t in taken if t] == [[T0 + 500, T0 + 1_500]]  # the third is newer than every event
    assert taken[0] == []  # the first batch ends before the first frame
    assert w.frames_written == 3  # all three recorded, as they came
    replay = AedatFileSource(path, want_frames=True)
    assert sum(map(len, replay)) == 910
    again = replay.take_frames()
    assert [f.t_us for f in again] == [T0 + 500, T0 + 1_500]
    assert np.array_equal(again[0].image, cv2.cvtColor(sent[0].image, cv2.COLOR_BGR2GRAY))


def test_frames_are_not_fetched_unless_wanted():
    cam = FakeCamera([store(T0, 300)], frames=davis_frames(T0 + 10))
    src = CameraSource(_camera=cam)
    with pytest.raises(CameraDisconnected):
        for _ in src:
            assert src.take_frames() == []
    assert cam.frame_calls == 0


def test_a_reconnected_camera_s_frames_follow_its_shifted_clock():
    first = FakeCamera([store(T0, 100)], frames=davis_frames(T0 + 50))
    second = FakeCamera([store(1_000, 100), store(2_000, 100)], frames=davis_frames(1_500),
                        error=KeyboardInterrupt())  # its clock restarted
    answers = [first, second]
    src = ReconnectingCamera(batch_timeout_s=0.01, retry_s=0.05, _open=lambda name: CameraSource(_camera=answers.pop(0)))
    src.want_frames = True
    taken, events = [], []
    with pytest.raises(KeyboardInterrupt):
        for b in src:
            events.append(b)
            taken += src.take_frames()
    t = np.concatenate(events)["t"]
    assert len(t) == 300 and (np.diff(t) >= 0).all()
    offset = int(t[100]) - 1_000
    assert [f.t_us for f in taken] == [T0 + 50, 1_500 + offset]


@pytest.mark.slow
def test_spikelip_record_keeps_a_davis_cameras_frames(tmp_path, monkeypatch, capsys):
    """`spikelip record` from a DAVIS saves its APS frames beside the events (what `--roi auto`
    finds faces in on replay); the camera unplugged ends the run with the file finalised."""
    from app.cli import main

    cam = FakeCamera([store(T0, 300), store(T0 + 1_000, 600), store(T0 + 2_000, 10)], name="DAVIS346_00000499",
                     frames=davis_frames(T0 + 500, T0 + 1_500))
    monkeypatch.setattr(CameraSource, "_open", staticmethod(lambda name: cam))
    out = tmp_path / "davis.aedat4"
    assert main(["record", str(out)]) == 2  # the fake camera then unplugs: one line, file kept
    replay = AedatFileSource(out, want_frames=True)
    assert sum(map(len, replay)) == 910
    assert [f.t_us for f in replay.take_frames()] == [T0 + 500, T0 + 1_500]
