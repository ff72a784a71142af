"""NetworkSource against real dv-processing NetworkWriter servers and scripted byte servers, all
on localhost: every event arrives in order and in real time over TCP and a UNIX socket, a normal
close ends the stream, and every fault (nothing listening, silence, garbage, stalls, broken
packets, resets) is a one-line SpikeLipError within the timeouts, never a hang or a crash."""
from __future__ import annotations

import argparse
import os
import socket
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network_helpers import RESOLUTION, ByteServer, batches_by_time, capture, dv_writer, free_port, random_bytes
from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, SensorSize
from stream.sources import open_file
from stream.sources.network import NetworkSource, connect_address, format_address, parse_address

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "samples" / "sample2.aedat4"


def synthetic(n_batches=20, per_batch=50, t0=1_000_000, step_us=10_000):
    ev = np.zeros(n_batches * per_batch, EVENT_DTYPE)
    k = np.arange(len(ev))
    ev["t"] = t0 + (k // per_batch) * step_us + k % per_batch
    ev["x"] = k * 7 % RESOLUTION[0]
    ev["y"] = k * 3 % RESOLUTION[1]
    ev["p"] = k % 2
    return batches_by_time(ev, step_us)


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    batches = synthetic()
    header, packets = capture(batches, tmp_path_factory.mktemp("capture"))
    return batches, header, packets


@pytest.fixture
def sock_dir():
    d = tempfile.mkdtemp(prefix="sl-", dir="/tmp")  # short: a socket path is at most 107 bytes
    yield Path(d)
    for f in Path(d).iterdir():
        f.unlink()
    os.rmdir(d)


def read_all(src, n_expected, limit_s=5.0):
    """Batches (with arrival times) until `n_expected` events came, at most `limit_s`."""
    got, times, deadline = [], [], time.monotonic() + limit_s
    for b in src:
        assert b.dtype == EVENT_DTYPE
        if len(b):
            got.append(b.copy())
            times.append(time.monotonic())
        if sum(map(len, got)) >= n_expected or time.monotonic() > deadline:
            break
    return got, times


def relay_gone(src):
    return src._proc is None or src._proc.poll() is not None


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1:7777", ("127.0.0.1", 7777)),
        ("localhost:1", ("localhost", 1)),
        ("dv-box.lab.example:65535", ("dv-box.lab.example", 65535)),
        ("[::1]:7777", ("::1", 7777)),
        (" 10.0.0.2:80 ", ("10.0.0.2", 80)),
        ("/tmp/dv.sock", "/tmp/dv.sock"),
        ("./dv-events", "./dv-events"),
        ("dv.sock", "dv.sock"),
    ],
)
def test_parse_address_accepts(text, expected):
    assert parse_address(text) == expected
    assert parse_address(format_address(expected)) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("127.0.0.1:0", "port must be a number from 1 to 65535"),
        ("127.0.0.1:65536", "port must be"),
        ("localhost:99999999999", "port must be"),
        ("300.1.1.1:7777", "not an IPv4 address"),
        ("[::g]:7777", "not an IPv6 address"),
        ("::1:7777", "not a DV stream address; give HOST:PORT"),
        ("localhost", "HOST:PORT of DV's network output"),
        ("7777", "or the path of its local socket"),
        ("bad_host:7777", "not a DV stream address"),
        ("", "not a DV stream address"),
        ("/tmp/" + "x" * 120 + ".sock", "at most 107 bytes"),
    ],
)
def test_parse_address_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse_address(text)
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        connect_address(text)
    parser = argparse.ArgumentParser()
    parser.add_argument("--connect", type=connect_address)
    assert parser.parse_args(["--connect", "127.0.0.1:7777"]).connect == ("127.0.0.1", 7777)


# Host name labels start with a letter here: all-digit names ("0", "1.2") read as (bad) IPv4.
_label = st.builds(
    lambda a, mid, z: a + mid + z if mid or z else a,
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.text("abcxyz019-", max_size=8),
    st.text("abz09", max_size=1),
).filter(lambda s: not s.endswith("-"))
_hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.lists(_label, min_size=1, max_size=4).map(".".join),
)


