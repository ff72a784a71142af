"""Paths in messages read as the user would type them: relative inside the current folder."""
from pathlib import Path

from app.options import shown


def test_paths_inside_the_current_folder_are_shown_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "rec" / "a.aedat4") == str(Path("rec") / "a.aedat4")
    assert shown("rec/a.aedat4") == str(Path("rec") / "a.aedat4")
    outside = tmp_path.parent / "other.aedat4"
    assert shown(outside) == str(outside)
