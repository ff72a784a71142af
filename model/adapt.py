"""Adapt a trained model to a user's own clips in minutes on a CPU: their face, camera and words.

A few clips per word cannot retrain a network, so adaptation changes little and checks itself:
1. the words: a folder with other words than the model's gets a new readout (rows of words the
   model knows are kept, new words start from zero);
2. the mouth: where it sits in the user's clips and how wide it is, against the place the base
   model learnt (its checkpoint's "mouth"), gives the model an `input_affine` that moves every
   clip's events back there before binning (`stream.mouth_place`);
3. the pace: how much slower or faster the user speaks than the base model's training clips (its
   checkpoint's "pace", word by word) gives the model an `input_pace`: every stream is binned in
   bins that much longer, every clip stretched to match (`stream.pace`);
4. BatchNorm statistics re-estimated on the user's clips (a new camera changes event density
   and spread more than anything else);
5. the chosen layers fine-tuned (`METHODS`) on four fifths of each word's takes (all but one
   of 3), each take also seen cropped, flipped and zoomed (`views`), with a learning rate that
   decays to zero within the time budget; the others decide whether that beat no fine-tuning.
The method and its defaults were chosen by measurement (docs/notes/adapt.md).
"""
from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from model.checkpoint import load_checkpoint, save_checkpoint
from model.config import set_input_affine, set_input_pace
from model.data import DvsLipDataset, clip_events, input_side, train_transform
from model.evaluate import activity_spans, evaluate
from model.network import Network
from model.train import readout_loss, started_from
from stream.constants import BIN_MS
from stream.errors import SpikeLipError
from stream.mouth_place import SCALE_RANGE, MouthPlace, place_of_clips, undo_move
from stream.pace import MIN_CHANGE, MIN_CLIPS, PACE_RANGE, pace_of_clips
from stream.sources.npy import folder_words, list_clips

# Which parameters each method trains after BatchNorm is re-estimated ("bn": none).
METHODS = ("bn", "readout", "backend", "all")


@dataclass
class AdaptConfig:
    data: str  # DVS-Lip style folder: train/<word>/<k>.npy, optionally test/ (scored before and after)
    out: str  # run folder: model.json + model.safetensors
    model: str  # the base checkpoint to adapt
    minutes: float = 10.0  # time budget for fine-tuning
    method: str = "backend"
    lr: float = 1e-3
    batch_size: int = 16
    max_epochs: int = 60
    views: int = 3  # augmented copies of each take fine-tuning sees, besides the take as it is
    seed: int = 0
    workers: int = 2
    progress: bool = True
    move_mouth: bool = True  # step 2 (off: the clips are read as they are)
    match_pace: bool = True  # step 3 (off: the clips are read at the model's own pace)


def with_words(net: Network, words: list[str]) -> Network:
    """`net` for exactly `words`: the same weights, a readout with one row per word (a known
    word keeps its row; a new one starts at zero weight and the mean bias)."""
    if list(words) == list(net.words):
        return net
    out = Network({**net.config, "num_classes": len(words)}, words=words)
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("readout.")}
    out.load_state_dict(state, strict=False)
    known = {w: i for i, w in enumerate(net.words)}
    with torch.no_grad():
        out.readout.weight.zero_()
        out.readout.bias.fill_(float(net.readout.bias.mean()))
        for i, w in enumerate(words):
            if w in known:
                out.readout.weight[i] = net.readout.weight[known[w]]
                out.readout.bias[i] = net.readout.bias[known[w]]
    return out.eval()


def move_mouth(net: Network, learnt: dict | None, clips: list[tuple[Path, int]], log) -> dict | None:
    """Set `net`'s input_affine to move the mouth of `clips` to where the base model `learnt` it;
    returns {"seen", "input_affine"}, or None (and says why) when there is nothing to go by."""
    if not learnt:
        log("mouth: the base checkpoint does not record where its training mouths sat; clips read as they are")
        return None
    seen = place_of_clips([path for path, _ in clips])
    move = undo_move(seen, MouthPlace.from_dict(learnt))
    if not SCALE_RANGE[0] <= 1 / move.scale <= SCALE_RANGE[1]:
        log(f"mouth: your clips' activity is {1 / move.scale:.2f} x as wide as the model's mouths, outside "
            f"{SCALE_RANGE[0]}-{SCALE_RANGE[1]}: not a mouth crop? clips read as they are")
        return None
    set_input_affine(net.config, move)
    log(f"mouth: {1 / move.scale:.2f} x as wide as the model learnt, turned {-move.rotate_deg:+.1f} degrees, centre "
        f"{seen.x - learnt['x']:+.1f} px right, {seen.y - learnt['y']:+.1f} px down; moved back before every reading")
    return {"seen": seen.as_dict(), "input_affine": net.config["input_affine"]}


