"""The window's own latency: `spikelip replay` of the bundled sample at 1 x in the window,
rendered offscreen, several runs in a row. The window steps the model with eager PyTorch (its
spike rasters need every layer's spikes) while its own thread paints at ~40 Hz, so its figures
differ from headless `spikelip latency`. Per run, over every step of the sample: pipeline
(slice in -> result out) and model-step p50/p99, steps over the 13.3 ms deadline, the real-time
factor (busy share of stream time) as the window's latency panel computes them.

    .venv/bin/python benchmarks/bench_window.py [--runs N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
from PyQt6 import QtCore  # noqa: E402

from app.gui.latency import DEADLINE_MS  # noqa: E402
from app.gui.launch import application  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.commands.replay import DEFAULT_SAMPLE as SAMPLE  # noqa: E402
from benchmarks.common import write_result  # noqa: E402


def one_run(path: Path, settings: Path) -> dict:
    """Replay `path` at 1 x in an offscreen window to its end (settings, such as a remembered
    ROI, from a file of its own); every step's timings."""
    window = MainWindow(speed=1.0, settings=QtCore.QSettings(str(settings), QtCore.QSettings.Format.IniFormat))
    steps: list[dict] = []
    add_step = window.stats.add_step

    def keep(timings_ms: dict, events: int) -> None:
        steps.append(dict(timings_ms))
        add_step(timings_ms, events)

    window.stats.add_step = keep
    window.open_file(path)
    window.show()
    loop = QtCore.QEventLoop()
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: window.finished and loop.quit())
    timer.start(50)
    loop.exec()
    timer.stop()
    window.drain_and_paint()
    window.close()
    latency = np.array([s["latency"] for s in steps])
    model = np.array([s["model"] for s in steps])
    busy = sum(s["read"] + s["bin"] + s["model"] for s in steps)
    return {
        "steps": len(steps),
        "pipeline_p50_ms": round(float(np.percentile(latency, 50)), 2),
        "pipeline_p99_ms": round(float(np.percentile(latency, 99)), 2),
        "model_p50_ms": round(float(np.percentile(model, 50)), 2),
        "model_p99_ms": round(float(np.percentile(model, 99)), 2),
        "missed_deadlines": int((latency > DEADLINE_MS).sum()),
        "real_time_factor": round(busy / (len(steps) * DEADLINE_MS), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=6, help="runs in a row (default 6)")
    args = parser.parse_args()
    _app = application()  # held: the windows need it alive
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.runs):
            runs.append(one_run(SAMPLE, Path(tmp) / "settings.ini"))
            print(f"run {k + 1}: {runs[-1]}", flush=True)
    write_result("window", {"input": SAMPLE.name, "speed": 1.0, "runtime": "torch (eager, spikes recorded)",
                            "os_load": list(os.getloadavg()), "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
