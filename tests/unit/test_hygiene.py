"""The Makefile and the tests touch only what they start: nothing kills processes by
name (a Prometheus or gateway of the host's is not ours). The packages' modules import
one another without cycles."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BY_NAME = re.compile(r"\b(p" + r"kill|kill" + r"all)\b")  # spelled apart: this file is scanned too


def test_nothing_kills_by_name():
    files = [REPO / "Makefile", *(REPO / "systemd").glob("*"), *(REPO / "tests").rglob("*.py"),
             *(REPO / "bench").rglob("*.py")]
    offenders = [f"{p.relative_to(REPO)}:{n}" for p in files if p.is_file()
                 for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if BY_NAME.search(line)]
    assert offenders == []


# ---------------------------------------------------------------------------
# import cycles: the modules of a package import one another in one direction

def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(package: str, root: Path = REPO) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, read from the source (AST): top-level,
    function-level and `if TYPE_CHECKING:` imports alike (a cycle only for the types is
    still two modules that each need the other). `from a.b import c` is an edge to a.b.c
    when that is a module, else to a.b; a name outside the package is no edge."""
    files = {_module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        in_package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the package this module is in
                    base = in_package[:len(in_package) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in files else src for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:  # a name in a module: the module
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    graph[mod].add(target)
    return graph


def import_cycles(package: str, root: Path = REPO, limit: int = 50) -> list[str]:
    """The package's import cycles, each as 'a -> b -> a' from its first module by name:
    every elementary cycle (no module twice), found within each strongly connected group
    of the graph (Tarjan); at most limit of them."""
    graph = import_graph(package, root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles: list[str] = []

    def walk(path: list[str], members: set[str]) -> None:
        for w in sorted(graph[path[-1]] & members):
            if len(cycles) >= limit:
                return
            if w == path[0]:
                cycles.append(" -> ".join(path + [w]))
            elif w not in path and w > path[0]:  # each cycle once: from its first module by name
                walk(path + [w], members)

    for group in groups:
        for first in sorted(group):
            walk([first], group)
    return sorted(cycles)


def test_bench_has_no_import_cycles():
    assert import_cycles("bench") == []


def test_gateway_has_no_import_cycles():
    assert import_cycles("gateway") == []


def test_the_cycle_finder_finds_cycles(tmp_path):
    """Absolute, relative, function-level and TYPE_CHECKING imports; a module that only
    imports into a cycle is not in it."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .c import g\n    from pkg import e\n")
    (pkg / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (pkg / "d.py").write_text("import pkg.a\n")
    (pkg / "e.py").write_text("from . import a\n")
    assert import_cycles("pkg", tmp_path) == ["pkg.a -> pkg.sub.b -> pkg.e -> pkg.a",
                                              "pkg.a -> pkg.sub.b -> pkg.sub.c -> pkg.a"]
    (pkg / "e.py").write_text("import os\n")
    (pkg / "sub" / "c.py").write_text("")
    assert import_cycles("pkg", tmp_path) == []


if __name__ == "__main__":  # python tests/unit/test_hygiene.py: the cycles, one a line
    for package in ("gateway", "bench"):
        cycles = import_cycles(package)
        print(f"{package}: {len(cycles)} import cycle(s)")
        for cycle in cycles:
            print("   ", cycle)
