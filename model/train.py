"""Train a network on DVS-Lip or SynthLip with the paper's recipe; one script for CPU, GPU and DDP.

    spikelip train --data DIR --model small --out runs/small
    spikelip train --data DIR --extra-train DIR2 DIR3 ...    # more speakers: other folders' train splits
    spikelip train --data DIR --sentences SENTENCES ...      # and the words of continuous speech
    torchrun --nproc_per_node 4 -m model.train --data DIR --model paper-causal --out runs/pc

Recipe (paper): Adam, lr 3e-4 constant, then cosine 1e-4 -> 5e-6; weight decay 1e-4 except
BatchNorm and neuron parameters; 1 warm-up epoch; batch 32; alpha clamping after every step.
Every epoch writes `last.pt` (resume continues identically) and a safetensors checkpoint that
records how it was trained, including the checkpoint a fine-tuning run (`--model CKPT.json`) began from.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from model.build import build
from model.checkpoint import find_checkpoint, is_checkpoint_json, save_checkpoint, weights_digest
from model.config import default_words, input_affine, pace_undone, read_json
from model.data import DvsLipDataset, clip_events, input_side, train_transform
from model.evaluate import activity_spans, evaluate, running_mean_since_onset
from model.metrics import spike_loss, synapse_groups
from model.network import Readings
from model.sentence_clips import cut_sentences
from stream.constants import BIN_MS
from stream.files import write_atomically
from stream.mouth_place import place_of_clips
from stream.pace import learnt_pace
from stream.sources.npy import list_clips
from stream.transforms import RandomShift


def _option(default, help: str):
    """A TrainConfig field whose help text `spikelip train --help` shows."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    data: str = _option("", "DVS-Lip style folder with {train,test}/<word>/<k>.npy (DVS-Lip or `spikelip synth` output)")
    extra_train: list[str] = _option([], "more folders whose train splits join DATA's (more speakers); the test split stays DATA's")
    sentences: list[str] = _option([], "folders of sentence recordings with their ground truth (`spikelip synth --sentences`): each word, cut out as the app reads it in continuous speech (OUT/sentence-clips, cut once), joins the training set")
    model: str = _option("small", "config name or .json; a checkpoint .json starts from its weights (fresh optimiser)")
    out: str = _option("runs/train", "run folder: last.pt, log.csv and the checkpoint; an existing last.pt is resumed")
    epochs_constant: int = _option(100, "epochs at LR (after the warm-up)")
    epochs_cosine: int = _option(100, "epochs of cosine decay from LR_COSINE to LR_MIN, after the constant ones")
    warmup_epochs: float = _option(1.0, "linear warm-up to LR over this many epochs")
    batch_size: int = _option(32, "clips per optimiser step (per process under torchrun)")
    lr: float = _option(3e-4, "Adam learning rate of the constant phase")
    lr_cosine: float = _option(1e-4, "learning rate where the cosine decay starts")
    lr_min: float = _option(5e-6, "learning rate where the cosine decay ends")
    weight_decay: float = _option(1e-4, "on convolution, recurrent and linear weights; none on BatchNorm, biases, neurons")
    spike_loss: float = _option(0.0, "lambda of the spike loss, equation (15); 0 = off")
    streaming_loss_from: int = _option(-1, "bin >= 0: also train the running-mean prediction from the clip's start at every bin from this one on")
    streaming_loss_after_end: float = _option(-1.0, "ms >= 0: also train the app's readout (running mean since the word's onset) at every bin from this long after each word's end")
    spatial_augment: bool = _option(True, "cutout and zoom +-30 %% on top of the paper's random crop and flip")
    temporal_augment: bool = _option(True, "temporal masks (zeroed runs of bins)")
    camera_augment_strength: float = _option(1.0, "with --camera-augment: the shifts' reach, 1 = RandomShift's defaults, 0.5 = half as far")
    camera_augment_fraction: float = _option(1.0, "with --camera-augment: the share of training clips shifted; the rest stay clean")
    camera_augment: bool = _option(False, "a new draw of camera/face shifts for every training clip (stream.transforms.RandomShift: mouth size, position and turn, lost events, noise, hot pixels, refractory period, speaking rate); bins every epoch, so no --cache for the train split")
    distill: str = _option("", "a checkpoint .json (typically the one --model fine-tunes): also train each clip's mean prediction towards this model's on the same clip, clean and centred (temperature 2; computed once into OUT/teacher-logits.npz), so that training with --camera-augment keeps what the teacher reads from clean clips")
    distill_weight: float = _option(1.0, "with --distill: the weight of that term against the cross-entropy")
    one_reading: bool = _option(False, "a model that reads each bin several times (config mirror, window_offsets: the bundled model 8) trains, and its --distill teacher reads, through one reading only: the centre window, unmirrored (the offsets and the mirror are shifts and flips that the random crops and flips of training already make): a step costs what one reading costs; evaluations and the checkpoint keep every reading")
    bins: int = _option(90, "13.3 ms bins per clip (90 = 1.2 s, the reference; later events dropped)")
    workers: int = _option(2, "data loader processes")
    cache: str = _option("", "folder for binned clips, written once (~1.7 MB a clip) and read back each epoch; empty: bin every epoch")
    seed: int = _option(0, "seed of weights, shuffling and augmentations")
    max_steps: int = _option(0, "stop after this many optimiser steps (0 = run every epoch); for smoke tests")
    minutes: float = _option(0.0, "train for this long instead of by epochs: the schedule (warm-up, constant, cosine) is laid over the minutes, and the run ends, evaluated and saved, once they are spent (a GPU session's budget); 0 = by epochs")
    eval_every: int = _option(1, "epochs between test-split evaluations (the last epoch is always evaluated)")
    tensorboard: bool = _option(True, "also log loss, accuracy and learning rate to OUT/tensorboard (when the tensorboard package is installed)")
    trained_on: str = _option("", "free text for the checkpoint card (default: the folders' names)")

    @property
    def epochs(self) -> int:
        return self.epochs_constant + self.epochs_cosine


