"""Which archive paths each MLF version writes, per module, and which version a layout suggests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlfcheck.archive import Archive
from mlfcheck.model import Module

ALL_VERSIONS = frozenset(range(1, 9))
"""Every version mlfcheck knows: 1-7 from TVM, 8 from mlfcheck's exporter."""


@dataclass(frozen=True)
class Expected:
    """A member a module needs (or may have) in its version's layout."""

    path: str
    required: bool
    why: str


def ir_path(version: int, module: Module) -> str:
    """Where the module's IR text lives in this version."""
    if version <= 3:
        return "relay.txt"
    if version <= 6:
        return "src/relay.txt"
    if version == 7:
        return f"src/{module.name}.relay"
    return f"src/{module.name}.relax"


def graph_path(version: int, module: Module) -> str:
    """Where a graph-executor module's graph JSON lives in this version."""
    if version <= 4:
        return "runtime-config/graph/graph.json"
    if version <= 6:
        return "executor-config/graph/graph.json"
    return f"executor-config/graph/{module.name}.graph"


def header_path(module: Module) -> str:
    """The C interface header of a full-model module (lower-cased since b53472c7b6)."""
    return f"codegen/host/include/tvmgen_{module.name.lower()}.h"


def params_path(module: Module) -> str:
    """The module's parameter file."""
    return f"parameters/{module.name}.params"


def codegen_prefix(version: int, module: Module) -> str:
    """File-name prefix of codegen files: '<m>_lib' from v3 for full-model, else 'lib'."""
    return f"{module.name}_lib" if version >= 3 and module.style == "full-model" else "lib"


def expected_members(version: int, module: Module) -> list[Expected]:
    """Members a module of this version must or may have."""
    if module.style == "operator":
        return []
    out = [Expected(params_path(module), True, "every full-model module has its parameters"),
           Expected(ir_path(version, module), True, "every full-model module has its IR text")]
    if module.executor == "graph":
        out.append(Expected(graph_path(version, module), True,
                            "graph-executor modules carry the graph JSON"))
    if version >= 8:
        out += [Expected(header_path(module), True, "v8 always writes the C interface header"),
                Expected(f"codegen/host/src/{module.name}_lib0.c", True,
                         "v8 writes the kernels in <m>_lib0.c"),
                Expected(f"codegen/host/src/{module.name}_lib1.c", True,
                         "v8 writes the AOT entry tvmgen_<m>_run() in <m>_lib1.c")]
    return out


_CODEGEN = re.compile(r"^codegen/host/(?:src/(?P<src>[^/]+)\.(?:c|cc|cpp)"
                      r"|lib/(?P<obj>[^/]+)\.o|include/tvmgen_[^/]+\.h)$")
_OPERATOR_TIR = re.compile(r"^src/tir-\d+\.txt$")


def place_of(version: int, path: str, modules: tuple[Module, ...]) -> bool:
    """True when `path` belongs to the declared version's layout (directories included)."""
    if path == "metadata.json" or path in ("codegen", "codegen/host", "codegen/host/src",
                                           "codegen/host/lib", "codegen/host/include"):
        return True
    if _CODEGEN.match(path):
        return True
    own = {e.path for m in modules for e in expected_members(version, m)}
    dirs = {p.rsplit("/", i)[0] for p in own for i in range(1, p.count("/") + 1)}
    if path in own or path in dirs:
        return True
    if any(m.style == "operator" for m in modules):
        return path == "src" or bool(_OPERATOR_TIR.match(path))
    if version >= 4 and path == "src":
        return True
    if version >= 5 and (path == "runtime" or path.startswith("runtime/")):
        return True
    return version >= 7 and (path == "templates" or path.startswith("templates/"))


_PATH_VERSIONS: tuple[tuple[re.Pattern[str], frozenset[int]], ...] = (
    (re.compile(r"^relay\.txt$"), frozenset({1, 2, 3})),
    (re.compile(r"^src/relay\.txt$"), frozenset({4, 5, 6})),
    (re.compile(r"^src/[^/]+\.relay$"), frozenset({7})),
    (re.compile(r"^src/[^/]+\.relax$"), frozenset({8})),
    (re.compile(r"^runtime-config/"), frozenset({1, 2, 3, 4})),
    (re.compile(r"^executor-config/graph/graph\.json$"), frozenset({5, 6})),
    (re.compile(r"^executor-config/graph/[^/]+\.graph$"), frozenset({7, 8})),
    (re.compile(r"^templates/"), frozenset({7})),
    (re.compile(r"^codegen/host/include/"), frozenset({5, 6, 7, 8})),
)


def versions_of_path(path: str) -> frozenset[int] | None:
    """The versions whose layout has this path, when the path is version-specific."""
    for pattern, versions in _PATH_VERSIONS:
        if pattern.search(path):
            return versions
    return None


def fingerprint(meta: dict[str, Any], archive: Archive) -> dict[int, int]:
    """Score each version by how many version-specific clues in the archive it agrees with."""
    clues: list[frozenset[int]] = []
    flat = meta
    if isinstance(meta.get("modules"), dict):
        clues.append(frozenset({7, 8}))
        flat = next(iter(meta["modules"].values()), {}) if meta["modules"] else {}
        if not isinstance(flat, dict):
            flat = {}
    elif "model_name" in meta:
        clues.append(frozenset(range(1, 8)))
    if "runtimes" in flat:
        clues.append(frozenset({1, 2, 3, 4}))
    if "executors" in flat:
        clues.append(frozenset({5, 6, 7, 8}))
    if "style" in flat:
        clues.append(frozenset({4, 5, 6, 7, 8}))
    elif flat:
        clues.append(frozenset({1, 2, 3}))
    memory = flat.get("memory")
    if isinstance(memory, list):
        clues.append(frozenset({1}))
    elif isinstance(memory, dict) and "functions" in memory:
        clues.append(frozenset({2, 3, 4, 5, 6, 7, 8}))
    target = flat.get("target")
    if isinstance(target, dict):
        clues.append(frozenset({1, 2, 3, 4, 5}))
    elif isinstance(target, list):
        clues.append(frozenset({6, 7, 8}))
    if "generator" in flat:
        clues.append(frozenset({8}))
    for member in archive.files():
        versions = versions_of_path(member.name)
        if versions is not None:
            clues.append(versions)
        m = re.match(r"^codegen/host/src/(lib\d+|.+_lib\d+)\.\w+$", member.name)
        if m and flat.get("style", "full-model") == "full-model":
            clues.append(frozenset({1, 2}) if m.group(1).startswith("lib")
                         else frozenset(range(3, 9)))
    return {v: sum(v in c for c in clues) for v in sorted(ALL_VERSIONS)}
