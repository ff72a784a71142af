"""Streaming readout: the running mean of per-step logits since the last reset.

Training averages the logits over the whole clip; streaming cannot wait for the clip to end, so
it keeps the mean of everything seen since the word started (`reset` at word onset) and turns
it into probabilities after every step. Accepts torch tensors or NumPy arrays, so the same
readout serves the PyTorch step and an onnxruntime step.
"""
from __future__ import annotations

import numpy as np


class Readout:
    """Running mean of logits -> softmax probabilities -> top-k words."""

    def __init__(self, words: list[str]):
        self.words = list(words)
        self._sum = np.zeros(len(self.words), dtype=np.float64)
        self.count = 0

    def reset(self) -> None:
        """Forget everything: the next update starts a new word."""
        self._sum[:] = 0.0
        self.count = 0

    @property
    def mean(self) -> np.ndarray:
        """Mean logits (C,) since the last reset (zeros before the first update)."""
        return self._sum / max(self.count, 1)

    @property
    def probabilities(self) -> np.ndarray:
        """Softmax of the mean logits (uniform before the first update)."""
        z = self.mean - self.mean.max()
        e = np.exp(z)
        return e / e.sum()

    def update(self, logits) -> np.ndarray:
        """Add one step's logits ((C,) or (1, C)); returns the probabilities after it."""
        if hasattr(logits, "detach"):
            logits = logits.detach().cpu().numpy()
        logits = np.asarray(logits, dtype=np.float64).reshape(-1)
        if logits.shape[0] != len(self.words):
            raise ValueError(f"expected {len(self.words)} logits, got {logits.shape[0]}")
        self._sum += logits
        self.count += 1
        return self.probabilities

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most probable words with their probabilities, best first."""
        p = self.probabilities
        order = np.argsort(-p, kind="stable")[:k]
        return [(self.words[i], float(p[i])) for i in order]
