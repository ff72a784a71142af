"""The `spikelip` command: one subcommand per module in `app.commands`.

User errors (`SpikeLipError`) become one line on stderr and exit status 2; Ctrl-C exits 130.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from stream.errors import SpikeLipError

# Each module defines NAME, HELP, add_arguments(parser) and run(args) -> int.
COMMAND_MODULES = [
    "inspect",
    "convert",
    "record",
    "replay",
    "latency",
    "demo",
    "synth",
    "train",
    "eval",
    "export",
    "bundle",
]


def _load_commands(only: str | None = None):
    for name in [only] if only in COMMAND_MODULES else COMMAND_MODULES:
        try:
            yield importlib.import_module(f"app.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"app.commands.{name}":
                raise


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """With `command`, only that subcommand is loaded: several import torch (seconds), which
    `spikelip inspect` on a bad file should not wait for."""
    parser = argparse.ArgumentParser(
        prog="spikelip",
        description="Real-time lip reading from event cameras with spiking neural networks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _load_commands(command):
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SpikeLipError as exc:
        print(f"spikelip {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spikelip {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
