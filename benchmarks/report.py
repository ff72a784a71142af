"""Write docs/performance.md from benchmarks/results/*.json, so the tables cannot drift.

    python benchmarks/report.py           # rewrite docs/performance.md
    python benchmarks/report.py --check   # exit 1 (one line) if the file differs from what it would write

Every table names the machine and date recorded in its JSON and the command that produces it.
The prose between the tables is fixed text kept here; the numbers come only from the results.
Results this script does not know get a generic table of their top-level numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "performance.md"


# --- formatting -------------------------------------------------------------------------------

def f(value, digits: int = 2) -> str:
    """A number for a table cell: fixed decimals, thousands separators, '-' for None."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def pct(value, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f} %"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


FOUR_OFFSETS_BUNDLED = "2026-12-06"  # the day the bundled model began to read through four window offsets


def source(data: dict, command: str) -> str:
    """The footnote under each table: machine and date from the JSON, and the command."""
    m = data.get("machine", {})
    cpu = m.get("cpu", "unknown CPU")
    cores = m.get("cores")
    python = m.get("python")
    what = cpu + (f", {cores} cores" if cores else "") + (f", Python {python}" if python else "")
    date = str(data.get("date", "unknown date")).split(" ")[0]
    model = str(data.get("model", ""))
    earlier = (" The bundled model read through its centred window only then (8 readings since "
               f"{FOUR_OFFSETS_BUNDLED})." if "bundled" in model and "window at offsets" not in model
               and date < FOUR_OFFSETS_BUNDLED else "")
    return f"*{what}, {date}: `{command}`.{earlier}*"


# --- sections, one per result file -------------------------------------------------------------

def model_step(d: dict) -> str:
    rows = [[name, f(r["params"]["total"]), f(r["p50_ms"]), f(r["p99_ms"]), f(r["mean_ms"]), f(r["real_time"])]
            for name, r in d["results"].items()]
    return "\n\n".join([
        "### Eager PyTorch step (untrained configs of that day)",
        f"{d['what']}, {d['threads']} threads, torch {d['torch']}; input: {d['input']}.",
        table(["config", "parameters", "p50 ms", "p99 ms", "mean ms", f"inside {d['bin_ms']} ms"], rows),
        source(d, ".venv/bin/python benchmarks/bench_model_step.py"),
    ])


def runtime(d: dict) -> str:
    paths = ["pytorch eager", "onnx runner", "ort session.run", "hybrid runner"]
    names = {"hybrid runner": "sparse (hybrid runner)", "onnx runner": "onnx (runner)",
             "pytorch eager": "torch (eager)", "ort session.run": "bare ort session.run"}
    rows = []
    for config, r in d["results"].items():
        for p in paths:
            if p in r:
                rows.append([config, names[p], f(r[p]["p50_ms"]), f(r[p]["p99_ms"])])
        density = ", ".join(f"{k} {v:.0%}" for k, v in r.get("spike_density", {}).items())
        h = r.get("hybrid runner", {})
        rows.append([config, "sparse / onnx speed-up", f(h.get("speedup_vs_onnx_p50")) + " x",
                     f(h.get("speedup_vs_onnx_p99")) + " x"])
        rows.append([config, f"spike density: {density}", "", ""])
    backend = [[c, f(r["dense"]["p50_ms"]), f(r["gather"]["p50_ms"]), f(r["dense"]["p50_ms"] / r["gather"]["p50_ms"]) + " x"]
               for c, r in d.get("backend_only", {}).items()]
    agree = [[c, runner, pct(a["top1_running_mean"]), pct(a["top1_step"]), f(a["max_abs_running_mean_diff"], 4)]
             for c, rs in d.get("agreement", {}).items() for runner, a in rs.items()]
    return "\n\n".join([
        "### Step per runtime (random weights, BatchNorm calibrated)",
        (f"Batch 1, {d['threads']} threads, torch {d['torch']}, onnxruntime {d['onnxruntime']}; "
        f"input: {d['input']}."),
        table(["config", "runtime", "p50 ms", "p99 ms"], rows),
        "GRU layers alone at 10 % activity, dense against gathered (`model.runtime.GatherGRU`):",
        table(["config", "dense p50 ms", "gather p50 ms", "speed-up"], backend),
        (f"How closely the ONNX runtimes follow eager PyTorch on {d.get('agreement_input', 'the sample')}: "
        "share of steps with the same running-mean top-1 and the same per-step top-1:"),
        table(["config", "runner", "running-mean top-1 agrees", "step top-1 agrees", "max running-mean diff"], agree),
        source(d, ".venv/bin/python benchmarks/bench_runtime.py"),
    ])


STAGES = ["bin", "prepare", "model", "readout", "end_to_end"]