def learning_rate(cfg: TrainConfig, epoch_float: float) -> float:
    """Warm-up, constant phase, then cosine decay: the paper's schedule as a function of epoch."""
    if epoch_float < cfg.warmup_epochs:
        return cfg.lr * (epoch_float + 1e-3) / cfg.warmup_epochs
    if epoch_float < cfg.epochs_constant:
        return cfg.lr
    progress = min(1.0, (epoch_float - cfg.epochs_constant) / max(cfg.epochs_cosine, 1))
    return cfg.lr_min + 0.5 * (cfg.lr_cosine - cfg.lr_min) * (1 + math.cos(math.pi * progress))


def parameter_groups(net: torch.nn.Module, weight_decay: float):
    """Weight decay on weights of convolutions, recurrent and linear layers; none on BN, biases, neurons."""
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def targets(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """(B, classes) target distributions: a word's one-hot, and for a clip of no word (label -1,
    `_no_word` clips: rests, a moving head) the uniform distribution, so that no word is read there."""
    word = labels >= 0
    one_hot = F.one_hot(labels.clamp(min=0), classes).float()
    return torch.where(word.unsqueeze(1), one_hot, torch.full_like(one_hot, 1.0 / classes))


def clip_loss(logits: torch.Tensor, labels: torch.Tensor, streaming_from: int) -> torch.Tensor:
    """Cross-entropy of the mean logits over time (paper); optionally of the running mean at each bin."""
    target = targets(labels, logits.shape[-1])
    loss = F.cross_entropy(logits.mean(1), target)
    if streaming_from >= 0 and logits.shape[1] > streaming_from:
        since_start = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        tail = running_mean_since_onset(logits, since_start)[:, streaming_from:]
        loss = loss + F.cross_entropy(tail.reshape(-1, tail.shape[-1]), target.repeat_interleave(tail.shape[1], 0))
    return loss


def distill_loss(logits: torch.Tensor, teacher: torch.Tensor, temperature: float = 2.0) -> torch.Tensor:
    """T^2 KL(teacher || student) of the clip-mean word distributions at temperature T (Hinton et
    al. 2015): the teacher's whole ranking of words, not only its top word, is what is kept."""
    t = temperature
    student = F.log_softmax(logits.mean(1) / t, -1)
    return t * t * F.kl_div(student, F.log_softmax(teacher / t, -1), log_target=True, reduction="batchmean")


def readout_loss(logits: torch.Tensor, labels: torch.Tensor, spans: torch.Tensor, after_end_bins: int) -> torch.Tensor:
    """Cross-entropy of the app's streaming readout (running mean since the word's onset) at every
    bin from `after_end_bins` after each clip's word end (`spans` from `activity_spans`) on: the
    prediction the user sees just after the lips stop, which the whole-clip mean does not train."""
    running = running_mean_since_onset(logits, spans[:, 0])
    bins = torch.arange(logits.shape[1], device=logits.device).unsqueeze(0)
    first = (spans[:, 1:2] + after_end_bins).clamp(max=logits.shape[1] - 1)
    mask = bins >= first
    target = targets(labels, logits.shape[-1]).unsqueeze(1).expand(*mask.shape, logits.shape[-1])
    return F.cross_entropy(running[mask], target[mask])


def started_from(source: str) -> dict | None:
    """The checkpoint a run fine-tunes (`--model CHECKPOINT`): its path, data, training and metrics."""
    if not Path(source).exists():  # a config name: fresh weights
        return None
    info = read_json(find_checkpoint(source))
    if not is_checkpoint_json(info):  # a config file
        return None
    return {"checkpoint": str(source), **{k: info.get(k) for k in ("created", "trained_on", "training", "metrics")}}


def default_trained_on(cfg: TrainConfig) -> str:
    return " + ".join([*(f"{root} (train split)" for root in [cfg.data, *cfg.extra_train]),
                       *(f"the words of the sentences in {root}" for root in cfg.sentences)])


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _tensorboard(cfg: TrainConfig, step: int):
    """A SummaryWriter in OUT/tensorboard, or None when it is off or tensorboard is not installed.
    A resumed run drops what an earlier run logged after the checkpoint's step (a killed run's tail)."""
    if not cfg.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(Path(cfg.out) / "tensorboard"), purge_step=step + 1 if step else None)