@settings(max_examples=100, deadline=None)
@given(_hosts, st.integers(1, 65535))
def test_tcp_addresses_round_trip(host, port):
    text = format_address((host, port))
    assert parse_address(text) == (host, port)
    assert connect_address(text) == (host, port)


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1, max_size=60))
def test_paths_round_trip_and_other_text_is_refused(text):
    try:
        parsed = parse_address(text)
    except ValueError as e:
        assert any(k in str(e) for k in ("not a DV stream address", "port must", "is not an IPv", "at most 107 bytes"))
        return
    if isinstance(parsed, tuple):
        assert parse_address(format_address(parsed)) == parsed
    else:
        assert parsed == text and ("/" in text or text.endswith(".sock"))


# --- real NetworkWriter servers ------------------------------------------------------------


@pytest.mark.slow
def test_real_writer_tcp_every_event_in_real_time(tmp_path):
    """0.6 s of a real DAVIS recording, served in real time by a NetworkWriter."""
    with open_file(SAMPLE) as f:
        events = np.concatenate(list(f))
    events = events[events["t"] < events["t"][0] + 600_000]
    port = free_port()
    with dv_writer(f"127.0.0.1:{port}", events, tmp_path, resolution=(346, 260)):
        src = NetworkSource(f"localhost:{port}", read_timeout_s=2.0)  # a host name: NetworkReader alone takes IPs only
        try:
            assert src.live and src.sensor == SensorSize(346, 260)
            assert src.name == f"DV stream at localhost:{port}" and src.camera == "DAVIS346_00000499"
            assert src.now_us() is None
            got, times = read_all(src, len(events))
        finally:
            src.close()
        src.close()  # idempotent
    allev = np.concatenate(got)
    np.testing.assert_array_equal(allev, events)  # every event, in order, same t/x/y/p
    assert src.events_read == len(events)
    # Real-time pacing: each packet arrives about when its last event is due (relative to the
    # first one), not all at once.
    lags = [(arr - times[0]) - (int(b["t"][-1]) - int(got[0]["t"][-1])) / 1e6 for b, arr in zip(got, times)]
    assert min(lags) > -0.05 and np.median(lags) < 0.1
    assert times[-1] - times[0] > 0.45
    assert relay_gone(src)


@pytest.mark.slow
def test_real_writer_unix_socket_and_silence(sock_dir, tmp_path):
    events = np.concatenate(synthetic(n_batches=10))
    path = sock_dir / "dv.sock"
    with dv_writer(str(path), events, tmp_path, start_delay_s=0.15, resolution=(640, 480), name="DVXplorer_DXA00093"):
        src = NetworkSource(str(path), read_timeout_s=2.0, batch_timeout_s=0.02)
        try:
            assert src.sensor == SensorSize(640, 480) and src.name == f"DV stream at {path}"
            got, empties, deadline = [], 0, time.monotonic() + 5
            for b in src:
                if len(b):
                    got.append(b)
                else:
                    empties += 1
                if sum(map(len, got)) >= len(events) or time.monotonic() > deadline:
                    break
            now = src.now_us()
            time.sleep(0.05)
            assert src.now_us() >= now + 40_000  # stream time goes on in silence
        finally:
            src.close()
    np.testing.assert_array_equal(np.concatenate(got), events)
    assert empties >= 3  # the 0.15 s before the first packet gave empty batches


@pytest.mark.slow
def test_real_writer_process_exit_ends_the_stream(tmp_path):
    """DV quitting: the writer's process exits after its last packet; iteration ends cleanly."""
    events = np.concatenate(synthetic(n_batches=10, step_us=20_000))
    port = free_port()
    with dv_writer(f"127.0.0.1:{port}", events, tmp_path, end="exit") as proc:
        start = time.monotonic()
        src = NetworkSource(f"127.0.0.1:{port}", read_timeout_s=3.0)
        got = [b for b in src if len(b)]
        assert time.monotonic() - start < 3
        assert proc.wait(5) == 0
    np.testing.assert_array_equal(np.concatenate(got), events)
    assert relay_gone(src) and src.warnings == []


