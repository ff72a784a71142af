"""SynthLip generation speed: clips per second with worker processes, and CPU cost per clip.

Claim checked: 100 words x 60 clips (6,000 clips) in a few minutes on 2 cores.
Makes `--clips` clips (one per word, train split) with `--workers` processes into a temporary
folder, then times a few clips in this process to get the CPU cost per clip. The load average
is recorded too: on a shared machine other work slows the wall-clock figure down, while CPU
seconds per clip stay comparable.
Run: .venv/bin/python benchmarks/bench_synth.py [--clips 100] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import write_result  # noqa: E402
from stream.synthlip import generate_dataset, load_words  # noqa: E402
from stream.synthlip.dataset import make_clip  # noqa: E402

FULL = 100 * 60


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    words = load_words()
    per_word = max(1, args.clips // len(words))
    chosen = words if args.clips >= len(words) else words[: args.clips]
    load_before = os.getloadavg()
    cpu0 = _children_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        summary = generate_dataset(tmp, per_word, args.seed, split="train", workers=args.workers,
                                   progress=False, words=chosen)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.npy"))
    cpu_children = _children_cpu() - cpu0
    n = summary["clips"]
    wall = summary["seconds"]
    # single process, CPU time per clip (OpenCV on one thread, as in the workers)
    import cv2

    cv2.setNumThreads(1)
    k = 20
    c0 = time.process_time()
    for i in range(k):
        make_clip(args.seed + 1, "train", (i * 37) % 100, i)
    cpu_per_clip = (time.process_time() - c0) / k
    load_after = os.getloadavg()
    result = {
        "clips": n,
        "workers": args.workers,
        "wall_s": round(wall, 2),
        "clips_per_s": round(n / wall, 2),
        "estimated_s_for_100x60": round(FULL / (n / wall), 1),
        "worker_cpu_s_per_clip": round(cpu_children / n, 4) if cpu_children > 0 else None,
        "single_process_cpu_s_per_clip": round(cpu_per_clip, 4),
        "estimated_s_for_100x60_on_idle_cores": round(FULL * cpu_per_clip / max(1, args.workers), 1),
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cores": os.cpu_count(),
        "events_per_clip": summary["events_per_clip"],
        "duration_s": summary["duration_s"],
        "mean_file_kib": round(size / n / 1024, 1),
    }
    print(f"{n} clips with {args.workers} workers in {wall:.1f} s: {n / wall:.1f} clips/s "
          f"(100 words x 60 clips: {result['estimated_s_for_100x60'] / 60:.1f} min at this rate; "
          f"{result['estimated_s_for_100x60_on_idle_cores'] / 60:.1f} min on {args.workers} idle cores at "
          f"{cpu_per_clip * 1000:.0f} ms CPU per clip); load average {load_before[0]:.1f}")
    print(f"events per clip: {summary['events_per_clip']}; duration: {summary['duration_s']}")
    write_result("synth", result)


if __name__ == "__main__":
    main()
