"""The demo's bundled inputs: `assets/samples/<name>.aedat4` + `.json` (`sample` is the default).

Regenerate with `python -m stream.synthlip.samples` (deterministic: the same bytes every time
for the same code).
"""
from __future__ import annotations

from pathlib import Path

from stream.synthlip.phonemes import ASSETS
from stream.synthlip.sentence import generate_sentence

SAMPLES = (
    ("sample", "military leaders described several attacks", 1),
    ("sample2", "russia accused syrian leaders", 2),
    ("sample3", "election meeting started tomorrow evening", 3),
)


def write_samples(out_dir=None) -> list[dict]:
    out = Path(out_dir) if out_dir is not None else ASSETS / "samples"
    out.mkdir(parents=True, exist_ok=True)
    return [generate_sentence(text, out / f"{name}.aedat4", seed) for name, text, seed in SAMPLES]


if __name__ == "__main__":
    for doc in write_samples():
        print(doc["file"], doc["events"], "events:", " ".join(w["word"] for w in doc["words"]))