def train(cfg: TrainConfig) -> dict:
    """Train the run in OUT (resuming its last.pt if there is one); returns the last epoch's log row."""
    proc = start_process(cfg)
    learner = make_learner(cfg, proc)
    train_set, test_set, sampler = datasets(cfg, proc, learner.net.config)
    run = resume(cfg, learner, proc)
    board = open_tensorboard(cfg, run, proc)
    learnt = learnt_clips(cfg, learner.net) if proc.main else {}
    for epoch in itertools.count(run.epoch) if cfg.minutes else range(run.epoch, cfg.epochs):
        if out_of_time(cfg, run):  # resumed with its minutes spent
            break
        loader = train_loader(cfg, train_set, sampler, epoch)
        row = train_epoch(cfg, learner, loader, epoch, run, board, proc)
        last_epoch = (not cfg.minutes and epoch + 1 == cfg.epochs) or out_of_steps(cfg, run) or out_of_time(cfg, run, row)
        if proc.main and ((epoch + 1) % cfg.eval_every == 0 or last_epoch):
            row.update(held_out_metrics(cfg, learner.net, test_set, proc))
        run.history.append(row)
        if proc.main:
            log_epoch(cfg, row, run, board)
            save_run(cfg, learner, run, row, learnt)
        if last_epoch:
            break
    end_process(proc, board)
    return run.history[-1] if run.history else {}


@dataclass
class Process:
    """This process: its rank among `world` (more than one under torchrun: DDP) and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def ddp(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that evaluates, logs and saves."""
        return self.rank == 0


class Learner(NamedTuple):
    """The network, what training calls (the network or its DDP wrapper), its optimiser and the
    batch loss (x, y) -> (logits, loss)."""

    net: torch.nn.Module
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss: Callable


@dataclass
class RunState:
    """Where the run stands: epochs done, optimiser steps, one log row per epoch, and the checkpoint
    it fine-tunes (`started_from`); last.pt holds it, so a resumed run continues from it."""

    epoch: int = 0
    step: int = 0
    history: list = field(default_factory=list)
    origin: dict | None = None