def latency(d: dict) -> str:
    parts = ["### Live path on the bundled sample, per runtime",
             ("`spikelip latency --runtime R` on the bundled sample at 1 x (bundled `small`): per-stage "
             "times in ms (p50 / p99 / max), missed deadlines (steps over 13.3 ms) and word timing "
             "(when the segmenter committed each word, after the word's end).")]
    rows = []
    for rt, r in d["sample"].items():
        s = r["stages"]
        w = r.get("words", {})
        c = w.get("commit_latency", {})
        rows.append([rt] + [f"{f(s[k]['p50_ms'])} / {f(s[k]['p99_ms'])} / {f(s[k]['max_ms'])}" for k in STAGES]
                    + [f"{r['missed_deadlines']:,} of {r['steps']:,}",
                       f"{w.get('correct', '-')} of {w.get('true_words', '-')}",
                       f"{f(c.get('p50_ms'), 0)} / {f(c.get('max_ms'), 0)}"])
    parts.append(table(["runtime"] + STAGES + ["missed", "words right", "commit p50 / worst ms"], rows))
    parts.append(source(d, ".venv/bin/python benchmarks/bench_latency.py  # spikelip latency --runtime R"))

    parts.append("### Models and runtimes interleaved (`--compare`)")
    parts.append("`small` is the bundled model, `paper-causal` has random weights (a dense step costs "
                 "the same whatever the weights). Each step of the sample's 398 bins runs every pair in turn.")
    rows = []
    for pair, r in d["compare"].items():
        s = r["stages"]
        rows.append([pair, f(s["model"]["p50_ms"]), f(s["model"]["p99_ms"]), f(s["end_to_end"]["p50_ms"]),
                     f(s["end_to_end"]["p99_ms"]), f"{r['missed_deadlines']:,} of {r['steps']:,}"])
    parts.append(table(["model / runtime", "model p50 ms", "model p99 ms", "end-to-end p50 ms", "end-to-end p99 ms",
                        "missed"], rows))
    ratios = []
    for model in dict.fromkeys(k.split(" / ")[0] for k in d["compare"]):
        onnx = d["compare"].get(f"{model} / onnx")
        sparse = d["compare"].get(f"{model} / sparse")
        if onnx and sparse:
            m0, m1 = onnx["stages"]["model"], sparse["stages"]["model"]
            ratios.append(f"`{model}` sparse = {m0['p50_ms'] / m1['p50_ms']:.2f} x onnx at p50, "
                          f"{m0['p99_ms'] / m1['p99_ms']:.2f} x at p99")
    if ratios:
        parts.append("Model step speed-up: " + "; ".join(ratios) + ".")
    parts.append(source(d, ".venv/bin/python benchmarks/bench_latency.py  "
                           "# spikelip latency --compare --models small,paper-causal --runtimes sparse,onnx,torch"))

    parts.append("### Floods and a long recording")
    rows = []
    for r in d.get("flood", {}).values():
        rows.append([f"{r['input']}, {r['stream_s']:.0f} s ({r['model']})", f"{r['missed_deadlines']:,} of {r['steps']:,}",
                     f(r["stages"]["model"]["p50_ms"]), f(r["stages"]["model"]["p99_ms"]), f(r["stages"]["end_to_end"]["p99_ms"]),
                     pct(r["dropped_fraction"]), f"{f(r['stream_s'])} s in {f(r['wall_s'])} s", f(r["peak_rss_mb"], 1)])
    long = d.get("long_paper_causal")
    if long:
        rows.append([f"{long['stream_s']:.0f} s SynthLip recording ({long['model']})",
                     f"{long['missed_deadlines']:,} of {long['steps']:,}", f(long["stages"]["model"]["p50_ms"]),
                     f(long["stages"]["model"]["p99_ms"]),
                     f(long["stages"]["end_to_end"]["p99_ms"]), pct(long["dropped_fraction"]),
                     f"{f(long['stream_s'])} s in {f(long['wall_s'])} s", f(long["peak_rss_mb"], 1)])
    parts.append(table(["input", "missed", "model p50 ms", "model p99 ms", "end-to-end p99 ms", "shed", "stream in wall",
                        "peak RSS MB (whole benchmark process)"], rows))
    if long and "words" in long:
        w = long["words"]
        c = w["commit_latency"]
        parts.append(f"Word commits in the long recording: {w['committed']} committed for {w['true_words']} words, "
                     f"p50 {c['p50_ms']:.0f} ms and worst {c['max_ms']:.0f} ms after the word's end "
                     "(random weights: the words themselves are not read).")
    parts.append(source(d, ".venv/bin/python benchmarks/bench_latency.py  "
                           "# spikelip latency --synthetic 12e6 / 50e6; a 60 s sentence with paper-causal"))
    return "\n\n".join(parts)


def window(d: dict) -> str:
    parts = ["### In the window",
             ("`spikelip replay` of the bundled sample at 1 x in the window (offscreen), runs alternating "
              "the window's runtime (the sparse onnxruntime export with every layer's spikes as outputs, "
              "for the rasters) with eager PyTorch, which it used before, while the window's own thread "
              "paints on the same cores: pipeline latency (slice in -> result out) and model step in ms, "
              "steps over the 13.3 ms deadline, and the busy share of stream time.")]
    rows = [[f"{name}, run {k + 1}", f"{f(r['pipeline_p50_ms'])} / {f(r['pipeline_p99_ms'])}",
             f"{f(r['model_p50_ms'])} / {f(r['model_p99_ms'])}", f"{r['missed_deadlines']} of {r['steps']}",
             f(r["real_time_factor"])] for name, runs in d["runs"].items() for k, r in enumerate(runs)]
    parts.append(table(["runtime", "pipeline p50 / p99 ms", "model p50 / p99 ms", "missed", "real-time factor"], rows))
    (name1, first), (name2, second) = list(d["runs"].items())[:2]
    p99 = [sum(r["pipeline_p99_ms"] for r in runs) / len(runs) for runs in (first, second)]
    parts.append(f"Mean pipeline p99 of the runs: {name1} {p99[0]:.1f} ms, {name2} "
                 f"{p99[1]:.1f} ms ({p99[1] / p99[0]:.1f} x); missed deadlines {sum(r['missed_deadlines'] for r in first)} "
                 f"and {sum(r['missed_deadlines'] for r in second)}.")
    parts.append(source(d, ".venv/bin/python benchmarks/bench_window.py"))
    return "\n\n".join(parts)


def onnx_threads(d: dict) -> str:
    rows = []
    for name, r in d["models"].items():
        t = r["threads"]
        rows.append([name, f(r["file_mb"], 1), r["default_threads"], f(t["1"]["p50_ms"]), f(t["1"]["p99_ms"]),
                     f(t["2"]["p50_ms"]), f(t["2"]["p99_ms"])])
    return "\n\n".join([
        "### onnxruntime threads: the ONNX step alone",
        f"Each model's step over the sample's {d['steps']} bins, nothing else running in the process.",
        table(["model / runtime", "file MB", "default threads", "1 thread p50 ms", "p99 ms", "2 threads p50 ms",
               "p99 ms"], rows),
        source(d, ".venv/bin/python benchmarks/bench_onnx_threads.py"),
    ])


def idle(d: dict) -> str:
    rows = [[rt, cond, f(v["p50_ms"]), f(v["p99_ms"])]
            for rt, conds in d["runtimes"].items() for cond, v in conds.items()]
    return "\n\n".join([
        "### A step after the core idled",
        (f"{d['model']}, {d['steps']} steps of the sample: back to back, after 12 ms idle (as between "
        "bins at 1 x), and after 11 ms idle then 1 ms spinning."),
        table(["runtime", "before each step", "p50 ms", "p99 ms"], rows),
        source(d, ".venv/bin/python benchmarks/probe_idle.py"),
    ])


