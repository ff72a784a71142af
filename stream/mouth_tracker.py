"""`--roi auto`: find the mouth on the whole sensor and move the crop onto it, only between words.

While someone speaks, the mouth is the busiest mouth-sized patch of an event camera's view, so
the tracker keeps maps of events per 4 x 4-pixel cell: one decaying over 0.2 s (speech-level
activity there finds a mouth the crop does not yet see) and one summed over the current word.
When a word ends, the crop moves so that the word's activity sits where speech activity sits in
the 128 x 128 training crops. The crop never moves during a word, nor while one may be starting
(the network must see one steady view of a word), and a word is only searched near the crop that
heard it, so motion elsewhere on the sensor (a hand, another person) cannot pull the crop away.
Where the input has APS frames, a face detector (`stream.face.MouthFinder`) places the crop
before anyone speaks and follows a head that moved far between words.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from stream.constants import BIN_US, MOUTH_SIDE
from stream.events import SensorSize
from stream.mouth_size import MouthSize
from stream.roi import Crop, Roi

CELL = 4  # pixels per side of an activity cell
BOX_PX = (48, 32)  # a mouth-sized box (w, h): where the activity is densest
WINDOW_PX = (80, 56)  # around the densest box, the activity whose centroid places the crop
# Where a word's activity sits in the 128 x 128 training crops: its centroid is 0.3 px right of and
# 3.6 px below the crop centre (150 SynthLip clips, sd 3.6 and 4.4 px; docs/notes/roi-auto.md).
ACTIVITY_OFFSET_PX = (0.3, 3.6)
RECENT_TAU_S = 0.2  # memory of the activity map that finds the first word
MIN_WORD_EVENTS = 300  # in the densest box over a word: less is no word to follow
# Before the first word the crop moves to a box as busy as speech: 100 events per bin sustained
# (a word gives 300-2500 in the crop; head motion at rest about 20 in any box, a hot pixel 1.5).
MIN_RECENT_EVENTS = 100 * RECENT_TAU_S / (BIN_US / 1e6)
SEARCH_PX = 48  # once a word was found, the next words are searched this far from the crop centre
DEAD_ZONE_PX = 3.0  # smaller moves after a word are noise: the crop stays
FIRST_DEAD_ZONE_PX = 12.0  # before the first word, a word's first bins only roughly mark the mouth
FACE_EVERY_US = 500_000  # APS frames are searched for a face at most this often (dlib: ~10 ms each)
FACE_MOVE_PX = 24.0  # once a word placed the crop, a face this far from it means the head moved
FACE_FOLLOW_PX = 10.0  # before that, a face this far (the detector's box jitters by ~0.1 of a crop)


class MouthTracker:
    """Feed each bin's whole-sensor events (`see`) and each APS frame (`see_frame`); after each
    bin, `step(index, speaking, settled)` returns the ROI to move to, or None to stay.

    `speaking`: a word is under way at that bin (the pipeline's word stage); `settled`: no word
    is under way nor can be starting (the crop's activity is below the segmenter's offset
    level). `centre` is the crop's centre, in sensor pixels.
    """

    def __init__(self, sensor: SensorSize, side: int = MOUTH_SIDE, centre: tuple[float, float] | None = None,
                 bin_us: float = BIN_US, finder=None) -> None:
        self.sensor = sensor
        self.side = int(side)
        self.centre = centre or (sensor.width / 2, sensor.height / 2)
        self.finder = finder
        self.cols, self.rows = math.ceil(sensor.width / CELL), math.ceil(sensor.height / CELL)
        self.recent = np.zeros((self.rows, self.cols), np.float32)  # decaying: finds the first word
        self.word = np.zeros_like(self.recent)  # summed over the current (or last) word
        self._decay = math.exp(-bin_us / 1e6 / RECENT_TAU_S)
        self._pending: dict[int, np.ndarray] = {}
        self._speaking = False
        self._word_ended = False  # a word ended and the crop has not yet been placed for it
        self.locked = False  # a word (or a face) was found: search near the crop from now on
        self._placed_by_word = False  # a word's activity placed the crop (finer than a face box)
        self._face: tuple[float, float] | None = None  # a mouth found in a frame, not yet acted on
        self._face_t: int | None = None
        self.moves = 0
        self.missed_speech = False  # the last move went to speech the crop did not see (read it again)
        self._chased = False  # such a move was made in this stretch of speech
        # cell centres in sensor pixels, for centroids
        self._xs = (np.arange(self.cols) + 0.5) * CELL - 0.5
        self._ys = (np.arange(self.rows) + 0.5) * CELL - 0.5

    @property
    def roi(self) -> Roi:
        """The side x side crop centred on `centre`, kept on the sensor."""
        w, h = min(self.side, self.sensor.width), min(self.side, self.sensor.height)
        x = int(np.clip(round(self.centre[0] - w / 2), 0, self.sensor.width - w))
        y = int(np.clip(round(self.centre[1] - h / 2), 0, self.sensor.height - h))
        return Roi(x, y, w, h)

    def see(self, events: np.ndarray, index: int) -> None:
        """Events (sensor coordinates) that fall in bin `index`."""
        if len(events) == 0:
            return
        cells = (events["y"].astype(np.int64) // CELL) * self.cols + events["x"].astype(np.int64) // CELL
        counts = np.bincount(cells, minlength=self.rows * self.cols)[: self.rows * self.cols]
        counts = counts.reshape(self.rows, self.cols).astype(np.float32)
        if index in self._pending:
            self._pending[index] += counts
        else:
            self._pending[index] = counts

    def see_frame(self, frame) -> None:
        """An APS frame (`stream.frames.Frame`); searched for a face at most every FACE_EVERY_US,
        and once a mouth was found, never during a word (a search can take 25 ms)."""
        if self.finder is None or (self._speaking and self.locked):
            return
        if self._face_t is not None and frame.t_us - self._face_t < FACE_EVERY_US:
            return
        self._face_t = frame.t_us
        box = self.finder.find(frame.image)
        if box is not None:
            self._face = (box.cx, box.cy)

    def step(self, index: int, speaking: bool, settled: bool = True) -> Roi | None:
        """Bin `index` was read; returns the new ROI when the crop should move.

        Before the first word is found, speech-level activity away from the crop moves it at
        once, even within a word (at most once a word), and sets `missed_speech`: the caller
        must read the last bins again through the new crop, so the network still sees one
        steady view of that word. Every other move waits until `settled`."""
        counts = self._take(index)
        self.recent *= self._decay
        if counts is not None:
            self.recent += counts
        if speaking:
            if not self._speaking:
                self.word[:] = 0
            if counts is not None:
                self.word += counts
        self._word_ended = self._word_ended or (self._speaking and not speaking)
        self._speaking = speaking
        self.missed_speech = False
        if self._face is not None and (settled or not self.locked):
            face, self._face = self._face, None  # a face outranks activity: it is where the mouth is
            far = FACE_MOVE_PX if self._placed_by_word else FACE_FOLLOW_PX
            if not self.locked or _distance(face, self.centre) > far:
                self.missed_speech = not self.locked and not settled  # a word may be under way: read it again
                self.locked = True
                return self._move(face)
        if not (self.locked or self._chased or self._word_ended):  # while the crop hears a word, the mouth is in it
            target = self._locate(self.recent, MIN_RECENT_EVENTS, self.side / 2 if speaking else None)
            if target is not None and _distance(target, self.centre) > FIRST_DEAD_ZONE_PX:
                self.missed_speech = self._chased = True
                return self._move(target)
        if speaking or not settled:
            return None
        self._chased = False
        target = None
        if self._word_ended:  # heard in the crop: searched there (near the last word's place once locked)
            self._word_ended = False
            target = self._locate(self.word, MIN_WORD_EVENTS, SEARCH_PX if self.locked else self.side / 2)
            self.locked = self.locked or target is not None
            self._placed_by_word = self._placed_by_word or target is not None
        if target is None or _distance(target, self.centre) <= DEAD_ZONE_PX:
            return None
        return self._move(target)

    def _move(self, target: tuple[float, float]) -> Roi:
        self.centre = target
        self.moves += 1
        return self.roi

    def _take(self, index: int) -> np.ndarray | None:
        """The counts of every bin up to `index` not yet taken (bins close in order)."""
        done = [i for i in self._pending if i <= index]
        if not done:
            return None
        return sum(self._pending.pop(i) for i in done)

    def _locate(self, activity: np.ndarray, min_events: float, within: float | None = None) -> tuple[float, float] | None:
        """Where the crop centre should be for `activity` (searched `within` pixels of the crop
        centre, or everywhere), or None when too little is there."""
        floor = float(np.median(activity))
        signal = np.clip(activity - floor, 0.0, None)
        bw, bh = BOX_PX[0] // CELL, BOX_PX[1] // CELL
        boxes = cv2.boxFilter(signal, -1, (bw, bh), normalize=False, borderType=cv2.BORDER_CONSTANT)
        if within is not None:  # only near the crop: motion elsewhere is not this mouth
            cx, cy = self.centre
            boxes[np.abs(self._ys - cy) > within, :] = 0
            boxes[:, np.abs(self._xs - cx) > within] = 0
        row, col = np.unravel_index(int(np.argmax(boxes)), boxes.shape)
        if boxes[row, col] < min_events:
            return None
        ww, wh = WINDOW_PX[0] // CELL // 2, WINDOW_PX[1] // CELL // 2
        r0, r1 = max(0, row - wh), min(self.rows, row + wh + 1)
        c0, c1 = max(0, col - ww), min(self.cols, col + ww + 1)
        patch = signal[r0:r1, c0:c1]
        total = float(patch.sum())
        x = float(patch.sum(0) @ self._xs[c0:c1]) / total
        y = float(patch.sum(1) @ self._ys[r0:r1]) / total
        return x - ACTIVITY_OFFSET_PX[0], y - ACTIVITY_OFFSET_PX[1]


class FollowingCrop(Crop):
    """A crop whose ROI the pipeline moves with `tracker` (`--roi auto`), and whose mouth's width
    `size` learns from the words read (None: `sized` off, the mouth read as it comes); it starts
    centred on the sensor (or on `start`)."""

    def __init__(self, sensor: SensorSize, scale: int = 1, start: Roi | None = None, finder=None,
                 sized: bool = True) -> None:
        side = MOUTH_SIDE * scale
        centre = (start.x + start.w / 2, start.y + start.h / 2) if start is not None else None
        self.tracker = MouthTracker(sensor, side, centre, finder=finder)
        super().__init__(sensor, roi=self.tracker.roi, scale=scale)
        self.size = MouthSize(self.sensor) if sized else None


def following_crop(sensor: SensorSize, scale: int = 1, frames: bool = False, start: Roi | None = None) -> FollowingCrop:
    """A crop that follows the mouth; a face detector helps when the input has APS `frames`."""
    finder = None
    if frames:
        from stream.face import MouthFinder  # dlib: loaded only for inputs with frames

        finder = MouthFinder()
    return FollowingCrop(sensor, scale=scale, start=start, finder=finder)


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])
