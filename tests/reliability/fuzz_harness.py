"""Seeded damage to valid AEDAT4 recordings and DVS-Lip clips, read back under a watchdog.

A test harness, not part of the library: shared by tests/reliability/test_fuzz_inputs.py (a few
hundred cases) and benchmarks/bench_fuzz.py (10,000+), which imports it from here. Each
damaged file must be read fully, read in part with warnings, or refused with one
`SpikeLipError` line naming it: never another exception, a hang or a memory blow-up. A hang
in native code cannot be interrupted in-process, so cases run in child processes under
faulthandler's watchdog, and a child that dies is restarted after the case that killed it.
"""
from __future__ import annotations

import faulthandler
import io
import json
import math
import os
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil

from stream.binner import CHUNK_BINS, Binner
from stream.errors import SpikeLipError
from stream.events import make_events
from stream.pacing import sliced
from stream.sources import open_file
from stream.sources.aedat4.header import MAGIC, _fb_field, _read_header
from stream.sources.aedat4.packets import _walk_packets, _WalkEnd
from stream.sources.npy import save_clip

REPO = Path(__file__).resolve().parents[2]
PACKET_EVENTS = 400  # events per event packet in the AEDAT4 seeds
CLIP_EVENTS = 2_000
MEMORY_LIMIT_MB = 256  # more than this above the RSS before a case is a blow-up
FAILURES = ("traceback", "bad_message", "lost_events", "hang", "crash", "memory")


# --------------------------------------------------------------------------- seeds


@dataclass
class Seed:
    """A valid file and where its parts are: AEDAT4 packets (header offset, data size, events)
    after the file header, or an .npy header and its records."""

    name: str
    data: bytes
    first: int  # AEDAT4: offset of the first packet header; npy: offset of the data
    packets: list[tuple[int, int, int]]
    table: int = -1  # AEDAT4: offset of the data table
    itemsize: int = 0  # npy: bytes per record
    events: int = 0

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix


def _events(n: int, width: int, height: int, seed: int, t0: int, span_us: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, span_us, n))
    return make_events(t, rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n))


def _store(ev: np.ndarray):
    import dv_processing as dv

    store = dv.EventStore()
    for e in zip(ev["t"].tolist(), ev["x"].tolist(), ev["y"].tolist(), (ev["p"] != 0).tolist()):
        store.push_back(*e)
    return store


