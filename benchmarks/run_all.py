"""`make bench`: run every benchmark script, then print the summary table the README shows.

Scripts that read SynthLip folders get them made here first (held-out speakers of seed 2, a
"user" of train speakers of seed 5, as their docstrings say) and run once for every result file
the README's tables show.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from stream.synthlip import generate_dataset  # noqa: E402

SCRIPTS = sorted(p for p in HERE.glob("bench_*.py") if p.name != "bench_soak.py")  # an hour: `make soak`
FOLDERS = {"heldout-1000": (10, 2, "test"), "heldout": (3, 2, "test"), "user": (3, 5, "train")}  # clips a word, seed, split
ADAPT = ["--train", "{user}", "--test", "{heldout}", "--methods", "bn,backend", "--lr", "1e-3", "--minutes", "5",
         "--mouth-move", "on,off"]
RUNS = {
    "bench_robustness.py": [
        ["--data", "{heldout-1000}", "--name", "robustness-1000-bundled"],
        ["--data", "{heldout-1000}", "--whole-clips", "--name", "robustness-1000-bundled-whole-clips"],
        ["--data", "{heldout-1000}", "--no-centre", "--name", "robustness-1000-bundled-fixed-view"],
        ["--data", "{heldout-1000}", "--calibrate", "{user}", "--name", "robustness-1000-bundled-calibrated"],
        ["--data", "{heldout}", "--name", "robustness-bundled"],
    ],
    "bench_adapt.py": [
        ADAPT,
        ADAPT + ["--shift", "mouth 1.4 x, moved 12 px left and 8 px down, 30 % lost", "--name", "adapt-far-nearer"],
        ADAPT + ["--shift", "mouth 0.7 x, moved 6 px right, 10 % noise", "--name", "adapt-far-further"],
        ADAPT + ["--shift", "speech 15 % slower", "--name", "adapt-slower"],
    ],
    "bench_new_words.py": [["--seeds", "0,1,2", "--views", "3"]] + [
        ["--clips-per-word", str(n), "--seeds", "0,1,2", "--views", "3,0", "--name", f"new_words-{n}-takes"] for n in (3, 10)],
}


def folders_for(args: list[str], tmp: Path) -> list[str]:
    """`args` with each {folder} made (once) under `tmp` and named by its path."""
    out = []
    for arg in args:
        name = arg[1:-1] if arg.startswith("{") and arg.endswith("}") else None
        if name in FOLDERS:
            folder = tmp / name
            if not folder.exists():
                clips, seed, split = FOLDERS[name]
                print(f"synth {folder}: {clips} clips a word, seed {seed}, {split} split", flush=True)
                generate_dataset(folder, clips, seed=seed, split=split, progress=False)
            arg = str(folder)
        out.append(arg)
    return out


def main() -> int:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    failed = []
    with tempfile.TemporaryDirectory(prefix="spikelip-bench-") as tmp:
        for script in SCRIPTS:
            for args in RUNS.get(script.name, [[]]):
                args = folders_for(args, Path(tmp))
                print(f"== {script.name} {' '.join(args)}".rstrip(), flush=True)
                if subprocess.run([sys.executable, str(script), *args], env=env).returncode != 0:
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
