"""Helpers shared by the benchmark scripts: machine description, result files, percentiles."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def write_result(name: str, result: dict) -> Path:
    """Save one benchmark's numbers with the machine and date they were measured on."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **result}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def add_window_offsets(parser) -> None:
    """`--window-offsets JSON`: a benchmark reads the model through its window at those offsets
    too (config "window_offsets", the same weights)."""
    parser.add_argument("--window-offsets", type=json.loads, metavar="JSON",
                        help="read each bin through the window at these [dy, dx] offsets, e.g. '[[1, 1], [-1, -1]]'")


def window_offsets(args) -> tuple[dict | None, str]:
    """(`load_model` overrides, what to add to the model's description) of `--window-offsets`."""
    if not args.window_offsets:
        return None, ""
    return {"window_offsets": args.window_offsets}, f", window at offsets {args.window_offsets}"
