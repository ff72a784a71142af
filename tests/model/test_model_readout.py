"""Streaming readout: running mean of logits since the last reset."""
import numpy as np
import pytest
import torch

from model import Readout

WORDS = ["about", "bird", "cat", "door"]


def test_running_mean_and_probabilities():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 4, generator=g)
    readout = Readout(WORDS)
    for t in range(7):
        probs = readout.update(logits[t : t + 1])  # (1, C) as the step returns it
        mean = logits[: t + 1].double().mean(0).numpy()
        np.testing.assert_allclose(readout.mean, mean, rtol=1e-12)
        np.testing.assert_allclose(probs, np.exp(mean) / np.exp(mean).sum(), rtol=1e-12)
    assert readout.count == 7


def test_reset_starts_a_new_word():
    readout = Readout(WORDS)
    readout.update(np.array([9.0, 0, 0, 0]))
    readout.reset()
    np.testing.assert_allclose(readout.probabilities, 0.25)
    readout.update(np.array([0.0, 0, 3, 1]))
    readout.update(np.array([0.0, 0, 1, 1]))
    np.testing.assert_allclose(readout.mean, [0, 0, 2, 1])


def test_top_k():
    readout = Readout(WORDS)
    readout.update(torch.tensor([1.0, 4.0, 2.0, 3.0]))
    top = readout.top(3)
    assert [w for w, _ in top] == ["bird", "door", "cat"]
    assert top[0][1] == pytest.approx(np.exp(4) / np.exp([1, 4, 2, 3]).sum())
    assert len(readout.top(10)) == 4


def test_wrong_number_of_logits():
    with pytest.raises(ValueError):
        Readout(WORDS).update(np.zeros(5))
