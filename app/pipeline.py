"""One path for every use: source -> ROI -> binner -> model step -> readout -> words, one result per bin.

Live demo, replay, the window and latency mode differ only in the source and in what consumes
the `StepResult`s: each carries the word committed at its bin (if any) and wall-clock stamps of
its stages, and the pipeline restarts the model after every committed word.
"""
from __future__ import annotations

import copy
import gc
import math
from collections import deque
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from app.segment import LearnedSegmenter, Word, WordSegmenter, WordStage, holds_one_word, segmenter_for
from model.config import input_affine, input_pace
from model.data import input_side, step_input
from stream.binner import CHUNK_BINS, Binner
from stream.centring import Centring
from stream.constants import BIN_US
from stream.errors import SpikeLipError
from stream.events import SensorSize
from stream.pacing import paced, sliced
from stream.roi import Crop, Roi
from stream.shedding import LoadShedder
from stream.sources.base import EventSource
from stream.transforms import Affine


# Training clips hold 0.15-0.5 s of rest before the word: during a pause the model's state is
# renewed so that it has always seen 0.25-0.5 s of rest (`Pipeline._rest`; 8 s rests: 21 -> 35 of
# 48 words right, continuous speech 222 -> 227 of 300: docs/notes/word-boundaries.md).
WARM_BINS = 19
# Only where the lips are clearly still (a word starts above 200 events a bin): with the
# segmenter's own "settled" alone the takeovers, each a jump of the logits, started 4 words in the
# 8 s rests of bench_boundaries (0 with this level).
REST_LEVEL = 50.0

# A word is committed ~55 ms after it ends, but the network reads it better later (continuous
# speech, true boundaries: 225 of 300 words at +53 ms, 251 reading 0.4 s on): after a commit the
# word's own state reads on, beside the restarted one, for up to READ_ON_BINS bins or until the
# next word may be starting, and a different top word then revises it.
READ_ON_BINS = 30

# At each word onset a fresh state reads the last ONSET_BINS bins again (the onset's lookback and
# 0.25 s of rest before it, as every training clip starts) and takes over once it has caught up:
# whatever the state met in a long pause (seconds of a fidgeting head), the word is read as in
# training (8 s rests 34 -> 41 of 48 words right, a head fidgeting 5 px 20 -> 33, continuous
# speech 238 -> 242 of 300: docs/notes/word-boundaries.md). Not after a commit less than
# ONSET_BINS bins ago: the model restarted within them anyway. It catches up CATCH_UP_STEPS steps
# a bin, after each result is out, so no bin waits for it.
ONSET_BINS = 24
CATCH_UP_STEPS = 3

# On finding speech the crop did not see, the pipeline reads this much again through the new crop
# (the word that showed the mouth began at most a few bins before).
REREAD_BINS = 24


@dataclass
class StepResult:
    """What one 13.3 ms timestep produced, and when each stage finished (perf_counter s)."""

    step: int
    t_us: int  # stream time of the bin's start
    t_s: float  # the same, in seconds from the start of the stream's first bin (word times count from there)
    events: int  # events in the bin (after the ROI)
    frame: np.ndarray  # (2, H, W) ON/OFF counts
    top5: list[tuple[str, float]]
    t_available: float  # the input that closed this bin was handed over by the source
    t_binned: float
    t_model_start: float
    t_model_end: float
    t_published: float = 0.0
    spikes: dict | None = None
    word: Word | None = None  # the word committed at this bin
    onset: bool = False  # a word began at this bin (the readout restarted)
    speaking: bool = True  # the lips are moving (always True when the stream is one word)
    level: float = 0.0  # smoothed events per bin, as the segmenter sees them
    roi: Roi | None = None  # the region the bin's events came from (it moves with --roi auto)
    reread: bool = False  # the crop moved onto speech it had missed; the last bins were read again through it
    revised: Word | None = None  # the last committed word, read on after its commit: another word (same span) replaces it
    reread_onset: bool = False  # from this bin the word is read by a fresh state that read its start again
    resize: float | None = None  # a following crop resizes the mouth by this for the model (`Pipeline.resize`)

    @property
    def latency_ms(self) -> float:
        return (self.t_published - self.t_available) * 1e3


