"""`spikelip replay PATH --video OUT.mp4`: the window's views of a replay, rendered to a video.

No worker thread and no pacing: the session runs as fast as it can in this thread and every
`every`-th step the (offscreen) window is painted and grabbed, so the video shows each frame
exactly at its stream time and plays back in real time, however slow the machine.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PyQt6 import QtGui

from app.gui.main_window import MainWindow, SourceSpec
from app.gui.playback import Playback
from app.gui.session import Session, Step
from stream.constants import BIN_S
from stream.errors import SpikeLipError

EVERY_STEPS = 3  # one frame per 3 bins of 13.3 ms: 25 frames/s of stream time
FPS = 1.0 / (EVERY_STEPS * BIN_S)


def render_video(window: MainWindow, spec: SourceSpec, out: str | Path, every: int = EVERY_STEPS,
                 size: tuple[int, int] = (1400, 850)) -> tuple[int, float]:
    """Replay `spec` through `window`'s views into `out` (mp4v); returns (frames, frames per second:
    a frame every `every` steps of stream, FPS for DVS-Lip's bins)."""
    fps = FPS
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    window.resize(*size)
    window.show()
    session = Session(spec.open, window.net, window.words, window.crop_chooser(), Playback(None))
    window.begin(spec)
    writer = None
    frames = 0
    try:
        for message in session.updates():
            window.handle(message)
            if isinstance(message, Step) and message.step % every == 0:
                frame = _grab(window)
                if writer is None:
                    fps = 1.0 / (every * window.started.bin_s)  # the run's steps: longer for a slower user's pace
                    writer = _open_writer(out, fps, frame.shape[1], frame.shape[0])
                writer.write(frame)
                frames += 1
        if writer is not None:
            writer.write(_grab(window))  # the final state: the end-of-stream word and status
            frames += 1
    finally:
        if writer is not None:
            writer.release()
    return frames, fps


def _grab(window: MainWindow) -> np.ndarray:
    """Paint the window's current state and return it as a BGR image."""
    window.paint()
    window.show_stats()
    QtGui.QGuiApplication.processEvents()
    image = window.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h = image.width() & ~1, image.height() & ~1  # mp4v wants even sizes
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rgb = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3]
    return cv2.cvtColor(rgb.reshape(image.height(), image.width(), 3)[:h, :w], cv2.COLOR_RGB2BGR)


def _open_writer(out: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise SpikeLipError(f"{out}: cannot write a video here (OpenCV's mp4v writer refused the file)")
    return writer
