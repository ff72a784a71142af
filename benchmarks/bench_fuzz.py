"""Fuzzing the readers: 10,000+ damaged AEDAT4 recordings and DVS-Lip clips, none may crash or hang.

The harness is the tests' own, tests/reliability/fuzz_harness.py. Seeds (write_seeds): LZ4, Zstd
and uncompressed event recordings, one with frames, IMU and triggers, a DVS-Lip clip and a plain
(N, 4) array. Cases (plan, seeded):
truncation at and around every packet and header boundary, header fields set to zero, huge and
negative sizes, wrong magic and XML, .npy headers with huge shapes and wrong types, zero-length
files, then random bit flips, garbled, zeroed, deleted and inserted runs, repeated and swapped
packets or chunks. Each case is read through open_file, every batch, the replay slicing and the
binner in a watchdog child (hang = failure) that measures its peak RSS; a sample also goes
through `spikelip inspect` in a fresh process (exit 0, or 2 with one line naming the file).

    .venv/bin/python benchmarks/bench_fuzz.py [--cases 12000] [--seed 0] [--cli 40]

Writes benchmarks/results/fuzz.json; exits 1 if any case failed.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "reliability"))  # the harness the tests use

import fuzz_harness as fuzz  # noqa: E402

from benchmarks.common import write_result  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=12_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli", type=int, default=40, help="cases also run through `spikelip inspect` (a process each)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds one case may take before it counts as a hang")
    args = ap.parse_args()

    load_at_start = os.getloadavg()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spikelip-fuzz-") as tmp:
        seed_dir = Path(tmp) / "seeds"
        fuzz.write_seeds(seed_dir)
        seeds = fuzz.load_seeds(seed_dir)
        cases = fuzz.plan(seeds, args.cases, args.seed)
        print(f"{len(cases):,} cases from {len(seeds)} seed files ...", flush=True)

        def progress(done: int) -> None:
            if done % 2000 == 0:
                print(f"  {done:,} / {len(cases):,} ({time.perf_counter() - t0:.0f} s)", flush=True)

        results = fuzz.run_cases(seed_dir, cases, timeout_s=args.timeout, workers=args.workers, progress=progress)
        read_s = time.perf_counter() - t0
        cli = _cli_sample(seeds, cases, results, args.cli, Path(tmp), args.workers)
    seconds = time.perf_counter() - t0

    outcomes = collections.Counter(r["outcome"] for r in results)
    failures = [{"case": c.file_name, **r} for c, r in zip(cases, results) if r["outcome"] in fuzz.FAILURES]
    cli_failures = [r for r in cli if r["outcome"] not in ("ok", "refused") or not r["consistent"]]
    by = collections.defaultdict(collections.Counter)
    for c, r in zip(cases, results):
        by[f"seed {c.seed}"][r["outcome"]] += 1
        by[f"op {c.op}"][r["outcome"]] += 1
    result = {
        "cases": len(cases),
        "read_ok": outcomes["ok"],
        "partial_with_warning": outcomes["partial"],
        "refused": outcomes["refused"],
        "tracebacks": outcomes["traceback"],
        "bad_messages": outcomes["bad_message"],
        "lost_events": outcomes["lost_events"],
        "hangs": outcomes["hang"],
        "crashes": outcomes["crash"],
        "memory_blowups": outcomes["memory"],
        "truncation_cases_checked": sum(1 for c in cases if c.expect is not None),
        "peak_rss_mb": max(r.get("peak_rss_mb", 0) for r in results),
        "max_case_rss_growth_mb": round(max(r.get("peak_rss_mb", 0) - r.get("rss_mb", 0) for r in results), 1),
        "slowest_case_s": max(r.get("seconds", 0) for r in results),
        "seconds": round(seconds, 1),
        "read_seconds": round(read_s, 1),
        "cases_per_s": round(len(cases) / read_s, 1),
        "cli": {
            "sampled": len(cli),
            "exit_0": sum(r["rc"] == 0 for r in cli),
            "exit_2_one_line": sum(r["outcome"] == "refused" for r in cli),
            "tracebacks": sum(r["outcome"] == "traceback" for r in cli),
            "hangs": sum(r["outcome"] == "hang" for r in cli),
            "failures": cli_failures[:10],
        },
        "seeds": {name: {"bytes": len(s.data), "events": s.events} for name, s in seeds.items()},
        "outcomes_by": {k: dict(v) for k, v in sorted(by.items())},
        "failures": failures[:20],
        "settings": {"seed": args.seed, "workers": args.workers, "timeout_s": args.timeout,
                     "memory_limit_mb": fuzz.MEMORY_LIMIT_MB, "load_average_at_start": load_at_start,
                     "load_average_at_end": os.getloadavg()},
    }
    write_result("fuzz", result)
    print(f"\n{len(cases):,} cases in {seconds:.0f} s: {outcomes['ok']:,} read, {outcomes['partial']:,} read in part "
          f"with warnings, {outcomes['refused']:,} refused with one line; {len(failures)} failures "
          f"({outcomes['traceback']} tracebacks, {outcomes['hang']} hangs, {outcomes['crash']} crashes, "
          f"{outcomes['memory']} memory, {outcomes['lost_events']} lost events, {outcomes['bad_message']} bad messages); "
          f"peak RSS {result['peak_rss_mb']:.0f} MB, slowest case {result['slowest_case_s']:.2f} s")
    print(f"spikelip inspect on {len(cli)} of them: {result['cli']['exit_0']} exit 0, "
          f"{result['cli']['exit_2_one_line']} exit 2 with one line, {len(cli_failures)} failures")
    for f in failures[:10] + cli_failures[:10]:
        print(f"  FAILED {f}")
    return 1 if failures or cli_failures else 0


def _cli_sample(seeds, cases, results, k: int, tmp: Path, workers: int) -> list[dict]:
    """`k` cases spread over outcomes and seeds, each run as `spikelip inspect` in a new process."""
    if k <= 0:
        return []
    ranked = sorted(zip(cases, results), key=lambda cr: (cr[1]["outcome"], cr[0].seed, cr[0].id))
    picked = [ranked[int(i * len(ranked) / k)] for i in range(min(k, len(ranked)))]

    def one(cr) -> dict:
        case, inproc = cr
        path = tmp / case.file_name
        path.write_bytes(fuzz.mutate(seeds[case.seed], case))
        r = fuzz.check_cli(path)
        expected_rc = 2 if inproc["outcome"] == "refused" else 0
        return {"case": case.file_name, "in_process": inproc["outcome"], "consistent": r["rc"] == expected_rc, **r}

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, picked))


if __name__ == "__main__":
    sys.exit(main())
