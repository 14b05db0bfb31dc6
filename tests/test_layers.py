"""Dependencies point down, and no modules import each other in a circle.

Layers, lowest first: the core `tokwork` (tokwork/); the features `tokwork.trainers`, `tokwork.metrics` and
`tokwork.transplant`, which import the core, and of each other only transplant the trainers (hypernetwork
training trains throwaway BPE tokenizers, as ZeTT samples tokenizers); the CLI `tokwork.cli` on top. Every
import counts, at module level or inside a function; only those under `if TYPE_CHECKING:` are left out of
the circle check, since they never run. The circles this test keeps out were `trainers/bpe.py` <->
`trainers/bpe_learner.py`, `tokwork/tokenizer.py` <-> `tokwork/formats/*` and `trainers/supertoken.py` <->
`superword_units.py` / `random_chunk.py`, each once hidden inside a function.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

# Folder -> import name (pyproject.toml's package-dir).
PACKAGES = {"tokwork": "tokwork", "trainers": "tokwork.trainers", "metrics": "tokwork.metrics",
            "transplant": "tokwork.transplant", "cli": "tokwork.cli"}
FEATURES = ("trainers", "metrics", "transplant", "cli")
# Layer -> the layers its modules may import.
MAY_IMPORT = {
    "core": {"core"},
    "trainers": {"core", "trainers"},
    "metrics": {"core", "metrics"},
    "transplant": {"core", "trainers", "transplant"},
    "cli": {"core", "trainers", "metrics", "transplant", "cli"},
}
# Circles left on purpose, as edges the circle check ignores: the transplant registry imports the method
# modules on first use (`load_methods`) and each method module registers itself with it (`register`).
KNOWN_CIRCLE_EDGES = {("tokwork.transplant.registry", f"tokwork.transplant.{name}")
                      for name in ("baselines", "hybrid", "omp", "subword_mean", "hypernet.method")}


@dataclass(frozen=True)
class Import:
    """One import of a module of this repository: where it is and whether it only serves type checking."""

    source: str
    target: str
    line: int
    type_only: bool


def layer(module: str) -> str:
    """The layer of a module by its import name: one of FEATURES, else "core"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FEATURES else "core"


def repository_modules(root: Path = REPO) -> dict[str, Path]:
    """Every module of the packages by import name (a package by its `__init__.py`)."""
    modules = {}
    for folder, package in PACKAGES.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(root / folder).with_suffix("").parts if p != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(name: str, known: set[str]) -> str | None:
    """The longest known module that `name` is or lies in (`a.b.C` -> `a.b`), None for other libraries."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_in(module: str, source: str, known: set[str], *, is_package: bool = False) -> list[Import]:
    """Every import of a known module in `source`, at any depth (functions, classes, branches)."""
    found: list[Import] = []

    def add(names: list[str], node: ast.stmt, type_only: bool) -> None:
        for name in names:
            target = _resolve(name, known)
            if target is not None and target != module:
                found.append(Import(module, target, node.lineno, type_only))

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            add([alias.name for alias in node.names], node, type_only)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: counted from this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join([*package[:len(package) - node.level + 1], *([base] if base else [])])
            # `from a import b` imports the submodule a.b when there is one, else a name defined in a.
            add([f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names],
                node, type_only)
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(ast.parse(source), False)
    return found


def import_graph(sources: dict[str, str], packages: set[str] = frozenset()) -> list[Import]:
    """All imports between the given modules (import name -> source text)."""
    known = set(sources)
    return [imp for module, source in sources.items()
            for imp in imports_in(module, source, known, is_package=module in packages)]


def layer_violations(imports: list[Import]) -> list[str]:
    """The imports of a higher layer from a lower one (or across features where not allowed)."""
    return [f"{imp.source}:{imp.line} imports {imp.target} ({layer(imp.source)} may import only "
            f"{', '.join(sorted(MAY_IMPORT[layer(imp.source)]))})"
            for imp in imports if layer(imp.target) not in MAY_IMPORT[layer(imp.source)]]


def import_circles(imports: list[Import], *, ignore: set[tuple[str, str]] = frozenset()) -> list[list[str]]:
    """The groups of modules that import each other in a circle (strongly connected components of two or
    more), counting imports that run (not those only for type checking) except the `ignore` edges."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.type_only and (imp.source, imp.target) not in ignore:
            graph.setdefault(imp.source, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for start in sorted(graph):  # Tarjan's algorithm, iterative: (node, its remaining successors)
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            step = next(successors, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    circles.append(sorted(group))
    return sorted(circles)


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    modules = repository_modules()
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    return import_graph({name: path.read_text(encoding="utf-8") for name, path in modules.items()}, packages)


def test_every_import_points_down(imports):
    assert layer_violations(imports) == []


def test_no_modules_import_each_other_in_a_circle(imports):
    assert import_circles(imports, ignore=KNOWN_CIRCLE_EDGES) == []


def test_the_known_circles_still_exist(imports):
    """An exception that no longer applies is taken off the list, so that its circle cannot come back."""
    circles = import_circles(imports)
    for source, target in sorted(KNOWN_CIRCLE_EDGES):
        assert any(source in circle and target in circle for circle in circles), (source, target)


def test_imports_inside_functions_are_seen(imports):
    edges = {(imp.source, imp.target): imp for imp in imports}
    # train_bpe imports its counting engines when asked for them (so numba loads only then).
    assert not edges[("tokwork.trainers.bpe", "tokwork.trainers.bpe_learner")].type_only
    assert ("tokwork.trainers.bpe_learner", "tokwork.trainers.bpe") not in edges
    assert ("tokwork.tokenizer", "tokwork.formats.hf_json") not in edges
    assert ("tokwork.formats.hf_json", "tokwork.tokenizer") in edges


SYNTHETIC = {
    "tokwork": "from tokwork.low import f\n",
    "tokwork.low": "def f():\n    from tokwork.cli.main import app\n    return app\n",
    "tokwork.a": "import tokwork.b\n",
    "tokwork.b": "def g():\n    from tokwork.c import h\n",
    "tokwork.c": "from tokwork.a import x\n",
    "tokwork.typed": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tokwork.typed_user import T\n",
    "tokwork.typed_user": "from tokwork.typed import U\n",
    "tokwork.trainers.t": "from tokwork.metrics.m import measure\n",
    "tokwork.transplant.p": "from tokwork.trainers import t\nfrom . import q\n",
    "tokwork.transplant.q": "import numpy\nfrom .p import r\n",
    "tokwork.metrics.m": "import json\nfrom tokwork.a import x\n",
    "tokwork.cli.main": "from tokwork.transplant.p import run\nfrom tokwork.metrics.m import measure\n",
}


def test_the_checks_catch_synthetic_violations():
    imports = import_graph(SYNTHETIC, packages={"tokwork"})
    assert [v.split(" (")[0] for v in layer_violations(imports)] == [
        "tokwork.low:2 imports tokwork.cli.main",  # inside a function
        "tokwork.trainers.t:1 imports tokwork.metrics.m",  # feature to feature, not allowed
    ]
    assert import_circles(imports) == [["tokwork.a", "tokwork.b", "tokwork.c"],  # one leg inside a function
                                       ["tokwork.transplant.p", "tokwork.transplant.q"]]  # relative imports
    legs = {("tokwork.b", "tokwork.c"), ("tokwork.transplant.q", "tokwork.transplant.p")}
    assert import_circles(imports, ignore=legs) == []
    assert ("tokwork.typed", "tokwork.typed_user") in {(i.source, i.target) for i in imports if i.type_only}
