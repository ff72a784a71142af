"""Where words are, as the network sees them: a small recurrent head that reads each bin's logits
and event count and says whether a word is being spoken.

The activity segmenter waits for 120 ms of quiet lips before it ends a word, because a pause
between syllables looks like the end of a word to an event count. The network's logits know
more (how far into a word it is, whether the word is complete), so a GRU of 32 units over a
16-dimensional projection of the logits plus the bin's log event count is trained, on continuous
SynthLip sentences with known word times, to output p(in a word) at every bin; the app ends a
word when p stays low for a few bins. It sits beside the network in the checkpoint
(`<name>-boundary.safetensors`, described under "boundary" in the model's JSON), so any runtime
that gives logits can use it.
"""
from __future__ import annotations

import json
import math
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from model.data import input_side, step_input
from stream.binner import bin_recording
from stream.errors import SpikeLipError
from stream.files import write_atomically
from stream.roi import Crop

LOG_EVENTS = 8.0  # log1p(events in a bin) / LOG_EVENTS: a busy bin (3,000 events) is about 1


class BoundaryState(NamedTuple):
    h: torch.Tensor  # (B, hidden)


@dataclass(frozen=True)
class Decision:
    """How p(in a word) becomes onsets and offsets: a word starts after `on_steps` bins at or
    above `on`, ends after `off_steps` bins below `off`; a stretch shorter than `min_steps` bins
    (first bin above `on` to last before the end) is no word but a blip of head motion
    (`min_word_steps` sets it from the training sentences). Chosen on held-out SynthLip sentences
    (docs/notes/word-boundaries.md)."""

    on: float = 0.8
    off: float = 0.5
    on_steps: int = 4
    off_steps: int = 3
    min_steps: int = 10
    # and a stretch whose top word the readout gives less than this is no word: head motion the
    # model is unsure of (the bundled head's training sentences read no word right under 0.26)
    min_confidence: float = 0.2


# A fidgeting head at rest raises p for 0.1-0.25 s at a time; the shortest SynthLip word moves
# the lips for 0.26 s even said 1.3 x fast, so stretches shorter than 0.9 x the shortest word
# the head was trained on are dropped (docs/notes/word-boundaries.md).
MIN_WORD_SHARE = 0.9


def min_word_steps(sequences: list[Sequence], share: float = MIN_WORD_SHARE) -> int:
    """`Decision.min_steps` for a head trained on `sequences`: `share` of their shortest word, in bins."""
    shortest = min(b - a for s in sequences for a, b in s.spans)
    bin_us = min(float(s.starts_us[1] - s.starts_us[0]) for s in sequences if len(s.starts_us) > 1)
    return max(1, int(share * shortest / bin_us))


class Decider:
    """Feed p(in a word) per bin to `update`; it says "onset", "offset" (a word ended) or None."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.reset()

    def reset(self) -> None:
        self.speaking = False
        self._run = 0
        self._length = 0  # bins since the onset

    def update(self, p: float) -> str | None:
        d = self.decision
        if not self.speaking:
            self._run = self._run + 1 if p >= d.on else 0
            if self._run >= d.on_steps:
                self.speaking, self._run, self._length = True, 0, d.on_steps
                return "onset"
            return None
        self._length += 1
        self._run = self._run + 1 if p < d.off else 0
        if self._run >= d.off_steps:
            self.speaking, self._run = False, 0
            return "offset" if self._length - d.off_steps >= d.min_steps else None
        return None

    def finish(self) -> str | None:
        """The stream ended: "offset" if the stretch under way is long enough to be a word; then
        back to listening."""
        word = self.speaking and self._length - self._run >= self.decision.min_steps
        self.reset()
        return "offset" if word else None


def segments(edges, lookback: int, hangover: int) -> list[tuple[int, int, int]]:
    """(first bin, last bin, committing bin) of each word in a sequence of per-bin edges
    ("onset", "offset", None), as the app's word stage places them."""
    out, start = [], 0
    for i, edge in enumerate(edges):
        if edge == "onset":
            start = max(i - lookback + 1, 0)
        elif edge == "offset":
            out.append((start, i - hangover + 1, i))
    return out


