"""Words read right in continuous SynthLip speech: all 100 words in two 50-word recordings
(seeds 11 and 12; sentence speakers are never in a training split), each replayed headless as
a user would (`spikelip replay --headless --speed 0`: segmenter, restart at each word,
readout). The 14 words of the bundled samples are too few to compare models; this is the same
measure on 100.

    .venv/bin/python benchmarks/probe_sentences.py [--models assets/models/small.json OTHER.json ...]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import write_result  # noqa: E402
from stream.sources.npy import dvslip_words  # noqa: E402
from stream.synthlip import generate_sentence  # noqa: E402

RECORDINGS = {"even words": (slice(0, None, 2), 11), "odd words": (slice(1, None, 2), 12)}


def read(model: str, recording: Path) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-m", "app.cli", "replay", "--headless", "--speed", "0", "--model", model,
                          str(recording)], capture_output=True, text=True, check=True).stdout
    right, total = re.search(r"\((\d+) of (\d+) words right", out).groups()
    return int(right), int(total)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["assets/models/small.json"])
    args = parser.parse_args(argv)
    words = dvslip_words()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        recordings = {}
        for name, (pick, seed) in RECORDINGS.items():
            recordings[name] = Path(tmp) / f"{seed}.aedat4"
            generate_sentence(words[pick], recordings[name], seed=seed)
        for model in args.models:
            per = {name: read(model, path) for name, path in recordings.items()}
            right, total = sum(r for r, _ in per.values()), sum(t for _, t in per.values())
            results[model] = {"right": right, "words": total, "accuracy": right / total,
                              "per_recording": {k: {"right": r, "words": t} for k, (r, t) in per.items()}}
            print(f"{model}: {right} of {total} words right ({', '.join(f'{k} {r}/{t}' for k, (r, t) in per.items())})")
    write_result("sentences", {"recordings": {k: {"words": f"dvslip_words()[{p.start}::2]", "seed": s}
                                              for k, (p, s) in RECORDINGS.items()}, "models": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
