"""Word segmentation by event activity: speech onset and offset with hysteresis, no GUI.

A mouth at rest still makes events (sensor noise, blinks, small head motion), so one busy bin
must not start a word and one quiet bin inside a word must not end it: the bin counts are
smoothed, a word starts after `min_on_steps` bins above `on_rate` and ends after
`hangover_steps` bins below the lower `off_rate`. `WordStage`, the pipeline's word stage, resets
the readout at each onset and commits the word at each offset.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from stream.constants import BIN_S

# Tuned on SynthLip 128 x 128 mouth crops (13.3 ms bins, 4-bin mean). A resting mouth gives
# 10-60 events per bin with blips to ~100 (blinks, head motion); a word 150-2500 with dips
# below 100 for up to 4 bins between syllables; after a word the lips settle for ~10 bins
# and sentences pause only 300-700 ms between words, so the hangover must stay short. These
# values isolate all 14 words of the bundled samples; over 600 words of 30 rendered 20-word
# sentences they miss 4 %, split 2 % and merge 2 % (quiet speakers, long holds inside words)
# and start no word during 8 s rests (`benchmarks/probe_segmenter.py`). Levels relative to the
# recent event floor miss fewer words but start words on head motion at rest, so they are fixed.
ON_RATE = 200.0
OFF_RATE = 100.0
MIN_ON_STEPS = 4
HANGOVER_STEPS = 9
SMOOTH_STEPS = 4


class WordSegmenter:
    """Feed the events of each bin to `update`; it says "onset", "offset" or None.

    Rates are events per 13.3 ms bin after a running mean over `smooth_steps` bins. Between
    `off_rate` and `on_rate` the state does not change (the hysteresis band).
    """

    def __init__(
        self,
        on_rate: float = ON_RATE,
        off_rate: float = OFF_RATE,
        min_on_steps: int = MIN_ON_STEPS,
        hangover_steps: int = HANGOVER_STEPS,
        smooth_steps: int = SMOOTH_STEPS,
    ) -> None:
        self.min_confidence = 0.0  # every stretch of activity is a word
        if off_rate > on_rate:
            raise ValueError(f"off_rate ({off_rate}) must not exceed on_rate ({on_rate})")
        if min_on_steps < 1 or hangover_steps < 1 or smooth_steps < 1:
            raise ValueError("min_on_steps, hangover_steps and smooth_steps must be >= 1")
        self.on_rate = float(on_rate)
        self.off_rate = float(off_rate)
        self.min_on_steps = int(min_on_steps)
        self.hangover_steps = int(hangover_steps)
        self.smooth_steps = int(smooth_steps)
        self.reset()

    def reset(self) -> None:
        """Back to listening with an empty history."""
        self.speaking = False
        self.level = 0.0  # smoothed events per bin
        self._window: deque[float] = deque(maxlen=self.smooth_steps)
        self._run = 0  # consecutive bins above on_rate (listening) or below off_rate (speaking)

    @property
    def onset_lookback(self) -> int:
        """Bins, counting the onset bin, that may already belong to the word when onset is reported."""
        return self.min_on_steps + self.smooth_steps - 1

    @property
    def settled(self) -> bool:
        """No word is under way nor can be starting: the activity is below the offset level."""
        return not self.speaking and self.level < self.off_rate

    def finish(self) -> str | None:
        """The stream ended: "offset" if a word was under way; then back to listening."""
        word = self.speaking
        self.reset()
        return "offset" if word else None

    def update(self, events_in_bin: float, logits=None) -> str | None:
        """One bin's event count (`logits` are not used: see `LearnedSegmenter`)."""
        self._window.append(float(events_in_bin))
        self.level = sum(self._window) / len(self._window)
        if not self.speaking:
            self._run = self._run + 1 if self.level >= self.on_rate else 0
            if self._run >= self.min_on_steps:
                self.speaking, self._run = True, 0
                return "onset"
        else:
            self._run = self._run + 1 if self.level < self.off_rate else 0
            if self._run >= self.hangover_steps:
                self.speaking, self._run = False, 0
                return "offset"
        return None


