"""`spikelip replay --screenshot` and `--video` render offscreen without a display."""
import numpy as np
import pytest
import torch

pytest.importorskip("PyQt6")
cv2 = pytest.importorskip("cv2")

from app.cli import main  # noqa: E402
from stream.events import make_events  # noqa: E402
from stream.sources.npy import save_clip  # noqa: E402


@pytest.fixture
def clip(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    threads = torch.get_num_threads()
    rng = np.random.default_rng(1)
    n = 15_000
    events = make_events(np.sort(rng.integers(0, 600_000, n)), rng.integers(20, 108, n), rng.integers(30, 100, n),
                         rng.integers(0, 2, n))
    path = tmp_path / "test" / "water" / "0.npy"
    save_clip(path, events)
    yield path
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_screenshot_after_seconds_of_stream(clip, tmp_path, qapp, capsys):
    out = tmp_path / "shot.png"
    assert main(["replay", str(clip), "--model", "small", "--speed", "0", "--screenshot", str(out), "--after", "0.3"]) == 0
    assert "screenshot at" in capsys.readouterr().out
    image = cv2.imread(str(out))
    assert image.shape == (850, 1400, 3)
    assert image.std() > 15 and len(np.unique(image.reshape(-1, 3)[::5] // 16, axis=0)) > 20


@pytest.mark.slow
def test_video_has_one_frame_per_three_steps(clip, tmp_path, qapp, capsys):
    out = tmp_path / "replay.mp4"
    assert main(["replay", str(clip), "--model", "small", "--video", str(out)]) == 0
    assert "frames" in capsys.readouterr().out
    video = cv2.VideoCapture(str(out))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    assert video.get(cv2.CAP_PROP_FPS) == pytest.approx(25, abs=0.01)
    ok, frame = video.read()
    video.release()
    assert ok and frame.shape == (850, 1400, 3) and frame.std() > 10
    assert abs(frames - (45 / 3 + 2)) <= 2  # 0.6 s = 45 bins, a frame every 3, plus the last


def test_video_of_a_bad_file_is_a_one_line_error(tmp_path, qapp, capsys):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"nope")
    assert main(["replay", str(bad), "--model", "small", "--video", str(tmp_path / "x.mp4")]) == 2
    assert "not a readable .npy file" in capsys.readouterr().err
