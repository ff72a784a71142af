"""How wide the speaker's mouth is in the crop, learnt from the words read: `--roi auto` resizes
it to the width the model learnt, as a camera nearer or further from the face needs.

A crop that follows the mouth places it but keeps its size; a face 1.3 x as large on the sensor
then costs the bundled model 6 points (`benchmarks/bench_mouth_size.py`). The crop's events during the
words read so far are summed into one map (words average out, the mouth stays) and measured as
`stream.mouth_place` measures a user's clips for `spikelip adapt`.
"""
from __future__ import annotations

import numpy as np

from stream.events import SensorSize
from stream.mouth_place import SCALE_RANGE, MouthPlace, mouth_place

MIN_WORDS = 3  # words read before the width is trusted: one word's activity is a part of the mouth
# Mouths up to this factor wider or narrower than the model learnt are read as they are: the model
# learnt from speakers that differ so much (SynthLip sentence speakers' widths spread by 11 %, sd),
# and resizing them too cost words (docs/notes/roi-auto.md#the-mouths-size).
SPREAD = 1.15


class MouthSize:
    """Feed each bin's crop events (`see`, crop pixels, before any resize); after each bin,
    `step(index, speaking)`; `word_read()` when the word stage commits a word. `place` is the
    `MouthPlace` of the words read (None before MIN_WORDS of them)."""

    def __init__(self, sensor: SensorSize, min_words: int = MIN_WORDS) -> None:
        self.sensor = sensor
        self.min_words = int(min_words)
        self.total = np.zeros(sensor.height * sensor.width, np.int64)  # the words read
        self.word = np.zeros_like(self.total)  # the word being spoken
        self.words = 0
        self.place: MouthPlace | None = None
        self._pending: dict[int, np.ndarray] = {}
        self._speaking = False

    def see(self, events: np.ndarray, index: int) -> None:
        """Crop events that fall in bin `index`."""
        if len(events) == 0:
            return
        flat = events["y"].astype(np.int64) * self.sensor.width + events["x"]
        counts = np.bincount(flat, minlength=self.total.size)
        self._pending[index] = self._pending[index] + counts if index in self._pending else counts

    def step(self, index: int, speaking: bool) -> None:
        """Bin `index` was read: its events count towards the word when one is being spoken."""
        done = [i for i in self._pending if i <= index]
        counts = sum(self._pending.pop(i) for i in done) if done else None
        if speaking and not self._speaking:
            self.word[:] = 0
        if speaking and counts is not None:
            self.word += counts
        self._speaking = speaking

    def word_read(self) -> None:
        """The word spoken was committed: its events join the map, and the place is measured again."""
        self.total += self.word
        self.word[:] = 0
        self.words += 1
        if self.words >= self.min_words:
            try:
                self.place = mouth_place(self.total.reshape(self.sensor.height, self.sensor.width), self.words)
            except ValueError:  # nothing above the floor: no mouth to measure yet
                pass

    def resize_to(self, learnt_width: float) -> float | None:
        """The factor that makes the mouth seen as wide as `learnt_width`; None (read as it is)
        before a width is known, within SPREAD of it, or when the mouth seen is no mouth size a
        camera gives (SCALE_RANGE)."""
        if self.place is None or self.place.width <= 0:
            return None
        ratio = self.place.width / learnt_width
        if 1 / SPREAD <= ratio <= SPREAD or not SCALE_RANGE[0] <= ratio <= SCALE_RANGE[1]:
            return None
        return 1.0 / ratio
