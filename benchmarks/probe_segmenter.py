"""How well the app's activity-based word segmenter finds words in continuous SynthLip speech.

Renders 30 sentences of 20 words (600 words, seeds 501-530, rests of 0.3-0.7 s) and 8 of 6 words
with 8 s rests (seeds 701-708: a user sitting still between words), bins each as the pipeline
does (centred 128 x 128 ROI, 13.3 ms bins), runs `app.segment.WordSegmenter` over the event
counts and scores the segments against the ground truth: words missed, split in two, merged
with a neighbour, segments with no word (spurious), and the commit time after each word's end.
No model runs: these are the segmenter's own errors, which no classifier can undo.

Variants: the app's defaults, a shorter hangover, and thresholds relative to the recent event
floor and speech level (which cuts misses of low-contrast speakers but starts words on head
motion during long rests; not adopted).

    .venv/bin/python benchmarks/probe_segmenter.py [--keep DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections import deque
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.latency import summary  # noqa: E402
from app.segment import WordSegmenter  # noqa: E402
from app.truth import read_sentence  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from model.boundary import score_segments, segments  # noqa: E402
from stream.binner import bin_recording  # noqa: E402
from stream.constants import BIN_US  # noqa: E402
from stream.roi import Crop  # noqa: E402
from stream.sources import open_file  # noqa: E402
from stream.sources.npy import dvslip_words  # noqa: E402
from stream.synthlip import generate_sentence  # noqa: E402

SETS = {  # name: (seeds, words per sentence, rest between words in s)
    "continuous": (range(501, 531), 20, (0.3, 0.7)),
    "long rests": (range(701, 709), 6, (8.0, 8.0)),
}


class FloorRelative(WordSegmenter):
    """Onset and offset levels between the recent floor (20th percentile of the last 4 s of
    bin counts) and speech level (90th), at least 4 x and 2 x the floor."""

    def __init__(self, on_frac=0.35, off_frac=0.1, window=300, **kw):
        super().__init__(**kw)
        self.on_frac, self.off_frac = on_frac, off_frac
        self._history: deque[float] = deque(maxlen=window)

    def update(self, events_in_bin: float):
        self._history.append(float(events_in_bin))
        if len(self._history) >= 75:  # 1 s of history; the fixed levels before
            lo, hi = np.percentile(self._history, [20, 90])
            span = max(hi - lo, 0.0)
            self.on_rate = max(50.0, 4 * lo, lo + self.on_frac * span)
            self.off_rate = max(25.0, 2 * lo, lo + self.off_frac * span)
        return super().update(events_in_bin)


VARIANTS = {
    "app default (on 200, off 100, hangover 9)": lambda: WordSegmenter(),
    "hangover 6": lambda: WordSegmenter(hangover_steps=6),
    "floor-relative levels, hangover 8": lambda: FloorRelative(hangover_steps=8),
}


def bin_counts(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(start us, event count) of every 13.3 ms bin of a recording, through the app's crop and binner."""
    with open_file(path) as source:
        binner, parts = bin_recording(source, Crop(source.sensor))
    index = np.concatenate([b.index for b in parts])
    counts = np.concatenate([b.frames.reshape(len(b), -1).sum(1) for b in parts]).astype(float)
    return binner.bin_start_us(index), counts


def score(make, recordings) -> dict:
    totals, latency = {}, []
    for t_us, counts, truth in recordings:
        seg = make()
        edges = [seg.update(c) for c in counts]
        found = [(t_us[a], t_us[b] + BIN_US, t_us[c] + BIN_US)
                 for a, b, c in segments(edges, seg.onset_lookback, seg.hangover_steps)]
        r = score_segments(found, [(w.start, w.end) for w in truth])
        latency += r.pop("commit_ms")
        for k, v in r.items():
            totals[k] = totals.get(k, 0) + v
    return {**totals, "error_rate": round(totals["errors"] / totals["words"], 4), "commit_after_end": summary(latency)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, default=None, help="write (and reuse) the recordings here")
    args = parser.parse_args(argv)
    vocabulary = dvslip_words()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        data = {}
        for name, (seeds, n_words, pause) in SETS.items():
            data[name] = []
            for seed in seeds:
                path = folder / f"{name.replace(' ', '-')}-{seed}.aedat4"
                if not path.exists():
                    words = list(np.random.default_rng(seed).choice(vocabulary, n_words, replace=False))
                    generate_sentence(words, path, seed=seed, pause_s=pause)
                _, truth = read_sentence(path)
                data[name].append((*bin_counts(path), truth))
                print(f"{path.name}: {len(truth)} words", flush=True)
    results = {variant: {name: score(make, recs) for name, recs in data.items()} for variant, make in VARIANTS.items()}
    print(f"{'variant':40s} " + "  ".join(f"{n:>44s}" for n in SETS))
    for variant, by_set in results.items():
        cells = [f"{r['errors']:3d}/{r['words']} (miss {r['missed']}, split {r['split']}, merge {r['merged']}, "
                 f"spur {r['spurious']}) p50 {r['commit_after_end']['p50_ms']:.0f} ms" for r in by_set.values()]
        print(f"{variant:40s} " + "  ".join(f"{c:>44s}" for c in cells))
    write_result("segmenter", {"sets": {n: {"seeds": [min(s), max(s)], "words_per_sentence": k, "rest_s": list(p)}
                                        for n, (s, k, p) in SETS.items()}, "variants": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
