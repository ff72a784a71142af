"""Every option of every subcommand is checked when parsed: a bad value is one line on stderr naming
the option (`spikelip CMD: error: argument --speed: must be >= 0, got -1`) and exit status 2, never a
traceback and never a silently accepted out-of-range number (issue 25)."""
import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from app import options
from app.models import BUNDLED_MODEL
from stream.roi import Roi
from app.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "assets" / "samples" / "sample.aedat4"
SAMPLE2 = ROOT / "assets" / "samples" / "sample2.aedat4"

BAD_VALUES = ["-1", "0", "nan", "inf", "-inf", "abc", "", "1,2,3", "0,0,0,0", ",,", "a,,b",
              "/nonexistent-dir/x/out.onnx", "-5.5", "1e400", "1.5", "4294967296"]
# values no numeric option may take, whatever its range
NEVER_A_NUMBER = {"nan", "inf", "-inf", "abc", "", "1,2,3", "0,0,0,0", ",,", "a,,b", "/nonexistent-dir/x/out.onnx", "1e400"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-options")
    (tmp / "data").mkdir()
    (tmp / "eval.json").write_text('{"top1": 0.5}\n')
    return tmp


def minimal_arguments(command: str, tmp: Path) -> tuple[list[str], list[str]]:
    """(positionals in order, required options) that make `spikelip COMMAND` parse."""
    return {
        "inspect": ([str(SAMPLE)], []),
        "convert": ([str(SAMPLE), str(tmp / "out.npy")], []),
        "record": ([str(tmp / "out.aedat4")], []),
        "eval": ([], ["--data", str(tmp / "data")]),
        "adapt": ([], ["--data", str(tmp / "data"), "--out", str(tmp / "run")]),
        "boundary": ([], ["--data", str(tmp / "data"), "--out", str(tmp / "run.json")]),
        "enroll": ([], ["--out", str(tmp / "enrolled")]),
        "export": ([], ["--model", "small", "--out", str(tmp / "x.onnx")]),
        "bundle": ([str(BUNDLED_MODEL)], ["--eval", str(tmp / "eval.json"), "--evaluated-on", "test"]),
    }.get(command, ([], []))


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def valued_actions(parser: argparse.ArgumentParser):
    """The arguments that take a value (not --help, flags or --x/--no-x switches)."""
    return [a for a in parser._actions if a.nargs != 0 and not isinstance(a, argparse._HelpAction)]


def name_of(action: argparse.Action) -> str:
    return argparse._get_action_name(action)


SUBCOMMANDS = subcommands()
CASES = [(command, name_of(action)) for command, p in sorted(SUBCOMMANDS.items()) for action in valued_actions(p)]


def test_every_command_is_swept():
    assert set(SUBCOMMANDS) == {"inspect", "convert", "record", "replay", "latency", "demo", "synth", "train",
                                "eval", "enroll", "adapt", "boundary", "export", "bundle"}
    assert len(CASES) * len(BAD_VALUES) > 800  # (command, option, value) cases of the sweep below


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_no_number_option_is_unchecked(command):
    """A bare int/float type takes nan, inf and negative values; every number has a range."""
    bare = [name_of(a) for a in SUBCOMMANDS[command]._actions if a.type in (int, float)]
    assert not bare, f"spikelip {command}: numbers without a checked range: {bare}"


@pytest.mark.parametrize("command,option", CASES, ids=[f"{c}-{o}" for c, o in CASES])
@pytest.mark.slow
def test_bad_values_are_one_line_naming_the_option(command, option, files, capsys):
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    action = next(a for a in valued_actions(sub) if name_of(a) == option)
    positionals, required = minimal_arguments(command, files)
    failures = []
    for value in BAD_VALUES:
        if action.option_strings:  # --opt=VALUE: "-inf" reaches the check rather than reading as an option
            argv = [command, *positionals, *required, f"{action.option_strings[0]}={value}"]
        else:
            if value.startswith("-") and not sub._negative_number_matcher.match(value):
                continue  # an option-like word is never taken as a positional (argparse's own one-line error)
            given = list(positionals)
            index = [a for a in sub._actions if not a.option_strings].index(action)
            given[index:index + 1] = [value]  # the positional in its place (or after the given ones)
            argv = [command, *given, *required]
        try:
            with pytest.raises(SystemExit) as stop:
                parser.parse_args(argv)
        except pytest.fail.Exception:  # parsed: the value is valid for this option
            capsys.readouterr()
            if isinstance(action.type, options.Number) and value in NEVER_A_NUMBER:
                failures.append(f"{value!r} accepted")
            continue
        except Exception as exc:  # noqa: BLE001 - anything else is a traceback for the user
            failures.append(f"{value!r} raised {type(exc).__name__}: {exc}")
            continue
        err = capsys.readouterr().err.strip().splitlines()
        if stop.value.code != 2 or len(err) != 1 or option not in err[0] or "Traceback" in err[0]:
            failures.append(f"{value!r}: exit {stop.value.code}, stderr {err}")
        elif not err[0].startswith(f"spikelip {command}: error: argument {option}: "):
            failures.append(f"{value!r}: {err[0]}")
    assert not failures, f"spikelip {command} {option}: " + "; ".join(failures)


@pytest.mark.parametrize("argv,named", [
    (["replay", "--bogus"], "spikelip replay: error: unrecognized arguments: --bogus"),
    (["replay", "--speed"], "spikelip replay: error: argument --speed: expected one argument"),
    (["bundle"], "spikelip bundle: error: the following arguments are required: checkpoint, --eval, --evaluated-on"),
    (["frobnicate"], "spikelip: error: argument COMMAND: invalid choice: 'frobnicate'"),
    ([], "spikelip: error: the following arguments are required: COMMAND"),
    (["replay", "--runtime", "gpu"], "spikelip replay: error: argument --runtime: invalid choice: 'gpu'"),
])
def test_usage_errors_are_one_line_without_the_usage_block(argv, named, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(named), err


def test_help_still_shows_usage(capsys):
    assert main(["replay", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spikelip replay") and "--speed X" in out and ">= 0" in out


def test_good_values_still_parse(files):
    parser = build_parser()
    args = parser.parse_args(["replay", "--roi", "10,20,128,128", "--scale", "2", "--speed", "0", "--every", "1"])
    assert (args.roi.x, args.roi.y, args.roi.w, args.roi.h, args.scale, args.speed) == (10, 20, 128, 128, 2, 0.0)
    args = parser.parse_args(["synth", str(files / "d"), "--clips-per-word", "1", "--words", "water, Million"])
    assert args.words == ["water", "million"]
    args = parser.parse_args(["train", "--streaming-loss-from", "-1", "--streaming-loss-after-end", "-1", "--lr", "1e-3"])
    assert (args.streaming_loss_from, args.streaming_loss_after_end, args.lr) == (-1, -1.0, 1e-3)
    args = parser.parse_args(["latency", "--compare", "--runtimes", "torch,onnx", "--models", "small"])
    assert (args.runtimes, args.models) == ("torch,onnx", "small")


def test_roi_auto_parses_where_the_model_reads_and_is_refused_where_a_fixed_region_is_cut():
    assert options.roi("auto") == options.roi(" Auto ") == options.AUTO
    for command in ("replay", "demo", "latency"):
        assert build_parser(command).parse_args([command, "--roi", "auto"]).roi == options.AUTO
    with pytest.raises(argparse.ArgumentTypeError, match="follows the mouth"):
        options.fixed_roi("auto")
    assert options.fixed_roi("1,2,128,128") == Roi(1, 2, 128, 128)


@pytest.mark.parametrize("name,option", [("adapt", "--model"), ("boundary", "--model"), ("train", "--distill"),
                                         ("enroll", "--model")])
def test_what_trains_on_from_a_model_takes_a_trained_checkpoint(name, option, files, capsys):
    """Fresh weights read nothing: adapting or distilling from them would run for minutes to no end."""
    positionals, required = minimal_arguments(name, files)
    argv = [name, *positionals, *required, *(["--adapt", str(files / "run2")] if name == "enroll" else [])]
    config = ROOT / "assets" / "configs" / "small.json"
    onnx = next((ROOT / "assets" / "models").glob("*.onnx"))
    for model, named in [("small", "untrained weights"), (str(config), "untrained weights"),
                         (str(onnx), "cannot be trained further")]:
        assert main([*argv, option, model]) == 2  # enroll: checked before any take is recorded
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and option in err[0] and named in err[0], (model, err)
    args = build_parser().parse_args([*argv, option, str(ROOT / "assets" / "models" / "small.json")])
    assert getattr(args, option[2:]) == str(ROOT / "assets" / "models" / "small.json")


def test_bundle_takes_a_trained_checkpoint(files, capsys):
    """Bundling fresh weights would ship a demo model that reads nothing."""
    for model in ("small", str(ROOT / "assets" / "configs" / "small.json")):
        assert main(["bundle", model, "--eval", str(files / "eval.json"), "--evaluated-on", "test",
                     "--out", str(files / "b" / "small.json")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "checkpoint" in err[0] and "untrained weights" in err[0], (model, err)


def test_train_config_file_values_are_checked(files, capsys):
    config = files / "train.json"
    for text, named in [('{"lr": -1}', "lr: must be > 0"), ('{"batch_sise": 8}', "unknown option 'batch_sise'"),
                        ('{"workers": "2"}', "workers must be a JSON int"), ("[1]", "expected a JSON object"),
                        ('{"lr": NaN}', "lr: expected a finite number"), ("{", "not readable JSON")]:
        config.write_text(text)
        assert main(["train", "--config", str(config)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "argument --config" in err[0] and named in err[0], (text, err)


def test_an_os_error_while_running_is_one_line(monkeypatch, capsys):
    from app.commands import inspect

    def run(args):
        raise PermissionError(13, "Permission denied", "/somewhere/out.json")

    monkeypatch.setattr(inspect, "run", run)
    assert main(["inspect", str(SAMPLE)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spikelip inspect: error: /somewhere/out.json: Permission denied"), err


ISSUE_CASES = [
    (["replay", "--roi", "middle"], "--roi"),
    (["convert", str(SAMPLE2), "{tmp}/out.npy", "--roi", "auto"], "--roi"),  # auto needs words read
    (["replay", "--roi", "1,2,3"], "--roi"),
    (["convert", str(SAMPLE2), "{tmp}/out.npy", "--roi", "0,0,0,0"], "--roi"),
    (["synth", "{tmp}/synth", "--clips-per-word", "1", "--words", ",,"], "--words"),
    (["export", "--model", "small", "--out", "{blocker}/x.onnx"], "--out"),
    (["replay", "--speed", "-1"], "--speed"),
    (["record", "{tmp}/out.aedat4", "--synthetic", "--duration", "-1"], "--duration"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv,option", ISSUE_CASES, ids=[" ".join(a) for a, _ in ISSUE_CASES])
def test_the_issue_cases_in_a_fresh_process(argv, option, tmp_path, not_a_folder):
    argv = [a.format(tmp=tmp_path, blocker=not_a_folder) for a in argv]
    done = subprocess.run([sys.executable, "-m", "app.cli", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(err) == 1 and "Traceback" not in done.stderr, done.stderr
    assert err[0].startswith(f"spikelip {argv[0]}: error: argument {option}: "), err
    assert not (tmp_path / "synth").exists() and not (tmp_path / "out.aedat4").exists()
