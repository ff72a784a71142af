"""Every module names only what it defines or imports: the tests do not run every benchmark and
probe to its end, and one of them once stopped on a NameError after a refactor (pyflakes)."""
from __future__ import annotations

from pathlib import Path

from pyflakes import api, messages
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parent.parent
UNDEFINED = (messages.UndefinedName, messages.UndefinedLocal, messages.UndefinedExport)


class _Collect(Reporter):
    def __init__(self):
        self.found: list[str] = []

    def flake(self, message) -> None:
        if isinstance(message, UNDEFINED):
            self.found.append(str(message))

    def syntaxError(self, filename, msg, lineno, offset, text) -> None:
        self.found.append(f"{filename}:{lineno}: {msg}")

    def unexpectedError(self, filename, msg) -> None:
        self.found.append(f"{filename}: {msg}")


def test_no_module_uses_a_name_it_does_not_define_or_import():
    report = _Collect()
    for folder in ("app", "model", "stream", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            api.checkPath(str(path), report)
    assert report.found == []


def test_the_check_sees_an_undefined_name(tmp_path):
    """The check itself: a function using a name nobody imported is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def side(config):\n    return input_side(config)\n")
    report = _Collect()
    api.checkPath(str(bad), report)
    assert len(report.found) == 1 and "input_side" in report.found[0]
