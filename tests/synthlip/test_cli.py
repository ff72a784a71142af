"""`spikelip synth` from the command line."""
import json

import numpy as np

from app.cli import main


def test_unknown_word_is_one_line_error(capsys, tmp_path):
    rc = main(["synth", "--sentence", "water xyzzy", "--out", str(tmp_path / "a.aedat4"), "--seed", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "xyzzy" in err and len(err.strip().splitlines()) == 1
    rc = main(["synth", str(tmp_path / "d"), "--clips-per-word", "1", "--words", "water,xyzzy", "--no-progress"])
    assert rc == 2 and "xyzzy" in capsys.readouterr().err


def test_missing_arguments_are_explained(capsys, tmp_path):
    assert main(["synth", str(tmp_path)]) == 2
    assert "--clips-per-word" in capsys.readouterr().err
    assert main(["synth", "--sentence", "water"]) == 2
    assert "--out" in capsys.readouterr().err


def test_dataset_mode_writes_clips(capsys, tmp_path):
    rc = main(["synth", str(tmp_path), "--clips-per-word", "1", "--seed", "2", "--split", "test",
               "--words", "water", "--workers", "1", "--no-progress"])
    assert rc == 0
    assert "1 clips" in capsys.readouterr().out
    ev = np.load(tmp_path / "test" / "water" / "0.npy")
    assert len(ev) > 1000
    assert not (tmp_path / "train").exists()


def test_pause_sets_the_rest_between_words(capsys, tmp_path):
    out = tmp_path / "p.aedat4"
    assert main(["synth", "--sentence", "water million", "--out", str(out), "--seed", "3", "--pause", "2"]) == 0
    first, second = json.loads(out.with_suffix(".json").read_text())["words"]
    # the spans are the lips' movement, which anticipates the next word by up to ~0.2 s
    assert 1_600_000 < second["start_us"] - first["end_us"] < 2_600_000
    assert main(["synth", "--sentence", "water million", "--out", str(out), "--seed", "3"]) == 0
    first, second = json.loads(out.with_suffix(".json").read_text())["words"]
    assert second["start_us"] - first["end_us"] < 800_000  # the default: 0.3-0.7 s


def test_bad_pause_is_one_line_error(capsys, tmp_path):
    for pause in ("x", "1,2,3", "0.5,0.2", "0"):
        rc = main(["synth", "--sentence", "water", "--out", str(tmp_path / "a.aedat4"), "--pause", pause])
        err = capsys.readouterr().err
        assert rc == 2 and "pause" in err and len(err.strip().splitlines()) == 1, pause
    assert main(["synth", str(tmp_path / "d"), "--clips-per-word", "1", "--pause", "1"]) == 2
    assert "sentence mode" in capsys.readouterr().err