def start_process(cfg: TrainConfig) -> Process:
    """Join torchrun's process group (NCCL on GPUs, gloo on CPUs) if there is one, seed this
    process's generators (seed + rank) and make OUT."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(cfg.seed + rank)
    np.random.seed(cfg.seed + rank)
    random.seed(cfg.seed + rank)
    if rank == 0:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
    return Process(rank, world, device)


def datasets(cfg: TrainConfig, proc: Process, config: dict):
    """(training set: DATA's and every EXTRA_TRAIN folder's train split, augmented; DATA's test
    split; the DDP sampler that shares the training set out among processes, or None). Every
    clip goes through the network's `config` input_affine, if it has one (an adapted model)."""
    words = default_words(100)
    side = input_side(config)
    augment = train_transform(cfg.spatial_augment, cfg.temporal_augment, side)
    shift = RandomShift(fraction=cfg.camera_augment_fraction).scaled(cfg.camera_augment_strength) if cfg.camera_augment else None
    moves, fixed = clip_events(config, shift), clip_events(config)
    roots = [cfg.data, *cfg.extra_train] + ([sentence_clips(cfg, words, proc)] if cfg.sentences else [])
    train_set = torch.utils.data.ConcatDataset(
        [DvsLipDataset(root, "train", words, augment, bins=cfg.bins, cache=None if moves else cfg.cache or None,
                       event_transform=moves, no_word=True, side=side)
         for root in roots])
    if cfg.distill:
        train_set = WithTeacher(train_set, teacher_logits(cfg, roots, words, proc, side))
    test_set = DvsLipDataset(cfg.data, "test", words, bins=cfg.bins, cache=None if fixed else cfg.cache or None,
                             event_transform=fixed, seed=0, side=side)
    sampler = torch.utils.data.DistributedSampler(train_set, proc.world, proc.rank, seed=cfg.seed) if proc.ddp else None
    return train_set, test_set, sampler


def teacher_logits(cfg: TrainConfig, roots: list[str], words: list[str], proc: Process, side: int) -> torch.Tensor:
    """(clips, words) the --distill model's clip-mean logits on every training clip, clean and
    centred, in the training set's order: computed once by the main process into
    OUT/teacher-logits.npz (made again when the teacher or the clips differ). `side`: the window
    the trained network reads, whose cache the teacher shares when it reads the same."""
    net = build(cfg.distill)
    if cfg.one_reading:
        net.reading = Readings()
    moves = clip_events(net.config)  # the teacher's own input_affine, if it has one
    teacher_side = input_side(net.config)
    # the training set's cache (its clips cropped for a network reading `side`), never one just for this pass
    cache = None if cfg.camera_augment or moves or teacher_side != side else cfg.cache or None
    clean = torch.utils.data.ConcatDataset([DvsLipDataset(root, "train", words, bins=cfg.bins, cache=cache,
                                                          event_transform=moves, seed=0, no_word=True,
                                                          side=teacher_side)
                                            for root in roots])
    clips = np.array([str(path) for d in clean.datasets for path, _ in d.clips])
    teacher = f"{weights_digest(net)}, {net.readings} reading(s)"  # not its path: a bundle replaced in place is another teacher
    path = Path(cfg.out) / "teacher-logits.npz"

    def stored() -> np.ndarray | None:
        if not path.exists():
            return None
        with np.load(path) as f:
            same = str(f["teacher"]) == teacher and np.array_equal(f["clips"], clips)
            return f["logits"] if same else None

    logits = stored() if proc.main else None
    if proc.main and logits is None:
        net = net.to(proc.device).eval()
        loader = torch.utils.data.DataLoader(clean, batch_size=cfg.batch_size, num_workers=cfg.workers)
        with torch.no_grad():
            logits = torch.cat([net(x.to(proc.device)).float().mean(1).cpu()
                                for x, _ in tqdm(loader, desc="teacher logits", disable=None, leave=False)]).numpy()
        write_atomically(path, lambda tmp: np.savez(tmp, logits=logits, teacher=teacher, clips=clips), suffix=".npz")
        print(f"teacher logits of {len(clips)} clips from {cfg.distill} in {path}", flush=True)
    if proc.ddp:
        dist.barrier()
    return torch.from_numpy(stored() if logits is None else logits)  # the other processes read what the main one wrote


class WithTeacher(torch.utils.data.Dataset):
    """(x, y, teacher logits): a training set's clips with what the --distill model reads on each."""

    def __init__(self, dataset, logits: torch.Tensor):
        self.dataset, self.logits = dataset, logits

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        x, y = self.dataset[i]
        return x, y, self.logits[i]


def sentence_clips(cfg: TrainConfig, words: list[str], proc: Process) -> str:
    """OUT/sentence-clips: the words of the --sentences recordings, cut once by the main process."""
    out = Path(cfg.out) / "sentence-clips"
    if proc.main:
        clips = cut_sentences(cfg.sentences, out, words, cfg.seed)
        print(f"{clips} clips (words, and rests in which none is said) cut from the sentences in {', '.join(cfg.sentences)} ({out})", flush=True)
    if proc.ddp:
        dist.barrier()
    return str(out)