def match_pace(net: Network, learnt: dict | None, clips: list[tuple[Path, int]], words: list[str], log) -> dict | None:
    """Set `net`'s input_pace to how many times slower than the base model's training clips
    (`learnt`, its checkpoint's "pace") the user says the same words in `clips`, unless within
    MIN_CHANGE of them; returns {"seen", "clips", "input_pace"}, or None (and says why) when there
    is nothing to go by."""
    if not learnt:
        log("pace: the base checkpoint does not record its training clips' pace; clips read at its own")
        return None
    seen = pace_of_clips([(path, words[label]) for path, label in clips], learnt)
    if seen.clips < MIN_CLIPS:
        log(f"pace: {seen.clips} of your clips are words the model learnt from (at least {MIN_CLIPS} needed to "
            f"compare); read at its own pace")
        return None
    if not PACE_RANGE[0] <= seen.pace <= PACE_RANGE[1]:
        log(f"pace: your clips' movement lasts {seen.pace:.2f} x as long as the model's, outside {PACE_RANGE[0]}-"
            f"{PACE_RANGE[1]}: not these words spoken? read at its own pace")
        return None
    said = f"pace: you speak {seen.pace:.2f} x as slowly as the model's training clips ({seen.clips} clips)"
    set_input_pace(net.config, seen.to_match)  # at 1 it drops the pace of a base adapted to another user
    if seen.to_match == 1:
        log(f"{said}, within {MIN_CHANGE:.0%} of them: read at its own pace")
    else:
        log(f"{said}; every reading is binned {seen.pace:.2f} x as long to match")
    return {"seen": round(seen.pace, 4), "clips": seen.clips, "input_pace": net.config.get("input_pace", 1.0)}