def int8(d: dict) -> str:
    mats = [[m["matrix"], f"{m['k']} x {m['n']}", f(m["fp32_ms"], 4), f(m["uint8_spikes_ms"], 4),
             f(m["int8_spikes_ms"], 4), f(m["speedup_uint8"]) + " x", f(m["max_error_over_std"], 4)]
            for m in d["matrices"]]
    convs = [[c["conv"], f"{c['in']} -> {c['out']}, {c['side']} x {c['side']}", c["per_step"], f(c["fp32_ms"], 4),
              f(c["conv_integer_ms"], 4), f(c["im2col_int8_ms"], 4), f(c["max_error_over_std"], 4)]
             for c in d["convolutions"]]
    p = d["per_step"]
    return "\n\n".join([
        "### int8 weights, kernel by kernel (`paper-causal` shapes)",
        (f"onnxruntime {d['ort']}, {d['threads']} thread, {d['runs']} runs per kernel; spikes are exact inputs, "
        "the error is that of int8 weights alone (largest difference / output standard deviation)."),
        table(["GRU matrix", "K x N", "fp32 ms", "int8 weights, uint8 spikes ms", "int8 x int8 ms", "speed-up",
               "error"], mats),
        table(["convolution", "channels, map", "per step", "fp32 Conv ms", "ConvInteger ms", "im2col + MatMulInteger ms",
               "error"], convs),
        (f"Per step: GRU matrices {f(p['gru_fp32_ms'])} ms fp32 -> {f(p['gru_uint8_ms'])} ms int8; frontend "
        f"convolutions {f(p['frontend_fp32_ms'])} ms fp32 -> {f(p['frontend_best_int8_ms'])} ms with the best int8 "
        "form per layer."),
        source(d, ".venv/bin/python benchmarks/probe_int8.py"),
    ])


def binning(d: dict) -> str:
    m = d["memory"]
    rows = [[f"binning, {int(k.split('_')[1]):,}-event batches, one core", f"{v} M events/s",
             f">= {d['goal_meps']} M"] for k, v in d["binning_meps"].items()]
    rows.append([f"{m['stream_minutes']:g} min of synthetic events ({m['events']:,}) through crop + binner",
                 f"RSS {m['rss_mb_after_first_10pct']} -> {m['rss_mb_end']} MB, peak {m['peak_rss_mb']} MB",
                 f"flat, < {d['goal_peak_rss_mb']} MB"])
    return "\n\n".join([
        "### Binning",
        table(["what", "measured", "goal"], rows),
        source(d, ".venv/bin/python benchmarks/bench_binning.py"),
    ])


def aedat4(d: dict) -> str:
    fl = d["file"]
    rows = [[r["reader"], r["task"], f(r["M_events_per_s_cpu"], 1), f(r["M_events_per_s_wall"], 1),
             f(r["peak_rss_mb"], 1)] for r in d["rows"]]
    return "\n\n".join([
        "### AEDAT4 decoding",
        (f"A {fl['sensor']} {fl['compression']} recording, {fl['events']:,} events ({fl['streams']}), "
        f"{fl['rate_events_per_s'] / 1e6:g} M events/s, {fl['events_per_packet']:,} events per packet. "
        f"{d['method']}. `native` is the project's own packet walker (`stream/sources/aedat4/`), `aedat` "
        "its fallback decoder, `dv-processing` the vendor reader, which we do not use."),
        table(["reader", "task", "M events/s (CPU time)", "M events/s (wall)", "peak RSS MB"], rows),
        "Goal: decode + binning at full 346 x 260 >= 20 M events/s on one core.",
        source(d, ".venv/bin/python benchmarks/bench_aedat4.py"),
    ])


def synth(d: dict) -> str:
    e, du = d["events_per_clip"], d["duration_s"]
    rows = [["clips/s", f(d["clips_per_s"]), f"{d['clips']} clips, {d['workers']} workers, {f(d['wall_s'])} s wall"],
            ["100 words x 60 clips", f"{d['estimated_s_for_100x60'] / 60:.1f} min",
             f"{d['estimated_s_for_100x60_on_idle_cores'] / 60:.1f} min on idle cores"],
            ["CPU s per clip", f(d["worker_cpu_s_per_clip"], 4), f"{f(d['single_process_cpu_s_per_clip'], 4)} in one process"],
            ["events per clip", f(e["mean"], 0), f"{e['min']:,} - {e['max']:,}"],
            ["clip duration s", f(du["mean"]), f"{f(du['min'])} - {f(du['max'])}; {pct(du['over_1.2s'], 0)} over 1.2 s"],
            ["file size", f"{d['mean_file_kib']} KiB", ""]]
    return "\n\n".join([
        "### SynthLip generation",
        table(["what", "measured", "detail"], rows),
        "Goal: 100 words x 60 clips in a few minutes on 2 cores.",
        source(d, ".venv/bin/python benchmarks/bench_synth.py"),
    ])


