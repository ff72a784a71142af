"""`spikelip latency`: measure per-stage and end-to-end latency of the live path, honestly.

Replays a file at real time (default: the bundled sample sentence), a synthetic flood
(`--synthetic RATE`), a camera (`--camera`) or DV's network output (`--connect ADDR`) through
exactly the pipeline of the demo, and
reports p50/p90/p99/max per stage, the real-time factor, missed deadlines, events/s, dropped
events and peak memory. `--compare` steps several models and runtimes on the same bins,
interleaved, and prints them side by side.
"""
from __future__ import annotations

import json
from pathlib import Path

from app.latency import CLOCK_SYNC_S, WordClock, binned_frames, compare, measure
from app.models import RUNTIMES, load_model, use_streaming_threads
from app.options import (
    AUTO,
    add_connect_argument,
    add_spatial_arguments,
    as_given,
    choice_list,
    crop_for,
    event_rate,
    existing_file,
    image_file,
    model_list,
    model_spec,
    non_negative_float,
    positive_float,
    roi_text,
    shown,
    writable_path,
)
from app.pipeline import Pipeline
from app.truth import read_sentence
from model import Readout
from stream.constants import BIN_US
from stream.errors import SpikeLipError
from stream.events import SensorSize
from stream.sources import open_file

NAME = "latency"
HELP = "measure per-stage and end-to-end latency (file at real time, synthetic flood, camera or DV stream)"
COMPARE_MODELS = ("small", "paper-causal")


def add_arguments(p) -> None:
    p.add_argument("path", nargs="?", type=existing_file, help="an .aedat4 recording or DVS-Lip .npy clip (default: the bundled sample)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--synthetic", type=event_rate, metavar="RATE",
                     help="synthetic source at RATE events/s (> 0 and <= 1e9) on a 346 x 260 sensor (e.g. 12e6 for a DAVIS346 at peak)")
    src.add_argument("--camera", nargs="?", const="", metavar="NAME",
                     help="the first connected camera (or the one named NAME)")
    add_connect_argument(src, "; camera_to_prediction is reported only when the stream's timestamps are within "
                              f"{CLOCK_SYNC_S:g} s of this host's clock (DV on this host or on one kept in sync)")
    p.add_argument("--duration", type=positive_float, metavar="S",
                   help="seconds of stream to measure, > 0 (default: the whole file; 10 for --synthetic, --camera "
                        "and --connect, or until DV ends the stream)")
    p.add_argument("--speed", type=non_negative_float, default=1.0, metavar="X",
                   help="file replay speed, >= 0 (default 1 = real time; 0 = as fast as possible)")
    p.add_argument("--model", metavar="NAME_OR_PATH", type=model_spec, help="model name, config, checkpoint or .onnx (default: the bundled model)")
    p.add_argument("--runtime", default="fastest", choices=(*RUNTIMES, "fastest"),
                   help="how the model is stepped: torch (eager), onnx (onnxruntime), sparse (onnxruntime with "
                        "gather-sparse GRU layers); default the fastest")
    p.add_argument("--compare", action="store_true",
                   help="step several models and runtimes on the same bins, interleaved, and print them side by side")
    p.add_argument("--models", default=",".join(COMPARE_MODELS), metavar="A,B", type=as_given(model_list),
                   help=f"with --compare: models (default {','.join(COMPARE_MODELS)}; 'small' is the bundled model)")
    p.add_argument("--runtimes", default=",".join(RUNTIMES), metavar="A,B", type=as_given(choice_list(RUNTIMES)),
                   help=f"with --compare: runtimes (default {','.join(RUNTIMES)})")
    p.add_argument("--max-lag-ms", type=non_negative_float, default=3 * BIN_US / 1e3, metavar="MS",
                   help="shed load (keep every k-th event) when running this far behind real time, >= 0; "
                        "0 = never (default 40)")
    p.add_argument("--json", metavar="OUT", type=writable_path, help="write the full report as JSON")
    p.add_argument("--plot", metavar="PNG", type=image_file,
                   help="save a histogram and latency-over-time plot (.png, .pdf, .svg or .jpg)")
    add_spatial_arguments(p)


