"""`make bench` reruns what the docs show: every scripted run writes a result file the tables read,
with the options recorded in it, and the SynthLip folders those runs read are made once each."""
from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDER_OPTIONS = {"--data", "--train", "--test", "--calibrate"}


def _run_all():
    spec = importlib.util.spec_from_file_location("benchmarks_run_all", ROOT / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options(args: list[str]) -> dict[str, str | None]:
    """{option: value} of `args` ("--option value" pairs, or a flag alone: None), every folder as '*'."""
    out, i = {}, 0
    while i < len(args):
        assert args[i].startswith("--"), f"{args[i]!r} is no option"
        flag = i + 1 == len(args) or args[i + 1].startswith("--")
        out[args[i]] = None if flag else "*" if args[i] in FOLDER_OPTIONS else args[i + 1]
        i += 1 if flag else 2
    return out


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


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_train_steps_the_training_loss_and_projects_the_papers_schedule(monkeypatch):
    """Its CPU dry run (the GPU session's rehearsal): `spikelip train`'s optimiser step lowers the
    loss on a fixed batch, and the 200-epoch projection follows from the clips a second."""
    bench = _bench("bench_gpu_train")
    written = {}
    monkeypatch.setattr(bench, "write_result", lambda name, result: written.update({name: result}))
    assert bench.main(["--device", "cpu", "--models", "small", "--batch-size", "2", "--bins", "3", "--steps", "2",
                       "--warmup", "1"]) == 0
    result = written["gpu_train-cpu"]
    row = result["models"]["small"]
    assert result["command"] == ("python benchmarks/bench_gpu_train.py --device cpu --models small --batch-size 2 "
                                 "--bins 3 --steps 2 --warmup 1")
    assert row["losses"][2] < row["losses"][0]
    assert row["paper_epochs_hours"] == pytest.approx(200 * 14_896 / row["clips_per_s"] / 3600, rel=0.01)
    assert row["peak_rss_gib"] > 0 and row["parameters"] == 452_684


def test_gpu_train_without_a_gpu_measures_nothing(monkeypatch, capsys):
    bench = _bench("bench_gpu_train")
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(bench, "write_result", lambda *a: pytest.fail("wrote a result"))
    assert bench.main([]) == 0
    assert "nothing measured" in capsys.readouterr().out


@pytest.mark.slow
def test_the_gpu_session_rehearses_on_the_cpu(tmp_path):
    """`GPU_SESSION_DRY=1 bash benchmarks/gpu_session.sh`: every step of the GPU session runs, and
    what it brings back is what the device tool can carry and what every `--model` loads: the
    float16 weights read back within float16's precision of the run's own."""
    import os
    import subprocess
    import sys

    import torch

    from model.build import build

    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "GPU_SESSION_DRY": "1", "OUT": str(out), "WORK": str(work), "PYTHON": sys.executable,
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_session.sh")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["gpu_train.json", "session.log", "wide.json", "wide.safetensors"]
    assert not (ROOT / "benchmarks" / "results" / "gpu_train-session.json").exists()
    assert set(json.loads((out / "gpu_train.json").read_text())["models"]) == {"small", "wide"}
    back, trained = build(out / "wide.json"), build(work / "wide" / "model.json")
    assert back.config == trained.config
    for (name, a), b in zip(back.state_dict().items(), trained.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), name


def test_a_widened_recurrent_layer_starts_as_the_same_function():
    """probe_backend's Net2Net widening: each unit k times, the weights reading them split k
    ways, so the wider network's logits equal the original's bin for bin (mirror model too)."""
    import torch

    from model.network import Network

    widened = _bench("probe_backend").widened
    torch.manual_seed(0)
    for config in ({"backend": "spikgru2+"}, {"backend": "spikgru+", "mirror": True}):
        net = Network({"name": "t", "input_size": 16, "input_pool": 2, "frontend_widths": [4, 4, 4, 4],
                       "hidden_size": 8, "num_layers": 1, "num_classes": 5, **config}).eval()
        x = torch.randint(-2, 3, (3, 12, 2, 16, 16)).float()
        wide = widened(net, 2, noise=0.0)
        assert wide.backend[0].hidden_size == 16
        with torch.no_grad():
            torch.testing.assert_close(wide(x), net(x), rtol=1e-5, atol=1e-5)