# --- a normal close, replayed from a real writer's bytes ------------------------------------


@pytest.mark.parametrize("pause", [0.02, 0.0])
@pytest.mark.slow
def test_server_close_ends_iteration_with_every_event(captured, pause):
    """pause 0: the last packets and the close come at once; NetworkReader alone loses those."""
    batches, header, packets = captured
    script = [header] + [x for p in packets for x in (p, pause)] + ["close"]
    with ByteServer(script) as server:
        src = NetworkSource(server.address, read_timeout_s=2.0)
        start = time.monotonic()
        got = [b for b in src if len(b)]
        assert time.monotonic() - start < 2
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(batches))
    assert src.warnings == [] and relay_gone(src)
    with pytest.raises(SpikeLipError, match="the source is closed"):
        next(iter(src))


def test_close_inside_a_packet_ends_with_a_warning(captured):
    batches, header, packets = captured
    with ByteServer([header, *packets[:3], packets[3][:20], "close"]) as server:
        src = NetworkSource(server.address, read_timeout_s=2.0)
        got = [b for b in src if len(b)]
    assert sum(map(len, got)) == sum(map(len, batches[:3]))
    assert src.warnings == [f"{server.address}: the stream ended inside a packet (20 bytes dropped)"]


# --- faults ----------------------------------------------------------------------------------


def one_line(e) -> str:
    text = str(e.value)
    assert "\n" not in text and isinstance(e.value, SpikeLipError)
    return text


def test_nothing_listening_tcp():
    port = free_port()
    start = time.monotonic()
    with pytest.raises(SpikeLipError) as e:
        NetworkSource(f"127.0.0.1:{port}")
    assert time.monotonic() - start < 2
    assert one_line(e) == (
        f"127.0.0.1:{port}: nothing is listening; start DV's network output (TCP server) on that port, or check the address"
    )


def test_nothing_at_the_socket_path(sock_dir):
    with pytest.raises(SpikeLipError, match=f"^{sock_dir}/none.sock: no such socket; start DV's network output"):
        NetworkSource(str(sock_dir / "none.sock"))
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_dir / "stale.sock"))  # a socket file nobody listens on (DV crashed)
    try:
        with pytest.raises(SpikeLipError, match="stale.sock: nothing is listening; start DV's network output .local socket."):
            NetworkSource(str(sock_dir / "stale.sock"))
    finally:
        stale.close()


@pytest.mark.slow
def test_silent_server_times_out():
    """NetworkReader alone would block forever here, holding the GIL."""
    with ByteServer(["hold"]) as server:
        start = time.monotonic()
        with pytest.raises(SpikeLipError) as e:
            NetworkSource(server.address, read_timeout_s=0.5)
        took = time.monotonic() - start
    assert 0.45 < took < 2
    assert one_line(e) == f"{server.address}: connected, but nothing came for 0.5 s; is this DV's network output? check the address"


@pytest.mark.parametrize("n", [3, 4096])
@pytest.mark.slow
def test_garbage_server(n):
    """Random bytes where a DV header should be (NetworkReader alone: blocks forever)."""
    with ByteServer([random_bytes(n, seed=n), "hold"]) as server:
        start = time.monotonic()
        with pytest.raises(SpikeLipError) as e:
            NetworkSource(server.address, read_timeout_s=0.5)
        assert time.monotonic() - start < 2
    text = one_line(e)
    if n == 3:  # too short to judge: it stalls inside the header
        assert text.startswith(f"{server.address}: the stream header stopped half-way for 0.5 s")
    else:
        assert text.startswith(f"{server.address}: this is not a DV event stream (header size ")
        assert text.endswith("point --connect at DV's network output, not another service")


def test_http_server_is_not_dv():
    with ByteServer([b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "close"]) as server:
        with pytest.raises(SpikeLipError, match="this is not a DV event stream"):
            NetworkSource(server.address, read_timeout_s=0.5)