def run(args) -> int:
    use_streaming_threads()
    if args.compare:
        return _run_compare(args)
    net, words, description, runtime = load_model(args.model, runtime=args.runtime)
    source, label, truth = _open_source(args)
    with source:
        crop = crop_for(source.sensor, args, frames="frames" in source.streams)
        speed = args.speed or None
        pipeline = Pipeline(source, net, Readout(words), crop=crop, speed=speed,
                            max_lag_us=(args.max_lag_ms * 1e3) or None)
        clock = WordClock(truth) if truth else None
        duration = args.duration if args.duration else (10.0 if source.live or args.synthetic else None)
        print(f"measuring {label} ({source.sensor}, ROI {roi_text(crop)}) with {description}, "
              f"speed {'max' if not speed else f'{speed:g}x'}" + (f", {duration:g} s" if duration else ""), flush=True)
        camera_clock = "if_synchronised" if args.connect is not None else source.live and args.camera is not None
        report = measure(pipeline, duration, clock, camera_clock=camera_clock)
        warnings = list(source.warnings)
    report = {"input": label, "model": description, "runtime": runtime,
              "speed": speed, **report}
    _print_report(report)
    for w in warnings:
        print(f"warning: {w}")
    _save(args, report, {label: report})
    return 0


def _open_source(args):
    """(source, description, ground-truth words or None)."""
    live = next((flag for flag, given in (("--synthetic", args.synthetic is not None), ("--camera", args.camera is not None),
                                          ("--connect", args.connect is not None)) if given), None)
    if live and args.path:
        raise SpikeLipError(f"give a recording PATH or {live}, not both")
    if args.synthetic is not None:
        from stream.sources.synthetic import SyntheticSource

        duration = args.duration or 10.0
        source = SyntheticSource(rate_eps=args.synthetic, duration_s=duration + 0.5, sensor=SensorSize(346, 260),
                                 loop_s=0.25)
        return source, f"synthetic {args.synthetic:,.0f} events/s", None
    if args.connect is not None:
        from stream.sources.network import NetworkSource

        source = NetworkSource(args.connect)
        return source, source.name, None
    if args.camera is not None:
        from stream.sources.camera import CameraSource

        source = CameraSource(args.camera or None)
        return source, f"camera {source.name}", None
    from app.commands.replay import DEFAULT_SAMPLE

    path = Path(args.path) if args.path else DEFAULT_SAMPLE
    return open_file(path), shown(path), read_sentence(path)[1]


def _run_compare(args) -> int:
    models = [m for m in args.models.split(",") if m]
    runtimes = [r for r in args.runtimes.split(",") if r]  # each one of RUNTIMES, checked when parsed
    runners = {}
    for m in models:
        spec = None if m == "small" and args.model is None else m
        for r in runtimes:
            net, words, description, _ = load_model(spec, quiet=True, runtime=r)
            runners[f"{m} / {r}"] = (net, words)
    if args.roi == AUTO:
        raise SpikeLipError("--roi auto with --compare: the comparison bins a fixed region; give --roi X,Y,W,H")
    source, label, _ = _open_source(args)
    with source:
        crop = crop_for(source.sensor, args)
        frames, bin_ms = binned_frames(source, crop, args.duration or (10.0 if source.live or args.synthetic else None))
    if not frames:
        raise SpikeLipError(f"{label}: no events, nothing to measure")
    print(f"comparing {len(runners)} model/runtime pairs on {len(frames)} bins of {label}, interleaved", flush=True)
    runs = compare(frames, bin_ms, runners)
    _print_compare(runs)
    _save(args, {"input": label, "compare": True, "runs": runs}, runs)
    return 0