def soak(items: list[tuple[str, dict]]) -> str:
    header = ["", *[f"{d['minutes']:g} min" for _, d in items]]

    def row(label, fn):
        return [label, *[fn(d) for _, d in items]]

    rows = [
        row("model", lambda d: d["model"]),
        row("steps / stream / events", lambda d: f"{d['steps']:,} / {d['stream_seconds']:,.0f} s / {d['events']:,}"),
        row("file re-openings", lambda d: f"{d['passes']:,}"),
        row("RSS first tenth -> last tenth", lambda d: f"{d['rss_mb']['after_first_tenth']} -> {d['rss_mb']['last_tenth']} MB "
                                                        f"({d['rss_growth_mb']:+.1f}, limit {d['limits']['rss_growth_mb']})"),
        row("median step first -> last tenth", lambda d: f"{d['step_ms']['first_tenth_p50']} -> {d['step_ms']['last_tenth_p50']} ms "
                                                         f"(x{d['step_ms']['p50_ratio_last_to_first']:.2f}, "
                                                         f"limit x{d['limits']['step_p50_ratio']})"),
        row("threads, open files before / after", lambda d: f"{d['threads']['before']} / {d['threads']['after']}, "
                                                            f"{d['open_fds']['before']} / {d['open_fds']['after']}"),
        row("load average start -> end", lambda d: f"{d['load_average']['start'][0]:.1f} -> {d['load_average']['end'][0]:.1f}"),
        row("all checks pass", lambda d: f(all(d["checks"].values()))),
    ]
    parts = ["### Soak", ("A 20 s recording (100 k events/s) replayed in a loop at max speed through the whole "
             "pipeline; RSS, step time, threads and open files sampled over the run."),
             table(header, rows)]
    for name, d in items:
        if d.get("note"):
            parts.append(f"{d['minutes']:g} min: {d['note']}")
        parts.append(source(d, f"make soak SOAK_MINUTES={d['minutes']:g}  # benchmarks/bench_soak.py --minutes {d['minutes']:g}"))
    return "\n\n".join(parts)


def fuzz(d: dict) -> str:
    cli = d["cli"]
    rows = [["cases", f(d["cases"])],
            ["read whole / read in part with a warning / refused in one line",
             f"{d['read_ok']:,} / {d['partial_with_warning']:,} / {d['refused']:,}"],
            ["tracebacks, hangs, crashes, memory blow-ups, bad messages",
             f"{d['tracebacks']}, {d['hangs']}, {d['crashes']}, {d['memory_blowups']}, {d['bad_messages']}"],
            ["truncations checked to return every complete packet's events", f(d["truncation_cases_checked"])],
            ["peak RSS, slowest case", f"{d['peak_rss_mb']} MB, {d['slowest_case_s']} s"],
            ["through `spikelip inspect` in a fresh process",
             (f"{cli['sampled']} cases: {cli['exit_0']} exit 0, {cli['exit_2_one_line']} exit 2 with one line, "
             f"{cli['tracebacks']} tracebacks, {cli['hangs']} hangs")],
            ["time", f"{d['seconds']} s ({d['cases_per_s']} cases/s, {d['settings']['workers']} workers)"]]
    seeds = [[k.removeprefix("seed "), v.get("ok", 0), v.get("partial", 0), v.get("refused", 0)]
             for k, v in d["outcomes_by"].items() if k.startswith("seed ")]
    return "\n\n".join([
        "### Fuzzing the readers",
        table(["what", "measured"], rows),
        table(["seed file", "read", "read in part", "refused"], seeds),
        source(d, f".venv/bin/python benchmarks/bench_fuzz.py --cases {d['cases']} --seed {d['settings']['seed']}"),
    ])


def segmenter(d: dict) -> str:
    sets = d["sets"]
    desc = "; ".join(f"{name}: seeds {s['seeds'][0]}-{s['seeds'][1]}, {s['words_per_sentence']} words a sentence, "
                     f"rests {'-'.join(dict.fromkeys(f'{r:g}' for r in s['rest_s']))} s" for name, s in sets.items())
    rows = []
    for variant, by in d["variants"].items():
        for name, r in by.items():
            c = r["commit_after_end"]
            rows.append([variant, name, r["words"], r["missed"], r["split"], r["merged"], r["spurious"],
                         f"{r['errors']} ({pct(r['error_rate'])})", f(c["p50_ms"], 0)])
    return "\n\n".join([
        "### Word segmentation by activity (no model)",
        (f"Rendered SynthLip sentences ({desc}), segmented by event activity alone and scored against the "
        "ground truth."),
        table(["segmenter", "set", "words", "missed", "split", "merged", "started at rest", "wrong",
               "commit p50 ms after the word"], rows),
        source(d, ".venv/bin/python benchmarks/probe_segmenter.py"),
    ])


def sentences(d: dict) -> str:
    names = list(d["recordings"])
    rows = [[m, f"{r['right']} of {r['words']}"] + [f"{r['per_recording'][n]['right']} of {r['per_recording'][n]['words']}"
                                                      for n in names]
            for m, r in d["models"].items()]
    recs = "; ".join(f"{n}: `{r['words']}`, seed {r['seed']}" for n, r in d["recordings"].items())
    return "\n\n".join([
        "### Words read in continuous speech",
        (f"All 100 words in two 50-word SynthLip recordings ({recs}), each replayed as "
        "`spikelip replay --headless --speed 0` reads it."),
        table(["model", "right"] + names, rows),
        source(d, ".venv/bin/python benchmarks/probe_sentences.py --models MODEL.json ..."),
    ])


def boundaries(d: dict) -> str:
    rows = []
    for name, ways in d["results"].items():
        for way, r in ways.items():
            rows.append([name, way, f"{r['right']} of {r['words']}", f(r.get("right_at_commit")), f(r["missed"]),
                         f(r["split"]), f(r["merged"]),
                         f(r["spurious"]), f(r["commit_ms_p50"], 0), f(r["commit_ms_p90"], 0)])
    return "\n\n".join([
        "### Where words end: learnt boundaries and the activity segmenter",
        (f"The bundled model (`{d['model']}`) through the app's pipeline on held-out SynthLip sentences, each set read "
         "twice: words end where the model's boundary head says, or after 120 ms of quiet lips "
         "([word-boundaries](notes/word-boundaries.md)). \"Started in rests\": words where none was said. "
         "\"True boundaries\": each word read by a fresh model with its true start and end, committed 53 ms or "
         "0.4 s after it: what the classifier itself reads. \"Words right\": after the pipeline read each word on "
         "for up to 0.4 s and replaced it where that read another word; \"at commit\": as first committed."),
        table(["sentences", "word ends from", "words right", "at commit", "missed", "split", "merged", "started in rests",
               "commit p50 (ms after the end)", "p90"], rows),
        source(d, d["command"]),
    ])


