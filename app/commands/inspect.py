"""`spikelip inspect PATH`: what a recording or clip holds (sensor, counts, span, rates)."""
from __future__ import annotations

import json

from app.options import existing_file
from stream.sources import open_file
from stream.stats import summarize

NAME = "inspect"
HELP = "show sensor, event counts, time span and event rates of a recording or DVS-Lip clip"


def add_arguments(p) -> None:
    p.add_argument("path", type=existing_file, help="an .aedat4 recording or a DVS-Lip .npy clip")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    with open_file(args.path) as source:
        info = summarize(source)
    info = {"path": str(args.path), **info}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    rows = [
        ("file", info["path"]),
        ("camera", info["camera"]),
        ("resolution", f"{info['width']} x {info['height']}"),
        ("events", f"{info['events']:,} ({info['on']:,} ON, {info['off']:,} OFF)"),
        ("time span", f"{_t(info['first_t_us'])} .. {_t(info['last_t_us'])} us ({info['duration_s']:.3f} s)"),
        ("event rate", f"mean {info['mean_rate_eps'] / 1e3:,.1f} k/s, peak {info['peak_rate_eps'] / 1e6:,.2f} M/s (per 13.3 ms bin)"),
        ("streams", ", ".join(info["streams"])),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for warning in info["warnings"]:
        print(f"warning: {warning}")
    return 0


def _t(value) -> str:
    return "-" if value is None else f"{value:,}"