def _row(name, s) -> str:
    if not s["count"]:
        return f"  {name:<22}{'-':>9}"
    return f"  {name:<22}" + "".join(f"{s[k]:9.3f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))


def _print_report(r: dict) -> None:
    print(f"\n  {'stage (ms)':<22}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}")
    for name, s in r["stages"].items():
        print(_row(name, s))
    rtf = r["real_time_factor"]
    print(f"\n  steps {r['steps']} ({r['stream_s']:.2f} s of stream in {r['wall_s']:.2f} s wall); "
          f"real-time factor {rtf:.3f} (busy time / stream time)" if rtf is not None else "")
    print(f"  missed deadlines (> {r['deadline_ms']:.1f} ms): {r['missed_deadlines']} of {r['steps']}")
    print(f"  events/s {r['events_per_s']:,.0f}; dropped by load shedding {r['events_dropped']:,} "
          f"({100 * r['dropped_fraction']:.1f} %); peak RSS {r['peak_rss_mb']:.0f} MB")
    offset = r.get("stream_clock_offset_s")
    if offset is not None and "camera_to_prediction" not in r["stages"]:
        print(f"  camera_to_prediction not reported: the stream's timestamps are {abs(offset):,.0f} s "
              f"{'behind' if offset > 0 else 'ahead of'} this host's clock (DV runs on a host with another clock, "
              f"or replays a recording)")
    if "words" in r:
        w = r["words"]
        commit, decision = w["commit_latency"], w["decision_latency"]
        again = (f" ({w['correct_at_commit']} when committed; {w['revised']} read again as another word)"
                 if w["revised"] else "")
        print(f"  words: {w['detected']} of {w['true_words']} detected, {w['correct']} correct{again}")
        print(f"  top-1 settles on the committed word: p50 {_rel(decision['p50_ms'])}, worst {_rel(decision['max_ms'])} the word's end")
        print(f"  word committed (its end detected):   p50 {_rel(commit['p50_ms'])}, worst {_rel(commit['max_ms'])} the word's end")


def _rel(v) -> str:
    if v is None:
        return "-"
    return f"{abs(v):.0f} ms {'before' if v < 0 else 'after'}"


def _print_compare(runs: dict) -> None:
    labels = list(runs)
    width = max(14, *(len(k) + 2 for k in labels))
    print(f"\n  {'(ms)':<18}" + "".join(f"{k:>{width}}" for k in labels))
    for stage in ("model", "end_to_end"):
        for q in ("p50_ms", "p99_ms"):
            print(f"  {stage + ' ' + q[:3]:<18}" + "".join(f"{runs[k]['stages'][stage][q]:>{width}.3f}" for k in labels))
    print(f"  {'missed deadlines':<18}" + "".join(f"{runs[k]['missed_deadlines']:>{width}d}" for k in labels))
    for model in dict.fromkeys(k.split(" / ")[0] for k in labels):
        mine = [k for k in labels if k.startswith(model + " / ")]
        if len(mine) > 1:
            ref = next((k for k in mine if k.endswith(" / onnx")), mine[-1])
            ratios = {q: ", ".join(f"{k.split(' / ')[1]} {runs[ref]['stages']['model'][q] / runs[k]['stages']['model'][q]:.2f}x"
                                   for k in mine) for q in ("p50_ms", "p99_ms")}
            print(f"  {model}: model step speed-up vs {ref.split(' / ')[1]}: p50 {ratios['p50_ms']}; p99 {ratios['p99_ms']}")


def _save(args, report: dict, runs: dict) -> None:
    if args.plot:
        _plot(args.plot, runs)
        print(f"wrote {args.plot}")
    if args.json:
        def strip(d):
            return {k: strip(v) if isinstance(v, dict) else v for k, v in d.items() if k != "_series"}

        Path(args.json).write_text(json.dumps(strip(report), indent=2) + "\n")
        print(f"wrote {args.json}")


def _plot(path: str, runs: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (hist, over) = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    for label, r in runs.items():
        e2e = r["_series"]["end_to_end_ms"]
        hist.hist(e2e, bins=60, histtype="step", linewidth=1.5, label=label)
        over.plot(r["_series"]["t_s"], e2e, linewidth=0.8, label=label)
    for ax in (hist, over):
        ax.grid(alpha=0.3)
    deadline = next(iter(runs.values()))["deadline_ms"]
    hist.axvline(deadline, color="crimson", linestyle="--", linewidth=1, label=f"deadline {deadline:.1f} ms")
    over.axhline(deadline, color="crimson", linestyle="--", linewidth=1)
    hist.set_xlabel("end-to-end latency per step (ms)")
    hist.set_ylabel("steps")
    hist.set_yscale("log")
    hist.legend(fontsize=8)
    over.set_xlabel("stream time (s)")
    over.set_ylabel("end-to-end latency (ms)")
    fig.suptitle("SpikeLip latency: input available -> prediction published")
    fig.savefig(path, dpi=110)
    plt.close(fig)