def _dropout_off(net: torch.nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()


@torch.no_grad()
def recalibrate_batchnorm(net: Network, dataset, batch_size: int = 16, workers: int = 2) -> int:
    """Re-estimate every BatchNorm's running mean and variance on `dataset` (a cumulative average
    over all its clips); returns how many BatchNorm layers there were."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    _dropout_off(net)
    for x, _ in torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers):
        net(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.eval()
    return len(norms)


def trainable(net: Network, method: str) -> list[torch.nn.Parameter]:
    """The parameters `method` fine-tunes; the rest (and every BatchNorm's statistics) stay fixed."""
    if method not in METHODS:
        raise SpikeLipError(f"adapt method {method!r}: choose one of {', '.join(METHODS)}")
    parts = {"bn": [], "readout": [net.readout], "backend": [net.backend, net.readout], "all": [net]}[method]
    params = [p for part in parts for p in part.parameters()]
    for p in net.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    return params


def split_takes(clips: list[tuple[Path, int]]) -> tuple[list[int], list[int]]:
    """(fit, held out): the last fifth of each word's takes (at least one, none of a word with a
    single take) is held out to choose the epoch."""
    by_word: dict[int, list[int]] = {}
    for i, (_, label) in enumerate(clips):
        by_word.setdefault(label, []).append(i)
    fit, held = [], []
    for idx in by_word.values():
        k = max(1, len(idx) // 5) if len(idx) >= 2 else 0
        fit += idx[:len(idx) - k]
        held += idx[len(idx) - k:]
    return sorted(fit), sorted(held)


def training_loss(logits: torch.Tensor, spans: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Training's losses: the whole clip's mean, and the app's readout from 50 ms after the word's end."""
    return F.cross_entropy(logits.mean(1), y) + readout_loss(logits, y, spans, math.ceil(50 / BIN_MS))


@torch.no_grad()
def frontend_features(net: Network, dataset, batch_size: int = 16, workers: int = 2,
                      one_window: bool = False) -> torch.utils.data.TensorDataset:
    """(features (N, R, T, F), activity spans (N, 2), labels) of every clip, R the model's readings
    (2 for a mirror model): with the frontend fixed, an epoch then costs only the recurrent layers,
    so a CPU gets through many in minutes. With `one_window`, a model reading its window at several
    offsets gives each batch's readings through one of them, drawn at random: training takes
    then cost what one window's do, and still meet every window."""
    net.eval()
    feats, spans, labels = [], [], []
    windows = len(net.reading.offsets)
    for x, y in torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers):
        feats.append(net.features(x, int(torch.randint(windows, ())) if one_window and windows > 1 else None))
        spans.append(activity_spans(x))
        labels.append(y)
    return torch.utils.data.TensorDataset(torch.cat(feats), torch.cat(spans), torch.cat(labels))


class Views(torch.utils.data.Dataset):
    """Each take as one of its views (the take as it is, augmented copies), a new draw every time."""

    def __init__(self, views: list[torch.utils.data.Dataset]):
        self.views = views

    def __len__(self) -> int:
        return len(self.views[0])

    def __getitem__(self, i: int):
        return self.views[int(torch.randint(len(self.views), ()))][i]


def _logits(net: Network, batch, cached: bool):
    """(logits, spans, labels) of a batch of clips, or of their cached frontend features."""
    if cached:
        f, spans, y = batch
        return net.after_features(f), spans, y
    x, y = batch
    return net(x), activity_spans(x), y


def _score(net, dataset, cfg: AdaptConfig) -> dict:
    r = evaluate(net, dataset, batch_size=cfg.batch_size, workers=cfg.workers, progress=False)
    keep = ("clips", "top1", "top5", "accuracy_100ms_after_end")
    return {k: round(r[k], 4) if isinstance(r[k], float) else r[k] for k in keep if k in r}


@torch.no_grad()
def _held_out(net, held, cached: bool, cfg: AdaptConfig) -> tuple[float, float]:
    """(top-1, minus mean loss) on the held-out takes: higher is better, ties broken by the loss."""
    if held is None or len(held) == 0:
        return (0.0, 0.0)
    net.eval()
    hits, losses, n = 0, 0.0, 0
    for batch in torch.utils.data.DataLoader(held, batch_size=cfg.batch_size, num_workers=0 if cached else cfg.workers):
        logits, _, y = _logits(net, batch, cached)
        hits += int((logits.mean(1).argmax(1) == y).sum())
        losses += float(F.cross_entropy(logits.mean(1), y, reduction="sum"))
        n += len(y)
    return (hits / n, -losses / n)


def _train_mode(net: Network) -> None:
    """Dropout on; BatchNorm statistics (just re-estimated) kept."""
    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """The learning rate of `epoch` (1-based) of `epochs`: `lr` first, decaying to near zero by the
    last, so that the weights the run ends with are settled rather than one noisy step."""
    return lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))


def fine_tune(net: Network, fit, held, cached: bool, cfg: AdaptConfig, deadline: float, log) -> dict:
    """Adam on `trainable(net, cfg.method)` for `max_epochs`, or as many as the epochs' mean time
    says fit before `deadline` (perf_counter), at a `cosine_lr`; keeps the last epoch's weights
    unless the held-out takes score the weights before fine-tuning better (top-1, then loss)."""
    params = trainable(net, cfg.method)
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    start = _held_out(net, held, cached, cfg)
    untuned = copy.deepcopy(net.state_dict())
    log(f"epoch 0: held-out takes top-1 {start[0]:.1%}")
    history, epochs, score, epoch_s, started = [], cfg.max_epochs, start, 0.0, time.perf_counter()
    loader = torch.utils.data.DataLoader(fit, batch_size=cfg.batch_size, shuffle=True,
                                         num_workers=0 if cached else cfg.workers, drop_last=len(fit) > cfg.batch_size)
    for epoch in range(1, cfg.max_epochs + 1):
        if epoch > epochs or time.perf_counter() + epoch_s > deadline:
            break
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(cfg.lr, epoch, epochs)
        t0 = time.perf_counter()
        _train_mode(net)
        losses = []
        for batch in tqdm(loader, desc=f"epoch {epoch}", disable=None if cfg.progress else True, leave=False):
            loss = training_loss(*_logits(net, batch, cached))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            net.clamp_()
            losses.append(loss.item())
        score = _held_out(net, held, cached, cfg)
        epoch_s = time.perf_counter() - t0
        mean_s = (time.perf_counter() - started) / epoch  # the schedule's length: what the budget leaves room for
        epochs = int(max(epoch, min(cfg.max_epochs, epoch + (deadline - time.perf_counter()) / mean_s)))
        history.append({"epoch": epoch, "lr": float(f"{optimizer.param_groups[0]['lr']:.3g}"), "loss": round(float(np.mean(losses)), 4),
                        "held_out_top1": round(score[0], 4), "seconds": round(epoch_s, 1)})
        log(f"epoch {epoch} of {epochs}: loss {np.mean(losses):.3f}, held-out takes top-1 {score[0]:.1%} ({epoch_s:.1f} s)")
    kept = len(history) if history and score >= start else 0
    if not history:
        log("no fine-tuning: the time budget (--minutes) was spent before it; the model before it is kept")
    elif not kept:
        net.load_state_dict(untuned)
        log(f"kept the model before fine-tuning: the held-out takes read it better ({start[0]:.1%} against {score[0]:.1%})")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(True)
    return {"epochs": len(history), "best_epoch": kept, "history": history}


def adapt(cfg: AdaptConfig, log=print) -> dict:
    """Adapt `cfg.model` to `cfg.data`, save it in `cfg.out`; returns the record written."""
    t_start = time.perf_counter()
    deadline = t_start + cfg.minutes * 60
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)  # the views' crops and flips when read in this process
    data = Path(cfg.data)
    words = folder_words(data)
    clips = list_clips(data, "train", words)
    if not clips:
        raise SpikeLipError(f"{data}/train: no clips; expected {data}/train/<word>/<k>.npy")
    present = sorted({label for _, label in clips})
    missing = [words[i] for i in range(len(words)) if i not in present]
    if missing and (data / "words.txt").is_file():
        raise SpikeLipError(f"{data}/train: no clips of {', '.join(missing[:5])}"
                            f"{' ...' if len(missing) > 5 else ''}; record them or drop them from words.txt")
    base = cfg.model
    net, info = load_checkpoint(base)
    if not net.streamable:
        raise SpikeLipError(f"{base}: adapt needs a streamable checkpoint (small, paper-causal)")
    net = with_words(net, words)
    has_test = (data / "test").is_dir()

    side = input_side(net.config)

    def clips_of(split: str, transform=None, seed: int | None = 0):
        return DvsLipDataset(data, split, words, transform, event_transform=clip_events(net.config), seed=seed, side=side)

    before = _score(net, clips_of("test"), cfg) if has_test else None
    if before:
        log(f"before: top-1 {before['top1']:.1%} on {before['clips']} clips of {data}/test")
    mouth = move_mouth(net, info.get("mouth"), clips, log) if cfg.move_mouth else None
    pace = match_pace(net, info.get("pace"), clips, words, log) if cfg.match_pace else None
    plain = clips_of("train")
    n_bn = recalibrate_batchnorm(net, plain, cfg.batch_size, cfg.workers)
    log(f"re-estimated {n_bn} BatchNorm layers on {len(plain)} clips")
    fit, held = split_takes(clips)
    tuning = {"epochs": 0}
    if cfg.method != "bn":
        cached = cfg.method != "all"  # the frontend stays fixed: compute its features once
        if cached:
            fit_set = frontend_features(net, torch.utils.data.Subset(plain, fit), cfg.batch_size, cfg.workers, one_window=True)
            held_set = frontend_features(net, torch.utils.data.Subset(plain, held), cfg.batch_size, cfg.workers)
            if cfg.views:
                t0 = time.perf_counter()
                augmented = torch.utils.data.Subset(clips_of("train", train_transform(temporal_augment=False, side=side), None), fit)
                fit_set = Views([fit_set] + [frontend_features(net, augmented, cfg.batch_size, cfg.workers, one_window=True)
                                             for _ in range(cfg.views)])
                log(f"{cfg.views} cropped, flipped and zoomed copies of {len(fit)} takes in {time.perf_counter() - t0:.0f} s")
        else:  # the paper's crop and flip on every pass
            augmented = clips_of("train", train_transform(spatial_augment=False, temporal_augment=False, side=side))
            fit_set, held_set = torch.utils.data.Subset(augmented, fit), torch.utils.data.Subset(plain, held)
        tuning = fine_tune(net, fit_set, held_set, cached, cfg, deadline, log)
    after = _score(net, clips_of("test"), cfg) if has_test else None
    if after:
        log(f"after:  top-1 {after['top1']:.1%} on {after['clips']} clips of {data}/test")
    seconds = round(time.perf_counter() - t_start, 1)
    record = {"base": started_from(base) or {"model": base}, "data": str(data), "words": len(words),
              "train_clips": len(clips), "held_out_takes": len(held), "seconds": seconds,
              "options": asdict(cfg), **({"mouth": mouth} if mouth else {}),
              **({"pace": pace} if pace else {}), **tuning}
    metrics = {}
    if before:
        metrics = {"before": before, "after": after, "held_out": {**after, "data": f"{data}/test"}}
    path = save_checkpoint(net, Path(cfg.out) / "model",
                           trained_on=f"adapted from {base} to {data}/train ({len(clips)} clips, {len(words)} words)",
                           metrics=metrics, training={"adapt": record}, mouth=info.get("mouth"),
                           pace=info.get("pace"))
    log(f"wrote {path} in {seconds:.0f} s")
    return {"path": str(path), "metrics": metrics, "adapt": record}
