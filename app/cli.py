"""The `spikelip` command: one subcommand per module in `app.commands`.

User errors (`SpikeLipError`) become one line on stderr and exit status 2; Ctrl-C exits 130.
So do bad options: every option's `type=` checks its value when parsed (`app.options`), and
`Parser` reports it as `spikelip CMD: error: argument --speed: must be >= 0, got -1`.
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
    "enroll",
    "adapt",
    "boundary",
    "export",
    "bundle",
]


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2, without the usage
    block argparse prints first (`--help` still shows it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.splitlines())}\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unknown option is reported by the subcommand it was given to
        (`spikelip replay: error: unrecognized arguments: --bogus`)."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            sub = next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
            parser = sub.choices.get(getattr(parsed, "command", None), self) if sub else self
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed


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
    parser = Parser(
        prog="spikelip",
        description="Real-time lip reading from event cameras with spiking neural networks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for module in _load_commands(command):
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad option (2, its one line already printed)
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args._run(args) or 0)
    except SpikeLipError as exc:
        print(f"spikelip {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spikelip {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file that cannot be written or read, found only when running
        if exc.filename is None:
            raise
        print(f"spikelip {args.command}: error: {exc.filename}: {exc.strerror or exc} "
              "(check the path, that its folder exists and is writable, or free some space)", file=sys.stderr)
        return 2


def _one_line(exc: SpikeLipError) -> str:
    """The error's message; raised in a DataLoader worker, torch wraps it in the worker's
    traceback, whose last line is the original message."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1:
        return lines[-1].split("SpikeLipError: ", 1)[-1]
    return lines[0] if lines else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
