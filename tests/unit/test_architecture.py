"""The house rules a reader can check without running anything: no import cycle (runtime or
`TYPE_CHECKING`), no function over 60 lines, no module-level mutable state, nothing importing the
package root, every module where the layout says (docs/extending.md, "Where code lives")."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from shared_paths import REPO

PACKAGE = REPO / "mlfcheck"
MAX_FUNCTION_LINES = 60

LAYERS = {
    "mlfcheck": {"__init__", "__main__", "api", "children", "errors", "findings", "version"},
    "mlfcheck.reading": None,
    "mlfcheck.board": None,
    "mlfcheck.validate": None,
    "mlfcheck.diff": None,
    "mlfcheck.consumers": None,
    "mlfcheck.audit": None,
    "mlfcheck.export": None,
    "mlfcheck.fuzz": None,
    "mlfcheck.reporters": None,
    "mlfcheck.cli": None,
}
"""The packages the layout has; for the root, the only modules it holds (every other module sits
in a layer or a command's package)."""

PURE_CACHES = {
    ("mlfcheck.reading.model", "_field_hints"): "type hints of a record class never change",
    ("mlfcheck.reading.schemas", "load"): "a shipped schema file, read once",
    ("mlfcheck.reading.schemas", "validator"): "a validator of a shipped schema",
    ("mlfcheck.consumers.profile", "builtin_profiles"): "the shipped profile files, read once",
}
"""Memoised functions of shipped, read-only data: the same answer whatever called them first,
so they decide nothing. Any other `functools.cache` is hidden process state."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}
"""Every module's syntax tree, parsed once for all the tests below."""


def _target(name: str) -> str | None:
    """The package module a dotted import name lands in (a name inside a module: that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, tree: ast.Module) -> Iterator[str]:
    """Every mlfcheck module `module` imports, wherever the import stands (TYPE_CHECKING and
    function bodies included)."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "mlfcheck" and (t := _target(alias.name)):
                    yield t
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "mlfcheck":
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = full if full in MODULES else _target(base)
                if target:
                    yield target


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, tree in TREES.items():
        graph[name] = {t for t in _imports(name, tree) if t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_imports_of_every_kind() -> None:
    graph = _graph()
    assert "mlfcheck.reading.archive" in graph["mlfcheck.reading.loaded"]  # from … import
    assert "mlfcheck.diff" in graph["mlfcheck.cli.diff"] or \
        "mlfcheck.api" in graph["mlfcheck.cli.diff"]  # a package or a module
    typing_only = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    from mlfcheck.reading.loaded import Loaded\n"
                            "def f():\n    from . import archive\n")
    assert set(_imports("mlfcheck.reading.model", typing_only)) == {
        "mlfcheck.reading.loaded", "mlfcheck.reading.archive"}


def test_no_module_imports_another_that_imports_it_back() -> None:
    assert _cycles(_graph()) == []


def test_nothing_imports_the_package_root() -> None:
    importers = sorted(name for name, deps in _graph().items() if "mlfcheck" in deps
                       and name != "mlfcheck")
    assert importers == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_function_is_longer_than_60_lines(module: str) -> None:
    tree = TREES[module]
    long = [f"{n.name}: {n.end_lineno - n.lineno + 1} lines" for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def _frozen(node: ast.ClassDef) -> bool:
    """A class whose instances cannot change: a frozen dataclass, an enum, a named tuple."""
    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
    return bool(bases & {"Enum", "IntEnum", "StrEnum", "NamedTuple"}) or any(
        isinstance(d, ast.Call) and any(k.arg == "frozen" and isinstance(k.value, ast.Constant)
                                        and k.value.value for k in d.keywords)
        for d in node.decorator_list)


def _mutable_state(module: str, tree: ast.Module) -> Iterator[str]:
    """Module-level containers that start empty, instances of the module's own mutable classes,
    `global` statements and unlisted caches."""
    mutable = {n.name for n in tree.body if isinstance(n, ast.ClassDef) and not _frozen(n)}
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
                value.func.id in mutable:
            yield f"line {node.lineno}: a {value.func.id} kept for the process"
        if isinstance(value, ast.List | ast.Dict | ast.Set) and not (
                value.elts if isinstance(value, ast.List | ast.Set) else value.keys):
            yield f"line {node.lineno}: an empty container at module level"
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
                value.func.id in ("list", "dict", "set", "OrderedDict", "defaultdict") \
                and not value.args:
            yield f"line {node.lineno}: an empty container at module level"
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            yield f"line {node.lineno}: global {', '.join(node.names)}"
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                (module, node.name) not in PURE_CACHES:
            for d in node.decorator_list:
                name = d.func if isinstance(d, ast.Call) else d
                if isinstance(name, ast.Attribute):
                    name = ast.Name(name.attr)
                if isinstance(name, ast.Name) and name.id in ("cache", "lru_cache"):
                    yield f"line {node.lineno}: {node.name} is memoised for the process"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_level_state_decides_behaviour(module: str) -> None:
    assert list(_mutable_state(module, TREES[module])) == []


def test_the_state_finder_finds_state() -> None:
    tree = ast.parse("_seen = []\n_by = dict()\n@cache\ndef f(): pass\n"
                     "def g():\n    global _seen\nclass Pool:\n    pass\n_POOL = Pool()\n"
                     "@dataclass(frozen=True)\nclass Fixed:\n    pass\nFIXED = Fixed()\n")
    assert len(list(_mutable_state("m", tree))) == 5


def test_every_module_sits_in_a_layer_or_a_command_package() -> None:
    misplaced = []
    for name in MODULES:
        parent, _, leaf = name.rpartition(".")
        if name == "mlfcheck" or (parent == "mlfcheck" and name in LAYERS):
            continue
        if parent == "mlfcheck":
            allowed = LAYERS["mlfcheck"]
            if allowed is not None and leaf not in allowed:
                misplaced.append(name)
        elif not any(name.startswith(layer + ".") for layer in LAYERS if layer != "mlfcheck"):
            misplaced.append(name)
    assert misplaced == []


def test_every_module_says_what_it_owns() -> None:
    missing = [name for name, tree in TREES.items() if not ast.get_docstring(tree)]
    assert missing == []
