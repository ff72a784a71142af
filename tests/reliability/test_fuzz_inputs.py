"""A few hundred damaged AEDAT4 recordings and DVS-Lip clips (fuzz_harness, seeded): each is read,
read in part with warnings, or refused with one line; never a traceback, hang or memory blow-up.
`benchmarks/bench_fuzz.py` runs the same with 10,000+ cases."""
from __future__ import annotations

import collections
from pathlib import Path

import pytest

import fuzz_harness as fuzz
from reliability_helpers import run_cli

CASES = 360


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz") / "seeds"
    fuzz.write_seeds(folder)
    return folder, fuzz.load_seeds(folder)


@pytest.fixture(scope="module")
def outcomes(seeds):
    folder, loaded = seeds
    cases = fuzz.plan(loaded, CASES, seed=1)
    return cases, fuzz.run_cases(folder, cases, timeout_s=30, workers=2)  # 30 s: a hang, not a busy machine


def test_seeds_are_valid_and_complete(seeds):
    folder, loaded = seeds
    assert sorted(loaded) == ["clip.npy", "lz4.aedat4", "mixed.aedat4", "plain.aedat4", "table.npy", "zstd.aedat4"]
    for name in loaded:
        r = fuzz.read_case(folder / name)
        assert r["outcome"] == "ok" and r["events"] == loaded[name].events, (name, r)
        assert r["frames"] == (8 if name == "mixed.aedat4" else 0), (name, r)


@pytest.mark.slow
def test_every_damaged_file_is_read_or_refused_in_one_line(outcomes):
    cases, results = outcomes
    assert len(results) == CASES
    failed = [(c.file_name, r) for c, r in zip(cases, results) if r["outcome"] in fuzz.FAILURES]
    assert not failed, failed[:5]
    kinds = collections.Counter(r["outcome"] for r in results)
    assert kinds["partial"] > CASES // 4 and kinds["refused"] > CASES // 5  # damage is mostly survived, not refused
    assert max(r["seconds"] for r in results) < 10


def test_truncated_recordings_give_back_every_complete_packet(outcomes):
    """The cut cases carry the event count of the packets wholly before the cut; the child
    reports "lost_events" when the reader returns anything else (checked above)."""
    cases, results = outcomes
    cut = [(c, r) for c, r in zip(cases, results) if c.expect]
    assert len(cut) > 50
    assert all(r["outcome"] == "partial" and r["events"] == c.expect for c, r in cut)


def test_the_cli_refuses_in_one_line_and_never_shows_a_traceback(seeds, outcomes, tmp_path, capsys):
    _, loaded = seeds
    cases, results = outcomes
    picks = {}
    for c, r in zip(cases, results):
        picks.setdefault((Path(c.seed).suffix, r["outcome"]), c)
    paths = {}
    for key in [(".aedat4", "refused"), (".npy", "refused"), (".aedat4", "partial")]:
        paths[key] = tmp_path / picks[key].file_name
        paths[key].write_bytes(fuzz.mutate(loaded[picks[key].seed], picks[key]))
    r = fuzz.check_cli(paths[".aedat4", "refused"])  # a fresh process: nothing but the one line on stderr
    assert r["outcome"] == "refused", r
    code, _, err = run_cli(["inspect", paths[".npy", "refused"]], capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"spikelip inspect: error: {paths['.npy', 'refused']}")
    code, out, _ = run_cli(["inspect", paths[".aedat4", "partial"]], capsys)
    assert code == 0 and f"warning: {paths['.aedat4', 'partial']}" in out
