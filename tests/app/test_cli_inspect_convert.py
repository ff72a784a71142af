"""`spikelip inspect` and `convert` on generated files, and one-line errors for bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest

from app.cli import main
from stream.events import make_events
from stream.sources.npy import DVSLIP_DTYPE, load_clip, save_clip


def clip(n=3000, seed=0, duration_us=1_300_000):
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, duration_us, n)), rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_json_fields_match_the_clip(tmp_path, capsys):
    ev = clip()
    save_clip(tmp_path / "a.npy", ev)
    code, out, _ = run_cli(["inspect", tmp_path / "a.npy", "--json"], capsys)
    info = json.loads(out)
    assert code == 0
    assert info["events"] == len(ev) and info["on"] == int((ev["p"] == 1).sum()) and info["off"] == int((ev["p"] == 0).sum())
    assert (info["width"], info["height"]) == (128, 128)
    assert info["first_t_us"] == ev["t"][0] and info["last_t_us"] == ev["t"][-1]
    assert info["duration_s"] == pytest.approx((ev["t"][-1] - ev["t"][0]) / 1e6)
    idx = (ev["t"] - ev["t"][0]) // (4e4 / 3)
    assert info["peak_rate_eps"] == pytest.approx(np.bincount(idx.astype(int)).max() / (4e4 / 3 / 1e6))
    assert info["streams"] == ["events"] and info["warnings"] == []


def test_inspect_accepts_plain_n_by_4_arrays(tmp_path, capsys):
    ev = clip(100)
    np.save(tmp_path / "plain.npy", np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], axis=1))
    code, out, _ = run_cli(["inspect", tmp_path / "plain.npy", "--json"], capsys)
    assert code == 0 and json.loads(out)["events"] == 100


def test_a_few_out_of_order_events_are_a_counted_warning(tmp_path, capsys):
    ev = clip(1000)
    ev["t"][[10, 11]] = ev["t"][[11, 10]] if ev["t"][10] != ev["t"][11] else (ev["t"][10] + 5, ev["t"][10])
    save_clip(tmp_path / "w.npy", ev)
    code, out, _ = run_cli(["inspect", tmp_path / "w.npy", "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and len(info["warnings"]) == 1 and "reordered" in info["warnings"][0]


def test_convert_npy_to_npy_roundtrip_keeps_every_event(tmp_path, capsys):
    ev = clip()
    ev["t"] += 5000
    save_clip(tmp_path / "in.npy", ev)
    code, out, _ = run_cli(["convert", tmp_path / "in.npy", tmp_path / "out.npy"], capsys)
    assert code == 0
    back = load_clip(tmp_path / "out.npy")
    assert np.load(tmp_path / "out.npy").dtype == DVSLIP_DTYPE
    np.testing.assert_array_equal(back["t"], ev["t"] - ev["t"][0])
    for f in "xyp":
        np.testing.assert_array_equal(back[f], ev[f])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("hello"), "unknown file type"),
        (lambda p: np.save(p, np.zeros((5, 3))), "expected a structured array"),
        (lambda p: p.write_bytes(b""), "not a readable .npy"),
        (lambda p: p.write_bytes(np.lib.format.magic(1, 0) + b"\x20\x00{'descr'"), "not a readable .npy"),
        (lambda p: save_clip(p, make_events([3, 2, 1] * 50, [0] * 150, [0] * 150, [1] * 150)), "backwards"),
        (lambda p: np.save(p, np.array([(1, 200, 5, 1)], dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])), "outside the 128x128"),
        (lambda p: np.save(p, np.array([(1, 2, 5)], dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2")])), "lacks field"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, make, message):
    path = tmp_path / ("bad.txt" if message == "unknown file type" else "bad.npy")
    make(path)
    code, out, err = run_cli(["inspect", path], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0]
    assert "Traceback" not in err


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    bad = tmp_path / "broken.npy"
    bad.write_bytes(b"\x93NUMPY garbage")
    proc = subprocess.run([sys.executable, "-m", "app.cli", "inspect", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "broken.npy" in proc.stderr and "Traceback" not in proc.stderr
