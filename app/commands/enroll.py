"""`spikelip enroll`: prompted takes of your words, cut by the segmenter into DVS-Lip clips for `adapt`.

For each missing take: the word, a countdown, "say it now"; the segmenter cuts the utterance
(`app.enroll.Cutter`), the take is shown (length, events, what the model heard) and, on a
terminal, kept or redone. Clips go to DIR/train/<word>/<k>.npy as they are kept; every raw
event of the run goes to DIR/sessions/<time>.aedat4, finalised on Ctrl-C, SIGTERM or an error;
the same command later carries on with the first missing take. A recording (PATH) stands in
for the camera: it is played at `--speed`, its words taken in prompt order, and a countdown
takes no time of it. `--adapt RUN` then adapts the model to the clips, as `spikelip adapt` does.
"""
from __future__ import annotations

import argparse
import select
import sys
import time

from app.enroll import COUNTDOWN_S, DEFAULT_TAKES, NO_SPEECH_HINT, TIMEOUT_S, Cutter, EnrolTap, Enrolment, \
    check_clip_crop, read_words
from app.options import Number, add_connect_argument, add_disconnect_argument, add_spatial_arguments, crop_for, \
    existing_file, model_spec, non_negative_float, output_dir, positive_float, positive_int, trained_model
from stream.errors import SpikeLipError

NAME = "enroll"
HELP = "record prompted takes of your words (camera, DV stream or a recording) as DVS-Lip clips for `adapt`"


def words_option(text: str) -> list[str]:
    """--words FILE_OR_LIST, checked when parsed: a file of words (one a line) or W1,W2,...,
    every word with a pronunciation."""
    try:
        return read_words(text)
    except SpikeLipError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


words_option.__name__ = "word list"


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, type=output_dir, metavar="DIR",
                   help="folder for the clips: DIR/train/<word>/<k>.npy (made if needed; a run carries on with "
                        "the takes missing there), DIR/words.txt and DIR/sessions/<time>.aedat4")
    src = p.add_mutually_exclusive_group()
    src.add_argument("path", nargs="?", metavar="PATH", type=existing_file,
                     help="a recording (.aedat4) to take the words from, in prompt order, instead of a camera")
    src.add_argument("--camera", metavar="NAME", help="camera to open (default: the first one found)")
    add_connect_argument(src)
    p.add_argument("--words", type=words_option, metavar="FILE_OR_LIST",
                   help="the words: a file with one word a line, or W1,W2,... (any word in the CMU Pronouncing "
                        "Dictionary); default DIR/words.txt, else the 100 DVS-Lip words")
    p.add_argument("--takes", type=positive_int, default=DEFAULT_TAKES, metavar="N",
                   help=f"takes of each word, >= 1 (default {DEFAULT_TAKES})")
    p.add_argument("--speed", type=non_negative_float, default=1.0, metavar="X",
                   help="PATH: replay speed, 1 = real time (default), 0 = as fast as possible")
    p.add_argument("--countdown", type=Number(float, low=0, high=10), default=COUNTDOWN_S, metavar="S",
                   help=f"seconds of countdown before each take, in [0, 10] (default {COUNTDOWN_S:g})")
    p.add_argument("--timeout", type=positive_float, default=TIMEOUT_S, metavar="S",
                   help=f"seconds without speech after 'say it now' before the prompt repeats with a hint, > 0 "
                        f"(default {TIMEOUT_S:g})")
    p.add_argument("--model", type=model_spec, metavar="NAME_OR_PATH",
                   help="the model that says what it heard in each take, and the base for --adapt "
                        "(default: the bundled model)")
    p.add_argument("--adapt", type=output_dir, metavar="RUN",
                   help="once every take is in DIR, adapt the model to them into RUN (as `spikelip adapt --data DIR "
                        "--out RUN`) and say how to use it")
    p.add_argument("--adapt-minutes", type=positive_float, default=10.0, metavar="M",
                   help="with --adapt: time budget for fine-tuning, > 0 minutes (default 10)")
    add_disconnect_argument(p, "wait")
    add_spatial_arguments(p, follow=False)  # clips are cut from one fixed region


