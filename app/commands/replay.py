"""`spikelip replay [PATH]`: run a recording or clip through the model, in the GUI or headless."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from app.models import ASSETS, RUNTIMES, load_model, use_streaming_threads
from app.options import (
    add_spatial_arguments,
    crop_for,
    existing_file,
    model_spec,
    non_negative_float,
    output_file,
    roi_text,
    shown,
    writable_path,
)
from app.pipeline import Pipeline
from app.segment import Word
from app.truth import WordSpan, read_word_times, spoken_at, verdict
from stream.errors import SpikeLipError
from stream.sources import open_file
from stream.writer import finalise_on_sigterm

NAME = "replay"
HELP = "replay a recording or DVS-Lip clip through the model (default: the bundled sample)"
DEFAULT_SAMPLE = ASSETS / "samples" / "sample.aedat4"


def add_arguments(p) -> None:
    p.add_argument("path", nargs="?", type=existing_file, help=f"an .aedat4 recording or DVS-Lip .npy clip (default: {DEFAULT_SAMPLE.relative_to(ASSETS.parent)})")
    p.add_argument("--model", metavar="NAME_OR_PATH", type=model_spec,
                   help="model name, config JSON or checkpoint (default: the bundled model)")
    p.add_argument("--speed", type=non_negative_float, default=1.0, metavar="X",
                   help="replay speed, >= 0: 1 = real time, 2 = twice as fast, 0 = as fast as possible (default 1)")
    p.add_argument("--headless", action="store_true", help="no window: print predictions on the terminal")
    p.add_argument("--runtime", default="fastest", choices=(*RUNTIMES, "fastest"),
                   help="headless: how the model is stepped, torch (eager), onnx (onnxruntime) or sparse (onnxruntime, "
                        "gather-sparse GRU); default the "
                        "fastest (the window steps the fastest runtime whose export also gives the layers' spikes, for its rasters)")
    p.add_argument("--jsonl", metavar="OUT", type=writable_path, help="write one JSON object per timestep to OUT")
    p.add_argument("--every", type=non_negative_float, default=0.5, metavar="S",
                   help="headless: print a line every S >= 0 seconds of stream time (0: every step; default 0.5)")
    p.add_argument("--screenshot", metavar="PNG", type=output_file(".png", ".jpg", ".jpeg", ".bmp", what="screenshot"),
                   help="render the window offscreen, save it to PNG (or .jpg, .bmp) after --after seconds of stream and exit")
    p.add_argument("--after", type=non_negative_float, default=3.0, metavar="S",
                   help="with --screenshot: seconds of stream time to play first, >= 0 (default 3)")
    p.add_argument("--video", metavar="OUT.mp4", type=writable_path,
                   help="render the event view, spike raster and predictions into a video (no display needed)")
    add_spatial_arguments(p)


def run(args) -> int:
    path = Path(args.path) if args.path else DEFAULT_SAMPLE
    if args.path is None and not path.exists():
        raise SpikeLipError(f"{path}: the bundled sample is missing; give a recording path or run `git checkout assets/`")
    if args.screenshot or args.video:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # rendered offscreen, display or not
    elif args.headless or not display_available():
        return run_headless(path, args)
    if args.video:
        from app.gui.launch import run_replay_video

        return run_replay_video(path, args)
    from app.gui import run_replay_window

    return run_replay_window(path, args)


def run_headless(path: Path, args) -> int:
    use_streaming_threads()
    net, words, description, _ = load_model(args.model, runtime=args.runtime)
    from model import Readout

    # SIGTERM unwinds like Ctrl-C, so the JSONL file keeps every step written before it
    with open_file(path) as source, finalise_on_sigterm():
        crop = crop_for(source.sensor, args, origin=path, frames="frames" in source.streams)
        pipeline = Pipeline(source, net, Readout(words), crop=crop, speed=args.speed or None)
        one_word = pipeline.words is None  # a clip is judged whole; a recording word by word, as in the window
        truth = read_word_times(path)
        print(f"replaying {shown(path)} ({source.sensor} {source.name}, ROI {roi_text(crop)} -> {crop.sensor}) "
              f"with model {description}, speed {'max' if not args.speed else f'{args.speed:g}x'}")
        with _jsonl_errors(args.jsonl):
            out = open(args.jsonl, "w") if args.jsonl else None
        latencies, model_ms, heard = [], [], []
        wall0 = time.perf_counter()
        next_print = None
        last = None
        try:
            for r in pipeline:
                latencies.append(r.latency_ms)
                model_ms.append((r.t_model_end - r.t_model_start) * 1e3)
                last = r
                if out:
                    with _jsonl_errors(args.jsonl):
                        out.write(json.dumps(_jsonl_record(r)) + "\n")
                if next_print is None or r.t_s >= next_print:
                    next_print = r.t_s + args.every
                    top = "  ".join(f"{w} {p:.2f}" for w, p in r.top5[:3])
                    print(f"t={r.t_s:6.2f}s  events/bin {r.events:6d}  top: {top}", flush=True)
                if r.revised is not None and heard:
                    heard[-1] = _print_word(r.revised, truth, instead_of=heard[-1][0])
                if r.word is not None:
                    heard.append(_print_word(r.word, truth))
        finally:
            if out:
                with _jsonl_errors(args.jsonl):
                    out.close()
        word = pipeline.finish()
        if word is not None:
            heard.append(_print_word(word, truth))
        wall = time.perf_counter() - wall0
        for warning in source.warnings:
            print(f"warning: {warning}")
        if pipeline.events_dropped:
            print(f"warning: fell behind real time and dropped {pipeline.events_dropped:,} of {pipeline.events_in:,} "
                  f"events ({pipeline.events_dropped / pipeline.events_in:.1%}) to catch up, so the words read may "
                  "differ from a full read; --speed 0 reads every event")
        if (tracker := getattr(crop, "tracker", None)) is not None:
            k = pipeline.resize
            size = f"; the mouth resized {k:.2f} x to the width the model learnt" if k is not None else ""
            print(f"ROI auto: moved {tracker.moves} time{'s' * (tracker.moves != 1)}, ends at {crop.roi}{size}")
        if pipeline.binner.skipped_bins:
            b = pipeline.binner
            print(f"warning: {path}: skipped {b.skipped_bins:,} empty bins ({b.skipped_bins * b.bin_us / 1e6:,.1f} s) "
                  f"in pauses longer than {b.max_gap_bins * b.bin_us / 1e6:g} s")
    if last is None:
        print("no events: nothing to replay")
        return 0
    span_s = (pipeline.steps * pipeline.binner.bin_us) / 1e6
    p50, p99 = np.percentile(model_ms, [50, 99])
    timing = f"model step p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    if args.speed:  # queueing behind a whole file read at once is not latency: only paced runs report it
        l50, l99 = np.percentile(latencies, [50, 99])
        timing += f"; latency (input available -> prediction) p50 {l50:.2f} ms, p99 {l99:.2f} ms"
    print(f"done: {pipeline.steps} steps ({span_s:.2f} s of stream) in {wall:.2f} s wall, {pipeline.events_in:,} events; {timing}")
    if one_word:
        said = path.parent.name if path.parent.name in words else None  # DVS-Lip layout: <word>/<k>.npy
        word, p = last.top5[0]
        print(f"read: {word} ({p:.2f}) {verdict(word, said)}".rstrip())
    else:
        print(f"heard: {' '.join(w for w, _ in heard) or '(no word: the lips never moved enough)'}")
        if truth:
            right = sum(w == said for w, said in heard)
            print(f"said:  {' '.join(w.word for w in truth)}  ({right} of {len(truth)} words right, "
                  f"ground truth from {path.with_suffix('.json').name})")
    if args.jsonl:
        print(f"wrote {pipeline.steps} timesteps to {args.jsonl}")
    return 0


def _print_word(word: Word, truth: list[WordSpan], instead_of: str | None = None) -> tuple[str, str | None]:
    """One line for a committed word, or for one read again (`instead_of` the word it replaces);
    returns (word, what was said then or None)."""
    spoken = spoken_at(truth, word.start_s, word.end_s)
    said = spoken.word if spoken else None
    what = "heard" if instead_of is None else "read again"
    again = "" if instead_of is None else f" instead of {instead_of!r}"
    print(f"  {what} {word.word!r} ({word.confidence:.2f}) at {word.start_s:.2f}-{word.end_s:.2f} s{again} "
          f"{verdict(word.word, said)}".rstrip(), flush=True)
    return word.word, said


@contextlib.contextmanager
def _jsonl_errors(name: str | None):
    """An unwritable --jsonl path or a full disk is one clear error, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise SpikeLipError(f"{name}: cannot write ({exc.strerror or exc}); free some space or choose another --jsonl path") from None


