"""Live events streamed by iniVation's DV software (its network output) over TCP or a local socket.

`NetworkSource("127.0.0.1:7777")` (or `NetworkSource("/tmp/dv.sock")`) yields EVENT_DTYPE batches as
DV sends them, plus an empty batch every `batch_timeout_s` without events so consumers can close
bins in silence (`now_us()`, like a camera's). A normal end of the stream (DV stops its output)
ends the iteration; every fault (nothing listening, no answer, not a DV stream, no data for
`read_timeout_s`, a broken packet, a reset) raises a one-line `SpikeLipError` naming the address.

Why a relay process sits between the server and dv-processing's `NetworkReader` (observed with
dv-processing 2.0.4, see tests/stream/test_network.py):

* the `NetworkReader` constructor connects and reads the stream header synchronously, without a
  timeout and while holding the GIL: a server that accepts and then stays silent (or sends a
  few bytes of garbage) freezes the whole interpreter for good, so no Python thread or timer can
  rescue it; it also takes IP literals only (no host names);
* after the header, a packet with a wrong type identifier, an unknown stream id or a negative
  size makes its reading thread throw an exception nobody catches: `std::terminate`, the Python
  process aborts;
* when the server closes, packets still in its queue are dropped (`getNextEventBatch` returns
  nothing once the socket is closed), so the last packets of a stream are often lost.

So `python -m stream.sources.network --relay` (standard library only) connects to the server with
timeouts, reads and checks the header, then serves it to `NetworkReader` on a private UNIX socket
and forwards only whole packets that pass a framing check. It reports the end of the stream (and
why) with the number of packets forwarded, and keeps the private socket open until this side has
taken every one of them, so nothing is lost and nothing can hang or abort this process.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from typing import Iterator, Union

Address = Union[tuple[str, int], str]  # (host, port) for TCP, a path for a local socket

ADDRESS_HELP = (
    "HOST:PORT of DV's network output (TCP server), e.g. 127.0.0.1:7777, dvbox.local:7777 or [::1]:7777, "
    "or the path of its local socket (containing '/' or ending in .sock), e.g. /tmp/dv-events.sock"
)
READ_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 3.0
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes including the final NUL
MAX_HEADER_BYTES = 1 << 20
MAX_PACKET_BYTES = 64 << 20
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_HOST_PORT = re.compile(r"(?P<host>[^\[\]:/\s]+):(?P<port>[0-9]+)")
_V6_PORT = re.compile(r"\[(?P<host>[^\]/\s]*)\]:(?P<port>[0-9]+)")
_IDLE_SLEEP_S = 0.001
_DRAIN_GRACE_S = 2.0  # after the relay reported the end: how long to wait for packets it forwarded
_RELAY_START_S = 10.0  # interpreter start of the relay, on a loaded machine


# --- addresses -------------------------------------------------------------------------------


def parse_address(text: str) -> Address:
    """`HOST:PORT` (IPv4, host name or `[IPv6]`, port 1-65535) -> `(host, port)`: a TCP server;
    anything containing '/' or ending in `.sock` -> the path of a local (UNIX) socket.
    Anything else raises `ValueError` saying what is allowed."""
    s = str(text).strip()
    bad = f"{text!r} is not a DV stream address; give {ADDRESS_HELP}"
    m = _V6_PORT.fullmatch(s) or _HOST_PORT.fullmatch(s)
    if m:
        host, port_text = m["host"], m["port"]
        port = int(port_text) if len(port_text) <= 5 else 0
        if not 1 <= port <= 65535:
            raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
        if m.re is _V6_PORT:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(f"{text!r}: [{host}] is not an IPv6 address") from None
            return host, port
        if re.fullmatch(r"[0-9.]+", host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise ValueError(f"{text!r}: {host} is not an IPv4 address") from None
            return host, port
        if len(host) <= 253 and _HOSTNAME.fullmatch(host):
            return host, port
        raise ValueError(bad)
    if ("/" in s or s.endswith(".sock")) and s == str(text) and "\0" not in s:
        if len(os.fsencode(s)) > MAX_SOCKET_PATH:
            raise ValueError(f"{text!r}: a local socket path may be at most {MAX_SOCKET_PATH} bytes long")
        return s
    raise ValueError(bad)


def format_address(address: Address) -> str:
    """The text `parse_address` reads back into `address`."""
    if isinstance(address, tuple):
        host, port = address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


def connect_address(text: str) -> Address:
    """`parse_address` for `argparse` (`type=connect_address`)."""
    try:
        return parse_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# --- the relay process (standard library only) ------------------------------------------------

_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _attr(xml: str, key: str) -> str | None:
    m = re.search(rf'<attr key="{key}" type="[a-z]+">([^<]*)</attr>', xml)
    return m.group(1) if m else None


def _check_header(buf: bytes) -> dict:
    """The first stream of a DV network stream header (size-prefixed IOHeader flatbuffer holding
    an XML description of the streams); ValueError when it is not one."""
    if len(buf) < 16 or buf[8:12] != b"IOHE":
        raise ValueError("no IOHeader")
    text = buf.decode("utf-8", "replace")
    start, end = text.find("<dv"), text.find("</dv>")
    if start < 0 or end < start:
        raise ValueError("no stream description")
    xml = text[start:end]
    m = re.search(r'path="/outInfo/(\d+)/"', xml)
    if not m:
        raise ValueError("no stream in the description")
    first = xml[m.start():]
    info = {
        "stream_id": int(m.group(1)),
        "type": _attr(first, "typeIdentifier") or "",
        "compression": (_attr(first, "compression") or "NONE").upper(),
        "source": _attr(first, "source") or "",
    }
    for key, name in (("sizeX", "width"), ("sizeY", "height")):
        value = _attr(first, key)
        info[name] = int(value) if value and value.isdigit() else 0
    return info


def _packet_problem(info: dict, sid: int, size: int, payload_start: bytes | None) -> str | None:
    """Why a packet would break NetworkReader (None: it looks right). `payload_start`: its first
    12 bytes, None when only the 8-byte packet header is known yet."""
    if sid != info["stream_id"]:
        return f"packet for stream {sid}, the stream is {info['stream_id']}"
    if not 12 <= size <= MAX_PACKET_BYTES:
        return f"packet size {size}"
    if payload_start is None:
        return None
    comp = info["compression"]
    if comp == "NONE" and payload_start[8:12] != info["type"].encode()[:4]:
        return f"packet type {payload_start[8:12]!r}, expected {info['type']!r}"
    if comp.startswith("LZ4") and payload_start[:4] != _LZ4_MAGIC:
        return "packet is not LZ4 data"
    if comp.startswith("ZSTD") and payload_start[:4] != _ZSTD_MAGIC:
        return "packet is not Zstd data"
    return None


def _relay_main(args: dict) -> int:
    """Connect, check the header, serve it on a private socket, forward checked packets; report
    on stdout as JSON lines: {"ready": ...} then one {"end": kind, "forwarded": n, "detail": ...}."""

    def say(**msg) -> None:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    read_timeout = float(args["read_timeout_s"])
    target = args["address"]
    try:
        if isinstance(target, list):
            remote = socket.create_connection((target[0], int(target[1])), timeout=float(args["connect_timeout_s"]))
        else:
            remote = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            remote.settimeout(float(args["connect_timeout_s"]))
            remote.connect(target)
    except socket.gaierror as e:
        say(end="unresolved", forwarded=0, detail=str(e.strerror or e))
        return 0
    except FileNotFoundError:
        say(end="no_socket", forwarded=0, detail="")
        return 0
    except ConnectionRefusedError:
        say(end="refused", forwarded=0, detail="")
        return 0
    except (socket.timeout, TimeoutError):
        say(end="no_answer", forwarded=0, detail="")
        return 0
    except OSError as e:
        say(end="connect_error", forwarded=0, detail=e.strerror or str(e))
        return 0

    # The header: a little-endian uint32 size, then that many bytes.
    buf = bytearray()
    deadline = time.monotonic() + read_timeout
    need = 4
    try:
        while len(buf) < need:
            left = deadline - time.monotonic()
            if left <= 0:
                say(end="silent" if not buf else "stalled_header", forwarded=0, detail=str(len(buf)))
                return 0
            remote.settimeout(left)
            try:
                chunk = remote.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            if not chunk:
                say(end="closed_early", forwarded=0, detail=str(len(buf)))
                return 0
            buf += chunk
            if need == 4 and len(buf) >= 4:
                size = struct.unpack_from("<I", buf)[0]
                if not 16 <= size <= MAX_HEADER_BYTES:
                    say(end="not_dv", forwarded=0, detail=f"header size {size}")
                    return 0
                need = 4 + size
    except OSError as e:
        say(end="reset", forwarded=0, detail=e.strerror or str(e))
        return 0
    header, rest = bytes(buf[:need]), buf[need:]
    try:
        info = _check_header(header)
    except ValueError as e:
        say(end="not_dv", forwarded=0, detail=str(e))
        return 0
    if info["type"] != "EVTS":
        say(end="not_events", forwarded=0, detail=info["type"])
        return 0

    path = os.path.join(args["dir"], "s.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(_RELAY_START_S)
    say(ready=path, info=info)
    try:
        local, _ = listener.accept()
    except OSError:
        return 0
    listener.close()
    local.settimeout(None)
    local.sendall(header)

    remote.setblocking(False)
    stdin = sys.stdin.fileno()
    forwarded = 0
    last_data = time.monotonic()
    end = detail = None
    while end is None:
        # Forward every whole packet in the buffer; stop at the first one that would break the reader.
        pos = 0
        while len(rest) - pos >= 8:
            sid, size = struct.unpack_from("<ii", rest, pos)
            have = len(rest) - pos - 8
            problem = _packet_problem(info, sid, size, bytes(rest[pos + 8:pos + 20]) if have >= 12 else None)
            if problem:
                end, detail = "garbage", problem
                break
            if have < size:
                break
            pos += 8 + size
            forwarded += 1
        if pos:
            local.sendall(rest[:pos])
            del rest[:pos]
        if end:
            break
        wait = last_data + read_timeout - time.monotonic()
        if wait <= 0:
            end, detail = "stalled", str(len(rest))
            break
        ready, _, _ = select.select([remote, local, stdin], [], [], wait)
        if stdin in ready and not os.read(stdin, 4096):
            return 0  # the parent is gone
        if local in ready:
            try:
                if not local.recv(4096):
                    return 0  # the reader was closed
            except OSError:
                return 0
        if remote in ready:
            try:
                chunk = remote.recv(1 << 20)
            except BlockingIOError:
                continue
            except OSError as e:
                end, detail = "reset", e.strerror or str(e)
                break
            if not chunk:
                end, detail = "closed", str(len(rest))
                break
            rest += chunk
            last_data = time.monotonic()
    remote.close()
    say(end=end, forwarded=forwarded, detail=detail)
    # Keep the private socket open until the reader has taken everything (it closes it), or the
    # parent goes away; closing it first would make NetworkReader drop its queued packets.
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        ready, _, _ = select.select([local, stdin], [], [], 1.0)
        if stdin in ready and not os.read(stdin, 4096):
            break
        if local in ready:
            try:
                if not local.recv(4096):
                    break
            except OSError:
                break
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--relay"]:  # the relay stops here: stdlib only
    sys.exit(_relay_main(json.loads(sys.argv[2])))

# --- the source ------------------------------------------------------------------------------

import numpy as np  # noqa: E402

from stream.errors import SpikeLipError  # noqa: E402
from stream.events import EVENT_DTYPE, SensorSize  # noqa: E402
from stream.sources.base import EventSource, LiveClock  # noqa: E402


def _dv():
    try:
        import dv_processing
    except ImportError:  # pragma: no cover - a dependency of the package
        raise SpikeLipError("DV network streams need dv-processing: pip install dv-processing") from None
    return dv_processing


def _stop_relay(proc: subprocess.Popen, workdir: str) -> None:
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5.0)
    shutil.rmtree(workdir, ignore_errors=True)


class NetworkSource(EventSource):
    """Events from DV's network output (TCP server or local socket) at `address` (text for
    `parse_address`, or its result).

    Iterating yields batches as they arrive and an empty batch after every `batch_timeout_s` of
    silence; it ends when the server ends the stream. No event for `read_timeout_s`, and any
    other fault, raise `SpikeLipError`; connecting takes at most about `connect_timeout_s` plus
    `read_timeout_s` (for the stream header).
    """

    binning = "floor"
    live = True

    def __init__(
        self,
        address: str | Address,
        read_timeout_s: float = READ_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        batch_timeout_s: float = 0.05,
    ) -> None:
        super().__init__()
        for value, what in ((read_timeout_s, "read_timeout_s"), (connect_timeout_s, "connect_timeout_s"), (batch_timeout_s, "batch_timeout_s")):
            if not value > 0:
                raise ValueError(f"{what} must be positive")
        self.address: Address = parse_address(address) if isinstance(address, str) else address
        self.label = format_address(self.address)
        self.tcp = isinstance(self.address, tuple)
        self.name = f"DV stream at {self.label}"
        self.read_timeout_s = float(read_timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.batch_timeout_s = float(batch_timeout_s)
        self.events_read = 0
        self.packets_read = 0
        self.camera = ""  # the camera DV names as the stream's source
        self._reader = None
        self._proc: subprocess.Popen | None = None
        self._finalizer = None
        self._pending = b""
        self._end: dict | None = None
        self._clock = LiveClock()
        try:
            info = self._start_relay()
            self.camera = info.get("source", "")
            try:
                self._reader = _dv().io.NetworkReader(_dv().Path(self._socket_path))
                resolution = self._reader.getEventResolution()
            except SpikeLipError:
                raise
            except Exception as e:
                raise SpikeLipError(f"{self.label}: dv-processing could not open the stream ({_first_line(e)})") from None
            if resolution is None:
                raise SpikeLipError(f"{self.label}: the DV stream carries no events; connect to DV's event output")
            self.sensor = SensorSize(int(resolution[0]), int(resolution[1]))
        except BaseException:
            self.close()
            raise

    # relay plumbing

    def _start_relay(self) -> dict:
        workdir = tempfile.mkdtemp(prefix="spikelip-net-")
        args = {
            "address": list(self.address) if self.tcp else str(self.address),
            "read_timeout_s": self.read_timeout_s,
            "connect_timeout_s": self.connect_timeout_s,
            "dir": workdir,
        }
        # -I -S: only the standard library, nothing from the environment; it stops before numpy.
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), "--relay", json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._finalizer = weakref.finalize(self, _stop_relay, self._proc, workdir)
        os.set_blocking(self._proc.stdout.fileno(), False)
        deadline = time.monotonic() + _RELAY_START_S + self.connect_timeout_s + self.read_timeout_s
        while True:
            for msg in self._messages():
                if "ready" in msg:
                    self._socket_path = msg["ready"]
                    return msg["info"]
                raise SpikeLipError(self._fault(msg))
            left = deadline - time.monotonic()
            if left <= 0:
                raise SpikeLipError(
                    f"{self.label}: no answer within {self.connect_timeout_s + self.read_timeout_s:g} s; "
                    f"check the address and that DV's network output is running"
                )
            if self._proc.poll() is not None and not self._pending_line():
                raise SpikeLipError(f"{self.label}: the network helper process failed to start (exit {self._proc.returncode})")
            select.select([self._proc.stdout], [], [], min(left, 0.1))

    def _pending_line(self) -> bool:
        try:
            chunk = os.read(self._proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return b"\n" in self._pending
        self._pending += chunk
        return b"\n" in self._pending

    def _messages(self) -> list[dict]:
        """Status lines the relay wrote since the last call."""
        if self._proc is None:
            return []
        self._pending_line()
        *lines, self._pending = self._pending.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def _fault(self, msg: dict) -> str:
        """The one-line message for an end the relay reported (not for a normal close)."""
        kind, detail, a = msg["end"], msg.get("detail") or "", self.label
        what = "DV's network output (TCP server) on that port" if self.tcp else "DV's network output (local socket) at that path"
        after = f" after {self.events_read:,} events" if self.packets_read else ""
        return {
            "refused": f"{a}: nothing is listening; start {what}, or check the address",
            "no_socket": f"{a}: no such socket; start {what}, or check the path",
            "unresolved": f"{a}: cannot find host {self.address[0] if self.tcp else ''!s} ({detail}); check the address",
            "no_answer": f"{a}: no answer within {self.connect_timeout_s:g} s; check the address and that the network lets you reach it",
            "connect_error": f"{a}: cannot connect ({detail}); start {what}, or check the address",
            "silent": f"{a}: connected, but nothing came for {self.read_timeout_s:g} s; is this DV's network output? check the address",
            "stalled_header": f"{a}: the stream header stopped half-way for {self.read_timeout_s:g} s; check DV and the network, then reconnect",
            "closed_early": f"{a}: the server closed the connection before sending a stream header; is this DV's network output? check the address",
            "not_dv": f"{a}: this is not a DV event stream ({detail}); point --connect at DV's network output, not another service",
            "not_events": f"{a}: the DV stream carries {detail or 'other data'}, not events; connect to DV's event output",
            "stalled": f"{a}: no data for {self.read_timeout_s:g} s{after} (DV stalled or the network dropped); check DV, then reconnect",
            "garbage": f"{a}: the stream turned unreadable{after} (bad packet: {detail}); restart DV's output, then reconnect",
            "reset": f"{a}: the connection broke{after} ({detail}); check DV and the network, then reconnect",
        }.get(kind, f"{a}: the stream failed{after} ({kind}: {detail})")

    # iteration

    def now_us(self) -> int | None:
        """The stream-clock time (us) matching the host's now (`LiveClock`)."""
        return self._clock.now_us()

    def __iter__(self) -> Iterator[np.ndarray]:
        reader = self._reader
        if reader is None:
            raise SpikeLipError(f"{self.label}: the source is closed")
        from stream.sources.camera import _store_to_events

        empty = np.zeros(0, EVENT_DTYPE)
        last_yield = time.monotonic()
        drain_until = None
        try:
            while True:
                try:
                    store = reader.getNextEventBatch()
                except Exception as e:  # the relay forwards only sound packets; a socket error, then
                    raise SpikeLipError(f"{self.label}: the stream failed after {self.events_read:,} events ({_first_line(e)}); reconnect") from None
                if store is not None:
                    self.packets_read += 1
                    events = _store_to_events(store)
                    if len(events):
                        self.events_read += len(events)
                        self._clock.saw(events)
                        if drain_until is not None:
                            drain_until = time.monotonic() + _DRAIN_GRACE_S
                        yield events
                        last_yield = time.monotonic()
                    continue
                if self._end is None:
                    for msg in self._messages():
                        if "end" in msg:
                            self._end = msg
                            drain_until = time.monotonic() + _DRAIN_GRACE_S
                    if self._end is None and self._proc.poll() is not None and not self._messages():
                        raise SpikeLipError(f"{self.label}: the network helper process stopped (exit {self._proc.returncode}); reconnect")
                if self._end is not None:
                    if self.packets_read >= self._end["forwarded"] or time.monotonic() > drain_until or not reader.isRunning():
                        break
                now = time.monotonic()
                if now - last_yield >= self.batch_timeout_s:
                    yield empty
                    last_yield = time.monotonic()
                else:
                    time.sleep(min(_IDLE_SLEEP_S, self.batch_timeout_s - (now - last_yield)))
            lost = self._end["forwarded"] - self.packets_read
            if lost > 0:
                self.warnings.append(f"{self.label}: {lost:,} packets were lost by the reader (it fell more than 1000 packets behind)")
            if self._end["end"] != "closed":
                raise SpikeLipError(self._fault(self._end))
            if self._end.get("detail") not in (None, "", "0"):
                self.warnings.append(f"{self.label}: the stream ended inside a packet ({self._end['detail']} bytes dropped)")
        finally:
            self.close()

    def close(self) -> None:
        reader, self._reader = self._reader, None
        del reader  # the destructor closes the socket and joins its thread (the relay then exits)
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer()

    def __repr__(self) -> str:
        return f"NetworkSource({self.label!r})"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__

