"""`spikelip boundary` from the command line: a few sentences in, a checkpoint with its head out
that every command then uses; bad folders are one line, exit 2."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from app.cli import main
from app.models import load_model
from model.boundary import sentence_files
from stream.constants import BIN_US
from stream.synthlip import generate_sentences


@pytest.mark.slow
def test_boundary_writes_a_checkpoint_with_its_head(tmp_path, capsys):
    generate_sentences(tmp_path / "sentences" / "a", 3, 51, words_per_sentence=3)
    generate_sentences(tmp_path / "sentences" / "b", 2, 61, words_per_sentence=3)  # any depth
    out = tmp_path / "run" / "model.json"
    assert main(["boundary", "--data", str(tmp_path / "sentences"), "--out", str(out), "--epochs", "2"]) == 0
    text = capsys.readouterr().out
    assert "5 sentences (15 words)" in text and "training on 4, scoring on 1" in text
    assert "held out, learnt boundaries:" in text and "held out, activity segmenter:" in text
    info = json.loads(out.read_text())
    assert info["weights"] == "model.safetensors" and (out.parent / "model.safetensors").is_file()
    b = info["boundary"]
    assert b["weights"] == "model-boundary.safetensors" and set(b["metrics"]) == {"held_out", "activity_segmenter_same_data"}
    assert "4 SynthLip sentences" in b["trained_on"]
    # stretches shorter than 0.9 x the shortest word of the 4 training sentences are not words
    spans = [w["end_us"] - w["start_us"] for i, f in enumerate(sentence_files(tmp_path / "sentences")) if i % 5 != 4
             for w in json.loads(f.with_suffix(".json").read_text())["words"]]
    assert b["decision"]["min_steps"] == int(0.9 * min(spans) / BIN_US)
    assert f"stretches under {b['decision']['min_steps']} bins" in text
    model = load_model(str(out), quiet=True)
    assert model.net.boundary is not None and "word boundaries learnt" in model.description


def test_a_folder_without_sentences_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    done = subprocess.run([sys.executable, "-m", "app.cli", "boundary", "--data", str(tmp_path / "empty"),
                           "--out", str(tmp_path / "m.json")], capture_output=True, text=True)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "sentence recordings" in err[0] and "--sentences" in err[0]


def test_the_bundled_model_ends_words_where_its_head_says():
    from app.segment import LearnedSegmenter, segmenter_for

    model = load_model(None, quiet=True)
    assert isinstance(segmenter_for(model.net), LearnedSegmenter)


@pytest.mark.slow
def test_sentences_read_the_same_by_one_process_or_two(tmp_path):
    from app.commands.boundary import _read
    from app.models import BUNDLED_MODEL
    from model.checkpoint import find_checkpoint

    generate_sentences(tmp_path, 3, 71, words_per_sentence=2)
    files = sentence_files(tmp_path)
    base = find_checkpoint(BUNDLED_MODEL)
    net = load_model(str(base), quiet=True, runtime="fastest").net
    one, two = list(_read(base, files, 4, 1, net)), list(_read(base, files, 4, 2, net))
    assert len(one) == len(two) == 3
    for a, b in zip(one, two):
        assert a.spans == b.spans
        np.testing.assert_allclose(a.logits, b.logits, atol=1e-5)
        np.testing.assert_array_equal(a.events, b.events)