def _jsonl_record(r) -> dict:
    """One timestep; `word` only on the step that committed a word, `revised` on the step that read
    the last one again as another word (start/end in stream seconds)."""
    record = {
        "step": r.step,
        "t_us": r.t_us,
        "events": r.events,
        "top5": [[w, round(float(p), 6)] for w, p in r.top5],
        "latency_ms": round(r.latency_ms, 4),
    }
    for key in ("word", "revised"):
        if (word := getattr(r, key)) is not None:
            record[key] = {"word": word.word, "confidence": round(word.confidence, 6),
                           "start_s": round(word.start_s, 4), "end_s": round(word.end_s, 4)}
    return record


QT_LINUX_PACKAGES = "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxkbcommon-x11-0"


def display_available() -> bool:
    """Whether a window can be shown: a display that Qt can actually open.

    Qt aborts the whole process when its platform plugin cannot load (on Linux, often missing
    xcb libraries), so try it in a child process first and fall back to headless with a note.
    """
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    probe = "from PyQt6.QtWidgets import QApplication; QApplication([])"
    try:
        ok = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    if not ok:
        hint = f" (on Debian/Ubuntu: sudo apt-get install {QT_LINUX_PACKAGES})" if sys.platform.startswith("linux") else ""
        print(f"warning: a display is set but Qt cannot open a window on it{hint}; running headless", file=sys.stderr)
    return ok