def score_segments(found: list[tuple[float, float, float]], spans: list[tuple[int, int]]) -> dict:
    """Segments (start, end, commit time; us) against the true word spans (us): words missed,
    split in two, merged with a neighbour, segments with no word, and when each word was
    committed after its end (ms)."""
    missed = split = merged = spurious = 0
    hits: dict[int, list[float]] = {}
    for a, b, commit in found:
        overlap = [min(b, end) - max(a, start) for start, end in spans]
        j = int(np.argmax(overlap)) if spans else -1
        if j < 0 or overlap[j] <= 0:
            spurious += 1
            continue
        merged += int(sum(o > 0 for o in overlap) > 1)
        hits.setdefault(j, []).append((commit - spans[j][1]) / 1e3)
    latency = []
    for j in range(len(spans)):
        if j not in hits:
            missed += 1
        elif len(hits[j]) > 1:
            split += 1
        else:
            latency.extend(hits[j])
    return {"words": len(spans), "missed": missed, "split": split, "merged": merged, "spurious": spurious,
            "errors": missed + split + merged + spurious, "commit_ms": latency}


class BoundaryHead(nn.Module):
    """p(in a word) per bin from the network's logits and the bin's event count; `step` carries
    the GRU state, `forward` runs whole sequences through the same step."""

    def __init__(self, n_words: int, hidden: int = 32, proj: int = 16) -> None:
        super().__init__()
        self.config = {"n_words": int(n_words), "hidden": int(hidden), "proj": int(proj)}
        self.proj = nn.Linear(n_words, proj)
        self.cell = nn.GRUCell(proj + 1, hidden)
        self.out = nn.Linear(hidden, 1)

    def initial_state(self, batch_size: int = 1) -> BoundaryState:
        return BoundaryState(torch.zeros(batch_size, self.config["hidden"]))

    def step(self, logits: torch.Tensor, events: torch.Tensor, state: BoundaryState):
        """logits (B, n_words), events (B,) counts -> (p-logit (B,), state)."""
        x = torch.cat([torch.tanh(self.proj(logits)), (torch.log1p(events.float()) / LOG_EVENTS)[:, None]], 1)
        h = self.cell(x, state.h)
        return self.out(h)[:, 0], BoundaryState(h)

    def forward(self, logits: torch.Tensor, events: torch.Tensor) -> torch.Tensor:
        """logits (B, T, n_words), events (B, T) -> p-logits (B, T)."""
        state = self.initial_state(logits.shape[0])
        out = []
        for t in range(logits.shape[1]):
            y, state = self.step(logits[:, t], events[:, t], state)
            out.append(y)
        return torch.stack(out, 1)


class StreamStep:
    """`head`'s step for one stream in NumPy: the same arithmetic as `BoundaryHead.step` (tested),
    ~0.03 ms a bin where torch's per-call overhead makes it ~0.5 ms."""

    def __init__(self, head: BoundaryHead) -> None:
        p = {k: v.detach().double().numpy() for k, v in head.state_dict().items()}
        self.proj_w, self.proj_b = p["proj.weight"], p["proj.bias"]
        self.w_ih, self.b_ih = p["cell.weight_ih"], p["cell.bias_ih"]
        self.w_hh, self.b_hh = p["cell.weight_hh"], p["cell.bias_hh"]
        self.out_w, self.out_b = p["out.weight"][0], float(p["out.bias"][0])
        self.hidden = head.config["hidden"]

    def initial_state(self) -> np.ndarray:
        return np.zeros(self.hidden)

    def __call__(self, logits, events: float, h: np.ndarray) -> tuple[float, np.ndarray]:
        """(p(in a word), new state) for one bin's logits (n_words,) and event count."""
        x = np.concatenate([np.tanh(self.proj_w @ np.asarray(logits, np.float64) + self.proj_b),
                            [np.log1p(events) / LOG_EVENTS]])
        gi, gh = self.w_ih @ x + self.b_ih, self.w_hh @ h + self.b_hh
        n = self.hidden
        r = 1 / (1 + np.exp(-(gi[:n] + gh[:n])))
        z = 1 / (1 + np.exp(-(gi[n:2 * n] + gh[n:2 * n])))
        c = np.tanh(gi[2 * n:] + r * gh[2 * n:])
        h = (1 - z) * c + z * h
        return 1 / (1 + math.exp(-(self.out_w @ h + self.out_b))), h


class Sequence(NamedTuple):
    """One recording as the head sees it: per bin the network's logits, the event count in the
    crop, and whether a word was being spoken (1) or not (0); the bins' start times and the true
    word spans (us) for scoring."""

    logits: np.ndarray  # (T, n_words) float32
    events: np.ndarray  # (T,) float32
    speaking: np.ndarray  # (T,) float32
    starts_us: np.ndarray  # (T,) float64
    spans: list  # [(start_us, end_us)] of the words


