"""`spikelip synth` from the command line."""
import numpy as np

from app.cli import main


def test_unknown_word_is_one_line_error(capsys, tmp_path):
    rc = main(["synth", "--sentence", "water kumquat", "--out", str(tmp_path / "a.aedat4"), "--seed", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "kumquat" in err and len(err.strip().splitlines()) == 1
    rc = main(["synth", str(tmp_path / "d"), "--clips-per-word", "1", "--words", "water,kumquat", "--no-progress"])
    assert rc == 2 and "kumquat" in capsys.readouterr().err


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