@dataclass
class Reading:
    """A committed word's own state reading on (`Pipeline._read_on`): `left` bins at most, `pending`
    the input of the bin it steps next, once that bin's result is out."""

    state: object
    readout: object
    word: Word
    left: int = READ_ON_BINS
    pending: torch.Tensor | None = None


@dataclass
class CatchUp:
    """A fresh model state reading a word again from before its onset: `pending` are the inputs it
    has yet to step, `logits` what it has read so far (from ONSET_BINS bins before the onset)."""

    state: object
    pending: deque
    logits: list = field(default_factory=list)


def model_moves(model, sensor: SensorSize, following: bool = False) -> Affine | None:
    """The model's input_affine (an adapted model's: the user's mouth moved and resized to where
    the model learnt it) about the centre of the crop's `sensor`, whose centre the model reads; a
    crop `following` the mouth already places it, so then only its resizing and turn."""
    moves = input_affine(getattr(model, "config", {}))  # a stand-in model may have no config
    if moves is None:
        return None
    if following:
        turns = (moves.scale, moves.rotate_deg) != (1, 0)
        return Affine(moves.scale, moves.rotate_deg, sensor=sensor) if turns else None
    return Affine(moves.scale, moves.rotate_deg, moves.dx, moves.dy, sensor=sensor)


def freeze_loaded_objects() -> None:
    """Before stepping a stream: move what is alive now (torch, onnxruntime, Qt, the model) out of
    the garbage collector's reach; a full collection over it all took 88 ms in mid-stream."""
    gc.collect()
    gc.freeze()


