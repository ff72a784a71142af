"""`--roi auto` resizing the mouth: SynthLip sentences with the mouth larger or smaller (a camera
nearer or further), read with the fixed crop, with the following crop alone, and with it also
resizing the mouth to the model's learnt width.

The 10 sentences of `bench_roi_auto.py` (all 100 words, seeds 901-910, centred on the 346 x 260
sensor) are rendered, then scaled about the mouth by each `--scales` factor (every event moved
to a jittered point of its pixel's image, as `stream.transforms.Affine` does). Each is replayed
as `spikelip replay --headless --speed 0 [--roi auto]` would, through `Pipeline`, and scored
against the ground truth: true words read right, and the size the pipeline ended on (the goal:
1 / scale, so the model sees the mouth at its learnt width). "auto, no resizing" is the same
following crop with the model's learnt mouth withheld.

    .venv/bin/python benchmarks/bench_mouth_size.py [--sentences 10] [--scales 1.3,0.75]
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.models import load_model, use_streaming_threads  # noqa: E402
from app.pipeline import Pipeline  # noqa: E402
from app.truth import read_sentence, spoken_at  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from model import Readout  # noqa: E402
from stream.mouth_tracker import FollowingCrop  # noqa: E402
from stream.roi import Crop  # noqa: E402
from stream.sources import open_file  # noqa: E402
from stream.sources.npy import dvslip_words  # noqa: E402
from stream.synthlip import generate_sentence  # noqa: E402
from stream.transforms import Affine  # noqa: E402
from stream.writer import AedatWriter  # noqa: E402

SEEDS = range(901, 911)


def scaled(src: Path, out: Path, scale: float, seed: int) -> None:
    """The recording `src` with its centred mouth `scale` times as large (about the sensor centre)."""
    doc = json.loads(src.with_suffix(".json").read_text())
    with open_file(src) as source:
        sensor = source.sensor
        events = np.concatenate(list(source))
    events = Affine(scale, sensor=sensor)(events, np.random.default_rng(seed))
    with AedatWriter(out, sensor) as writer:
        for chunk in np.array_split(events, max(1, len(events) // 20000)):
            writer.write(chunk)
    doc["file"] = out.name
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")


def replay(path: Path, net, words, crop_of) -> tuple[int, int, float]:
    """(true words read right, words said, the size the pipeline ended on)."""
    origin, truth = read_sentence(path)
    with open_file(path) as source:
        pipeline = Pipeline(source, net, Readout(words), crop=crop_of(source.sensor), speed=None)
        heard = [r.word for r in pipeline if r.word is not None]
        if (word := pipeline.finish()) is not None:
            heard.append(word)
        origin_us = pipeline.origin_us
    right = set()
    for w in heard:
        said = spoken_at(truth, origin_us + w.start_s * 1e6, origin_us + w.end_s * 1e6)
        if said is not None and said.word == w.word:
            right.add(said)
    return len(right), len(truth), pipeline.size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=len(SEEDS), help="how many of the 10 sentences")
    parser.add_argument("--scales", default="1.3,0.75", help="comma-separated mouth scales besides 1")
    parser.add_argument("--name", default="mouth_size", help="results/NAME.json")
    args = parser.parse_args(argv)
    use_streaming_threads()
    net, words, description, _ = load_model(None, runtime="sparse", quiet=True)
    learnt = net.mouth
    vocabulary = dvslip_words()
    order = np.random.default_rng(900).permutation(len(vocabulary))
    scales = [1.0] + [float(v) for v in args.scales.split(",")]
    runs = {"fixed": (Crop, learnt), "auto, no resizing": (FollowingCrop, None), "auto": (FollowingCrop, learnt)}
    table = {f"{s:g} x / {name}": {"scale": s, "right": 0, "words": 0, "sizes": []} for s in scales for name in runs}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for k, seed in enumerate(list(SEEDS)[: args.sentences]):
            said = [vocabulary[i] for i in order[10 * k: 10 * k + 10]]
            centred = Path(tmp) / f"{seed}-1.aedat4"
            generate_sentence(said, centred, seed=seed)
            line = []
            for s in scales:
                path = centred if s == 1 else Path(tmp) / f"{seed}-{s:g}.aedat4"
                if s != 1:
                    scaled(centred, path, s, seed)
                for name, (crop_of, mouth) in runs.items():
                    net.mouth = mouth
                    right, n, size = replay(path, net, words, crop_of)
                    row = table[f"{s:g} x / {name}"]
                    row["right"] += right
                    row["words"] += n
                    row["sizes"].append(round(size, 3))
                    line.append(f"{s:g} x / {name} {right}/{n}" + (f" (size {size:.2f})" if name == "auto" else ""))
            print(f"seed {seed}: " + "; ".join(line), flush=True)
    net.mouth = learnt
    for name, row in table.items():
        row["size_p50"] = round(float(np.median(row["sizes"])), 3)
        print(f"{name:28s} {row['right']:3d}/{row['words']} words right, size p50 {row['size_p50']}")
    write_result(args.name, {
        "command": "python benchmarks/bench_mouth_size.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "model": description, "seeds": list(SEEDS)[: args.sentences], "runs": table,
        "seconds": round(time.perf_counter() - start, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