def make_learner(cfg: TrainConfig, proc: Process) -> Learner:
    """The network MODEL (fresh weights, or a checkpoint's), Adam over `parameter_groups`, the loss."""
    net = build(cfg.model).to(proc.device)
    if cfg.one_reading:
        net.training_reading = Readings()
    elif net.readings > 1 and proc.main:
        print(f"{net.name} reads each bin {net.readings} times and trains through every reading "
              f"(--one-reading: {net.readings} x less work a step)", flush=True)
    model = torch.nn.parallel.DistributedDataParallel(net) if proc.ddp else net
    optimizer = torch.optim.Adam(parameter_groups(net, cfg.weight_decay), lr=cfg.lr)
    return Learner(net, model, optimizer, batch_loss(cfg, net, model, proc.device))


def autocast(device: torch.device, bf16: bool | None = None):
    """bfloat16 autocast on a GPU, off on a CPU; `bf16` overrides (a CPU test of the GPU's path)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda" if bf16 is None else bf16)


def batch_loss(cfg: TrainConfig, net, model, device: torch.device, bf16: bool | None = None) -> Callable:
    """(x, y, teacher logits or None) -> (logits, loss): the clip loss, plus the spike loss
    (--spike-loss), the app's readout loss (--streaming-loss-after-end) and the distillation loss
    (--distill) when they are on; in bfloat16 under `autocast`."""
    groups = synapse_groups(net) if cfg.spike_loss > 0 else []
    amp = autocast(device, bf16)
    after_end_bins = math.ceil(cfg.streaming_loss_after_end / BIN_MS)

    def loss_of(x: torch.Tensor, y: torch.Tensor, teacher: torch.Tensor | None = None):
        with amp:
            if cfg.spike_loss > 0:
                logits, spikes = model(x, record=True)
                loss = clip_loss(logits.float(), y, cfg.streaming_loss_from) + spike_loss(spikes, groups, cfg.spike_loss)
            else:
                logits = model(x)
                loss = clip_loss(logits.float(), y, cfg.streaming_loss_from)
            if cfg.streaming_loss_after_end >= 0:
                loss = loss + readout_loss(logits.float(), y, activity_spans(x), after_end_bins)
            if teacher is not None:
                loss = loss + cfg.distill_weight * distill_loss(logits.float(), teacher)
        return logits, loss

    return loss_of


def resume(cfg: TrainConfig, learner: Learner, proc: Process) -> RunState:
    """The run's state from OUT/last.pt (weights, optimiser, counters, log, random generators),
    or a fresh one."""
    run = RunState(origin=started_from(cfg.model))
    path = Path(cfg.out) / "last.pt"
    if not path.exists():
        return run
    ckpt = torch.load(path, map_location=proc.device, weights_only=False)
    learner.net.load_state_dict(ckpt["model"])
    learner.optimizer.load_state_dict(ckpt["optimizer"])
    # the file `started_from` names may have been overwritten since: keep the record
    run = RunState(ckpt["epoch"], ckpt["step"], ckpt["history"], ckpt.get("started_from", run.origin))
    _set_rng_state(ckpt["rng"])
    if proc.main:
        print(f"resumed from {path} at epoch {run.epoch}")
    return run


def open_tensorboard(cfg: TrainConfig, run: RunState, proc: Process):
    """The main process's SummaryWriter (`_tensorboard`), or None."""
    board = _tensorboard(cfg, run.step) if proc.main else None
    if board is not None and run.epoch == 0:
        print(f"TensorBoard logs in {board.log_dir} (tensorboard --logdir {cfg.out})")
    return board


def train_loader(cfg: TrainConfig, train_set, sampler, epoch: int) -> torch.utils.data.DataLoader:
    """This epoch's batches: shuffled by a generator seeded from (seed, epoch), so a resumed run
    draws what an uninterrupted one would; under DDP the sampler shuffles instead."""
    if sampler is not None:
        sampler.set_epoch(epoch)
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    return torch.utils.data.DataLoader(
        train_set, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler, generator=generator,
        num_workers=cfg.workers, drop_last=False, persistent_workers=False)


