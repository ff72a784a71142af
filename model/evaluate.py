"""Evaluate a network on a DVS-Lip style test split: every number computed from its predictions.

Top-1/top-5 of the clip prediction (mean logits over time, as in the paper; over each clip's own
bins when the dataset keeps clips whole, `bins=None`), per-word accuracy,
confusion matrix, and for causal models the accuracy of the streaming prediction as a function
of time since the word's onset and end, found from event activity. The streaming prediction is
what the app shows: the running mean of the per-step logits, restarted at the word's onset as
`app.segment.WordStage` restarts it (before the onset: the mean since the clip's start).
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from model.config import input_pace
from model.data import pad_collate
from stream.constants import BIN_MS


def activity_spans(x: torch.Tensor, fraction: float = 0.25) -> torch.Tensor:
    """(B, 2) onset and end bins of the mouth movement in clips (B, T, 2, H, W): the first and
    last bin whose activity is above `fraction` of the clip's 95th-percentile bin activity (a
    silent clip spans all of it)."""
    activity = x.abs().sum(dim=(2, 3, 4)).double()
    level = fraction * torch.quantile(activity, 0.95, dim=1, keepdim=True)
    active = (activity > level) & (level > 0)
    bins = torch.arange(activity.shape[1], device=x.device).expand_as(active)
    onset = torch.where(active, bins, activity.shape[1]).min(1).values
    end = torch.where(active, bins, -1).max(1).values
    silent = ~active.any(1)
    return torch.stack([onset.masked_fill(silent, 0), end.masked_fill(silent, activity.shape[1] - 1)], 1)


def activity_span(x: torch.Tensor, fraction: float = 0.25) -> tuple[int, int]:
    """(onset, end) bins of one clip (T, 2, H, W); see `activity_spans`."""
    onset, end = activity_spans(x[None], fraction)[0].tolist()
    return onset, end


def running_mean_since_onset(logits: torch.Tensor, onset: torch.Tensor) -> torch.Tensor:
    """(B, T, C) the app's readout at every bin of (B, T, C) logits: the running mean since the
    clip's start, restarted at each clip's `onset` bin (B,). Differentiable, so training can target it."""
    total = logits.cumsum(1)
    bins = torch.arange(logits.shape[1], device=logits.device).unsqueeze(0)
    start = torch.where(bins >= onset[:, None], onset[:, None], 0)  # (B, T): first bin of each mean
    before = torch.gather(total, 1, (start - 1).clamp(min=0).unsqueeze(2).expand_as(total))
    before = before * (start > 0).unsqueeze(2)
    return (total - before) / (bins - start + 1).unsqueeze(2)


def streaming_prediction(logits: torch.Tensor, onset: int) -> torch.Tensor:
    """(T,) top word at each bin of one clip's (T, C) logits: the running mean since the clip's
    start, restarted at `onset`."""
    return running_mean_since_onset(logits[None], torch.tensor([onset]))[0].argmax(1)


@torch.no_grad()
def evaluate(net, dataset, batch_size: int = 32, workers: int = 2, device="cpu", progress: bool = True,
             max_offset_bins: int = 60) -> dict:
    """Run `net` over `dataset`; returns a JSON-ready dict of accuracies and curves."""
    net.eval()
    words = dataset.words
    n_cls = len(words)
    confusion = np.zeros((n_cls, n_cls), np.int64)
    top5_hits = 0
    streaming = getattr(net, "streamable", False)
    since_onset = np.zeros((2, max_offset_bins))  # hits, counts at k bins after onset
    since_end = np.zeros((2, 2 * max_offset_bins + 1))  # k bins from -max..+max around the end
    whole = getattr(dataset, "bins", 1) is None  # clips of their own lengths, zero-padded to a batch's longest
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                                         collate_fn=pad_collate if whole else None)
    for batch in tqdm(loader, desc="evaluate", disable=None if progress else True, leave=False):  # None: only on a terminal
        x, y = batch[:2]
        logits = net(x.to(device)).float().cpu()
        lengths = batch[2] if whole else torch.full((len(y),), x.shape[1])
        clip = torch.stack([lg[:n].mean(0) for lg, n in zip(logits, lengths.tolist())])
        top5 = clip.topk(min(5, n_cls), dim=1).indices
        top5_hits += int((top5 == y[:, None]).any(1).sum())
        np.add.at(confusion, (y.numpy(), clip.argmax(1).numpy()), 1)
        if streaming:
            for b, (onset, end) in enumerate(activity_span(c[:n]) for c, n in zip(x, lengths)):
                hit = (streaming_prediction(logits[b, :lengths[b]], onset) == y[b]).numpy()
                k = np.arange(len(hit))
                ok = (k - onset >= 0) & (k - onset < max_offset_bins)
                np.add.at(since_onset[0], (k - onset)[ok], hit[ok])
                np.add.at(since_onset[1], (k - onset)[ok], 1)
                rel = k - end + max_offset_bins
                ok = (rel >= 0) & (rel < since_end.shape[1])
                np.add.at(since_end[0], rel[ok], hit[ok])
                np.add.at(since_end[1], rel[ok], 1)
    total = int(confusion.sum())
    per_word = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
    result = {
        "clips": total,
        "top1": float(confusion.trace() / max(total, 1)),
        "top5": float(top5_hits / max(total, 1)),
        "per_word": {w: float(a) for w, a, row in zip(words, per_word, confusion) if row.sum()},
        "confusion": confusion.tolist(),
    }
    if streaming:
        bin_ms = BIN_MS * input_pace(getattr(net, "config", {}))  # a bin of the clip as it was said
        result["accuracy_since_onset"] = _curve(since_onset, 0, bin_ms)
        result["accuracy_since_end"] = _curve(since_end, -max_offset_bins, bin_ms)
        after = [p for p in result["accuracy_since_end"] if p["ms"] >= 100]
        if after:
            result["accuracy_100ms_after_end"] = after[0]["accuracy"]
            # of the whole-clip accuracy (the paper's mean over all bins), the final prediction
            result["fraction_of_final_100ms_after_end"] = after[0]["accuracy"] / max(result["top1"], 1e-9)
    return result


def _curve(table: np.ndarray, first_bin: int, bin_ms: float) -> list[dict]:
    return [{"ms": round((first_bin + i) * bin_ms, 1), "accuracy": float(h / c), "clips": int(c)}
            for i, (h, c) in enumerate(zip(*table)) if c > 0]


def plot_confusion(result: dict, words: list[str], path) -> None:
    plt = _pyplot()
    m = np.array(result["confusion"], float)
    m /= np.maximum(m.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(12, 11), dpi=110)
    im = ax.imshow(m, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(words)), words, rotation=90, fontsize=5)
    ax.set_yticks(range(len(words)), words, fontsize=5)
    ax.set_xlabel("predicted word")
    ax.set_ylabel("true word")
    ax.set_title(f"Confusion matrix (rows normalised), top-1 {result['top1']:.1%} on {result['clips']} clips")
    fig.colorbar(im, ax=ax, fraction=0.04, label="fraction of the true word's clips")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_accuracy_over_time(result: dict, path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), dpi=110)
    for ax, key, label in ((axes[0], "accuracy_since_onset", "time since word onset (ms)"),
                           (axes[1], "accuracy_since_end", "time since word end (ms)")):
        pts = result.get(key, [])
        enough = 0.1 * max((p["clips"] for p in pts), default=0)
        pts = [p for p in pts if p["clips"] >= enough]  # the tails hold a few long clips: noise
        ax.plot([p["ms"] for p in pts], [p["accuracy"] for p in pts], lw=2)
        ax.axhline(result["top1"], color="grey", ls="--", lw=1, label=f"whole-clip top-1 {result['top1']:.1%}")
        ax.set_xlabel(label)
        ax.set_ylabel("streaming top-1 (running mean since onset)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    axes[1].axvline(100, color="tab:red", lw=1, ls=":")
    fig.suptitle("Accuracy of the streaming prediction as the word unfolds")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display, no Qt clash)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