def boundaries_runs(runs: list[tuple[str, dict]]) -> str:
    """The bundled model's table (results/boundaries.json), then each other reading of the same
    sentences (results/boundaries-*.json) against it: words right and commit p50."""
    (_, first), *others = runs
    out = [boundaries(first)]
    for _, d in others:
        rows = [[name, way, f"{first['results'][name][way]['right']} -> {r['right']} of {r['words']}",
                 f"{f(first['results'][name][way]['commit_ms_p50'], 0)} -> {f(r['commit_ms_p50'], 0)}"]
                for name, ways in d["results"].items() for way, r in ways.items() if way != "activity segmenter"]
        out += [f"The same sentences read by `{d['model']}`, against the table above:",
                table(["sentences", "word ends from", "words right", "commit p50 (ms after the end)"], rows),
                source(d, d["command"])]
    return "\n\n".join(out)


def readouts(d: dict) -> str:
    rows = [[name, pct(v)] for name, v in d["top1_100ms_after_end"].items()]
    return "\n\n".join([
        "### Streaming readouts of the same logits",
        (f"Top-1 100 ms after the word's end, {d['clips']:,} clips of {d['data']}, model `{Path(d['model']).name}` "
        f"(whole-clip top-1 {pct(d['whole_clip_top1'])})."),
        table(["readout", "top-1 100 ms after the end"], rows),
        source(d, ".venv/bin/python benchmarks/probe_readouts.py --model assets/models/small.json --data data --every 6"),
    ])


def robustness(items: list[tuple[str, dict]]) -> str:
    """One table per held-out set (the larger first), one column per robustness-*.json (a model
    each): top-1 and its drop from clean per shift."""
    sets: dict[int, list[tuple[str, dict]]] = {}  # by clip count: each is one `synth` command, made on several hosts
    for name, d in items:
        sets.setdefault(d["shifts"]["clean"]["clips"], []).append((name, d))
    out = ["### Camera and face shifts",
           "Top-1 on held-out SynthLip clips with each shift of `stream.transforms.SHIFTS` applied to the events "
           "(in brackets: points against clean). A mouth resized k x keeps its events' density: k^2 as many events, "
           "as SynthLip faces rendered larger or smaller give (until 2026-12-05 a resize kept the event count, making "
           "a larger mouth sparser and a smaller one denser; the training recipes compared in the model card were "
           "measured that way). Goal of a robust model: no single shift costs more than 3 points. Columns: `bundled` "
           "is the bundled `small` (139 epochs, the last 24 with half the clips shifted and distilled from a clean "
           "model: `--camera-augment --distill`; since 2026-12-06, session 31, the last 6 read through the centring, "
           "with mouths 0.8-1.4 x; columns measured before are the 132-epoch weights), as its config read it on the day: since 2026-12-06 through its window at the four offsets of "
           "`model.config.FOUR_PHASES`, each mirrored too (8 readings, "
           "[notes](notes/mirror.md#reading-through-the-window-at-four-offsets)), and since 2026-12-06 (session 30) "
           "with the mouth kept centred (config `input_centre`, `stream/centring.py`: each bin's events moved so "
           "the activity before it sits where the training mouths sat, [notes](notes/adapt.md#keeping-the-mouth-centred-2026-12-06-session-30)); "
           "every clip's first 1.2 s (90 bins), as the reference reads DVS-Lip; `bundled-whole-clips`: the same, "
           "every clip read to its last event, as the app reads a stream (`--whole-clips`: a word said 15 % slower "
           "no longer fits in 1.2 s); `bundled-fixed-view`: the same weights and readings without the centring "
           "(`--no-centre`; measured before the bundle set it, by the command its JSON keeps as `measured_as`; 132-epoch weights); `bundled-calibrated`: the bundled model with each shift's mouth and pace first found on "
           "300 clips of other speakers under the same shift, then the mouth moved back and the clips stretched to "
           "the pace the model learnt, as `spikelip adapt` does before anything else (`--calibrate`; no training, no "
           "BatchNorm change; since 2026-12-06, session 32, read through the config `adapt` writes, the mouth moved "
           "back before the centring). The 300-clip table was measured before the centring."]
    for clips, runs in sorted(sets.items(), reverse=True):
        shifts = list(runs[0][1]["shifts"])
        rows = [[name] + [f"{pct(d['shifts'][name]['top1'])} ({0.0 - d['shifts'][name]['drop_points']:+.1f})"
                          if name in d["shifts"] else "-" for _, d in runs] for name in shifts]
        se = 100 * (0.85 * 0.15 / clips) ** 0.5
        out += [f"{clips:,} held-out clips (one standard error of a top-1 near 85 %: {se:.1f} points):",
                table(["shift"] + [name.removeprefix("robustness-").removeprefix(f"{clips}-") for name, _ in runs], rows),
                *[source(d, d["command"]) for _, d in runs]]
    return "\n\n".join(out)


def adapt(runs: list[tuple[str, dict]]) -> str:
    """One table per shift (results/adapt*.json), each method with and without the mouth moved back."""
    out = ["### Adapting to a user's clips",
           ("`spikelip adapt` on 3 clips a word of a user folder, scored on clips of other speakers, both with "
            "one shift. Every method first moves the mouth back to where the model learnt it and, since 2026-12-06, "
            "bins at the user's pace where it is 5 % or more from the model's (\"mouth, pace\": yes; no: the clips read "
            "as they are), then re-estimates BatchNorm statistics on the user's clips; the "
            "fine-tuned model is kept when it reads one held-out take a word at least as well as the model "
            "before fine-tuning (epoch 0).")]
    for _, d in runs:
        before = d["before"]
        rows = [[r["method"], "-" if r["lr"] is None else f"{r['lr']:g}", "yes" if r.get("mouth_move") else "no",
                 pct(r["after"]["top1"]), pct(r["after"].get("accuracy_100ms_after_end")),
                 f"{r['best_epoch']} of {r['epochs']}", f(r["seconds"], 0)] for r in d["runs"]]
        moved = next((r["mouth"] for r in d["runs"] if r.get("mouth")), None)
        seen = (f" `adapt` found the mouth {1 / moved['input_affine']['scale']:.2f} x as wide as the model learnt it."
                if moved else "")
        pace = next((r["pace"] for r in d["runs"] if r.get("pace")), None)
        if pace:
            seen += (f" It found the speech {pace['seen']:.2f} x as slow as the model's"
                     + (f" and binned it {pace['input_pace']:.2f} x as long." if pace["input_pace"] != 1 else
                        ", within 5 %: its own bins."))
        out += [(f"**{d['shift']}**: from the {d['model']} model, user `{d['train']}`, {before['clips']:,} test clips "
                 f"(`{d['test']}`); before adapting top-1 {pct(before['top1'])}.{seen}"),
                table(["method", "lr", "mouth, pace", "top-1", "top-1 100 ms after the end", "epoch kept", "seconds"],
                      rows),
                source(d, d["command"])]
    return "\n\n".join(out)