def write_seeds(folder: Path) -> list[Path]:
    """The valid files every case starts from: LZ4, Zstd and uncompressed event recordings, a
    recording with frames, IMU and triggers, a DVS-Lip clip and a plain (N, 4) array."""
    import dv_processing as dv

    folder.mkdir(parents=True, exist_ok=True)
    t0 = 1_700_000_000_000_000
    packets = 12
    recordings = {
        "lz4.aedat4": dv.CompressionType.LZ4,
        "zstd.aedat4": dv.CompressionType.ZSTD,
        "plain.aedat4": dv.CompressionType.NONE,
    }
    for i, (name, compression) in enumerate(recordings.items()):
        ev = _events(packets * PACKET_EVENTS, 346, 260, i, t0, 120_000)
        writer = dv.io.MonoCameraWriter(str(folder / name), dv.io.MonoCameraWriter.EventOnlyConfig("FuzzCam", (346, 260), compression))
        for k in range(packets):
            writer.writeEvents(_store(ev[k * PACKET_EVENTS : (k + 1) * PACKET_EVENTS]))
        del writer
    cfg = dv.io.MonoCameraWriter.Config("DAVIS346_fuzz")
    cfg.addEventStream((64, 48))
    cfg.addFrameStream((64, 48))
    cfg.addImuStream()
    cfg.addTriggerStream()
    writer = dv.io.MonoCameraWriter(str(folder / "mixed.aedat4"), cfg)
    ev = _events(8 * PACKET_EVENTS, 64, 48, 7, t0, 80_000)
    rng = np.random.default_rng(8)
    for k in range(8):
        part = ev[k * PACKET_EVENTS : (k + 1) * PACKET_EVENTS]
        t = int(part["t"][0])
        writer.writeEvents(_store(part))
        writer.writeFrame(dv.Frame(t, rng.integers(0, 255, (48, 64), dtype=np.uint8)))
        writer.writeImu(dv.IMU(t, 25.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        writer.writeTrigger(dv.Trigger(t, dv.TriggerType.EXTERNAL_SIGNAL_RISING_EDGE))
    del writer
    clip = _events(CLIP_EVENTS, 128, 128, 9, 0, 1_200_000)
    save_clip(folder / "clip.npy", clip)
    table = _events(CLIP_EVENTS // 2, 128, 128, 10, 0, 1_200_000)
    np.save(folder / "table.npy", np.stack([table[f].astype(np.int64) for f in "txyp"], axis=1))
    return [folder / n for n in (*recordings, "mixed.aedat4", "clip.npy", "table.npy")]


def load_seed(path: Path) -> Seed:
    data = path.read_bytes()
    if path.suffix == ".npy":
        f = io.BytesIO(data)
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
        itemsize = dtype.itemsize * (math.prod(shape[1:]) if len(shape) > 1 else 1)
        return Seed(path.name, data, f.tell(), [], itemsize=itemsize, events=shape[0])
    with open(path, "rb") as f:
        header = _read_header(path, f)
        events_sid = header.event_stream().id
        layout = [
            (off - 8, size, PACKET_EVENTS if sid == events_sid else 0)
            for off, sid, size in _walk_packets(f, header, _WalkEnd())
        ]
    return Seed(path.name, data, header.first_packet, layout, table=header.data_table_position,
                events=sum(n for *_, n in layout))


def load_seeds(folder: Path) -> dict[str, Seed]:
    return {p.name: load_seed(p) for p in sorted(folder.iterdir()) if p.suffix in (".aedat4", ".npy")}


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    id: int
    seed: str
    op: str
    arg: int
    expect: int | None = None  # events a correct reader returns (AEDAT4 cut at a known place)

    @property
    def file_name(self) -> str:
        return f"case{self.id:05d}-{Path(self.seed).stem}-{self.op}{Path(self.seed).suffix}"


_AEDAT_RANDOM = {  # op: weight
    "flip": 6, "flip_header": 2, "flip_packet_header": 3, "flip_payload": 3, "garble": 2, "zero": 1,
    "delete": 1, "insert": 1, "size_field": 2, "stream_id": 1, "repeat_packet": 1, "swap_packets": 1,
    "cut_random": 2, "garbage": 1, "append_garbage": 1,
}
_NPY_RANDOM = {
    "flip": 6, "flip_header": 3, "flip_payload": 3, "garble": 2, "zero": 1, "delete": 1, "insert": 1,
    "values": 3, "repeat_chunk": 1, "swap_chunks": 1, "cut_random": 2, "garbage": 1, "append_garbage": 1,
}
_HEADER_SIZES = [0, 1, 4, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1 << 24]
_TABLE_POSITIONS = [-1, 0, 5, 2**62, -(2**62)]
_PACKET_SIZES = [0, 1, 7, 0xFFFFFFFF, 0x7FFFFFFF, 0x10000000]
_MAGICS = [b"#!AER-DAT3.1\r\n", b"#!AER-DAT4.1\r\n", b"#!AER-DAT2.0\r\n", b"\x00" * 14, b"#!aer-dat4.0\r\n"]
_XML_EDITS = [
    (b'type="int">346<', b'type="int">999<'), (b'type="int">346<', b'type="int">000<'),
    (b'type="int">346<', b'type="int">-34<'), (b'type="int">260<', b'type="int">9e9<'),
    (b'type="int">64<', b'type="int">99<'), (b'type="int">48<', b'type="int">00<'),
    (b">EVTS<", b">FRME<"), (b">EVTS<", b">XXXX<"), (b'name="0"', b'name="x"'), (b"<dv ", b"<dx "),
    (b"outInfo", b"outInfX"), (b"sizeX", b"sizeQ"),
]
_NPY_SHAPES = ["(10000000000000,)", "(2305843009213693952,)", "(-1,)", "(1, 2, 3)", "()", "(0,)", "(5,)", "(2000, 4)", "(1000, 3)"]
_NPY_DESCRS = [
    "'<f8'", "'|O'", "'<U4'", "[('t', '<i8')]", "[('a', '<i8'), ('x', '|i1'), ('y', '|i1'), ('p', '|i1')]",
    "'<i8'", "[('t', '<f8'), ('x', '|i1'), ('y', '|i1'), ('p', '|i1')]", "'|V11'", "'<q9'", "[('t', '<i8'), ('t', '<i8')]",
    "[('t', '>i8'), ('x', '|u1'), ('y', '|u1'), ('p', '|u1')]",
]
_NPY_VERSIONS = [(2, 0), (3, 0), (9, 9), (0, 0)]
_NPY_HEADER_LENS = [0, 1, 0xFFFF, 4]


def plan(seeds: dict[str, Seed], n: int, seed: int = 0) -> list[Case]:
    """`n` cases: the systematic ones (every cut point, every header variant) first, thinned
    evenly to half of `n` when there are more, then seeded random damage."""
    systematic: list[tuple[str, str, int, int | None]] = []
    for name, s in seeds.items():
        if s.suffix == ".aedat4":
            systematic += [(name, "cut", c, e) for c, e in _aedat_cuts(s)]
            systematic += [(name, "header_size", i, None) for i in range(len(_HEADER_SIZES))]
            systematic += [(name, "table_position", i, None) for i in range(len(_TABLE_POSITIONS))]
            systematic += [(name, "magic", i, None) for i in range(len(_MAGICS))]
            systematic += [(name, "xml", i, None) for i in range(len(_XML_EDITS)) if _XML_EDITS[i][0] in s.data[: s.first]]
            for k in sorted({0, len(s.packets) // 2, len(s.packets) - 1}):
                systematic += [(name, "size_field", k * 100 + i, None) for i in range(len(_PACKET_SIZES))]
        else:
            systematic += [(name, "cut", c, None) for c in _npy_cuts(s)]
            systematic += [(name, "npy_shape", i, None) for i in range(len(_NPY_SHAPES))]
            systematic += [(name, "npy_descr", i, None) for i in range(len(_NPY_DESCRS))]
            systematic += [(name, "npy_version", i, None) for i in range(len(_NPY_VERSIONS))]
            systematic += [(name, "npy_header_len", i, None) for i in range(len(_NPY_HEADER_LENS))]
            systematic += [(name, "npy_fortran", 0, None), (name, "npy_syntax", 0, None)]
        systematic += [(name, "empty", 0, None), (name, "magic_only", 0, None)]
    if len(systematic) > n // 2:
        step = len(systematic) / (n // 2)
        systematic = [systematic[int(i * step)] for i in range(n // 2)]
    rng = np.random.default_rng(seed)
    names = sorted(seeds)
    cases = [Case(i, *c) for i, c in enumerate(systematic)]
    while len(cases) < n:
        name = names[int(rng.integers(len(names)))]
        ops = _AEDAT_RANDOM if name.endswith(".aedat4") else _NPY_RANDOM
        weights = np.array(list(ops.values()), float)
        op = list(ops)[int(rng.choice(len(ops), p=weights / weights.sum()))]
        cases.append(Case(len(cases), name, op, int(rng.integers(2**31))))
    return cases


def _aedat_cuts(s: Seed) -> list[tuple[int, int]]:
    """Cut points at and around every boundary, with the events in the packets before each."""
    m = 14  # the magic line
    cuts = {0, 1, m - 1, m, m + 2, m + 4, s.first - 1, s.first}
    for h, size, _ in s.packets:
        cuts |= {h + 1, h + 4, h + 7, h + 8, h + 8 + size // 2, h + 8 + size - 1, h + 8 + size}
    cuts |= {len(s.data) - 1, (s.table + len(s.data)) // 2}
    return [(c, sum(n for h, size, n in s.packets if h + 8 + size <= c)) for c in sorted(cuts) if 0 <= c < len(s.data)]


def _npy_cuts(s: Seed) -> list[int]:
    cuts = set(range(0, 12)) | {s.first - 1, s.first}
    for k in (1, 2, s.events // 2, s.events - 1):
        at = s.first + k * s.itemsize
        cuts |= {at - 1, at, at + 1}
    return sorted(c for c in cuts if 0 <= c < len(s.data))


def mutate(s: Seed, case: Case) -> bytes:
    """The damaged bytes of `case` (deterministic)."""
    data, op, arg = s.data, case.op, case.arg
    rng = np.random.default_rng(arg)
    b = bytearray(data)
    npy = s.suffix == ".npy"
    payload = (s.first, len(data)) if npy else (s.first, s.table if s.table > 0 else len(data))
    if op == "cut":
        return data[:arg]
    if op == "cut_random":
        return data[: int(rng.integers(0, len(data)))]
    if op == "empty":
        return b""
    if op == "magic_only":
        return data[:14] if not npy else data[:8]
    if op == "garbage":
        return rng.bytes(int(rng.integers(1, 4096)))
    if op == "append_garbage":
        return data + rng.bytes(int(rng.integers(1, 4096)))
    if op.startswith("flip"):
        lo, hi = {"flip": (0, len(data)), "flip_header": (0, s.first), "flip_payload": payload}.get(op, (0, 0))
        if op == "flip_packet_header":
            h = s.packets[int(rng.integers(len(s.packets)))][0]
            lo, hi = h, h + 8
        for q in rng.integers(lo, hi, int(rng.integers(1, 9))):
            b[q] ^= 1 << int(rng.integers(8))
        return bytes(b)
    if op in ("garble", "zero", "delete", "insert"):
        at = int(rng.integers(0, len(data)))
        k = int(rng.integers(1, 4097)) if op != "zero" else 4096
        if op == "garble":
            b[at : at + k] = rng.bytes(len(b[at : at + k]))
        elif op == "zero":
            b[at : at + k] = bytes(len(b[at : at + k]))
        elif op == "delete":
            del b[at : at + k]
        else:
            b[at:at] = rng.bytes(k)
        return bytes(b)
    if npy:
        return _mutate_npy(s, op, arg, rng)
    return _mutate_aedat(s, op, arg, rng, b)


def _mutate_aedat(s: Seed, op: str, arg: int, rng, b: bytearray) -> bytes:
    hsize = len(MAGIC)
    if op == "header_size":
        struct.pack_into("<I", b, hsize, _HEADER_SIZES[arg])
    elif op == "table_position":
        buf = s.data[hsize + 4 : s.first]
        pos = _fb_field(buf, struct.unpack_from("<I", buf, 0)[0], 1)
        if pos is not None:
            struct.pack_into("<q", b, hsize + 4 + pos, _TABLE_POSITIONS[arg])
    elif op == "magic":
        b[:hsize] = _MAGICS[arg]
    elif op == "xml":
        old, new = _XML_EDITS[arg]
        at = s.data.find(old, 0, s.first)
        b[at : at + len(old)] = new
    elif op == "size_field":  # planned: arg = packet * 100 + value; random: a size a few bytes off
        if arg < 100 * len(s.packets):
            k, v = divmod(arg, 100)
            value = _PACKET_SIZES[v]
        else:
            k = int(rng.integers(len(s.packets)))
            value = (s.packets[k][1] + int(rng.integers(-16, 17))) & 0xFFFFFFFF
        struct.pack_into("<I", b, s.packets[k][0] + 4, value)
    elif op == "stream_id":
        h = s.packets[int(rng.integers(len(s.packets)))][0]
        struct.pack_into("<i", b, h, int(rng.choice([-1, 1, 2, 99, -(2**31)])))
    elif op in ("repeat_packet", "swap_packets"):
        ev = [p for p in s.packets if p[2]]
        i, j = sorted(rng.choice(len(ev), 2, replace=False))
        (hi, si, _), (hj, sj, _) = ev[i], ev[j]
        pi, pj = s.data[hi : hi + 8 + si], s.data[hj : hj + 8 + sj]
        if op == "repeat_packet":  # written again right after itself or after a later packet
            at = hi + 8 + si if rng.random() < 0.5 else hj + 8 + sj
            b[at:at] = pi
        else:
            b[hj : hj + 8 + sj] = pi
            b[hi : hi + 8 + si] = pj
    return bytes(b)


def _npy_file(descr: str, fortran: bool, shape: str, body: bytes, version=(1, 0), header_len: int | None = None) -> bytes:
    text = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}".encode("latin1")
    size_fmt = "<H" if version[0] == 1 else "<I"
    pre = 6 + 2 + struct.calcsize(size_fmt)
    pad = 64 - (pre + len(text) + 1) % 64
    text += b" " * (pad % 64) + b"\n"
    n = len(text) if header_len is None else header_len
    return b"\x93NUMPY" + bytes(version) + struct.pack(size_fmt, n) + text + body


def _mutate_npy(s: Seed, op: str, arg: int, rng) -> bytes:
    body = s.data[s.first :]
    table = s.name == "table.npy"
    descr = "'<i8'" if table else "[('t', '<i8'), ('x', '|i1'), ('y', '|i1'), ('p', '|i1')]"
    shape = f"({s.events}, 4)" if table else f"({s.events},)"
    if op == "npy_shape":
        return _npy_file(descr, False, _NPY_SHAPES[arg], body)
    if op == "npy_descr":
        return _npy_file(_NPY_DESCRS[arg], False, shape, body)
    if op == "npy_version":
        return _npy_file(descr, False, shape, body, version=_NPY_VERSIONS[arg])
    if op == "npy_header_len":
        return _npy_file(descr, False, shape, body, header_len=_NPY_HEADER_LENS[arg])
    if op == "npy_fortran":
        return _npy_file(descr, True, shape, body)
    if op == "npy_syntax":
        return _npy_file(descr + ")", False, shape, body)
    records = bytearray(body)
    n, size = s.events, s.itemsize
    if op == "values":  # extreme values in a few fields of a few records
        for _ in range(int(rng.integers(1, 6))):
            k = int(rng.integers(n))
            if table:
                col = int(rng.integers(4))
                value = int(rng.choice([-1, 128, 2**40, -(2**62), 2**62, 5]))
                struct.pack_into("<q", records, k * size + 8 * col, value)
            else:
                field = int(rng.choice([0, 8, 9, 10]))
                if field == 0:
                    struct.pack_into("<q", records, k * size, int(rng.choice([-1, 2**62, 3_600_000_000, 0])))
                else:
                    records[k * size + field] = int(rng.choice([127, 128, 255, 5]))
        return s.data[: s.first] + bytes(records)
    a, c = sorted(int(v) for v in rng.choice(n + 1, 2, replace=False))
    chunk = records[a * size : c * size]
    if op == "repeat_chunk":  # a run of events written twice, the declared shape grown to match
        body = bytes(records[: c * size]) + bytes(chunk) + bytes(records[c * size :])
        return _npy_file(descr, False, f"({n + c - a}, 4)" if table else f"({n + c - a},)", body)
    d = int(rng.integers(c, n + 1))  # swap_chunks: [a, c) and [c, d)
    return s.data[: s.first] + bytes(records[: a * size] + records[c * size : d * size] + chunk + records[d * size :])


# --------------------------------------------------------------------------- reading


def read_case(path: Path) -> dict:
    """The real reading path: open_file, every batch, sliced as a max-speed replay slices it and
    binned at full sensor size, with the APS frames taken as `--roi auto` takes them."""
    n = bins = frames = 0
    try:
        with open_file(path) as source:
            source.want_frames = True
            binner = Binner(source.sensor, rounding=source.binning)
            for batch, now_us in sliced(source, CHUNK_BINS * binner.bin_us, binner.max_gap_bins * binner.bin_us):
                n += len(batch)
                frames += len(source.take_frames())
                bins += len(binner.push(batch)) + len(binner.advance(now_us))
            bins += len(binner.flush())
            warnings = list(source.warnings)
    except SpikeLipError as exc:
        message = str(exc)
        good = "\n" not in message and message.startswith(str(path))
        return {"outcome": "refused" if good else "bad_message", "events": n, "message": message}
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # anything else is what this looks for (MemoryError, Rust panics)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return {
            "outcome": "traceback", "events": n,
            "message": f"{type(exc).__name__}: {exc} at {Path(where.filename).name}:{where.lineno}",
        }
    return {"outcome": "partial" if warnings else "ok", "events": n, "bins": bins, "frames": frames,
            "warnings": len(warnings), "skipped_bins": binner.skipped_bins}


def _reset_peak() -> None:
    """Linux: make the peak RSS (VmHWM) start again from the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    """VmHWM: unlike ru_maxrss not inherited over exec from a big parent (a pytest run holding torch)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):  # not Linux: the RSS now, an underestimate
        return psutil.Process().memory_info().rss / 2**20


def _child(seed_dir: str, timeout_s: float) -> None:
    """Reads the cases given as JSON lines on stdin; one JSON result line each on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    process = psutil.Process()
    seeds = load_seeds(Path(seed_dir))
    work = Path(tempfile.mkdtemp(prefix="spikelip-fuzz-"))
    try:
        for line in sys.stdin:
            case = Case(**json.loads(line))
            path = work / case.file_name
            path.write_bytes(mutate(seeds[case.seed], case))
            _reset_peak()
            rss0 = process.memory_info().rss / 2**20
            faulthandler.dump_traceback_later(timeout_s, exit=True)
            t0 = time.perf_counter()
            result = read_case(path)
            seconds = time.perf_counter() - t0
            faulthandler.cancel_dump_traceback_later()
            peak = _peak_rss_mb()
            if peak - rss0 > MEMORY_LIMIT_MB and result["outcome"] not in FAILURES:
                result["outcome"] = "memory"
            if case.expect is not None and result["outcome"] in ("ok", "partial", "refused"):
                got = result["events"] if result["outcome"] != "refused" else 0
                if got != case.expect or (case.expect and result["outcome"] != "partial"):
                    result["outcome"] = "lost_events"
                    result["message"] = f"read {got:,} events, the complete packets hold {case.expect:,}"
            result.update(id=case.id, seconds=round(seconds, 4), rss_mb=round(rss0, 1), peak_rss_mb=round(peak, 1))
            print(json.dumps(result), flush=True)
            path.unlink()
    finally:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()


def _child_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def run_cases(seed_dir: Path, cases: list[Case], timeout_s: float = 10.0, workers: int = 1, progress=None) -> list[dict]:
    """Reads every case in `workers` child processes; a case that hangs or kills its child is
    recorded as "hang" or "crash" and the child is restarted after it. Results in case order."""
    results: dict[int, dict] = {}
    lock = threading.Lock()

    def work(todo: list[Case]) -> None:
        while todo:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--child", str(seed_dir), str(timeout_s)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env(),
            )
            err: list[str] = []
            reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
            reader.start()
            feeder = threading.Thread(target=_feed, args=(proc, todo), daemon=True)
            feeder.start()
            done = 0
            for line in proc.stdout:
                r = json.loads(line)
                with lock:
                    results[r["id"]] = r
                    if progress:
                        progress(len(results))
                done += 1
            proc.wait()
            reader.join()
            todo = todo[done:]
            if todo:  # the child died on todo[0]
                text = "".join(err)
                kind = "hang" if "Timeout (" in text else "crash"
                with lock:
                    results[todo[0].id] = {"id": todo[0].id, "outcome": kind, "events": 0,
                                           "message": text.strip().splitlines()[-1][:300] if text.strip() else f"exit {proc.returncode}"}
                todo = todo[1:]

    shares = [cases[i::workers] for i in range(workers)]
    threads = [threading.Thread(target=work, args=(share,)) for share in shares if share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[c.id] for c in cases]


def _feed(proc, todo: list[Case]) -> None:
    try:
        for case in todo:
            proc.stdin.write(json.dumps(asdict(case)) + "\n")
            proc.stdin.flush()
        proc.stdin.close()
    except (BrokenPipeError, OSError):  # the child died; the parent sees which case
        pass


def check_cli(path: Path, timeout_s: float = 120.0) -> dict:
    """`spikelip inspect PATH` in a fresh process: exit 0, or exit 2 with exactly one line on
    stderr naming the file; never a traceback or a hang."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "app.cli", "inspect", str(path)], capture_output=True, text=True,
                              timeout=timeout_s, env=_child_env())
    except subprocess.TimeoutExpired:
        return {"outcome": "hang", "rc": None, "seconds": timeout_s}
    lines = proc.stderr.strip().splitlines()
    if "Traceback" in proc.stderr or "Traceback" in proc.stdout:
        outcome = "traceback"
    elif proc.returncode == 0:
        outcome = "ok" if "events" in proc.stdout else "bad_output"
    elif proc.returncode == 2:
        good = len(lines) == 1 and lines[0].startswith(f"spikelip inspect: error: {path}")
        outcome = "refused" if good else "bad_message"
    else:
        outcome = "crash"
    return {"outcome": outcome, "rc": proc.returncode, "stderr": proc.stderr[-500:], "seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], float(sys.argv[3]))
