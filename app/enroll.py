"""Enrolment: prompted takes of a user's words, cut by the segmenter into DVS-Lip clips for `adapt`.

No Qt here: `spikelip enroll` (app/commands/enroll.py) and the window's Enrol panel
(app/gui/enrol_panel.py) drive the same pieces.

- `Enrolment`: the words, the takes per word and the folder: which clips exist (a run resumes
  with the first missing take), what to prompt next, and saving a take as
  `DIR/train/<word>/<k>.npy` (atomically) with a line in `DIR/takes.jsonl` (its session file
  and time span there, the segmenter's span, the model's reading), plus `DIR/words.txt` unless
  the words are the DVS-Lip 100.
- `Cutter`: fed every step of the running `Pipeline` (its bin time, the raw events, the
  segmenter's onset and committed `Word`), it keeps the last seconds of ROI events and, when
  listening, cuts the first word that ends after it began to listen: the segmenter's span with
  `PRE_S` of rest before and `POST_S` after (SynthLip clips hold 0.15-0.5 s each side; the
  segmenter's end already trails the lips by ~0.1-0.2 s), never reaching half-way into the
  neighbouring words, shifted to t = 0. It remembers the words it heard while not listening, so
  a reader that lags behind the stream (a file played ahead, a prompt waiting) loses none.
- `EnrolTap`: the source as the pipeline reads it in the terminal: a file paced on a clock that
  stands still while the prompt waits (a countdown takes no stream time), every raw event
  written to the session recording (`DIR/sessions/<time>.aedat4`) as it passes.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from app.segment import WordSegmenter, Word
from stream.constants import BIN_S, MOUTH_SIDE
from stream.errors import SpikeLipError
from stream.events import EVENT_DTYPE, SensorSize, empty_events
from stream.files import write_atomically
from stream.pacing import paced
from stream.roi import Crop
from stream.sources.base import EventSource, SourceView
from stream.sources.npy import FOLDER_WORDS, dvslip_words, folder_words, save_clip

SPLIT = "train"  # `adapt` fits on DIR/train (and scores DIR/test if there is one)
SESSIONS = "sessions"  # DIR/sessions/<time>.aedat4: every raw event of each enrolment run
TAKES_LOG = "takes.jsonl"  # DIR/takes.jsonl: a line per kept clip: where it came from, what the model heard
DEFAULT_TAKES = 3
PRE_S = 0.3  # rest kept before the segmenter's onset (SynthLip clips: 0.15-0.5 s)
POST_S = 0.2  # rest kept after its end, which trails the lips by ~0.1-0.2 s (smoothing, hysteresis)
KEEP_S = 12.0  # stream seconds of events and words the cutter remembers
COUNTDOWN_S = 3.0
TIMEOUT_S = 6.0  # stream seconds without speech before the prompt repeats with a hint
NO_SPEECH_HINT = ("no speech heard: face the camera with the mouth inside the ROI, say the word clearly, "
                  "and keep still before and after it")


def read_words(text: str) -> list[str]:
    """`--words`: a file (one word a line; blank lines and # comments skipped) or a comma list;
    every word must have a pronunciation (the DVS-Lip 100 or the CMU dictionary). Repeats are
    dropped; SpikeLipError names what is wrong."""
    from stream.synthlip.lexicon import check_words, parse_words

    path = Path(text)
    if text.strip() and path.is_file():
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SpikeLipError(f"{text}: cannot read the word list ({exc})") from None
        entries = [w for line in lines if not line.lstrip().startswith("#") for w in line.replace(",", " ").split()]
        if not entries:
            raise SpikeLipError(f"{text}: the word list is empty; write one word a line")
        try:
            return list(dict.fromkeys(check_words(entries)))
        except SpikeLipError as exc:
            raise SpikeLipError(f"{text}: {exc}") from None
    if path.is_dir():
        raise SpikeLipError(f"{text}: is a folder; give a word list file (one word a line) or W1,W2,...")
    if os.sep in text or text.lower().endswith(".txt"):
        raise SpikeLipError(f"{text}: no such file; give a word list file (one word a line) or W1,W2,...")
    return list(dict.fromkeys(parse_words(text, ",")))


@dataclass(frozen=True)
class Prompt:
    word: str
    take: int  # this word's take being recorded, from 1
    index: int  # the clip's file number: DIR/train/<word>/<index>.npy
    done: int  # clips already made (of `total`)
    total: int


class Enrolment:
    """`takes` clips of each of `words` in `root` (DVS-Lip style), resumable: the clips present count.

    `words` None: the folder's own words (`DIR/words.txt`), else the 100 DVS-Lip words. Words
    are prompted in the order given, a round at a time (every word's first take, then every
    word's second...), so a word's takes are spread over the session.
    """

    def __init__(self, root: str | os.PathLike, words: list[str] | None = None, takes: int = DEFAULT_TAKES) -> None:
        self.root = Path(root)
        if takes < 1:
            raise SpikeLipError(f"takes {takes}: must be >= 1")
        self.takes = int(takes)
        given = words is not None
        self.words = list(dict.fromkeys(words if given else folder_words(self.root)))
        if not self.words:
            raise SpikeLipError("no words to enrol")
        self.session: Path | None = None  # the last session recording made (`session_path`)
        self._check_folder(given)
        self._write_words(given)

    # ------------------------------------------------------------------ the folder

    def _check_folder(self, given: bool) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise SpikeLipError(f"{self.root}: is a file; give a folder for the clips")
        known = set(self.words)
        other = []
        for split in ("train", "test"):
            folder = self.root / split
            if folder.is_dir():
                other += [d.name for d in sorted(folder.iterdir())
                          if d.is_dir() and d.name not in known and any(d.glob("*.npy"))]
        if other:
            names = ", ".join(dict.fromkeys(other[:5])) + (" ..." if len(set(other)) > 5 else "")
            which = "--words" if given else "its word list"
            raise SpikeLipError(f"{self.root}: holds clips of words not in {which} ({names}); add them to "
                                "--words or enrol into another folder")

    def _write_words(self, given: bool) -> None:
        """DIR/words.txt in label order (`lexicon.vocabulary`), unless the words are the DVS-Lip
        100 and none is there; a folder's own list stays as it is."""
        from stream.synthlip.lexicon import vocabulary

        path = self.root / FOLDER_WORDS
        if not given or (set(self.words) == set(dvslip_words()) and not path.exists()):
            self.vocabulary = folder_words(self.root) if not given else dvslip_words()
            return
        self.vocabulary = vocabulary(self.words)
        text = "\n".join(self.vocabulary) + "\n"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_text() != text:
                write_atomically(path, lambda tmp: tmp.write_text(text))
        except OSError as exc:
            raise SpikeLipError(f"{path}: cannot write the word list ({exc.strerror or exc}); "
                                "choose another folder") from None

    def folder(self, word: str) -> Path:
        return self.root / SPLIT / word

    def clips(self, word: str) -> list[Path]:
        """The clips of `word` in DIR (whatever their numbers)."""
        folder = self.folder(word)
        return sorted(folder.glob("*.npy")) if folder.is_dir() else []

    def count(self, word: str) -> int:
        return len(self.clips(word))

    @property
    def total(self) -> int:
        return len(self.words) * self.takes

    @property
    def done(self) -> int:
        return sum(min(self.count(w), self.takes) for w in self.words)

    @property
    def complete(self) -> bool:
        return self.next_prompt() is None

    def next_prompt(self) -> Prompt | None:
        """The first missing take, a round at a time; None when every word has its takes."""
        counts = {w: self.count(w) for w in self.words}
        rounds = min(counts.values())
        if rounds >= self.takes:
            return None
        word = next(w for w in self.words if counts[w] == rounds)
        done = sum(min(c, self.takes) for c in counts.values())
        return Prompt(word, rounds + 1, self._free_index(word), done, self.total)

    def _free_index(self, word: str) -> int:
        taken = {p.stem for p in self.clips(word)}
        k = 0
        while str(k) in taken:
            k += 1
        return k

    def save(self, word: str, take: "Cut | np.ndarray", session: str | os.PathLike | None = None) -> Path:
        """Write one take of `word` (a `Cut`, or ROI events with t from 0) as the next clip,
        atomically; a `Cut` also gets its line in DIR/takes.jsonl."""
        if word not in self.words:
            raise SpikeLipError(f"{word!r} is not one of the words being enrolled")
        path = self.folder(word) / f"{self._free_index(word)}.npy"
        save_clip(path, take.events if isinstance(take, Cut) else take)
        if isinstance(take, Cut):
            self._log(path, word, take, session)
        return path

    def _log(self, path: Path, word: str, cut: "Cut", session) -> None:
        heard = cut.word
        line = {"clip": path.relative_to(self.root).as_posix(), "word": word,
                "session": Path(session).name if session is not None else None,
                "start_us": cut.start_us, "end_us": cut.end_us,
                "spoken_s": [round(heard.start_s, 4), round(heard.end_s, 4)], "events": int(len(cut.events)),
                "heard": heard.word, "confidence": round(float(heard.confidence), 4),
                "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
        try:
            with open(self.root / TAKES_LOG, "a") as f:
                f.write(json.dumps(line) + "\n")
        except OSError as exc:
            raise SpikeLipError(f"{self.root / TAKES_LOG}: cannot write ({exc.strerror or exc}); the clip "
                                f"{path} is saved") from None

    def log(self) -> list[dict]:
        """The lines of DIR/takes.jsonl (the kept takes), oldest first."""
        path = self.root / TAKES_LOG
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def session_path(self) -> Path:
        """A new DIR/sessions/<date-time>.aedat4 for this run's raw events."""
        folder = self.root / SESSIONS
        folder.mkdir(parents=True, exist_ok=True)
        stem = time.strftime("%Y%m%d-%H%M%S")
        path, n = folder / f"{stem}.aedat4", 2
        while path.exists():
            path, n = folder / f"{stem}-{n}.aedat4", n + 1
        self.session = path
        return path

    def adapt_command(self, run: str | None = None) -> str:
        """The command that adapts a model to these clips."""
        return f"spikelip adapt --data {_quoted(str(self.root))} --out {_quoted(run or default_run(self.root))}"


def default_run(root: str | os.PathLike) -> str:
    """Where the adapted model goes unless told: runs/<DIR's name>."""
    return str(Path("runs") / (Path(root).resolve().name or "me"))


def _quoted(text: str) -> str:
    import shlex

    return shlex.quote(text)


def check_clip_crop(crop: Crop, origin: str = "the ROI") -> None:
    """Clips are 128 x 128, as DVS-Lip's: the crop must give exactly that."""
    side = SensorSize(MOUTH_SIDE, MOUTH_SIDE)
    if crop.sensor != side:
        raise SpikeLipError(
            f"{origin}: enrolment writes {side} DVS-Lip clips but ROI {crop.roi} with scale {crop.scale} gives "
            f"{crop.sensor}; choose --roi X,Y,W,H with W = H = 128 x --scale")


# ---------------------------------------------------------------------- cutting takes


@dataclass
class Cut:
    """One take: the events of `word` (ROI coordinates, t in us from the clip's start)."""

    word: Word  # the segmenter's span and the model's reading of it
    start_s: float  # the clip's window in stream seconds (from the pipeline's first bin)
    end_s: float
    events: np.ndarray
    start_us: int = 0  # the same window on the source's clock: the clip is its events in [start_us, end_us)
    end_us: int = 0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class Cutter:
    """Cuts the next spoken word out of the stream; see the module docstring.

    Feed it every step in order (`feed`); `listen(from_s)` asks for the first word that ends
    after `from_s` (stream seconds); `feed` (or `listen`) returns its `Cut` once the stream has
    passed its rest after, `finish` at the end of the stream returns it with what there is.
    """

    def __init__(self, crop: Crop | None = None, pre_s: float = PRE_S, post_s: float = POST_S,
                 keep_s: float = KEEP_S, bin_s: float = BIN_S, onset_lookback: int | None = None) -> None:
        self.crop = crop
        self.pre_s, self.post_s, self.keep_s, self.bin_s = pre_s, post_s, keep_s, bin_s
        self.reset(onset_lookback=onset_lookback or WordSegmenter().onset_lookback)

    def reset(self, crop: Crop | None = None, onset_lookback: int | None = None, bin_s: float | None = None) -> None:
        """A new stream (its clock starts again); `onset_lookback`: that of the pipeline's
        segmenter (how many bins before it reports an onset the word began); `bin_s`: its bins'."""
        if crop is not None:
            self.crop = crop
        if bin_s is not None:
            self.bin_s = bin_s
        if onset_lookback is not None:
            self._lookback_s = (onset_lookback - 1) * self.bin_s
        self.origin_us: float | None = None
        self.reached_s = 0.0  # end of the last bin fed
        self.speaking = False
        self.listening_from: float | None = None
        self.target: Word | None = None
        self._events: list[np.ndarray] = []  # ROI events, t on the source clock
        self._words: list[Word] = []  # committed, recent
        self._onsets: list[float] = []  # start (s) of each word the segmenter began, recent

    @property
    def listening(self) -> bool:
        return self.listening_from is not None

    @property
    def heard(self) -> bool:
        """A word to cut was heard; the rest after it is still being collected."""
        return self.target is not None

    def feed(self, t_us: int, t_s: float, raw: np.ndarray, onset: bool = False, word: Word | None = None,
             speaking: bool = False) -> Cut | None:
        """One step: its bin start on the source clock (`t_us`) and from the first bin (`t_s`), the
        raw (full-sensor) events that arrived with it, and the segmenter's verdict."""
        if self.origin_us is None:
            self.origin_us = t_us - t_s * 1e6
        self.reached_s = max(self.reached_s, t_s + self.bin_s)
        self.speaking = speaking
        if len(raw):
            events = self.crop(raw) if self.crop is not None else raw
            if len(events):
                self._events.append(events)
        if onset:
            self._onsets.append(t_s - self._lookback_s)
        if word is not None:
            self._words.append(word)
        self._forget()
        return self._ready()

    def listen(self, from_s: float = float("-inf")) -> Cut | None:
        """Take the first word that ends after `from_s`; it may have been heard already."""
        self.listening_from, self.target = from_s, None
        return self._ready()

    def stop(self) -> None:
        self.listening_from, self.target = None, None

    def finish(self, word: Word | None = None) -> Cut | None:
        """The stream ended (with `word` still open, as `Pipeline.finish` gives it): the word
        being listened for, cut with the rest there is."""
        if word is not None:
            self._words.append(word)
        if self.listening_from is None:
            return None
        self._pick()
        return self._cut(force=True) if self.target is not None else None

    # ------------------------------------------------------------------ inside

    def _pick(self) -> None:
        if self.target is None and self.listening_from is not None:
            self.target = next((w for w in self._words if w.end_s > self.listening_from), None)

    def _window(self, word: Word) -> tuple[float, float]:
        before = [w.end_s for w in self._words if w.end_s <= word.start_s and w is not word]
        start = word.start_s - self.pre_s
        if before:
            start = max(start, (max(before) + word.start_s) / 2)
        end = word.end_s + self.post_s
        later = [s for s in self._onsets if s >= word.end_s]
        if later:
            end = min(end, (word.end_s + min(later)) / 2)
        return max(start, 0.0), end

    def _ready(self) -> Cut | None:
        self._pick()
        return self._cut() if self.target is not None else None

    def _cut(self, force: bool = False) -> Cut | None:
        word = self.target
        start, end = self._window(word)
        # the next word trims the window when it starts within 2 * post_s of this one's end, and
        # the segmenter reports a start up to `_lookback_s` later
        settled = word.end_s + 2 * self.post_s + self._lookback_s + self.bin_s
        if not force and self.reached_s < max(end, settled):
            return None
        end = min(end, self.reached_s)
        t0 = int(round(self.origin_us + start * 1e6))
        t1 = int(round(self.origin_us + end * 1e6))
        parts = [e[(e["t"] >= t0) & (e["t"] < t1)] for e in self._events if len(e) and e["t"][-1] >= t0 and e["t"][0] < t1]
        events = np.concatenate(parts) if parts else empty_events()
        events = events.astype(EVENT_DTYPE, copy=True)
        if len(events) > 1 and (np.diff(events["t"]) < 0).any():  # by time only: ties keep the source's order
            events = events[np.argsort(events["t"], kind="stable")]
        events["t"] -= t0
        self.listening_from, self.target = None, None
        return Cut(word, start, end, events, t0, t1)

    def _forget(self) -> None:
        horizon = self.reached_s - self.keep_s
        keep_from = self.target.start_s - self.pre_s if self.target is not None else horizon
        horizon = min(horizon, keep_from)
        limit_us = self.origin_us + horizon * 1e6
        while self._events and self._events[0]["t"][-1] < limit_us:
            self._events.pop(0)
        self._words = [w for w in self._words if w.end_s >= horizon]
        self._onsets = [s for s in self._onsets if s >= horizon]


def take_image(events: np.ndarray, side: int = MOUTH_SIDE, on=(40, 210, 255), off=(255, 70, 150),
               background=(18, 20, 26)) -> np.ndarray:
    """A take's events accumulated into a (side, side, 3) uint8 picture: ON and OFF in their colours,
    saturating so that a few busy pixels do not wash the mouth out."""
    counts = np.zeros((2, side, side), np.float64)
    if len(events):
        x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
        inside = (x >= 0) & (x < side) & (y >= 0) & (y < side)
        idx = (events["p"][inside] == 0).astype(np.int64) * side * side + y[inside] * side + x[inside]
        counts = np.bincount(idx, minlength=2 * side * side).reshape(2, side, side).astype(np.float64)
    scale = max(np.percentile(counts[counts > 0], 90) if (counts > 0).any() else 1.0, 1.0)
    level = counts / (counts + scale)
    bg = np.array(background, np.float64)
    rgb = bg + level[0][..., None] * (np.array(on) - bg) + level[1][..., None] * (np.array(off) - bg).clip(0)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------- the terminal's source


class EnrolTap(SourceView):
    """`source` as `spikelip enroll` feeds it to the pipeline: a file paced at `speed` (None or
    0: as fast as possible) on a clock that stands still inside `paused()`, a live source as it
    comes; every raw event goes to `writer` (the session recording) on the way, and `take_raw()`
    returns those delivered since the last call. Looks live to the `Pipeline`, so a file is not
    paced twice nor shed for the time a prompt waited."""

    def __init__(self, source: EventSource, speed: float | None = 1.0, writer=None) -> None:
        super().__init__(source)
        self.speed = speed or None
        self.writer = writer
        self._paused_at: float | None = None
        self._paused_s = 0.0

    def clock(self) -> float:
        """Wall seconds, less the time spent paused."""
        now = time.perf_counter()
        return now - self._paused_s - (now - self._paused_at if self._paused_at is not None else 0.0)

    @contextlib.contextmanager
    def paused(self):
        """A file's stream time stands still in this block (a live source goes on regardless)."""
        self._paused_at = time.perf_counter()
        try:
            yield
        finally:
            self._paused_s += time.perf_counter() - self._paused_at
            self._paused_at = None

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.source.live:
            slices = ((ev, self.source.now_us()) for ev in self.source)
        else:
            slices = paced(self.source, self.speed, clock=self.clock)
        for events, now_us in slices:
            if now_us is None and len(events):
                now_us = int(events["t"][-1])
            if now_us is not None:
                self._now_us = now_us
            if len(events):
                if self.writer is not None:
                    self.writer.write(events)
                self._raw.append(events)
            yield events

    def close(self) -> None:
        self.source.close()


# ---------------------------------------------------------------------- adapting


class AdaptProgress:
    """How far `model.adapt.adapt` has got, from its log lines and the clock: it fine-tunes epoch
    by epoch until its time budget or `max_epochs` ends, whichever comes first."""

    def __init__(self, minutes: float, max_epochs: int | None = None) -> None:
        from model.adapt import AdaptConfig

        self.budget_s = minutes * 60
        self.max_epochs = max_epochs or AdaptConfig.max_epochs
        self.started = time.perf_counter()
        self.epoch = 0
        self.line = ""
        self.done = False

    def log(self, line: str) -> None:
        self.line = line
        if line.startswith("epoch "):  # "epoch 0: ..." or "epoch 3 of 40: ..."
            words = line.split()
            try:
                self.epoch = int(words[1].rstrip(":"))
                if words[2] == "of":
                    self.max_epochs = int(words[3].rstrip(":"))
            except (IndexError, ValueError):
                pass

    @property
    def fraction(self) -> float:
        if self.done:
            return 1.0
        by_time = (time.perf_counter() - self.started) / self.budget_s if self.budget_s else 0.0
        return min(0.99, max(by_time, self.epoch / self.max_epochs))