def new_words(runs: list[tuple[str, dict]]) -> str:
    """One table per result (results/new_words*.json): how many takes a word, with and without the copies."""
    out = ["### New words, no recordings",
           ("`spikelip adapt` with its defaults on synthesised takes of words the model does not know "
            "(train speakers), scored on takes of test speakers; \"views\": the augmented copies of each take "
            "fine-tuning also sees (`--views`).")]
    for _, d in runs:
        rows = [[r["views"], r["seed"], pct(r["before"]), pct(r["after"]["top1"]),
                 pct(r["after"].get("accuracy_100ms_after_end")), f"{r['best_epoch']} of {r['epochs']}",
                 f(r["seconds"], 0)] for r in d["runs"]]
        means = "; ".join(f"{v} views: mean {pct(s['top1_mean'])} ({pct(s['top1_min'])}-{pct(s['top1_max'])})"
                          for v, s in d["summary"].items())
        out += [(f"**{d['train_clips'] // len(d['words'])} takes a word** ({d['train_clips']:,} of "
                 f"{', '.join(d['words'])}), {d['test_clips']:,} test clips, from the {d['model']} model. {means}."),
                table(["views", "seed", "before", "top-1", "top-1 100 ms after the end", "epoch kept", "seconds"], rows),
                source(d, d["command"])]
    return "\n\n".join(out)


def roi_auto(d: dict) -> str:
    rows = [[name, f"{r['right']} of {r['words']}", f(r["error_px_p50"], 1), f(r["error_px_p90"], 1),
             f(r["moves_in_words"]), f(r["rereads"])] for name, r in d["runs"].items()]
    aps = d.get("aps")
    parts = [
        "### A region that follows the mouth",
        (f"`--roi auto` against the fixed centred crop, {len(d['seeds'])} SynthLip sentences of 10 words "
         f"(all 100 words), mouth moved 60-110 px and drifting {d['drift_px']:g} px; the background motion is a "
         f"bar as busy as speech sliding far from the face from the second word on. Goal: {d['goal']}: "
         f"{'met' if d['goal_met'] else 'not met'} ({d.get('sentences_within_one_word', '-')} of "
         f"{len(d['seeds'])} sentences; worst {d['worst_sentence_difference']:+d})."),
        table(["input / crop", "words right", "crop to mouth p50 (px)", "p90 (px)", "moves during words",
               "re-reads"], rows),
    ]
    if noise := d.get("noise_floor"):
        parts.append(
            f"The classifier's own noise: the centred originals through the fixed crop moved 2 px (right, left, "
            f"down, up) read up to {-noise['worst']} words fewer than through the unmoved crop; "
            f"{noise['below_minus_one']} of {noise['cases']} such reads miss the goal's \"less at most one\".")
    if aps:
        parts.append(
            f"APS frames: a real face (photo) placed as above and drifting {d['drift_px']:g} px, no speech, "
            f"{aps['recordings']} recordings: crop placed after {f(aps['placed_ms_p50'], 0)} ms (p50), crop to "
            f"mouth p50 {f(aps['error_px_p50'], 1)} px, p90 {f(aps['error_px_p90'], 1)} px.")
    parts.append(source(d, d["command"]))
    return "\n\n".join(parts)


def mouth_size(d: dict) -> str:
    crops = list(next(iter(d["faces"].values())))
    rows = [[f"{face} x"] + [f"{pct(r[c]['accuracy'])} ({r[c]['right']} of {r[c]['words']})" for c in crops]
            + [f"{d['resize'][face]['sentences']} of {len(d['seeds'])}, by {d['resize'][face]['mean']:.2f} x "
               f"(sd {d['resize'][face]['sd']:.2f})" if d["resize"].get(face) else "none"]
            for face, r in d["faces"].items()]
    return "\n\n".join([
        "### The mouth's size",
        (f"`--roi auto` on a face nearer or further from the camera: {len(d['seeds'])} SynthLip sentences of 10 words "
         f"(each of the 100 words {len(d['seeds']) // 10} times), rendered with the face 1, 1.3 and 0.75 x as large "
         f"(`synth --mouth-scale`), read through the fixed centred crop and through `--roi auto` with its resizing "
         f"off and on. A mouth within 1.15 x of the width the model learnt ({d['learnt_width_px']:.1f} px) is read "
         f"as it is; the last column says how many sentences ended resized, and by how much."),
        table(["face on the sensor"] + crops + ["sentences resized"], rows),
        source(d, d["command"]),
    ])


def trainability(d: dict) -> str:
    rows = []
    for name, v in d["variants"].items():
        for e in v["epochs"]:
            rows.append([f"`{name}`: {v['what']}", e["epoch"], pct(e["train_top1"]), pct(e["test_top1"]),
                         f(e["seconds"], 0)])
    return "\n\n".join([
        "### Which network learns fastest on a CPU",
        (f"The first {d['words']} words, {d['train_clips']} train and {d['test_clips']} test clips of `{d['data']}`, "
        f"learning rate {d['lr']:g}."),
        table(["variant", "epoch", "train top-1", "test top-1", "seconds"], rows),
        source(d, f".venv/bin/python benchmarks/probe_trainability.py --data {d['data']} --variants "
                  + " ".join(d["variants"])),
    ])