def out_of_steps(cfg: TrainConfig, run: RunState) -> bool:
    return bool(cfg.max_steps and run.step >= cfg.max_steps)


def spent_s(run: RunState) -> float:
    """Training seconds of the epochs done (resumed runs included)."""
    return sum(r["epoch_s"] for r in run.history)


def time_up(cfg: TrainConfig, seconds: float) -> bool:
    """--minutes spent after `seconds` of training."""
    return bool(cfg.minutes) and seconds >= 60 * cfg.minutes


def out_of_time(cfg: TrainConfig, run: RunState, row: dict | None = None) -> bool:
    """--minutes spent, counting the epoch `row` not yet in the history."""
    return time_up(cfg, spent_s(run) + (row["epoch_s"] if row else 0.0))


def schedule_position(cfg: TrainConfig, epoch_float: float, seconds: float) -> float:
    """Where training stands on the schedule's epoch axis: the epoch itself, or with --minutes the
    share of the time spent, laid over the schedule's epochs."""
    return cfg.epochs * min(1.0, seconds / (60 * cfg.minutes)) if cfg.minutes else epoch_float


def train_epoch(cfg: TrainConfig, learner: Learner, loader, epoch: int, run: RunState, board, proc: Process) -> dict:
    """One pass over `loader` (or up to --max-steps, or the step that ends --minutes), the learning
    rate set per step by the schedule; a progress bar on the main process. Returns the epoch's log
    row (train columns)."""
    learner.model.train()
    steps_per_epoch = math.ceil(len(loader.dataset) / (cfg.batch_size * proc.world))
    seen, total, correct, loss_sum, lr = 0, 0, 0, 0.0, learning_rate(cfg, epoch)
    t0, before = time.time(), spent_s(run)

    def clock() -> float:  # with --minutes, rank 0's clock: every process steps at one learning rate and stops together
        seconds = before + time.time() - t0
        return rank0_value(seconds, proc) if cfg.minutes else seconds

    desc = f"epoch {epoch + 1}" + (f" ({cfg.minutes:g} min)" if cfg.minutes else f"/{cfg.epochs}")
    bar = tqdm(loader, desc=desc, disable=None if proc.main else True, leave=False)  # None: only on a terminal
    for i, (x, y, *teacher) in enumerate(bar):  # teacher: [logits] with --distill
        seconds = clock()
        lr = learning_rate(cfg, schedule_position(cfg, epoch + i / steps_per_epoch, seconds))
        x, y = x.to(proc.device, non_blocking=True), y.to(proc.device, non_blocking=True)
        logits, loss = optimizer_step(learner, x, y, lr, *(t.to(proc.device) for t in teacher))
        run.step += 1
        seen += len(y)
        total += int((y >= 0).sum())  # accuracy over word clips (no-word clips have no right word)
        correct += int((logits.mean(1).argmax(1) == y).sum())
        loss_value = loss.item()
        loss_sum += loss_value * len(y)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / max(total, 1):.3f}", lr=f"{lr:.2e}")
        if board is not None:
            board.add_scalar("step/loss", loss_value, run.step)
            board.add_scalar("step/lr", lr, run.step)
        if out_of_steps(cfg, run) or time_up(cfg, seconds):  # every epoch makes a step: its row means something
            break
    return {"epoch": epoch + 1, "step": run.step, "lr": lr, "train_loss": loss_sum / max(seen, 1),
            "train_acc": correct / max(total, 1), "epoch_s": round(clock() - before, 1)}


def rank0_value(value: float, proc: Process) -> float:
    """`value` as the main process has it (a broadcast under DDP)."""
    if not proc.ddp:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=proc.device)
    dist.broadcast(t, 0)
    return float(t)


def optimizer_step(learner: Learner, x: torch.Tensor, y: torch.Tensor, lr: float, teacher: torch.Tensor | None = None):
    """One Adam step at learning rate lr, then every constrained parameter clamped back in range;
    returns (logits, loss) of the batch."""
    for group in learner.optimizer.param_groups:
        group["lr"] = lr
    logits, loss = learner.loss(x, y, teacher)
    learner.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    learner.optimizer.step()
    learner.net.clamp_()
    return logits, loss


