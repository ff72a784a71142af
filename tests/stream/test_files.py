"""write_atomically: the file holds the old content or the new, and no temporary file is left."""
import pytest

from stream.files import write_atomically


def test_new_content_replaces_old(tmp_path):
    path = tmp_path / "sub" / "clip.npy"
    write_atomically(path, lambda tmp: tmp.write_bytes(b"first"))
    write_atomically(path, lambda tmp: tmp.write_bytes(b"second"))
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.npy"]


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("ha")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomically(path, half_then_fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_suffix_and_hidden_name_of_the_temporary(tmp_path):
    seen = []
    write_atomically(tmp_path / "net.onnx", lambda tmp: (seen.append(tmp), tmp.write_text("x")), suffix=".onnx")
    assert seen[0].name.startswith(".net.onnx.") and seen[0].name.endswith(".tmp.onnx")
    assert seen[0].parent == tmp_path
