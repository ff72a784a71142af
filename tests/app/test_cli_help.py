"""`spikelip COMMAND --help` explains every option: a flag without a help text is a flag users guess at."""
import argparse

import pytest

from app.cli import build_parser


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices.items())


@pytest.mark.parametrize("name,parser", subcommands(), ids=[name for name, _ in subcommands()])
def test_every_option_has_help(name, parser):
    unexplained = [a.option_strings or [a.dest] for a in parser._actions if not a.help]
    assert not unexplained, f"spikelip {name}: options without help: {unexplained}"


def test_train_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--lr LR Adam learning rate of the constant phase (default: 0.0003)" in out
    assert "--no-spatial-augment cutout and zoom +-30 % on top of the paper's random crop and flip (default: on)" in out