def test_frame_stream_is_refused(tmp_path):
    header, _ = capture([], tmp_path, frames=True)
    with ByteServer([header, "hold"]) as server:
        with pytest.raises(SpikeLipError, match=r"the DV stream carries FRME, not events; connect to DV's event output"):
            NetworkSource(server.address, read_timeout_s=0.5)


def test_server_closes_before_the_header():
    with ByteServer(["close"]) as server:
        with pytest.raises(SpikeLipError, match="closed the connection before sending a stream header"):
            NetworkSource(server.address, read_timeout_s=0.5)


@pytest.mark.parametrize("tail", ["whole", "half"])
@pytest.mark.slow
def test_stall_mid_stream(captured, tail):
    """Packets, then nothing (or half a packet, on which NetworkReader's thread blocks)."""
    batches, header, packets = captured
    script = [header, *packets[:5]] + ([packets[5][:30]] if tail == "half" else []) + ["hold"]
    with ByteServer(script) as server:
        src = NetworkSource(server.address, read_timeout_s=0.5)
        got = []
        start = time.monotonic()
        with pytest.raises(SpikeLipError) as e:
            for b in src:
                got.append(b)
        took = time.monotonic() - start
    n = sum(map(len, batches[:5]))
    assert sum(map(len, got)) == n
    assert 0.45 < took < 2
    assert one_line(e) == (
        f"{server.address}: no data for 0.5 s after {n:,} events (DV stalled or the network dropped); check DV, then reconnect"
    )
    assert relay_gone(src)


@pytest.mark.parametrize(
    "bad, reason",
    [
        (struct.pack("<ii", 0, 192) + random_bytes(192, seed=2), "packet type"),  # NetworkReader alone: abort()
        (struct.pack("<ii", 5, 192) + b"\0" * 192, "packet for stream 5, the stream is 0"),  # abort() too
        (struct.pack("<ii", 0, -5), "packet size -5"),  # abort() too
        (struct.pack("<ii", 0, 100_000_000), "packet size 100000000"),  # a stall
    ],
)
def test_broken_packet_mid_stream(captured, bad, reason):
    batches, header, packets = captured
    with ByteServer([header, *packets[:4], bad, *packets[4:], "hold"]) as server:
        src = NetworkSource(server.address, read_timeout_s=2.0)
        got = []
        start = time.monotonic()
        with pytest.raises(SpikeLipError) as e:
            for b in src:
                got.append(b)
        assert time.monotonic() - start < 1.5
    n = sum(map(len, batches[:4]))
    assert sum(map(len, got)) == n  # everything before the damage
    text = one_line(e)
    assert text.startswith(f"{server.address}: the stream turned unreadable after {n:,} events (bad packet: {reason}")
    assert text.endswith("restart DV's output, then reconnect")


def test_connection_reset_mid_stream(captured):
    batches, header, packets = captured
    with ByteServer([header, *packets[:3], 0.05, "reset"]) as server:
        src = NetworkSource(server.address, read_timeout_s=2.0)
        got = []
        with pytest.raises(SpikeLipError) as e:
            for b in src:
                got.append(b)
    n = sum(map(len, batches[:3]))
    assert sum(map(len, got)) == n
    assert one_line(e).startswith(f"{server.address}: the connection broke after {n:,} events (Connection reset by peer)")


def test_unix_byte_server_and_bad_arguments(captured, sock_dir):
    batches, header, packets = captured
    with ByteServer([header, *packets, "close"], path=sock_dir / "replay.sock") as server:
        src = NetworkSource(server.address)
        got = [b for b in src if len(b)]
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(batches))
    for kwargs in ({"read_timeout_s": 0}, {"connect_timeout_s": -1}, {"batch_timeout_s": 0}):
        with pytest.raises(ValueError, match="must be positive"):
            NetworkSource("127.0.0.1:1", **kwargs)
    with pytest.raises(ValueError, match="not a DV stream address"):
        NetworkSource("nonsense")
