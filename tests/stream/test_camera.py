"""CameraSource without a camera: discovery, the no-camera error, and the stream loop driven by a
fake dv-processing camera (events, silence, unplugging, recording on the side)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import dv_processing as dv
import numpy as np
import pytest

from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, SensorSize
from stream.sources import camera as camera_module
from stream.sources.aedat4 import AedatFileSource
from stream.sources.camera import CameraDisconnected, CameraSource, list_cameras
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
