"""`make bench`: run every benchmark script, then print the summary table the README shows."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = sorted(p for p in HERE.glob("bench_*.py") if p.name != "bench_soak.py")  # an hour: `make soak`


def main() -> int:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    failed = []
    for script in SCRIPTS:
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], env=env).returncode != 0:
            failed.append(script.name)
    print("\n== results (benchmarks/results/*.json)")
    for path in sorted((HERE / "results").glob("*.json")):
        data = json.loads(path.read_text())
        print(f"{path.name}: measured {data.get('date')} on {data.get('machine', {}).get('cpu')}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