def backend(runs: list[tuple[str, dict]]) -> str:
    """results/backend-*.json: the part after a fixed frontend trained again, test top-1 by epoch."""
    out = ["### The recurrent layer on a fixed frontend"]
    for _, d in runs:
        tests = [k for k in d["epochs"][0] if k != "epoch"]
        rows = [[e["epoch"], *(f"{pct(e[t]['top1'] / 100)} / {pct(e[t]['after_100ms'] / 100)}" for t in tests)]
                for e in d["epochs"]]
        what = ("and readout" if d["widen"] == 1 else
                f"widened {d['widen']} x to {d['hidden_size']} units (the same function at epoch 0), and its readout")
        out += [(f"`{Path(d['model']).name}`'s recurrent layer {what}, {d['parameters_trained']:,} parameters, trained "
                 f"on the fixed frontend's features of {d['train_clips']:,} clips ({', '.join(d['train'])}), Adam "
                 f"{d['lr']:g} with cosine decay. Whole-clip "
                 "top-1 / the app's readout 100 ms after the word's end, on each test split:"),
                table(["epoch", *tests], rows), source(d, d["command"])]
    return "\n\n".join(out)


def gpu_train(runs: list[tuple[str, dict]]) -> str:
    """One table per device (results/gpu_train*.json): `spikelip train`'s step, timed."""
    out = ["### Training throughput"]
    for _, d in runs:
        memory = "peak GPU memory" if d["bf16_autocast"] else "process peak RSS"
        rows = [[f"`{name}`", f"{r['parameters'] / 1e6:.2f} M", f(r["clips_per_s"], 1), f(r["step_ms_p50"], 1),
                 f"{r.get('peak_memory_gib', r.get('peak_rss_gib'))} GiB", f(r["paper_epochs_hours"], 1)]
                for name, r in d["models"].items()]
        out += [(f"{d['device']} ({'bfloat16 autocast' if d['bf16_autocast'] else 'float32'}, torch {d['torch']}): "
                 f"batch {d['batch_size']}, {d['bins']} bins; the last column is {d['paper_epochs']} epochs of "
                 f"DVS-Lip's {d['dvslip_train_clips']:,} training clips at that pace, data loading not counted."),
                table(["model", "parameters", "clips/s", "step p50 (ms)", memory, f"{d['paper_epochs']} epochs (h)"], rows),
                source(d, d["command"])]
    return "\n\n".join(out)


def generic(name: str, d: dict) -> str:
    rows = [[k, v if not isinstance(v, float) else f(v, 3)] for k, v in d.items()
            if k not in ("benchmark", "date", "machine") and isinstance(v, (int, float, str))]
    return "\n\n".join([f"### {name}", table(["field", "value"], rows),
                        source(d, f"see benchmarks/ for the script writing results/{name}.json")])


# --- fixed prose -------------------------------------------------------------------------------

INTRO = """# Performance

Generated by `python benchmarks/report.py` from `benchmarks/results/*.json`; do not edit by
hand (`python benchmarks/report.py --check` and `tests/test_docs.py` fail when this file and
the results disagree). `make bench` reruns the benchmarks (`make soak` the soak). Under each
table: the machine and date recorded in its JSON, and the command that wrote it.

The development machines are shared 2-core virtual machines (AMD EPYC and Intel Xeon). They
differ 2-3 x from each other, and two runs an hour apart on one host have differed by up to
1.5 x, so compare rows of one run: the ratios are the meaningful part.

Goals, and where they stand:

| goal | status |
|---|---|
| binning >= 50 M events/s on one core; flat memory < 300 MB | met |
| AEDAT4 decode + binning at 346 x 260 >= 20 M events/s on one core | met (an earlier run measured 30.6) |
| `small` step p99 <= 1 ms | met stepped alone (ONNX step on one thread) by the centred reading (2 readings); not met by the bundled 8 readings since 2026-12-06 (p99 1.7 ms), nor interleaved with other models |
| `small` end-to-end p99 <= 2 ms on the sample at 1 x | not met on the latest host; met on an Intel host on 2026-12-01 (1.03 ms) |
| `paper-causal` step p99 <= 6.7 ms, and >= 3 x dense ONNX | not met |
| `paper-causal` at 1 x without a missed deadline | not met on the latest host; met on an Intel host on 2026-12-01 |
| a word committed <= 100 ms after it ends | met with learnt word boundaries (the bundled model; see the boundaries table); ~165 ms with the activity segmenter (its 120 ms hangover) |
| floods: bounded memory, never stall | met; at 50 M events/s the stream falls behind real time |
| 100 words x 60 SynthLip clips in a few minutes on 2 cores | met |

On 2026-12-02 the day's earlier runs, on an AMD EPYC host, measured the 102-epoch `small`
stepped alone at p99 0.74 ms and `paper-causal` sparse at 1.22 x dense ONNX."""

RUNTIMES = """## Model step

Runtimes (`--runtime`): `torch` is eager PyTorch; `onnx` the dense onnxruntime export of the
step; `sparse` one onnxruntime graph whose stem runs as five 2-D convolutions (onnxruntime's
direct kernel, 1.5-2 x faster than its Conv3d) and whose GRU layers multiply only the weight
rows of active spikes (`model.runtime.GatherGRU`, dense above 30 % activity). `sparse` is the
default for headless runs; the window steps its export with every layer's spikes as extra
outputs, for the rasters (eager `torch` before 2026-12-05).

Why `sparse` is only modestly faster: the convolutions dominate the step, and the GRU layers of
these networks spike at 28-59 %, while the gather only pays off at low activity (at 10 % the
GRU layers alone run about 4 x faster gathered). The bundled `small`'s GRU layer is 57 %
active, above the 30 % at which the gather goes dense, so for it `sparse` is no faster than
`onnx`. The ONNX runtimes keep the eager model's running-mean top-1 in almost every step;
float rounding flips a spike now and then in these chaotic random networks.

Since 2026-12-05 the bundled `small` reads every bin twice, as it comes and mirrored, as two
rows of one batch ([mirror](notes/mirror.md)); the bundled model's tables from then on time that
step (the per-runtime tables below use random weights, one reading).

`OnnxRunner` gives files under 16 MB one onnxruntime thread and larger ones two (table below).
Interleaved with other runtimes in `--compare` a model's step takes longer than alone: caches
are shared with the other models. The `paper-causal` goals need cheaper convolutions; see
[int8](notes/int8.md) and [the sparse runtime](notes/sparse-runtime.md)."""