class LearnedSegmenter:
    """Onsets and offsets where the network says words are: a `model.boundary.BoundaryHead` gives
    p(in a word) from each bin's logits and event count, and its `Decision` (stored with it)
    turns p into onsets and offsets, as `WordSegmenter` does from activity alone. `level` is
    still the smoothed event count (for display); `p` the last probability."""

    def __init__(self, head, decision) -> None:
        from model.boundary import Decider, StreamStep

        self.decision = decision
        self.hangover_steps = decision.off_steps
        self.min_confidence = decision.min_confidence
        self._decider = Decider(decision)
        self._step = StreamStep(head)
        self.reset()

    def reset(self) -> None:
        self._decider.reset()
        self.level = 0.0
        self.p = 0.0
        self._window: deque[float] = deque(maxlen=SMOOTH_STEPS)
        self._state = self._step.initial_state()

    @property
    def speaking(self) -> bool:
        return self._decider.speaking

    @property
    def onset_lookback(self) -> int:
        return self.decision.on_steps + 1

    @property
    def settled(self) -> bool:
        return not self.speaking and self.p < self.decision.off

    def finish(self) -> str | None:
        """The stream ended: "offset" if the stretch under way is long enough to be a word."""
        edge = self._decider.finish()
        self.reset()
        return edge

    def update(self, events_in_bin: float, logits=None) -> str | None:
        self._window.append(float(events_in_bin))
        self.level = sum(self._window) / len(self._window)
        self.p, self._state = self._step(np.asarray(logits, np.float64).reshape(-1), float(events_in_bin), self._state)
        return self._decider.update(self.p)


def segmenter_for(model) -> WordSegmenter | LearnedSegmenter:
    """The model's own word boundaries where it has a trained head (`model.boundary`), else the
    activity segmenter."""
    boundary = getattr(model, "boundary", None)
    return LearnedSegmenter(*boundary) if boundary is not None else WordSegmenter()


@dataclass
class Word:
    """A recognised word: when it was spoken (stream seconds) and how sure the readout was."""

    word: str
    confidence: float
    start_s: float
    end_s: float


class WordStage:
    """The pipeline's last stage: a readout that starts afresh at each word onset and commits its
    top word at each offset (unless it gives it less than the segmenter's `min_confidence`), so
    every consumer reads words the same way.

    Onset is reported a few bins after the lips start moving, so the last `onset_lookback`
    logits are kept and replayed into the fresh readout: the word's first bins still count.
    `step` takes one bin's logits, event count and start time (seconds from the stream's first
    bin); it returns the `Word` committed at that bin, and sets `onset` when a word began there.
    After a commit the caller restarts the model (`Pipeline` does).
    """

    def __init__(self, readout, segmenter: WordSegmenter | LearnedSegmenter | None = None, bin_s: float = BIN_S) -> None:
        self.readout = readout
        self.segmenter = segmenter or WordSegmenter()
        self.bin_s = bin_s
        self.onset = False
        self._recent: deque = deque(maxlen=self.segmenter.onset_lookback)
        self._start_s = 0.0

    @property
    def speaking(self) -> bool:
        return self.segmenter.speaking

    @property
    def level(self) -> float:
        return self.segmenter.level

    def reset(self) -> None:
        self.readout.reset()
        self.segmenter.reset()
        self._recent.clear()
        self.onset = False

    def top(self, k: int = 5):
        return self.readout.top(k)

    def reread(self, logits) -> None:
        """The readout starts again from these logits: the onset's lookback, or the word so far
        as a fresh state read it again (the pipeline's onset catch-up)."""
        self.readout.reset()
        for logits_t in logits:
            self.readout.update(logits_t)

    def step(self, logits_t, events_in_bin: float, t_s: float) -> Word | None:
        self._recent.append(logits_t)
        self.readout.update(logits_t)
        edge = self.segmenter.update(events_in_bin, logits_t)
        self.onset = edge == "onset"
        if self.onset:
            self.reread(self._recent)
            self._start_s = t_s - (len(self._recent) - 1) * self.bin_s
        elif edge == "offset":
            return self._word(t_s - (self.segmenter.hangover_steps - 1) * self.bin_s)
        return None

    def finish(self, t_s: float) -> Word | None:
        """The stream ended at `t_s`: commit the word still being spoken, if any (for the learnt
        boundaries: if it is long enough to be one)."""
        if self.segmenter.finish() is None:
            return None
        return self._word(t_s)

    def _word(self, end_s: float) -> Word | None:
        """The readout's top word, ending at `end_s`; None if it gives it less than the
        segmenter's `min_confidence`."""
        word, confidence = self.readout.top(1)[0]
        if confidence < self.segmenter.min_confidence:
            return None
        return Word(word, float(confidence), self._start_s, max(end_s, self._start_s))


def holds_one_word(source) -> bool:
    """A DVS-Lip style clip holds one word: judged as a whole, not segmented."""
    return source.binning == "round"
