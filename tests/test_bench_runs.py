"""`make bench` reruns what the docs show: every scripted run writes a result file the tables read,
with the options recorded in it, and the SynthLip folders those runs read are made once each."""
from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER_OPTIONS = {"--data", "--train", "--test", "--calibrate"}


def _run_all():
    spec = importlib.util.spec_from_file_location("benchmarks_run_all", ROOT / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options(args: list[str]) -> dict[str, str]:
    """{option: value} of `args` ("--option value" pairs), every folder as '*'."""
    assert len(args) % 2 == 0
    return {k: "*" if k in FOLDER_OPTIONS else v for k, v in zip(args[::2], args[1::2])}


def test_every_scripted_run_rewrites_a_result_with_the_same_options():
    run_all = _run_all()
    defaults = {"bench_robustness.py": "robustness", "bench_adapt.py": "adapt", "bench_new_words.py": "new_words"}
    for script, runs in run_all.RUNS.items():
        assert (ROOT / "benchmarks" / script).exists()
        for args in runs:
            name = args[args.index("--name") + 1] if "--name" in args else defaults[script]
            recorded = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())["command"]
            words = shlex.split(recorded)
            assert words[:2] == ["python", f"benchmarks/{script}"]
            assert _options(words[2:]) == _options(args), f"{name}.json was written by another command: {recorded}"


def test_the_folders_runs_read_are_made_once_each(tmp_path, monkeypatch):
    run_all = _run_all()
    made = []

    def fake_generate(folder, clips, seed, split, progress):
        made.append((Path(folder).name, clips, seed, split))
        Path(folder).mkdir()

    monkeypatch.setattr(run_all, "generate_dataset", fake_generate)
    args = run_all.folders_for(["--train", "{user}", "--test", "{heldout}", "--name", "x"], tmp_path)
    again = run_all.folders_for(["--data", "{heldout}", "--shift", "{not a folder}"], tmp_path)
    assert args == ["--train", str(tmp_path / "user"), "--test", str(tmp_path / "heldout"), "--name", "x"]
    assert again == ["--data", str(tmp_path / "heldout"), "--shift", "{not a folder}"]
    assert made == [("user", 3, 5, "train"), ("heldout", 3, 2, "test")]
