"""DV network servers for NetworkSource tests, on localhost only: a real dv-processing
NetworkWriter (in its own process) serving events in real time, its byte stream captured, and a
scripted byte server that replays (or mangles) it."""
from __future__ import annotations

import contextlib
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])  # stream.events'

RESOLUTION = (346, 260)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def to_store(events: np.ndarray):
    import dv_processing as dv

    store = dv.EventStore()
    deque(map(store.push_back, zip(events["t"].tolist(), events["x"].tolist(), events["y"].tolist(), (events["p"] != 0).tolist())), maxlen=0)
    return store


def event_stream(resolution=RESOLUTION, name="DAVIS346_00000499"):
    import dv_processing as dv

    return dv.io.Stream.EventStream(0, "events", name, resolution)


@contextlib.contextmanager
def dv_writer(address: str, events: np.ndarray, tmp_dir, batch_us=10_000, start_delay_s=0.05,
              resolution=RESOLUTION, name="DAVIS346_00000499", end="hold"):
    """A real NetworkWriter at `address` ("HOST:PORT" or a socket path) in its own process: once a
    client connects it sends `events` in real time, `batch_us` of event time a packet, then holds
    the stream open until the block ends ("hold") or exits, which closes it the way DV quitting
    does ("exit").

    Not in this process: dv-processing 2.0.4's NetworkWriter destructor (in the Python binding)
    calls its error callback, a Python function, from its IO thread while the deleting thread
    holds the GIL, so deleting one can deadlock the interpreter (seen with a UNIX socket writer
    even after its client had gone)."""
    path = Path(tmp_dir) / "events.npy"
    np.save(path, events)
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve", address, str(path), str(batch_us), str(start_delay_s),
         str(resolution[0]), str(resolution[1]), name, end],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line == "ready", line
        yield proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def batches_by_time(events: np.ndarray, batch_us: int) -> list[np.ndarray]:
    """Split at every `batch_us` of event time (like a camera's packets)."""
    t = events["t"]
    edges = np.searchsorted(t, np.arange(t[0], t[-1] + batch_us, batch_us)[1:])
    return [b for b in np.split(events, edges) if len(b)]


def capture(batches: list[np.ndarray], tmp_dir, frames: bool = False) -> tuple[bytes, list[bytes]]:
    """The bytes a real NetworkWriter (in its own process) sends a client: its header and one
    packet per batch."""
    events = np.concatenate(batches) if batches else np.zeros(0, EVENT_DTYPE)
    path, out = Path(tmp_dir) / "capture.npy", Path(tmp_dir) / "capture.bin"
    np.save(path, events)
    bounds = np.cumsum([len(b) for b in batches]).tolist()
    subprocess.run(
        [sys.executable, __file__, "capture", str(out), str(path), ",".join(map(str, bounds)), "frames" if frames else "events"],
        check=True, timeout=30,
    )
    buf = out.read_bytes()
    hsize = 4 + struct.unpack_from("<I", buf)[0]
    header, pos, packets = buf[:hsize], hsize, []
    while pos < len(buf):
        size = 8 + struct.unpack_from("<i", buf, pos + 4)[0]
        packets.append(buf[pos:pos + size])
        pos += size
    assert len(packets) == len(batches)
    return header, packets


class ByteServer:
    """A TCP (or UNIX socket) server for one client that plays a script: bytes to send, float
    pauses, and at the end "close" (FIN), "reset" (RST) or "hold" (keep it open, send nothing)."""

    def __init__(self, script, path=None):
        self.script = list(script)
        if path is None:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(str(path))
            self.address = str(path)
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.stop = threading.Event()
        self.conn = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.conn, _ = self.sock.accept()
        except OSError:
            return
        for item in self.script:
            if isinstance(item, float):
                time.sleep(item)
            elif item == "close":
                self.conn.close()
                return
            elif item == "reset":
                self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.conn.close()
                return
            elif item == "hold":
                self.stop.wait(30)
                return
            else:
                try:
                    self.conn.sendall(item)
                except OSError:
                    return

    def close(self):
        self.stop.set()
        self.sock.close()
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def random_bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def _address(text: str):
    import dv_processing as dv

    if "/" in text:
        return (dv.Path(text),)
    host, port = text.rsplit(":", 1)
    return host, int(port)


def _serve(address, events_npy, batch_us, start_delay_s, width, height, name, end) -> None:
    import dv_processing as dv

    events = np.load(events_npy)
    batches = batches_by_time(events, int(batch_us))
    stores = [to_store(b) for b in batches]
    w = dv.io.NetworkWriter(*_address(address), event_stream((int(width), int(height)), name))
    print("ready", flush=True)
    deadline = time.monotonic() + 10
    while not w.getClientCount() and time.monotonic() < deadline:
        time.sleep(0.002)
    start = time.monotonic() + float(start_delay_s)
    t0 = int(batches[0]["t"][0])
    for b, s in zip(batches, stores):
        time.sleep(max(0.0, start + (int(b["t"][-1]) - t0) / 1e6 - time.monotonic()))
        w.writeEvents(s)
    while w.getQueuedPacketCount() and time.monotonic() < deadline + 30:
        time.sleep(0.002)
    time.sleep(0.1)
    if end == "hold":
        sys.stdin.read()  # until the test is done with it
    os._exit(0)  # never run the NetworkWriter destructor (see dv_writer)


def _capture(out, events_npy, bounds, kind) -> None:
    import dv_processing as dv

    events = np.load(events_npy)
    batches = np.split(events, [int(b) for b in bounds.split(",") if b][:-1]) if bounds else []
    port = free_port()
    stream = (dv.io.Stream.FrameStream(0, "frames", "DAVIS346_00000499", RESOLUTION) if kind == "frames"
              else event_stream())
    w = dv.io.NetworkWriter("127.0.0.1", port, stream)
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    buf = bytearray()

    def need(n):
        while len(buf) < n:
            chunk = c.recv(1 << 20)
            assert chunk, "the writer closed the connection"
            buf.extend(chunk)

    need(4)
    need(4 + struct.unpack_from("<I", buf)[0])
    total = len(buf)
    for b in batches:
        w.writeEvents(to_store(b))
    pos = total
    for _ in batches:
        need(pos + 8)
        need(pos + 8 + struct.unpack_from("<i", buf, pos + 4)[0])
        pos = pos + 8 + struct.unpack_from("<i", buf, pos + 4)[0]
    Path(out).write_bytes(bytes(buf[:pos]))
    os._exit(0)


if __name__ == "__main__" and sys.argv[1] == "serve":
    _serve(*sys.argv[2:])
if __name__ == "__main__" and sys.argv[1] == "capture":
    _capture(*sys.argv[2:])
