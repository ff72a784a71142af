"""Shared by the reliability tests: the CLI run in-process, and the AEDAT4 and camera helpers of
tests/stream (imported from there, not copied)."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stream"))

from aedat_helpers import packet_layout, patch_times, read_all, read_dv, write_uncompressed  # noqa: E402,F401
from camera_helpers import FakeCamera, store  # noqa: E402,F401

from app.cli import main  # noqa: E402
from stream.events import SensorSize, make_events  # noqa: E402

REPLAY = ["replay", "--headless", "--speed", "0", "--runtime", "torch"]


def events(n: int, span_us: int, sensor: SensorSize = SensorSize(346, 260), t0: int = 1_700_000_000_000_000,
           seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, span_us, n))
    return make_events(t, rng.integers(0, sensor.width, n), rng.integers(0, sensor.height, n), rng.integers(0, 2, n))


def clip(n: int = 3_000, seed: int = 0) -> np.ndarray:
    """A DVS-Lip-like clip: 128 x 128, 1.3 s from t = 0."""
    return events(n, 1_300_000, SensorSize(128, 128), t0=0, seed=seed)


def run_cli(args, capsys) -> tuple[int, str, list[str]]:
    """Exit status, stdout and the lines on stderr of `spikelip ARGS` run in this process."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


def one_error_line(err: list[str], command: str, names) -> str:
    """The single error line on stderr, which must name `names` (a path, or part of one)."""
    errors = [line for line in err if line.startswith(f"spikelip {command}: error: ")]
    assert len(errors) == 1 and not any("Traceback" in line for line in err), err
    assert str(names) in errors[0], errors[0]
    return errors[0]
