"""Ctrl-C and SIGTERM during `spikelip record` and `replay` (real processes), and output that
cannot be written (a failing writer, a full disk, a bad path): one clear line, exit status 2,
and whatever was written before stays a valid file."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import dv_processing as dv
import numpy as np
import pytest

from stream import writer as writer_module
from stream.events import SensorSize
from stream.sources.npy import save_clip
from stream.sources.synthetic import SyntheticSource
from reliability_helpers import REPLAY, clip, one_error_line, read_dv, run_cli

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "samples" / "sample.aedat4"
RATE = 20_000


def synthetic_prefix(n: int) -> np.ndarray:
    """The first `n` events `spikelip record --synthetic --rate RATE` writes."""
    parts, have = [], 0
    for batch in SyntheticSource(rate_eps=RATE, duration_s=None, sensor=SensorSize(346, 260)):
        parts.append(batch)
        have += len(batch)
        if have >= n:
            return np.concatenate(parts)[:n]


def _start(args):
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # background jobs start with SIGINT ignored
    )


def _wait_for(stream, prefix: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        line = stream.readline()
        assert line, "the process ended early"
        if line.startswith(prefix):
            return
    raise AssertionError(f"no line starting with {prefix!r}")


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """`record` and `replay`, each stopped by SIGINT and by SIGTERM, all four side by side."""
    tmp = tmp_path_factory.mktemp("signals")
    runs = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = tmp / f"record-{sig.name}.aedat4"
        runs["record", sig] = (out, _start(["record", "--synthetic", "--rate", RATE, out]))
        jsonl = tmp / f"replay-{sig.name}.jsonl"
        runs["replay", sig] = (jsonl, _start(["replay", "--headless", "--runtime", "torch", "--jsonl", jsonl, SAMPLE]))
    deadline = time.monotonic() + 120
    results = {}
    try:
        for (command, sig), (out, proc) in runs.items():
            if command == "record":  # recording starts; let it write some packets (slow when the machine is busy)
                _wait_for(proc.stderr, "recording ", deadline)
                while (not out.exists() or out.stat().st_size < 40_000) and time.monotonic() < deadline:
                    time.sleep(0.1)
            else:  # the first prediction is printed
                _wait_for(proc.stdout, "t=", deadline)
            proc.send_signal(sig)
        for key, (out, proc) in runs.items():
            stdout, stderr = proc.communicate(timeout=60)
            results[key] = (out, proc.returncode, stdout, stderr)
    finally:
        for _, proc in runs.values():
            if proc.poll() is None:
                proc.kill()
    return results


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_record_keeps_every_event_written_before_the_signal(interrupted, sig):
    out, code, _, stderr = interrupted["record", sig]
    assert code == 0 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("stopped by the user: wrote ") and last.endswith(f" events to {out}"), stderr
    written = int(last.split("wrote ")[1].split(" events")[0].replace(",", ""))
    got = read_dv(out)  # dv-processing opens only finalised files
    assert written > 1_000 and np.array_equal(got, synthetic_prefix(written))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_replay_stops_cleanly_and_keeps_every_step_written(interrupted, sig):
    jsonl, code, stdout, stderr = interrupted["replay", sig]
    assert code == 130 and stderr.strip().splitlines()[-1] == "spikelip replay: interrupted", stderr
    assert "Traceback" not in stderr
    steps = [json.loads(line) for line in jsonl.read_text().splitlines()]  # every line whole
    assert steps and [s["step"] for s in steps] == list(range(len(steps)))
    assert steps[-1]["t_us"] - steps[0]["t_us"] >= 0  # and time order kept


# --------------------------------------------------------------------------- output that fails


def failing_writer(monkeypatch, after: int):
    """dv-processing's writer, failing like a full disk on write number `after` + 1."""
    real = dv.io.MonoCameraWriter

    class Writer:
        EventOnlyConfig = real.EventOnlyConfig

        def __init__(self, path, config):
            self._writer, self._left = real(path, config), after

        def writeEvents(self, store):
            if self._left == 0:
                raise RuntimeError("write failed: No space left on device")
            self._left -= 1
            self._writer.writeEvents(store)

    monkeypatch.setattr(dv.io, "MonoCameraWriter", Writer)


@pytest.mark.slow
def test_a_failing_writer_is_one_line_and_the_file_stays_valid(tmp_path, monkeypatch, capsys):
    failing_writer(monkeypatch, after=300)
    out = tmp_path / "failing.aedat4"
    code, _, err = run_cli(["record", "--synthetic", "--rate", RATE, out], capsys)
    line = one_error_line(err, "record", out)
    assert code == 2 and "writing failed (write failed: No space left on device)" in line
    written = int(re.search(r"\(([\d,]+) events before it are saved in ", line).group(1).replace(",", ""))
    assert written > 0 and np.array_equal(read_dv(out), synthetic_prefix(written))


def test_a_disk_filling_up_stops_the_recording_with_a_valid_file(tmp_path, monkeypatch, capsys):
    checks = iter([10 << 30] * 200)
    monkeypatch.setattr(writer_module, "_free_bytes", lambda folder: next(checks, 1 << 20))
    out = tmp_path / "full.aedat4"
    code, _, err = run_cli(["record", "--synthetic", "--rate", RATE, out], capsys)
    line = one_error_line(err, "record", out)
    assert code == 2 and "the disk is almost full; recording stopped and saved with" in line
    written = int(line.split("saved with ")[1].split(" events")[0].replace(",", ""))
    assert written > 0 and np.array_equal(read_dv(out), synthetic_prefix(written))


@pytest.mark.slow
def test_unwritable_outputs_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    save_clip(tmp_path / "c.npy", clip())
    cases = [
        (["record", "--synthetic", "--duration", "1", blocker / "x.aedat4"], "record", blocker / "x.aedat4"),
        (["record", "--synthetic", "--duration", "1", tmp_path / "no" / "x.aedat4"], "record", "does not exist"),
        (["convert", tmp_path / "c.npy", blocker / "x.npy"], "convert", blocker / "x.npy"),
        ([*REPLAY, "--jsonl", tmp_path / "no" / "x.jsonl", tmp_path / "c.npy"], "replay", tmp_path / "no" / "x.jsonl"),
        ([*REPLAY, "--jsonl", "/dev/full", tmp_path / "c.npy"], "replay", "/dev/full: cannot write (No space left on device)"),
    ]
    for args, command, named in cases:
        code, _, err = run_cli(args, capsys)
        assert code == 2, (args, err)
        one_error_line(err, command, named)
