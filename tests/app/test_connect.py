"""`--connect ADDR` on record, demo and latency, against real dv-processing NetworkWriter servers
(and scripted byte servers) on localhost: every event served is recorded, a normal close ends
the run with exit 0, and every fault is one line naming the address with exit 2, in bounded time."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dv_processing")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stream"))

from network_helpers import ByteServer, batches_by_time, capture, dv_writer, free_port  # noqa: E402

from app.cli import main  # noqa: E402
from app.latency import measure  # noqa: E402
from app.pipeline import Pipeline  # noqa: E402
from model import Readout, build  # noqa: E402
from stream.events import SensorSize, make_events  # noqa: E402
from stream.sources import open_file  # noqa: E402
from stream.sources.base import EventSource  # noqa: E402
from stream.synthlip import generate_sentence  # noqa: E402


def read_events(path) -> np.ndarray:
    with open_file(path) as source:
        return np.concatenate([b for b in source if len(b)])


@pytest.fixture(scope="module")
def sentence(tmp_path_factory):
    """A 2.5 s SynthLip sentence ("water million") and its events."""
    path = tmp_path_factory.mktemp("connect") / "s.aedat4"
    generate_sentence("water million", path, seed=2)
    return path, read_events(path)


def error_line(err: str, command: str) -> str:
    """The one error line (record says what it records on the line before)."""
    lines = [line for line in err.strip().splitlines() if not line.startswith("recording ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"spikelip {command}: error: "), lines
    return lines[0]


# --- record ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_record_connect_keeps_every_event_and_ends_when_the_server_closes(sentence, tmp_path, capsys):
    _, events = sentence
    events = events[events["t"] < events["t"][0] + 800_000]
    port = free_port()
    out = tmp_path / "net.aedat4"
    with dv_writer(f"127.0.0.1:{port}", events, tmp_path, end="exit") as server:
        start = time.monotonic()
        assert main(["record", str(out), "--connect", f"127.0.0.1:{port}"]) == 0
        assert time.monotonic() - start < 10
        assert server.wait(5) == 0
    err = capsys.readouterr().err
    assert f"DV stream at 127.0.0.1:{port}: the stream ended: wrote {len(events):,} events to {out}" in err
    np.testing.assert_array_equal(read_events(out), events)
    with open_file(out) as source:
        assert source.sensor == SensorSize(346, 260)


@pytest.mark.slow
def test_record_connect_duration_stops_a_stream_that_goes_on(sentence, tmp_path, capsys):
    _, events = sentence
    events = events[events["t"] < events["t"][0] + 1_200_000]
    port = free_port()
    out = tmp_path / "short.aedat4"
    with dv_writer(f"127.0.0.1:{port}", events, tmp_path):
        assert main(["record", str(out), "--connect", f"127.0.0.1:{port}", "--duration", "0.6"]) == 0
    assert "duration reached: wrote" in capsys.readouterr().err
    got = read_events(out)
    assert 0 < len(got) < len(events)
    np.testing.assert_array_equal(got, events[:len(got)])  # a prefix of what was served


@pytest.mark.slow
def test_record_connect_sigterm_finalises_the_file(sentence, tmp_path):
    import signal
    import subprocess

    _, events = sentence
    port = free_port()
    out = tmp_path / "term.aedat4"
    with dv_writer(f"127.0.0.1:{port}", events, tmp_path):
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "record", str(out), "--connect", f"127.0.0.1:{port}"],
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr.readline().startswith(f"recording DV stream at 127.0.0.1:{port} (346x260) to {out}")
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped by the user: wrote ") and last.endswith(f" events to {out}"), err
    got = read_events(out)
    assert len(got) == int(last.split("wrote ")[1].split(" events")[0].replace(",", ""))
    assert 0 < len(got) < len(events)
    np.testing.assert_array_equal(got, events[:len(got)])


@pytest.mark.parametrize("where", ["tcp", "socket"])
def test_record_connect_to_nothing_is_one_line_and_no_file(where, tmp_path, capsys):
    address = f"127.0.0.1:{free_port()}" if where == "tcp" else str(tmp_path / "dv.sock")
    out = tmp_path / "none.aedat4"
    start = time.monotonic()
    assert main(["record", str(out), "--connect", address]) == 2
    assert time.monotonic() - start < 5
    line = error_line(capsys.readouterr().err, "record")
    assert line.startswith(f"spikelip record: error: {address}: ")
    assert ("nothing is listening" if where == "tcp" else "no such socket") in line
    assert not out.exists()


@pytest.mark.slow
def test_record_connect_fault_mid_recording_saves_what_came_before(tmp_path, capsys):
    ev = make_events(1_000_000 + np.arange(2000) * 100, np.arange(2000) % 346, np.arange(2000) % 260, np.arange(2000) % 2)
    batches = batches_by_time(ev, 20_000)
    header, packets = capture(batches, tmp_path)
    out = tmp_path / "broken.aedat4"
    with ByteServer([header, *packets[:6], 0.2, "reset"]) as server:
        start = time.monotonic()
        assert main(["record", str(out), "--connect", server.address]) == 2
        assert time.monotonic() - start < 8
    kept = np.concatenate(batches[:6])
    line = error_line(capsys.readouterr().err, "record")
    assert line.startswith(f"spikelip record: error: {server.address}: the connection broke after {len(kept):,} events")
    assert line.endswith(f"({len(kept):,} events before it are saved in {out})")
    np.testing.assert_array_equal(read_events(out), kept)


def test_record_garbage_server_is_one_line(tmp_path, capsys):
    with ByteServer([b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4, "hold"]) as server:
        assert main(["record", str(tmp_path / "x.aedat4"), "--connect", server.address]) == 2
    line = error_line(capsys.readouterr().err, "record")
    assert f"{server.address}: this is not a DV event stream" in line


@pytest.mark.parametrize("argv, message", [
    (["record", "{tmp}/o.aedat4", "--connect", "1.2.3.4:5", "--camera", "x"], "argument --camera: not allowed with argument --connect"),
    (["record", "{tmp}/o.aedat4", "--synthetic", "--connect", "1.2.3.4:5"], "argument --connect: not allowed with argument --synthetic"),
    (["demo", "--camera", "x", "--connect", "1.2.3.4:5"], "argument --connect: not allowed with argument --camera"),
    (["latency", "--camera", "--connect", "1.2.3.4:5"], "argument --connect: not allowed with argument --camera"),
    (["latency", "--synthetic", "1e6", "--connect", "1.2.3.4:5"], "argument --connect: not allowed with argument --synthetic"),
    (["record", "{tmp}/o.aedat4", "--connect", "dv box:77"], "argument --connect: 'dv box:77' is not a DV stream address"),
    (["demo", "--connect", "127.0.0.1:0"], "argument --connect: '127.0.0.1:0': the port must be a number from 1 to 65535"),
    (["latency", "{sample}", "--connect", "1.2.3.4:5"], "give a recording PATH or --connect, not both"),
])
def test_connect_conflicts_and_bad_addresses_are_one_line(argv, message, tmp_path, capsys):
    sample = Path(__file__).resolve().parents[2] / "assets" / "samples" / "sample.aedat4"
    argv = [a.format(tmp=tmp_path, sample=sample) for a in argv]
    assert main(argv) == 2
    line = error_line(capsys.readouterr().err, argv[0])
    assert message in line


# --- demo and latency ------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_headless_connect_prints_the_words(sentence, tmp_path, capsys):
    _, events = sentence
    port = free_port()
    with dv_writer(f"127.0.0.1:{port}", events, tmp_path, end="exit"):
        assert main(["demo", "--headless", "--connect", f"127.0.0.1:{port}", "--runtime", "torch"]) == 0
    out = capsys.readouterr().out
    assert f"live from DV stream at 127.0.0.1:{port} (346x260" in out
    heard = [line.split()[2] for line in out.splitlines() if line.startswith("t=")]
    assert heard[0] == "water" and len(heard) == 2, out  # (load shedding on a busy machine may change the second)
    assert out.strip().endswith(f"DV stream at 127.0.0.1:{port}: the stream ended")


def test_demo_headless_connect_to_nothing_is_one_line(capsys):
    address = f"127.0.0.1:{free_port()}"
    assert main(["demo", "--headless", "--connect", address]) == 2
    assert error_line(capsys.readouterr().err, "demo").startswith(f"spikelip demo: error: {address}: nothing is listening")


@pytest.mark.slow
def test_latency_connect_reports_stages(sentence, tmp_path, capsys):
    _, events = sentence
    port = free_port()
    out = tmp_path / "lat.json"
    with dv_writer(f"127.0.0.1:{port}", events, tmp_path, end="exit"):
        assert main(["latency", "--connect", f"127.0.0.1:{port}", "--runtime", "torch", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["input"] == f"DV stream at 127.0.0.1:{port}"
    for stage in ("bin", "prepare", "model", "readout", "end_to_end"):
        assert report["stages"][stage]["count"] == report["steps"] > 150
    assert report["events_in"] == len(events)
    # a SynthLip recording's timestamps are from 2023: not this host's clock, so no camera_to_prediction
    assert "camera_to_prediction" not in report["stages"] and report["stream_clock_offset_s"] > 1e7
    assert "camera_to_prediction not reported" in capsys.readouterr().out


class Clocked(EventSource):
    """A live source whose timestamps are the host clock plus `offset_s`."""

    live = True
    sensor = SensorSize(128, 128)

    def __init__(self, offset_s: float) -> None:
        super().__init__()
        self.offset_us = int(offset_s * 1e6)

    def __iter__(self):
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            now = int(time.time() * 1e6) - self.offset_us
            yield make_events(np.full(50, now), np.arange(50), np.arange(50), np.ones(50))
            time.sleep(0.005)


@pytest.mark.parametrize("offset_s, reported", [(0.0, True), (3600.0, False), (-30.0, False)])
@pytest.mark.slow
def test_camera_to_prediction_only_on_a_synchronised_clock(offset_s, reported):
    net = build("small", frontend_widths=[4, 4, 8, 8], hidden_size=16, num_layers=1).eval()
    report = measure(Pipeline(Clocked(offset_s), net, Readout(net.words)), camera_clock="if_synchronised")
    assert ("camera_to_prediction" in report["stages"]) == reported
    assert report["stream_clock_offset_s"] == pytest.approx(offset_s, abs=1.0)
    if reported:
        assert report["stages"]["camera_to_prediction"]["count"] == report["steps"] > 5