def run(args) -> int:
    if args.adapt and args.model:  # checked before any take is recorded, not when adapting after them
        try:
            trained_model(args.model)
        except argparse.ArgumentTypeError as exc:
            raise SpikeLipError(f"--model with --adapt: {exc}") from None
    enrolment = Enrolment(args.out, args.words, args.takes)
    n_words = len(enrolment.words)
    print(f"enrolling {n_words} word{'s' if n_words != 1 else ''} x {enrolment.takes} take"
          f"{'s' if enrolment.takes != 1 else ''} into {args.out}: {enrolment.done} of {enrolment.total} clips there",
          flush=True)
    if not enrolment.complete:
        try:
            _record(args, enrolment)
        except KeyboardInterrupt:
            kept = f" and every event in {enrolment.session}" if enrolment.session is not None else ""
            print(f"\nstopped: {enrolment.done} of {enrolment.total} clips in {args.out}{kept}; run the same command "
                  "to carry on", file=sys.stderr, flush=True)
            raise
    return _finish(args, enrolment)


def _finish(args, enrolment: Enrolment) -> int:
    print(f"{enrolment.done} of {enrolment.total} clips in {args.out}", flush=True)
    if not enrolment.complete:
        print(f"{enrolment.total - enrolment.done} takes are missing: run the same command to record them"
              + (" (not adapting yet)" if args.adapt else ""), flush=True)
        print(f"next: {enrolment.adapt_command(args.adapt)}  (or adapt with what is there)", flush=True)
        return 0
    if not args.adapt:
        print(f"next: {enrolment.adapt_command()}", flush=True)
        return 0
    from app.cli import build_parser
    from app.commands import adapt

    argv = ["adapt", "--data", str(args.out), "--out", str(args.adapt), "--minutes", str(args.adapt_minutes)]
    if args.model:
        argv += ["--model", args.model]
    print(f"adapting: spikelip {' '.join(argv)}", flush=True)
    return adapt.run(build_parser("adapt").parse_args(argv))


def _open_source(args):
    if args.path is not None:
        from stream.sources import open_file

        return open_file(args.path)
    if args.connect is not None:
        from stream.sources.network import NetworkSource

        return NetworkSource(args.connect)
    from stream.sources.camera import open_camera

    return open_camera(args.camera, args.on_disconnect)


def _record(args, enrolment: Enrolment) -> None:
    from app.models import load_model
    from app.pipeline import Pipeline
    from model import Readout
    from stream.roi import Crop
    from stream.writer import AedatWriter, finalise_on_sigterm

    with _open_source(args) as source:
        crop = crop_for(source.sensor, args, origin=args.path)
        check_clip_crop(crop, args.path or source.name)
        net, model_words, description, _ = load_model(args.model, runtime="fastest")
        session = enrolment.session_path()
        camera = getattr(source, "camera", None)
        camera = camera if isinstance(camera, str) and camera else source.name
        pace = "" if source.live else f", speed {'max' if not args.speed else f'{args.speed:g}x'}"
        print(f"reading {args.path or source.name} ({source.sensor}, ROI {crop.roi}{pace}) with model "
              f"{description}; every event also goes to {session}", flush=True)
        with AedatWriter(session, source.sensor, camera_name=camera) as writer, finalise_on_sigterm():
            tap = EnrolTap(source, args.speed, writer)
            pipeline = Pipeline(tap, net, Readout(model_words), crop=crop, speed=None, segment=True)
            cutter = Cutter(Crop(source.sensor, roi=crop.roi, scale=crop.scale),  # its own: crops keep state
                            onset_lookback=pipeline.words.segmenter.onset_lookback, bin_s=pipeline.bin_s)
            flow = TerminalFlow(enrolment, pipeline, tap, cutter, countdown_s=args.countdown,
                                timeout_s=args.timeout, speed=args.speed, interactive=sys.stdin.isatty())
            flow.run()
        for warning in source.warnings:
            print(f"warning: {warning}", flush=True)
        print(f"session saved: {session} ({writer.events_written:,} events)", flush=True)


