"""DVS-Lip .npy clips and folders: written then read back; layouts and errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, make_events
from stream.sources.npy import NpyClipSource, list_clips, save_clip


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 2**31), st.integers(1, 5000))
def test_clip_written_then_read_back_in_batches(tmp_path_factory, n, seed, batch):
    rng = np.random.default_rng(seed)
    ev = make_events(np.sort(rng.integers(0, 2_000_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))
    path = tmp_path_factory.mktemp("clip") / "c.npy"
    save_clip(path, ev)
    src = NpyClipSource(path, batch_events=batch)
    parts = list(src)
    assert all(p.dtype == EVENT_DTYPE for p in parts)
    back = np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)
    np.testing.assert_array_equal(back, ev)
    assert src.binning == "round" and src.warnings == []


def test_folder_layout_lists_clips_with_labels(tmp_path, capsys):
    words = ["about", "water", "zebra"]
    for split in ("train", "test"):
        for w in words[:2]:
            for k in range(2):
                save_clip(tmp_path / split / w / f"{k}.npy", make_events([1], [1], [1], [1]))
    (tmp_path / "train" / "stray").mkdir()
    clips = list_clips(tmp_path, "train", words)
    assert [(p.parent.name, p.name, label) for p, label in clips] == [
        ("about", "0.npy", 0), ("about", "1.npy", 0), ("water", "0.npy", 1), ("water", "1.npy", 1)]
    assert capsys.readouterr().err == ""  # an empty stray folder loses nothing


def test_clips_in_folders_outside_the_word_list_are_reported(tmp_path, capsys):
    for w in ("water", "watter", "abuot"):
        save_clip(tmp_path / "train" / w / "0.npy", make_events([1], [1], [1], [1]))
    clips = list_clips(tmp_path, "train", ["about", "water"])
    assert [p.parent.name for p, _ in clips] == ["water"]
    assert capsys.readouterr().err == (f"warning: {tmp_path / 'train'}: skipped the clips of 2 folders not in the word "
                                       "list: abuot, watter\n")


def test_missing_or_empty_folder_says_what_was_expected(tmp_path):
    with pytest.raises(SpikeLipError, match=r"no 'train' folder; expected .*train/<word>/<k>.npy.*manual download"):
        list_clips(tmp_path, "train", ["a"])
    (tmp_path / "test" / "zzz").mkdir(parents=True)
    with pytest.raises(SpikeLipError, match="no clips found.*not in the word list: zzz"):
        list_clips(tmp_path, "test", ["a"])
