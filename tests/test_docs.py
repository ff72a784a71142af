"""The docs stay true: generated tables match the results, the README stays short, every CLI
option is documented and every relative link resolves."""
from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _report():
    spec = importlib.util.spec_from_file_location("benchmarks_report", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_performance_doc_is_generated_from_the_results():
    report = _report()
    assert (DOCS / "performance.md").read_text() == report.render(), \
        "docs/performance.md is out of date: run python benchmarks/report.py"
    assert report.main(["--check"]) == 0


def test_readme_is_short():
    size = len((ROOT / "README.md").read_bytes())
    assert size < 12_000, f"README.md is {size:,} bytes; move detail to docs/"


def test_every_cli_option_is_in_docs_cli():
    from app.cli import build_parser

    text = (DOCS / "cli.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, command in sub.choices.items():
        assert f"## {name}" in text, f"docs/cli.md has no section for `spikelip {name}`"
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help") and not re.search(rf"`[^`]*{re.escape(option)}(?![\w-])", text):
                    missing.append(f"{name} {option}")
    assert not missing, f"options missing from docs/cli.md: {', '.join(missing)}"


def _markdown_files():
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]


def _anchors(md: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", md.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_relative_links_resolve():
    broken = []
    for md in _markdown_files():
        for target in LINK.findall(md.read_text()):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # a URL
            path, _, anchor = target.partition("#")
            file = md.parent / path if path else md
            if not file.exists():
                broken.append(f"{md.relative_to(ROOT)}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{md.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "broken links: " + "; ".join(broken)