class Pipeline:
    """Runs a source through crop, binner and model; iterate it for `StepResult`s.

    `speed` paces file replay (1.0 = real time, None = as fast as possible); live sources are
    never paced. `record_spikes` asks the model for each layer's spikes (for the GUI rasters).
    In real-time runs (live, or paced replay) a `LoadShedder` subsamples events while the
    pipeline lags more than `max_lag_us` behind, so a flood degrades the input, never the pace;
    `busy_s` sums the time spent binning and stepping (the real-time factor's numerator).

    Words: unless the stream holds one word (a DVS-Lip clip, read whole), a `WordStage` finds
    where words are (the model's own boundary head where it has one, else the lips' activity),
    restarts the readout at each onset and commits a word at each offset;
    the model then starts again from rest (`restart_model`), because the networks learn from
    clips that each start at rest, while the word's own state reads on for up to READ_ON_BINS
    bins and may revise it (`StepResult.revised`). `finish()` commits a word still open when the
    reading stops.
    """

    def __init__(
        self,
        source: EventSource,
        model,
        readout,
        crop: Crop | None = None,
        speed: float | None = 1.0,
        bin_us: float | None = None,
        record_spikes: bool = False,
        max_lag_us: float | None = 3 * BIN_US,
        segment: bool | None = None,
        segmenter: WordSegmenter | LearnedSegmenter | None = None,
    ) -> None:
        self.source = source
        self.model = model
        self.readout = readout
        if segment is None:
            segment = not holds_one_word(source)
        if bin_us is None:  # the DVS-Lip bin, as long again as the model's user speaks slower (input_pace)
            bin_us = BIN_US * input_pace(getattr(model, "config", {}))
        self.words = WordStage(readout, segmenter or segmenter_for(model), bin_s=bin_us / 1e6) if segment else None
        self.crop = crop or Crop(source.sensor)
        self.side = side = input_side(getattr(model, "config", {}))  # a stand-in model may have no config
        if self.crop.sensor.width < side or self.crop.sensor.height < side:
            raise SpikeLipError(
                f"{getattr(source, 'path', None) or source.name}: the model reads {side}x{side} pixels but the region "
                f"given to it is {self.crop.sensor} (ROI {self.crop.roi} of the {source.sensor} sensor, scale "
                f"{self.crop.scale}); choose a larger --roi or a smaller --scale"
            )
        self.speed = None if source.live else speed
        self.binner = Binner(self.crop.sensor, bin_us=bin_us, rounding=source.binning)
        centre = getattr(model, "config", {}).get("input_centre")  # keeps a fixed crop's mouth where the model learnt it
        self.centring = Centring(centre["x"], centre["y"], self.crop.sensor, bin_us) if centre else None
        self._moves_rng = np.random.default_rng(0)
        self.record_spikes = record_spikes
        self.rate = 1.0 if source.realtime else self.speed  # stream seconds per wall second; None = max
        self.shedder = LoadShedder(max_lag_us) if max_lag_us is not None and self.rate else None
        self.events_in = 0
        self.steps = 0
        self.busy_s = 0.0
        self._event_s = self._step_s = 0.0  # moving averages of event handling / model time per slice
        self._clock0: tuple[float, int] | None = None  # (wall, stream us) at the first slice
        self.origin_us: float | None = None  # start of the first bin: word times count from here
        self._end_s: float | None = None  # end of the last bin stepped, from origin_us
        self._stop = False
        self._restart = False
        self._quiet = 0  # bins the lips have rested since the model last restarted
        self._fresh = None  # a model state started during the current rest (`_rest`)
        self._reading: Reading | None = None  # the last committed word, read on
        self._revised: Word | None = None  # a revision to hand out with the next result
        self._inputs: deque = deque(maxlen=ONSET_BINS)  # the last bins' model inputs, for an onset's fresh state
        self._catch_up: CatchUp | None = None  # the fresh state reading the current word again (`_take_over`)
        self._moved: tuple[int, Roi] | None = None  # (from when, the ROI before) of the last crop move
        self._history: deque[tuple[int, np.ndarray]] = deque()  # recent (bin, whole-sensor events), to read again
        self._frames: deque = deque(maxlen=8)  # APS frames handed out by the source, not yet due
        tracker = getattr(self.crop, "tracker", None)
        if tracker is not None and tracker.finder is not None:
            source.want_frames = True  # APS frames help find the face

    @property
    def bin_s(self) -> float:
        """One timestep's length in stream seconds (longer for a model whose user speaks slower)."""
        return self.binner.bin_us / 1e6

    @property
    def events_dropped(self) -> int:
        return self.shedder.dropped if self.shedder else 0

    def lag_us(self, now_us: int, wall: float) -> float:
        """How far (stream us) processing runs behind real time; 0 before the first slice."""
        if self._clock0 is None:
            self._clock0 = (wall, now_us)
            return 0.0
        wall0, stream0 = self._clock0
        return (wall - wall0) * 1e6 * self.rate - (now_us - stream0)

    def stop(self) -> None:
        """Ask the loop to end after the current step (from another thread)."""
        self._stop = True

    def restart_model(self) -> None:
        """Step from the model's initial state again from the next bin on (from any thread)."""
        self._restart = True

    def finish(self) -> Word | None:
        """The reading stopped (end of stream or the caller's choice): the word still being
        spoken, committed at the end of the last bin; None if none is open or not segmenting."""
        if self.words is None or self._end_s is None:
            return None
        return self.words.finish(self._end_s)

    def __iter__(self) -> Iterator[StepResult]:
        freeze_loaded_objects()
        state = self.model.initial_state(batch_size=1)
        for events, now_us in self._slices():
            t_available = time.perf_counter()
            self.events_in += len(events)
            if self.shedder is not None and now_us is not None:
                share = self._event_s / (self._event_s + self._step_s) if self._event_s else 0.0
                events = self.shedder(events, self.lag_us(now_us, t_available), share)
            event_s = time.perf_counter() - t_available
            step_s = 0.0
            for bins, binned_s in self._binned(events, now_us):
                event_s += binned_s
                for index, frame in zip(bins.index, bins.frames):
                    result, state = self._step(int(index), frame, state, t_available)
                    step_s += result.t_published - result.t_binned
                    yield result
                    if self._stop:
                        return
                    step_s += self._after_result()
            self.busy_s += event_s + step_s
            self._event_s += 0.05 * (event_s - self._event_s)
            self._step_s += 0.05 * (step_s - self._step_s)
        tail = self.binner.flush()
        for index, frame in zip(tail.index, tail.frames):
            result, state = self._step(int(index), frame, state, time.perf_counter())
            yield result
            self.busy_s += self._after_result()

    def _binned(self, events: np.ndarray, now_us: int | None):
        """Crop and bin a slice, yielding (closed bins, seconds it took). With a crop that follows
        the mouth, one bin's events at a time: a move decided at one bin then applies from the
        same later bin whatever the slice sizes (live, paced or as fast as possible)."""
        tracker = getattr(self.crop, "tracker", None)
        for piece, index in self._per_bin(events) if tracker is not None else ((events, None),):
            t0 = time.perf_counter()
            if tracker is not None:
                tracker.see(piece, index)
                self._see_frames(tracker, int(piece["t"][-1]))
                self._history.append((index, piece))
                while self._history[0][0] < index - REREAD_BINS:
                    self._history.popleft()
                cropped = self.crop(piece)
                if self.words is not None and self.crop.size is not None:
                    self.crop.size.see(cropped, index)
                bins = self.binner.push(self._for_model(cropped))
            else:
                bins = self.binner.push(self._crop(piece))
            yield bins, time.perf_counter() - t0
        if tracker is not None and now_us is not None:
            self._see_frames(tracker, now_us)
        if now_us is not None:
            t0 = time.perf_counter()
            yield self.binner.advance(now_us), time.perf_counter() - t0

    @property
    def moves(self) -> Affine | None:
        """How the crop's events are moved for the model (`model_moves`): for the crop of the moment,
        which the window may switch between fixed and following mid-run. A following crop of a
        model not adapted to the user resizes the mouth to the width the model learnt, once the
        words read show it (`resize`)."""
        following = getattr(self.crop, "tracker", None) is not None
        if following and input_affine(getattr(self.model, "config", {})) is None:
            k = self.resize
            return Affine(k, sensor=self.crop.sensor) if k is not None else None
        return model_moves(self.model, self.crop.sensor, following=following)

    @property
    def resize(self) -> float | None:
        """The factor a following crop resizes the mouth by (`stream.mouth_size`): None before it
        has read enough words, with a fixed crop, or for a model that does not record the width
        of its training mouths."""
        learnt = getattr(self.model, "mouth", None)
        size = getattr(self.crop, "size", None)
        return size.resize_to(float(learnt["width"])) if learnt and size is not None else None

    def _crop(self, events: np.ndarray) -> np.ndarray:
        """The crop's events, moved as the model asks; a fixed crop's also centred on the mouth
        (`stream.centring`) for a model that asks (input_centre): a following crop places it."""
        moved = self._for_model(self.crop(events))
        if self.centring is None or getattr(self.crop, "tracker", None) is not None:
            return moved
        return self.centring.push(moved)

    def _for_model(self, events: np.ndarray) -> np.ndarray:
        moves = self.moves
        return moves(events, self._moves_rng) if moves is not None else events

    def _see_frames(self, tracker, upto_us: int) -> None:
        """Hand the tracker the APS frames up to stream time `upto_us` (a source hands out a
        whole batch's frames at once)."""
        if tracker.finder is None:
            return
        self._frames.extend(self.source.take_frames())
        while self._frames and self._frames[0].t_us <= upto_us:
            tracker.see_frame(self._frames.popleft())

    def _per_bin(self, events: np.ndarray):
        """(events of one bin, its index) for each bin a time-ordered slice touches."""
        if len(events) == 0:
            return
        if self.binner.t0 is None:  # the whole sensor's first event, not the first inside the crop
            self.binner.t0 = int(events["t"][0])
        index = self.binner.bin_index(events["t"])
        cuts = np.flatnonzero(np.diff(index)) + 1
        for start, piece in zip(np.concatenate([[0], cuts]), np.split(events, cuts)):
            yield piece, int(index[start])

    def _reread(self, index: int, target: Roi):
        """The tracker found speech outside the crop: move the crop now and read the last
        REREAD_BINS bins again through it, from rest and without results (those bins were
        published), so the word that showed where the mouth is is read too. Returns the model
        state and a word committed meanwhile (rare: a whole word within the bins)."""
        self.crop.move(target)
        self._moved = None
        first = index - REREAD_BINS + 1
        earlier = Binner(self.crop.sensor, bin_us=self.binner.bin_us, rounding=self.binner.rounding, t0=self.binner.t0)
        earlier.restart_at(first)
        later = [(i, piece) for i, piece in self._history if i > index]
        closed = [earlier.push(self._crop(piece)) for i, piece in self._history if first <= i <= index]
        closed.append(earlier.advance(math.ceil(float(self.binner.bin_start_us(index + 1)))))
        state = self.model.initial_state(batch_size=1)
        self.words.reset()
        self._quiet, self._fresh, self._reading, self._catch_up = 0, None, None, None
        self._inputs.clear()  # refilled with the bins read again, through the new crop
        word = None
        for bins in closed:
            for i, frame in zip(bins.index, bins.frames):
                self._inputs.append(step_input(frame, self.side))
                with torch.inference_mode():
                    logits, state = self.model.step(self._inputs[-1], state)
                t_s = (float(self.binner.bin_start_us(i)) - self.origin_us) / 1e6
                word = self.words.step(logits[0], int(frame.sum()), t_s) or word
        self.binner.restart_at(index + 1)  # the bins after `index` again through the new crop
        for _, piece in later:
            self.binner.push(self._crop(piece))  # closes only empty bins, which the caller steps as they were
        return state, word

    def _rest(self, x, state):
        """While the lips are still, a second state steps beside the model's, started from rest
        WARM_BINS bins into the pause; every WARM_BINS bins it takes over and a new one starts.
        So however long the pause, the next word meets a state that has seen WARM_BINS to
        2 x WARM_BINS bins of rest, as training clips hold 0.15-0.5 s before their word."""
        if self._quiet < WARM_BINS:
            self._fresh = None
            return state
        if self._fresh is None:
            self._fresh = self.model.initial_state(batch_size=1)
        with torch.inference_mode():
            _, self._fresh = self.model.step(x, self._fresh)
        if self._quiet >= 2 * WARM_BINS:
            state, self._fresh, self._quiet = self._fresh, None, WARM_BINS
        return state

    def _after_result(self) -> float:
        """Work done once a result is out (off its latency: live, the next bin is still arriving):
        the last word's reading steps on that bin (a revision goes out with the next result), and
        an onset's fresh state catches up. Returns the seconds it took."""
        t0 = time.perf_counter()
        if self._reading is not None and self._reading.pending is not None:
            self._revised = self._read_on() or self._revised
        if self._catch_up is not None:
            with torch.inference_mode():
                for _ in range(min(CATCH_UP_STEPS, len(self._catch_up.pending))):
                    logits, self._catch_up.state = self.model.step(self._catch_up.pending.popleft(), self._catch_up.state)
                    self._catch_up.logits.append(logits[0])
        return time.perf_counter() - t0

    def _take_over(self, state):
        """At a bin's start: an onset's fresh state that has caught up becomes the model's state,
        and the word's readout starts again from its logits. Returns the state to step."""
        catch = self._catch_up
        if catch is None or catch.pending:
            return state, False
        self._catch_up = None
        self.words.reread(catch.logits[len(catch.logits) - self.readout.count:])
        return catch.state, True

    def _read_on(self) -> Word | None:
        """One more bin of the last committed word's reading, by the state that read the word;
        at its end (READ_ON_BINS bins, or the next word may be starting), `_end_reading`."""
        r = self._reading
        x, r.pending = r.pending, None
        if not (self.words.segmenter.settled and r.left > 0):
            return self._end_reading()
        with torch.inference_mode():
            logits, r.state = self.model.step(x, r.state)
        r.readout.update(logits[0])
        r.left -= 1
        return self._end_reading() if r.left == 0 else None

    def _end_reading(self) -> Word | None:
        """The reading is over: the word with its top word, if that differs from the committed one."""
        r, self._reading = self._reading, None
        top, confidence = r.readout.top(1)[0]
        return Word(top, float(confidence), r.word.start_s, r.word.end_s) if top != r.word.word else None

    def _slices(self):
        if self.source.live:
            for events in self.source:
                now_us = self.source.now_us()
                if now_us is None and len(events):
                    now_us = int(events["t"][-1])
                yield events, now_us
        elif self.speed:
            yield from paced(self.source, self.speed)
        else:  # slices of at most CHUNK_BINS bins: a sparse batch spanning minutes closes them a few at a time
            b = self.binner
            yield from sliced(self.source, CHUNK_BINS * b.bin_us, b.max_gap_bins * b.bin_us)

    def _step(self, index: int, frame: np.ndarray, state, t_available: float):
        t_binned = time.perf_counter()
        if self._restart:
            state, self._restart = self.model.initial_state(batch_size=1), False
        state, reread_onset = self._take_over(state)
        x = step_input(frame, self.side)
        t0 = time.perf_counter()
        spikes = None
        with torch.inference_mode():
            if self.record_spikes:
                logits, state, spikes = self.model.step(x, state, record=True)
            else:
                logits, state = self.model.step(x, state)
        t1 = time.perf_counter()
        start_us = float(self.binner.bin_start_us(index))
        if self.origin_us is None:
            self.origin_us = start_us
        t_s = (start_us - self.origin_us) / 1e6
        self._end_s = t_s + self.bin_s
        events = int(frame.sum())
        word, onset, speaking, level = None, False, True, float(events)
        if self.words is None:
            self.readout.update(logits[0])
        else:
            word = self.words.step(logits[0], events, t_s)
            onset, speaking, level = self.words.onset, self.words.speaking, self.words.level
            self._inputs.append(x)
            if onset and len(self._inputs) == ONSET_BINS:  # else the model restarted within them
                self._catch_up = CatchUp(self.model.initial_state(batch_size=1), deque(self._inputs))
            elif self._catch_up is not None:
                self._catch_up.pending.append(x)
        roi = self.crop.roi
        if self._moved is not None and start_us < self._moved[0]:
            roi = self._moved[1]  # the crop moves from a later bin on
        tracker = getattr(self.crop, "tracker", None)
        reread = False
        if tracker is not None and self.words is not None:
            # the crop moves where no word can be starting: below the segmenter's offset level
            settled = self.words.segmenter.settled
            if (target := tracker.step(index, speaking, settled)) is not None:
                if self._reading is not None:  # the last word's reading ends where the crop moves
                    self._reading.left = 0
                if tracker.missed_speech:
                    state, word = self._reread(index, target)
                    reread = True
                else:
                    at_us = math.ceil(float(self.binner.bin_start_us(index + 2)))
                    self._moved = (at_us, self.crop.roi)
                    self.crop.move(target, at_us)
            if (size := self.crop.size) is not None:
                size.step(index, speaking)
                if word is not None:  # the mouth's width is measured again: the next bins are resized by it
                    size.word_read()
        top5 = self.readout.top(5)
        self.steps += 1
        if self.words is not None:
            still = self.words.segmenter.settled and level < REST_LEVEL
            self._quiet = self._quiet + 1 if still else 0
        revised, self._revised = self._revised, None
        if word is not None:
            self.restart_model()  # the next word starts from rest, as every training clip does
            self._quiet, self._fresh, self._catch_up = 0, None, None
            self._inputs.clear()
            if self._reading is not None:
                revised = self._end_reading() or revised
            self._reading = Reading(state, copy.deepcopy(self.readout), word)
        else:
            state = self._rest(x, state)
            if self._reading is not None:
                self._reading.pending = x
        result = StepResult(
            step=self.steps - 1,
            t_us=int(round(start_us)),
            t_s=t_s,
            events=events,
            frame=frame,
            top5=top5,
            t_available=t_available,
            t_binned=t_binned,
            t_model_start=t0,
            t_model_end=t1,
            spikes=spikes,
            word=word,
            onset=onset,
            speaking=speaking,
            level=level,
            roi=roi,
            reread=reread,
            revised=revised,
            reread_onset=reread_onset,
            resize=self.resize,
        )
        result.t_published = time.perf_counter()
        return result, state