LATENCY = """## Latency of the live path

`spikelip latency` runs exactly the live path (source -> ROI -> load shedding -> binner ->
model step -> readout) and times each stage from the moment a slice of events is handed over.

A live step costs more than one in a tight loop: with the core idle between bins, as at 1 x,
the model's weights and buffers likely leave the caches (spinning the core before the step
does not help, so it is not the core waking up). That is why `replay` at 1 x reports about
twice the model step of `--speed 0`. See [the idle-step note](notes/idle-step.md) and the
table under Other probes.

Load shedding and its limits: past `--max-lag-ms` (default 40) behind real time, while handling
events is most of the work, the pipeline keeps every k-th event, so the per-step deadline holds
in a flood. Work before the hand-over (the replay pacing loop and the synthetic source's batch
copies, about half a core at 12 M events/s) grows with the event rate and is not shed, so at
50 M events/s the stream falls behind real time even though 98 % of events are shed. Memory
stays bounded: a 50 M events/s run alone in its own process (`spikelip latency --synthetic 50e6
--duration 5`) peaked at 450 MB RSS, most of it the pre-generated 0.25 s of events; the peak
RSS below is that of the whole benchmark process, which holds every model of `--compare`
([load-shedding](notes/load-shedding.md)).

Word commits wait for the segmenter's hangover (9 bins = 120 ms of quiet lips, needed to bridge
syllable gaps), which puts them ~165 ms after the word's end. A one-off 40-200 ms step per run
was a full garbage collection; the pipeline now freezes loaded objects first
([gc-freeze](notes/gc-freeze.md))."""

THROUGHPUT = """## Events in: binning, decoding, generating

The project's AEDAT4 reader walks the packets itself (bounds-checked LZ4 through the system
liblz4, or the `aedat` decoder as a fallback): dv-processing's reader decodes faster but spins
forever on some corrupted files ([aedat4-decoder](notes/aedat4-decoder.md))."""

RELIABILITY = """## Reliability

What these runs check, and the fault tests `make test` runs, are in [reliability.md](reliability.md)."""

WORDS = """## Words and readouts

The bundled model ends words where its boundary head says; models without one use the activity
segmenter, which keeps fixed levels: floor-relative levels get fewer words wrong in continuous
speech but start words on head motion during long rests ([segmenter](notes/segmenter.md))."""

NEW_DOMAIN = """## A new face and a new camera

How much a change of camera, face or distance costs the model, what `spikelip adapt` wins
back ([adapt notes](notes/adapt.md)), and how well `--roi auto` finds and follows the mouth
([roi-auto notes](notes/roi-auto.md))."""

OTHER = """## Other probes

int8 weights would not close the `paper-causal` gap: the GRU matrices get much faster with
`MatMulInteger` and uint8 spikes, but the frontend's convolutions barely do, and int8 weights
err by 3-5 % of the output's spread, which a threshold network turns into spike flips
([int8](notes/int8.md)). The idle probe explains the live step cost above
([idle-step](notes/idle-step.md)); the trainability probe chose the bundled `small`'s shape, and
the recurrent layer trained again on its fixed frontend (wider, or on more speakers) shows that
the frontend's features bound what it reads ([trainability](notes/trainability.md))."""


# --- assembling --------------------------------------------------------------------------------

SECTIONS = [
    (RUNTIMES, ["runtime", "onnx_threads", "model_step"]),
    (LATENCY, ["latency", "window"]),
    (THROUGHPUT, ["binning", "aedat4", "synth"]),
    (RELIABILITY, ["soak", "fuzz"]),
    (WORDS, ["boundaries", "segmenter", "sentences", "readouts"]),
    (NEW_DOMAIN, ["robustness", "adapt", "new_words", "roi_auto", "mouth_size"]),
    (OTHER, ["idle", "int8", "trainability", "backend", "gpu_train"]),
]
RENDER = {"model_step": model_step, "runtime": runtime, "latency": latency, "window": window, "onnx_threads": onnx_threads,
          "idle": idle, "int8": int8, "binning": binning, "aedat4": aedat4, "synth": synth, "fuzz": fuzz,
          "segmenter": segmenter, "sentences": sentences, "readouts": readouts, "trainability": trainability,
          "roi_auto": roi_auto, "mouth_size": mouth_size}

# Sections drawn from several result files: (file name prefix, their order, renderer).
GROUPS = {
    "robustness": ("robustness", lambda kv: ("bundled" not in kv[0], "calibrated" in kv[0], "fixed-view" in kv[0],
                                             "whole-clips" in kv[0]),
                   robustness),  # bundled, read whole, through the fixed view, then as adapt calibrates it
    "boundaries": ("boundaries", lambda kv: kv[0] != "boundaries", boundaries_runs),  # the bundled model's first
    "adapt": ("adapt", lambda kv: kv[0] != "adapt", adapt),
    "new_words": ("new_words", lambda kv: -kv[1]["train_clips"], new_words),
    "soak": ("soak-", lambda kv: -kv[1].get("minutes", 0), soak),
    "gpu_train": ("gpu_train", lambda kv: kv[0] != "gpu_train", gpu_train),  # the GPU's first
    "backend": ("backend-", lambda kv: kv[1]["widen"], backend),
}


def load(results: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}


def render(results: Path = RESULTS) -> str:
    data = load(results)
    done = set()
    out = [INTRO]
    for prose, names in SECTIONS:
        out.append(prose)
        for name in names:
            if name in GROUPS:
                prefix, order, render_group = GROUPS[name]
                runs = sorted(((k, v) for k, v in data.items() if k.startswith(prefix)), key=order)
                if runs:
                    out.append(render_group(runs))
                    done.update(k for k, _ in runs)
            elif name in data:
                out.append(RENDER[name](data[name]))
                done.add(name)
    rest = [k for k in data if k not in done]
    if rest:
        out.append("## More results")
        out += [generic(k, data[k]) for k in rest]
    return "\n\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/performance.md is not what this would write")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is out of date with benchmarks/results/; run python benchmarks/report.py")
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
