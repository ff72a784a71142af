"""`--roi auto`'s mouth size on faces nearer and further from the camera.

40 SynthLip sentences of 10 words (seeds 901-940, each of the 100 DVS-Lip words four times; sentence
speakers are never in a training split), each rendered with the face 1, 1.3 and 0.75 x as large
on the 346 x 260 sensor (`synth --mouth-scale`: a camera nearer or further), are replayed as
`spikelip replay --headless --speed 0` does, through the fixed centred crop, `--roi auto` with
its mouth resizing off (placed only) and on (the default), and scored against the ground truth:
true words read right, each counted once. Also: the resize each sentence ends with.

    .venv/bin/python benchmarks/bench_mouth_size.py [--sentences 40] [--keep DIR]
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.models import load_model, use_streaming_threads  # noqa: E402
from benchmarks.bench_roi_auto import replay, said_in, sentence_options  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from stream.mouth_tracker import FollowingCrop  # noqa: E402
from stream.roi import Crop  # noqa: E402
from stream.synthlip import generate_sentence  # noqa: E402

SEEDS = range(901, 941)
FACES = (1.0, 1.3, 0.75)
CROPS = {"fixed": Crop, "auto, placed only": partial(FollowingCrop, sized=False), "auto, placed and resized": FollowingCrop}


def main(argv=None) -> int:
    args = sentence_options(__doc__, len(SEEDS), argv)
    use_streaming_threads()
    net, words, description, _ = load_model(None, runtime="sparse", quiet=True)
    right = {(face, crop): 0 for face in FACES for crop in CROPS}
    resizes = {face: [] for face in FACES}
    total = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for k, seed in enumerate(list(SEEDS)[: args.sentences]):
            said = said_in(k)
            total += len(said)
            line = []
            for face in FACES:
                path = folder / f"{seed}-{face:g}.aedat4"
                generate_sentence(said, path, seed=seed, mouth_scale=face)
                k_resize = None
                for name, make in CROPS.items():
                    r = replay(path, net, words, make)
                    right[face, name] += r["right"]
                    if make is FollowingCrop:  # the crop that resizes: the factor it ended with
                        k_resize = r["resize"]
                        resizes[face].append(k_resize)
                    line.append(f"{r['right']}")
                line[-1] += f" (x{k_resize:.2f})" if k_resize else " (-)"
            print(f"seed {seed}: face 1 / 1.3 / 0.75 x, fixed / placed / resized: "
                  + "; ".join(" ".join(line[i:i + 3]) for i in range(0, 9, 3)), flush=True)
    rows = {f"{face:g}": {name: {"right": right[face, name], "words": total, "accuracy": round(right[face, name] / total, 4)}
                          for name in CROPS} for face in FACES}
    found = {}
    for face in FACES:
        ks = [k for k in resizes[face] if k is not None]
        found[f"{face:g}"] = {"mean": round(statistics.fmean(ks), 3), "sd": round(statistics.pstdev(ks), 3),
                              "sentences": len(ks)} if ks else None
        print(f"face {face:g} x: " + ", ".join(f"{n} {rows[f'{face:g}'][n]['right']}/{total}" for n in CROPS)
              + (f"; resized {found[f'{face:g}']['mean']:.2f} x (sd {found[f'{face:g}']['sd']:.2f})" if ks else ""))
    write_result("mouth_size", {
        "command": "python benchmarks/bench_mouth_size.py" + (f" --sentences {args.sentences}" if args.sentences != len(SEEDS) else ""),
        "model": description, "learnt_width_px": net.mouth["width"], "seeds": list(SEEDS)[: args.sentences],
        "faces": rows, "resize": found, "seconds": round(time.perf_counter() - start, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