# A share of the training words whose restart comes late: without them the head never sees a pause
# read by a network still on the last word, which it takes for more of that word, merging the
# two (continuous validation sentences: 5 merges with none late, 0 with 0.3; docs/notes/word-boundaries.md).
LATE_SHARE = 0.3


def restart_times(spans, bin_us: float, rng: random.Random, restart_bins: tuple[int, int] = (2, 6),
                  late_share: float = LATE_SHARE, late_bins: tuple[int, int] = (7, 40)) -> list[float]:
    """When (us) the app would restart the network after each word: `restart_bins` bins after its
    end, as after a timely commit; or, for a `late_share` of the words, `late_bins` after it (a
    commit that came late, or none before the next word), so the head also learns the pauses
    that a network still reading the last word sees. Never later than the next word's start."""
    times = []
    for k, (_, end) in enumerate(spans):
        late = rng.random() < late_share
        t = end + rng.randint(*(late_bins if late else restart_bins)) * bin_us
        following = spans[k + 1][0] if k + 1 < len(spans) else math.inf
        if t < following:
            times.append(t)
        elif late and following - bin_us > end:
            times.append(following - bin_us)  # the network was restarted just before the next word
    return times


def sentence_sequence(net, path, rng: random.Random, restart_bins: tuple[int, int] = (2, 6),
                      late_share: float = LATE_SHARE) -> Sequence:
    """Run `net` (any `Stepper`) over a SynthLip sentence (AEDAT4 + JSON ground truth) through the
    default centred crop, restarting it from rest after each word ends, as the app does after a
    commit (`restart_times`)."""
    from stream.sources import open_file

    truth = json.loads(Path(path).with_suffix(".json").read_text())
    spans = [(w["start_us"], w["end_us"]) for w in truth["words"]]
    logits, counts, starts = [], [], []
    with open_file(path) as source:
        binner, parts = bin_recording(source, Crop(source.sensor))
    state = net.initial_state(batch_size=1)
    side = input_side(getattr(net, "config", {}))  # a Stepper need not carry a config
    restart_at = restart_times(spans, binner.bin_us, rng, restart_bins, late_share)
    with torch.inference_mode():
        for bins in parts:
            for index, frame in zip(bins.index, bins.frames):
                start = float(binner.bin_start_us(index))
                if restart_at and start >= restart_at[0]:
                    restart_at = [t for t in restart_at if t > start]
                    state = net.initial_state(batch_size=1)
                y, state = net.step(step_input(frame, side), state)
                logits.append(np.asarray(y[0], np.float32))
                counts.append(float(frame.sum()))
                starts.append(start)
    starts = np.asarray(starts)
    speaking = np.zeros(len(starts), np.float32)
    for a, b in spans:
        speaking[(starts + binner.bin_us > a) & (starts < b)] = 1.0
    return Sequence(np.stack(logits), np.asarray(counts, np.float32), speaking, starts, spans)


