"""The window's own latency: `spikelip replay` of the bundled sample at 1 x in the window,
rendered offscreen, several runs in a row, alternating the window's runtime (the sparse
onnxruntime export with spike outputs, `app.gui.main_window.window_model`) with eager PyTorch,
which it used before. Its thread paints at ~40 Hz beside the model's, so its figures differ from
headless `spikelip latency`. Per run, over every step of the sample: pipeline (slice in ->
result out) and model-step p50/p99, steps over the 13.3 ms deadline, the real-time factor
(busy share of stream time) as the window's latency panel computes them.

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
from app.gui.main_window import MainWindow, window_model  # noqa: E402
from app.models import load_model  # noqa: E402
from app.commands.replay import DEFAULT_SAMPLE as SAMPLE  # noqa: E402
from benchmarks.common import write_result  # noqa: E402


def one_run(path: Path, model, settings: Path) -> dict:
    """Replay `path` at 1 x in an offscreen window stepping `model` (a `LoadedModel`) to its end
    (settings, such as a remembered ROI, from a file of its own); every step's timings."""
    window = MainWindow(model=model, speed=1.0, settings=QtCore.QSettings(str(settings), QtCore.QSettings.Format.IniFormat))
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
    parser.add_argument("--runs", type=int, default=4, help="runs of each runtime, alternating (default 4)")
    args = parser.parse_args()
    _app = application()  # held: the windows need it alive
    models = {"sparse (the window's)": window_model(None), "torch": load_model(None, quiet=True, runtime="torch")}
    runs: dict[str, list] = {name: [] for name in models}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.runs):
            for name, model in models.items():
                runs[name].append(one_run(SAMPLE, model, Path(tmp) / "settings.ini"))
                print(f"{name} run {k + 1}: {runs[name][-1]}", flush=True)
    write_result("window", {"input": SAMPLE.name, "speed": 1.0, "os_load": list(os.getloadavg()),
                            "models": {name: m.description for name, m in models.items()}, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
