"""Entry points from the CLI: the window on a file, camera or DV stream, an offscreen screenshot, a video."""
from __future__ import annotations

import sys
from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from app.gui import theme
from app.gui.main_window import MainWindow
from app.models import use_streaming_threads
from stream.errors import SpikeLipError

POLL_MS = 20


def application() -> QtWidgets.QApplication:
    """The one QApplication, themed (created on first use), with torch set up for streaming."""
    use_streaming_threads()
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.QCoreApplication.setOrganizationName("SpikeLip")
        QtCore.QCoreApplication.setApplicationName("spikelip")
        app = QtWidgets.QApplication(sys.argv[:1])
    theme.apply(app)
    return app


def run_replay_window(path: Path, args) -> int:
    """`spikelip replay [PATH]`: the window on a recording, clip or DVS-Lip folder.

    With `args.screenshot` the window renders offscreen, is saved as a PNG once `args.after`
    seconds of the stream have played (or the stream ended) and the command exits.
    """
    app = application()
    window = MainWindow(model_spec=args.model, speed=args.speed or None, roi=args.roi, scale=args.scale)
    path = Path(path)
    if path.is_dir():
        window.open_dataset(path)
        window.dataset.shuffle_button.setChecked(True)  # a folder on the command line plays its clips
    else:
        window.open_file(path)
    window.show()
    if getattr(args, "screenshot", None):
        return screenshot_when(app, window, Path(args.screenshot), float(args.after or 0.0))
    return app.exec()


def run_replay_video(path: Path, args) -> int:
    """`spikelip replay PATH --video OUT.mp4`: render the replay's views offscreen into a video."""
    from app.gui.main_window import SourceSpec
    from app.gui.video import render_video
    from stream.sources import open_file

    _app = application()  # held: the QApplication lives while the window renders
    window = MainWindow(model_spec=args.model, speed=None, roi=args.roi, scale=args.scale)
    path = Path(path)
    frames, fps = render_video(window, SourceSpec(path.name, lambda: open_file(path), path=path), args.video)
    window.close()
    if window.failed:
        raise SpikeLipError(window.failed)
    print(f"wrote {frames} frames ({frames / fps:.1f} s at {fps:g} fps) to {args.video}")
    return 0


def run_camera_window(args) -> int:
    """`spikelip demo`: the window on a camera (the named one or the first found), or on DV's
    network output with `--connect`."""
    app = application()
    window = MainWindow(model_spec=args.model, roi=args.roi, scale=args.scale, on_disconnect=args.on_disconnect)
    names = window.refresh_cameras()
    if getattr(args, "connect", None) is not None:
        window.open_network(args.connect)
    elif args.camera or names:
        window.open_camera(args.camera or names[0])
    else:
        window.status("no camera found: connect a DAVIS or DVXplorer and press ⟳, or open a file", error=True)
    window.show()
    return app.exec()


def screenshot_when(app: QtWidgets.QApplication, window: MainWindow, out: Path, after_s: float) -> int:
    """Save the window to `out` once the stream reached `after_s` (or ended), then quit."""
    result = {"rc": 1}

    def check() -> None:
        if window.position_s < after_s and not window.finished:
            return
        timer.stop()
        window.drain_and_paint()
        window.show_stats()
        app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        ok = window.grab().save(str(out))
        print(f"screenshot at {window.position_s:.2f} s of stream: {out}" if ok else f"could not write {out}",
              file=sys.stderr if not ok else sys.stdout)
        result["rc"] = 0 if ok else 1
        if window.failed:
            print(f"error: {window.failed}", file=sys.stderr)
            result["rc"] = 2
        window.close()
        loop.quit()

    # A local loop rather than app.exec()/app.quit(): quitting the application would leave it
    # quitting for whatever runs next in the process (measured: the next window's worker output
    # was never delivered).
    loop = QtCore.QEventLoop()
    timer = QtCore.QTimer()
    timer.timeout.connect(check)
    timer.start(POLL_MS)
    loop.exec()
    return result["rc"]
