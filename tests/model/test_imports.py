"""The direction of imports, read from the source: app -> model -> stream, and no cycles.

Every `import` / `from ... import` statement counts, at module level or inside a function (an
import moved into a function to dodge a cycle is still a cycle), including relative ones and
those under `if TYPE_CHECKING:`.
"""
import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "model", "stream")


def modules() -> dict[str, Path]:
    """Dotted name -> source file, for every module of the packages (a package is its __init__)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imported_names(name: str, path: Path, mods) -> set[str]:
    """The dotted names of what each import statement of the file loads, any depth:
    `import a.b` -> a.b; `from a import b` -> a.b where that is a module, else a."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the file's package, up level - 1
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base)
    return out


@functools.cache
def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between the packages' modules, every name each module imports). A module's
    parent packages, which Python loads first, are not edges: each package's own imports are."""
    mods = modules()
    edges, names = {}, {}
    for name, path in mods.items():
        names[name] = imported_names(name, path, mods)
        targets = set()
        for imported in names[name]:
            while imported and imported not in mods:  # `import model.x.func`-like names -> model.x
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges, names


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def offenders(names: dict[str, set[str]], package: str, banned: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        mod: sorted(n for n in imported if any(n == b or n.startswith(b + ".") for b in banned))
        for mod, imported in names.items()
        if (mod == package or mod.startswith(package + "."))
        and any(n == b or n.startswith(b + ".") for n in imported for b in banned)
    }


def test_the_graph_is_read_from_the_source():
    edges, _ = graph()
    assert {"app.cli", "model.network", "stream.binner"} <= set(edges)
    assert "model.network" in edges["model.build"] and "model.onnx_export" in edges["model.runtime"]


def test_no_import_cycles():
    edges, _ = graph()
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_stream_imports_neither_model_app_nor_qt():
    _, names = graph()
    assert offenders(names, "stream", ("model", "app", "PyQt6")) == {}


def test_model_imports_neither_app_qt_nor_cameras():
    _, names = graph()
    assert offenders(names, "model", ("app", "PyQt6", "stream.sources.camera")) == {}
