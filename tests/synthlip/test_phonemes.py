"""Phoneme table and viseme trajectories: mouth shapes follow the pronunciation."""
import json
from pathlib import Path

import numpy as np
import pytest

from stream.errors import SpikeLipError
from stream.synthlip.phonemes import (
    PARAMS, VISEMES, DIPHTHONGS, check_words, homophenes, load_pronunciations, load_words, phone_segments, trajectory,
    viseme_sequence, word_track,
)

OPEN, ROUND, LABIO = PARAMS.index("open"), PARAMS.index("round"), PARAMS.index("labio")
ASSETS = Path(__file__).resolve().parents[2] / "assets"


def test_table_covers_every_word_and_every_phoneme_has_a_viseme():
    words = load_words()
    assert len(words) == 100
    table = load_pronunciations()
    assert sorted(table) == sorted(words)
    for word in words:
        assert table[word], word
        for pron in table[word]:
            for ph in pron:
                base = ph.rstrip("012")
                assert base in VISEMES or base in DIPHTHONGS, (word, ph)


def test_british_spelling_uses_the_us_entry():
    doc = json.loads((ASSETS / "phonemes.json").read_text())
    assert doc["words"]["labour"]["cmu_entry"] == "labor"
    assert load_pronunciations()["labour"][0] == ["L", "EY1", "B", "ER0"]


def test_unknown_words_are_named_in_the_error():
    with pytest.raises(SpikeLipError, match="xyzzy.*plugh.*CMU Pronouncing Dictionary"):
        check_words(["water", "xyzzy", "plugh"])
    assert check_words(["Water"]) == ["water"]


def phone_centres(word, rate=1.0, pause=0.25):
    """Centre time of each phoneme (diphthongs: their middle), computed from the segment list."""
    phones = load_pronunciations()[word][0]
    seg, _ = phone_segments(phones, pause, rate)
    centres, i = [], 0
    for ph in phones:
        if ph.rstrip("012") in DIPHTHONGS:
            centres.append((seg.centre[i] + seg.centre[i + 1]) / 2)
            i += 2
        else:
            centres.append(seg.centre[i])
            i += 1
    return phones, centres


def value_at(word, t, param):
    times, params, _ = word_track(word)
    return params[np.argmin(np.abs(times - t)), param]


@pytest.mark.parametrize("word", ["million", "perhaps", "benefit", "spend", "number", "america"])
def test_bilabials_close_the_lips(word):
    phones, centres = phone_centres(word)
    _, params, (start, end) = word_track(word)
    peak = params[:, OPEN].max()
    assert peak > 0.3
    for ph, c in zip(phones, centres):
        if ph.rstrip("012") in ("M", "B", "P"):
            assert value_at(word, c, OPEN) < 0.08, (word, ph)


def test_labiodentals_tuck_the_lower_lip_and_rounded_sounds_round():
    phones, centres = phone_centres("several")
    c_v = centres[[p.rstrip("012") for p in phones].index("V")]
    assert value_at("several", c_v, LABIO) > 0.7
    phones, centres = phone_centres("water")
    assert value_at("water", centres[0], ROUND) > 0.7  # /w/
    phones, centres = phone_centres("these")
    assert value_at("these", centres[-1], ROUND) < 0.2  # /z/ after /iy/


def test_different_words_have_different_opening_curves():
    def curve(word):
        times, params, (start, end) = word_track(word)
        inside = (times >= start - 0.05) & (times <= end + 0.05)
        c = params[inside, OPEN]
        return np.interp(np.linspace(0, 1, 100), np.linspace(0, 1, len(c)), c)

    a, b = curve("million"), curve("water")
    assert np.abs(a - b).mean() > 0.05
    # the same word twice is the same curve (no hidden randomness)
    assert np.array_equal(curve("million"), curve("million"))


def test_mouth_is_at_rest_in_the_pauses_and_moves_during_the_word():
    times, params, (start, end) = word_track("question", pause_s=0.4)
    assert np.abs(params[times < start - 0.2]).max() < 0.02
    assert np.abs(params[times > end + 0.25]).max() < 0.02
    assert params[(times > start) & (times < end), OPEN].max() > 0.4


def test_speaking_rate_scales_the_duration():
    phones = load_pronunciations()["significant"][0]
    _, end1 = phone_segments(phones, 0.0, 1.0)
    _, end2 = phone_segments(phones, 0.0, 1.3)
    assert end2 == pytest.approx(end1 / 1.3)


def test_trajectory_is_a_weighted_mean_of_targets():
    phones = load_pronunciations()["water"][0]
    seg, end = phone_segments(phones, 0.0)
    t = np.linspace(0, end, 50)
    p = trajectory(seg, t)
    lo, hi = seg.target.min(0), seg.target.max(0)
    assert np.all(p >= lo - 1e-9) and np.all(p <= hi + 1e-9)


def test_viseme_sequence_merges_sounds_the_lips_do_not_show():
    # /b/ and /m/ both close the lips; /d/ after /n/ keeps the same alveolar shape (merged)
    assert viseme_sequence(["B", "IH1", "L"]) == viseme_sequence(["M", "IH1", "L"])
    assert viseme_sequence(["AH0", "N", "D"]) == viseme_sequence(["AH0", "N"])
    # /f/ (lip to teeth) and stress (unstressed vowels drift to schwa) are visible
    assert viseme_sequence(["F", "IH1", "L"]) != viseme_sequence(["B", "IH1", "L"])
    assert viseme_sequence(["B", "IH0", "L"]) != viseme_sequence(["B", "IH1", "L"])


def test_homophenes_of_the_vocabulary_are_the_pairs_the_model_card_names():
    assert homophenes() == [["billion", "million"], ["happen", "happened"], ["spend", "spent"], ["thing", "think"]]
    assert homophenes(["allow", "allowed", "billion"]) == []  # the final /d/ of allowed shows