def train_head(sequences: list[Sequence], n_words: int, epochs: int = 40, lr: float = 3e-3, batch: int = 16,
               window: int = 400, seed: int = 0, log=print) -> BoundaryHead:
    """Fit a BoundaryHead on `sequences` (binary cross-entropy per bin) on windows of `window`
    bins, each starting from rest, so training and the app start alike."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    head = BoundaryHead(n_words)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        windows = []
        for s in sequences:
            for start in range(rng.randrange(0, window // 2 + 1), max(len(s.events) - window // 4, 1), window):
                windows.append((s, start))
        rng.shuffle(windows)
        total = 0.0
        for k in range(0, len(windows), batch):
            chunk = windows[k:k + batch]
            logits, events, target = _stack(chunk, window)
            loss = F.binary_cross_entropy_with_logits(head(logits, events), target[0], weight=target[1])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(chunk)
        log(f"epoch {epoch}: loss {total / max(len(windows), 1):.4f}")
    return head.eval()


def _stack(chunk, window: int):
    """Windows padded to one length: logits, events, (labels, mask)."""
    n = max(min(window, len(s.events) - start) for s, start in chunk)
    W = chunk[0][0].logits.shape[1]
    logits = torch.zeros(len(chunk), n, W)
    events = torch.zeros(len(chunk), n)
    labels = torch.zeros(len(chunk), n)
    mask = torch.zeros(len(chunk), n)
    for i, (s, start) in enumerate(chunk):
        m = min(n, len(s.events) - start)
        logits[i, :m] = torch.from_numpy(s.logits[start:start + m])
        events[i, :m] = torch.from_numpy(s.events[start:start + m])
        labels[i, :m] = torch.from_numpy(s.speaking[start:start + m])
        mask[i, :m] = 1.0
    return logits, events, (labels, mask)


def probabilities(head: BoundaryHead, sequence: Sequence) -> np.ndarray:
    """p(in a word) per bin of one sequence."""
    with torch.inference_mode():
        y = head(torch.from_numpy(sequence.logits)[None], torch.from_numpy(sequence.events)[None])[0]
    return torch.sigmoid(y).numpy()


# -------------------------------------------------------------------------- files

def save_head(head: BoundaryHead, model_json, decision: Decision, trained_on: str, metrics: dict | None = None) -> Path:
    """Write the head beside the checkpoint `model_json` and describe it under "boundary" there."""
    model_json = Path(model_json)
    info = json.loads(model_json.read_text())
    weights = model_json.with_name(f"{model_json.stem}-boundary.safetensors")
    state = {k: v.detach().contiguous() for k, v in head.state_dict().items()}
    write_atomically(weights, lambda tmp: save_file(state, str(tmp)))
    info["boundary"] = {"weights": weights.name, "config": head.config, "decision": asdict(decision),
                        "trained_on": trained_on, "metrics": metrics or {}}
    write_atomically(model_json, lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2) + "\n"))
    return weights


def load_head(model_json) -> tuple[BoundaryHead, Decision] | None:
    """The head described in checkpoint `model_json`, or None when it has none."""
    model_json = Path(model_json)
    try:
        info = json.loads(model_json.read_text()).get("boundary")
    except (OSError, ValueError, AttributeError):
        return None
    if not info:
        return None
    path = model_json.with_name(info["weights"])
    try:
        head = BoundaryHead(**info["config"])
        head.load_state_dict(load_file(str(path)))
    except (OSError, RuntimeError, TypeError, KeyError) as exc:
        raise SpikeLipError(f"{path}: cannot load the word-boundary head ({exc}); train it again with "
                            "`spikelip boundary`, or remove \"boundary\" from the model's JSON") from None
    return head.eval(), Decision(**info.get("decision", {}))




# -------------------------------------------------------------------------- training a model's head

def sentence_files(folder) -> list[Path]:
    """The SynthLip sentence recordings under `folder` (any depth): .aedat4 files with their .json."""
    found, seen = [], set()
    for root, dirs, files in os.walk(folder, followlinks=True):  # folders linked in count (rglob skips them)
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree
            dirs.clear()
            continue
        seen.add(real)
        found += [Path(root) / f for f in files if f.endswith(".aedat4")]
    return sorted(p for p in found if p.with_suffix(".json").is_file())


def head_edges(head: BoundaryHead, decision: Decision):
    """sequence -> its per-bin edges ("onset", "offset", None) from `head` with `decision`."""
    def edges(sequence: Sequence) -> list:
        decider = Decider(decision)
        return [decider.update(float(p)) for p in probabilities(head, sequence)]
    return edges


def score_sequences(sequences: list[Sequence], edges_of, lookback: int, hangover: int) -> dict:
    """Words missed/split/merged/spurious and commit times (ms after each word's end, p50 and
    p90) over `sequences`, with `edges_of(sequence)` giving each one's per-bin edges."""
    totals = {"words": 0, "missed": 0, "split": 0, "merged": 0, "spurious": 0, "errors": 0}
    commit = []
    for s in sequences:
        bin_us = float(s.starts_us[1] - s.starts_us[0]) if len(s.starts_us) > 1 else 0.0
        found = [(s.starts_us[a], s.starts_us[b] + bin_us, s.starts_us[c] + bin_us)
                 for a, b, c in segments(edges_of(s), lookback, hangover)]
        r = score_segments(found, s.spans)
        commit += r.pop("commit_ms")
        for k, v in r.items():
            totals[k] += v
    p50, p90 = (round(float(v), 1) for v in np.percentile(commit, [50, 90])) if commit else (None, None)
    return {**totals, "commit_ms_p50": p50, "commit_ms_p90": p90}