class TerminalFlow:
    """The prompts on a terminal, driven by the pipeline's steps.

    A live source is read all the time (the countdown and the keep/redo question go on while
    the camera streams; words said before "say it now" are not taken). A file only moves while
    a word is awaited: its clock stands still during the countdown and the question, and each
    take is the first word after the previous take, so the recording's words are taken in order
    whatever the waits.
    """

    def __init__(self, enrolment: Enrolment, pipeline, tap: EnrolTap, cutter: Cutter, countdown_s: float = COUNTDOWN_S,
                 timeout_s: float = TIMEOUT_S, speed: float | None = 1.0, interactive: bool = False, out=None) -> None:
        self.enrolment, self.pipeline, self.tap, self.cutter = enrolment, pipeline, tap, cutter
        self.countdown_s, self.timeout_s, self.speed = countdown_s, timeout_s, speed or None
        self.interactive = interactive
        self.live = tap.source.live
        self.out = out or (lambda text="", end="\n": print(text, end=end, flush=True))
        self.steps = iter(pipeline)
        self.ended = False
        self.cut = None
        self.last_end_s = float("-inf")  # the end of the previous take: a file's next word comes after it
        self.notice = None
        self.session = getattr(tap.writer, "path", None)  # the session recording the takes come from

    # ------------------------------------------------------------------ the stream

    def pull(self) -> bool:
        """One step through the cutter; False once the stream has ended."""
        if self.ended:
            return False
        try:
            r = next(self.steps)
        except StopIteration:
            self.ended = True
            self.cut = self.cutter.finish(self.pipeline.finish()) or self.cut
            return False
        cut = self.cutter.feed(r.t_us, r.t_s, self.tap.take_raw(), r.onset, r.word, r.speaking)
        self.cut = cut or self.cut
        source = self.tap.source
        if getattr(source, "notice", None) != self.notice:
            self.notice = source.notice
            self.out(f"  {self.notice}")
        return True

    def wait(self, seconds: float) -> None:
        """Let `seconds` of the prompt pass: a live stream is read meanwhile, a file is not."""
        if self.live:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and self.pull():
                pass
        elif self.speed:
            with self.tap.paused():
                time.sleep(seconds / self.speed)

    # ------------------------------------------------------------------ the prompts

    def run(self) -> None:
        while not self.ended:
            prompt = self.enrolment.next_prompt()
            if prompt is None:
                return
            self.out(f"[{prompt.done + 1}/{prompt.total}] '{prompt.word}' (take {prompt.take} of "
                     f"{self.enrolment.takes})")
            self._countdown()
            cut = self._listen()
            if cut is None:
                if self.ended:
                    break
                self.out(f"  {NO_SPEECH_HINT}")
                continue
            self.last_end_s = cut.end_s
            heard = cut.word
            self.out(f"  take: {cut.duration_s:.2f} s, {len(cut.events):,} events; the model heard "
                     f"'{heard.word}' ({heard.confidence:.2f}) at {heard.start_s:.2f}-{heard.end_s:.2f} s")
            answer = self._ask()
            if answer == "q":
                self.out("  quitting; the clips kept so far are saved")
                return
            if answer == "r":
                self.out("  again")
                continue
            path = self.enrolment.save(prompt.word, cut, self.session)
            self.out(f"  saved {path}")
        if self.enrolment.next_prompt() is not None:
            what = "the recording ended" if not self.live else f"{self.tap.source.name}: the stream ended"
            self.out(f"{what} before every take was made")

    def _countdown(self) -> None:
        n = int(round(self.countdown_s))
        if n <= 0:
            self.wait(self.countdown_s)
        for k in range(n, 0, -1):
            self.out(f"  {k}", end="")
            self.wait(self.countdown_s / n)
        self.out("  say it now" if n <= 0 else "  ... say it now")

    def _listen(self):
        """The next take, or None after `timeout_s` without speech or at the end of the stream."""
        self.cut = None
        reached = self.cutter.reached_s
        start = max(self.last_end_s, reached) if self.live else self.last_end_s
        self.cut = self.cutter.listen(start)
        waited_from = reached
        while self.cut is None:
            if not self.cutter.heard and not self.cutter.speaking and \
                    self.cutter.reached_s - waited_from > self.timeout_s:
                self.cutter.stop()
                return None
            if not self.pull():
                break
        cut, self.cut = self.cut, None
        return cut

    def _ask(self) -> str:
        """'' keeps the take, 'r' redoes it, 'q' quits; without a terminal every take is kept."""
        if not self.interactive:
            return ""
        question = "  Enter keeps it, r redoes it, q quits: "
        if not self.live:
            with self.tap.paused():
                try:
                    line = input(question)
                except EOFError:
                    return "q"
        else:
            self.out(question, end="")
            while True:
                ready, _, _ = select.select([sys.stdin], [], [], 0)
                if ready:
                    line = sys.stdin.readline()
                    if not line:
                        return "q"
                    break
                if not self.pull():
                    return ""
        answer = line.strip().lower()[:1]
        return answer if answer in ("r", "q") else ""

