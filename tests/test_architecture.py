"""The import graph of gbench: no cycles, no upward imports across the layers named in ARCHITECTURE.md, and no
module too large to hold in mind. Every `import` and `from ... import` counts, wherever it stands: at the top,
inside a function, or under `if TYPE_CHECKING:`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 450


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `package` (a package is named by its __init__.py)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> dict[str, int]:
    """The modules of `known` that module `name` imports -> the line of the first such import. `from a import b`
    counts as importing the module a.b where there is one, else a; relative imports are resolved."""
    root = next(iter(known)).split(".")[0]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == root:
                    add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != root:
                continue
            for alias in node.names:
                add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source, node.lineno)
    return found


def import_graph(package: Path) -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    known = modules(package)
    return known, {name: imports(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (a list of modules, first repeated at the end) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; gbench's graph is far too shallow for the recursion limit
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_one_cycle(graph, set(c)) for c in components]


def _one_cycle(graph: dict[str, dict[str, int]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first), to print."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                return paths[v] + [start]
            if w in component and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")


def layers(markdown: str) -> list[tuple[str, list[str]]]:
    """(layer name, module prefixes) from the table under '## Layers, top to bottom', in order."""
    section = markdown.split("## Layers, top to bottom", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"^\|\s*\d+\s*\|", line)]
    out = []
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        out.append((cells[1], re.findall(r"`([A-Za-z_][\w.]*)`", cells[2])))
    return out


def layer_of(module: str, table: list[tuple[str, list[str]]]) -> int | None:
    """The index of the layer naming the longest prefix of `module` (0 = top), or None. The top-level package's
    name stands for its own __init__.py only, so that a new top-level module must be placed by hand."""
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(table):
        for prefix in prefixes:
            if module == prefix or ("." in prefix and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), i)
    return None if best is None else best[1]


def violations(package: Path, table: list[tuple[str, list[str]]]) -> dict[str, list[str]]:
    known, graph = import_graph(package)
    unplaced = [m for m in known if layer_of(m, table) is None]
    upward = []
    for module, targets in sorted(graph.items()):
        mine = layer_of(module, table)
        for target, line in sorted(targets.items()):
            theirs = layer_of(target, table)
            if mine is not None and theirs is not None and theirs < mine:
                upward.append(f"{known[module].relative_to(package.parent)}:{line}: {module} ({table[mine][0]}) "
                              f"imports {target} ({table[theirs][0]}), a layer above it")
    return {"unplaced": [f"{m} ({known[m].relative_to(package.parent)}) is in no layer of ARCHITECTURE.md"
                         for m in unplaced],
            "upward": upward,
            "cycles": [" -> ".join(c) for c in cycles(graph)]}


TABLE = layers((REPO / "ARCHITECTURE.md").read_text())


def test_architecture_names_layers_top_to_bottom():
    assert len(TABLE) >= 5 and all(prefixes for _, prefixes in TABLE)
    assert layer_of("gbench.cli", TABLE) == 0 and layer_of("gbench.errors", TABLE) == len(TABLE) - 1


def test_every_module_is_in_a_layer():
    found = violations(REPO / "gbench", TABLE)["unplaced"]
    assert not found, "\n".join(found)


def test_no_module_imports_from_a_layer_above_it():
    found = violations(REPO / "gbench", TABLE)["upward"]
    assert not found, "upward imports (move the code down, or the thing it needs up):\n" + "\n".join(found)


def test_no_import_cycles():
    found = violations(REPO / "gbench", TABLE)["cycles"]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_no_module_is_too_large_to_hold_in_mind():
    sizes = {p: len(p.read_text().splitlines()) for p in modules(REPO / "gbench").values()}
    big = [f"{p.relative_to(REPO)}: {n} lines" for p, n in sorted(sizes.items()) if n > MAX_LINES]
    assert not big, f"modules over {MAX_LINES} lines (split them along a seam):\n" + "\n".join(big)


# The checker itself, on a small package made here: it must see imports in functions and TYPE_CHECKING blocks,
# relative imports, and `from package import submodule`.

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "pkg"


CHECKER_TABLE = [("top", ["pkg.top"]), ("low", ["pkg", "pkg.low"])]  # `pkg` names only pkg/__init__.py


@pytest.mark.parametrize("low_source, finds", [
    ("def f():\n    from pkg.top import x\n", "function"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import top\n", "TYPE_CHECKING"),
    ("from . import top\n", "relative"),
    ("", None),
])
def test_the_checker_finds_hidden_upward_imports_and_cycles(tmp_path, low_source, finds):
    package = _package(tmp_path, {"__init__.py": "", "top.py": "from pkg.low import y\nx = 1\n",
                                  "low.py": low_source + "y = 2\n"})
    found = violations(package, CHECKER_TABLE)
    assert not found["unplaced"]
    if finds is None:
        assert not found["upward"] and not found["cycles"]
    else:
        assert found["upward"] == [f"pkg/low.py:{low_source.count(chr(10))}: pkg.low (low) imports pkg.top (top), "
                                   "a layer above it"], finds
        assert found["cycles"] == ["pkg.low -> pkg.top -> pkg.low"], finds


def test_the_checker_reports_a_module_no_layer_names(tmp_path):
    package = _package(tmp_path, {"__init__.py": "", "low.py": "", "stray.py": ""})
    assert violations(package, [("low", ["pkg.low"])])["unplaced"] == [
        "pkg (pkg/__init__.py) is in no layer of ARCHITECTURE.md",
        "pkg.stray (pkg/stray.py) is in no layer of ARCHITECTURE.md"]