def held_out_metrics(cfg: TrainConfig, net, test_set, proc: Process) -> dict:
    """The log row's test columns: top-1 and top-5 accuracy on DATA's test split."""
    metrics = evaluate(net, test_set, batch_size=cfg.batch_size, workers=cfg.workers, device=proc.device)
    return {"test_top1": metrics["top1"], "test_top5": metrics["top5"]}


def log_epoch(cfg: TrainConfig, row: dict, run: RunState, board) -> None:
    """The epoch's row: a line in OUT/log.csv, scalars in TensorBoard, a JSON line on stdout."""
    _append_csv(Path(cfg.out) / "log.csv", row)
    if board is not None:
        for key in LOG_COLUMNS[2:]:
            if key in row:
                board.add_scalar(f"epoch/{key}", row[key], run.step)
        board.flush()
    print(json.dumps(row))


def learnt_clips(cfg: TrainConfig, net) -> dict:
    """Where the mouth sits in the training clips as `net` reads them (`stream.mouth_place`) and how
    long each word's movement lasts (`stream.pace`): the checkpoint records both, and `spikelip
    adapt` moves a user's mouth there and bins at the user's pace against them."""
    words = default_words(100)
    clips = [(path, words[label]) for root in (cfg.data, *cfg.extra_train)
             for path, label in list_clips(root, "train", words)]
    return {"mouth": place_of_clips([path for path, _ in clips], input_affine(net.config)).as_dict(),
            "pace": learnt_pace(clips, pace_undone(net.config))}


def save_run(cfg: TrainConfig, learner: Learner, run: RunState, row: dict, learnt: dict | None = None) -> None:
    """OUT/last.pt (everything a resume needs, written atomically) and the checkpoint OUT/model,
    with its test metrics, how it was trained and where its clips' mouths sat and how fast they spoke."""
    snapshot = {"model": learner.net.state_dict(), "optimizer": learner.optimizer.state_dict(),
                "epoch": row["epoch"], "step": run.step, "history": run.history, "rng": _rng_state(),
                "train_config": asdict(cfg), "started_from": run.origin}
    write_atomically(Path(cfg.out) / "last.pt", lambda tmp: torch.save(snapshot, tmp))
    training = {"epochs": row["epoch"], "steps": run.step, "train_seconds": round(sum(r["epoch_s"] for r in run.history)),
                "recipe": asdict(cfg), "started_from": run.origin}
    save_checkpoint(learner.net, Path(cfg.out) / "model", trained_on=cfg.trained_on or default_trained_on(cfg),
                    metrics={k: v for k, v in row.items() if k.startswith("test_")}, training=training,
                    **(learnt or {}))


def end_process(proc: Process, board) -> None:
    """Close the board; under DDP wait for every process (the main one still evaluates and saves)
    before leaving the group together: a process tearing down its gloo connections while a peer
    still holds its own can abort (SIGABRT seen once in the torchrun test)."""
    if board is not None:
        board.close()
    if proc.ddp:
        dist.barrier()
        dist.destroy_process_group()


LOG_COLUMNS = ("epoch", "step", "lr", "train_loss", "train_acc", "epoch_s", "test_top1", "test_top5")


def _append_csv(path: Path, row: dict) -> None:
    """One row per epoch; the test columns stay empty in epochs without an evaluation."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_COLUMNS, restval="")
        if new:
            writer.writeheader()
        writer.writerow(row)


def add_arguments(p: argparse.ArgumentParser) -> None:
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help = f.metadata["help"]
        if f.type == "bool":  # annotations are strings (from __future__ import annotations)
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default,
                           help=help + (" (default: on)" if f.default else " (default: off)"))
        elif f.type == "list[str]":
            p.add_argument(flag, nargs="+", action="extend", default=f.default_factory(), metavar="DIR", help=help)
        else:
            kind = {"int": int, "float": float, "str": str}[f.type]
            shown = f" (default: {f.default})" if f.default not in ("", -1, -1.0) else ""
            p.add_argument(flag, type=kind, default=f.default, help=help + shown)
    p.add_argument("--config", help="JSON file with any of these options (command-line flags win)")


def config_from_args(args) -> TrainConfig:
    values = {}
    if args.config:
        values.update(json.loads(Path(args.config).read_text()))
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        v = getattr(args, f.name)
        if v != getattr(defaults, f.name) or f.name not in values:
            values[f.name] = v
    return TrainConfig(**values)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    train(config_from_args(parser.parse_args()))
