"""Which archive paths each MLF version writes, per module, and which version a layout suggests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlfcheck.reading.archive import Archive
from mlfcheck.reading.model import Module

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


_CODEGEN = re.compile(r"^codegen/host/(?:src/(?P<src>[^/]+)\.(?P<ext>c|cc|cpp)"
                      r"|lib/(?P<obj>[^/]+)\.o|include/tvmgen_[^/]+\.h)$")
CPP_SOURCES_FROM = 5
"""TVM wrote .cc/.cpp codegen sources (BYOC modules) from cc5382ed41, in the v5 era."""
_OPERATOR_TIR = re.compile(r"^src/tir-\d+\.txt$")


def place_of(version: int, path: str, modules: tuple[Module, ...]) -> bool:
    """True when `path` belongs to the declared version's layout (directories included)."""
    if path == "metadata.json" or path in ("codegen", "codegen/host", "codegen/host/src",
                                           "codegen/host/lib", "codegen/host/include"):
        return True
    codegen = _CODEGEN.match(path)
    if codegen:
        return codegen.group("ext") in (None, "c") or version >= CPP_SOURCES_FROM
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
    return (version >= 7 and any(m.executor == "aot" for m in modules)
            and (path == "templates" or path.startswith("templates/")))


def outside_layout_hint(version: int, path: str) -> str:
    """Why a path the declared layout lacks may be there: the versions it belongs to, or the
    condition under which TVM writes it."""
    if _CODEGEN.match(path):
        return ("; TVM wrote .cc/.cpp codegen sources only from cc5382ed41 "
                f"(v{CPP_SOURCES_FROM} on)")
    if version == 7 and (path == "templates" or path.startswith("templates/")):
        return ("; TVM writes templates/ only for AOT modules with the crt runtime "
                "(v0.12 on), never for graph-only archives")
    versions = versions_of_path(path)
    return f"; this path belongs to {describe_versions(versions)}" if versions else ""


_PATH_VERSIONS: tuple[tuple[re.Pattern[str], str, frozenset[int]], ...] = (
    (re.compile(r"^relay\.txt$"), "relay.txt at the root", frozenset({1, 2, 3})),
    (re.compile(r"^src/relay\.txt$"), "src/relay.txt", frozenset({4, 5, 6})),
    (re.compile(r"^src/[^/]+\.relay$"), "src/<m>.relay", frozenset({7})),
    (re.compile(r"^src/[^/]+\.relax$"), "src/<m>.relax", frozenset({8})),
    (re.compile(r"^runtime-config/"), "runtime-config/", frozenset({1, 2, 3, 4})),
    (re.compile(r"^executor-config/graph/graph\.json$"), "executor-config/graph/graph.json",
     frozenset({5, 6})),
    (re.compile(r"^executor-config/graph/[^/]+\.graph$"), "executor-config/graph/<m>.graph",
     frozenset({7, 8})),
    (re.compile(r"^templates/"), "templates/", frozenset({7})),
    (re.compile(r"^codegen/host/include/"), "codegen/host/include/", frozenset({5, 6, 7, 8})),
    (re.compile(r"^codegen/host/src/[^/]+\.(?:cc|cpp)$"), ".cc/.cpp codegen sources",
     frozenset(range(CPP_SOURCES_FROM, 9))),
)
_CODEGEN_NAME = re.compile(r"^codegen/host/src/(lib\d+|.+_lib\d+)\.\w+$")


def versions_of_path(path: str) -> frozenset[int] | None:
    """The versions whose layout has this path, when the path is version-specific."""
    for pattern, _, versions in _PATH_VERSIONS:
        if pattern.search(path):
            return versions
    return None


def describe_versions(versions: frozenset[int]) -> str:
    """'v4', 'v1-v4' or 'v2/v5' for a set of versions."""
    ordered = sorted(versions)
    if len(ordered) > 1 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"v{ordered[0]}-v{ordered[-1]}"
    return "/".join(f"v{v}" for v in ordered)


@dataclass(frozen=True)
class Clue:
    """One version-specific fact about an archive and the versions it fits."""

    what: str
    versions: frozenset[int]


@dataclass(frozen=True)
class Fingerprint:
    """The version-specific clues an archive shows, and what they suggest."""

    clues: tuple[Clue, ...]

    def score(self, version: int) -> int:
        """How many clues fit `version`."""
        return sum(version in c.versions for c in self.clues)

    def best(self) -> tuple[int, ...]:
        """The versions that fit the most clues (empty when there are no clues)."""
        scores = {v: self.score(v) for v in sorted(ALL_VERSIONS)}
        top = max(scores.values())
        return tuple(v for v, s in scores.items() if s == top) if top else ()

    def against(self, version: int) -> tuple[Clue, ...]:
        """The clues that rule `version` out."""
        return tuple(c for c in self.clues if version not in c.versions)


def _key_clues(meta: dict[str, Any]) -> list[Clue]:
    clues: list[Clue] = []
    flat: Any = meta
    if isinstance(meta.get("modules"), dict):
        clues.append(Clue("top-level 'modules'", frozenset({7, 8})))
        flat = next(iter(meta["modules"].values()), {})
    elif "model_name" in meta:
        clues.append(Clue("a flat document with 'model_name'", frozenset(range(1, 8))))
    if not isinstance(flat, dict):
        return clues
    for key, versions in (("runtimes", {1, 2, 3, 4}), ("executors", {5, 6, 7, 8}),
                          ("generator", {8})):
        if key in flat:
            clues.append(Clue(f"key '{key}'", frozenset(versions)))
    if "style" in flat:
        clues.append(Clue("key 'style'", frozenset({4, 5, 6, 7, 8})))
    elif flat:
        clues.append(Clue("no key 'style'", frozenset({1, 2, 3})))
    memory = flat.get("memory")
    if isinstance(memory, list):
        clues.append(Clue("'memory' as a list", frozenset({1})))
    elif isinstance(memory, dict) and "functions" in memory:
        clues.append(Clue("'memory.functions'", frozenset(range(2, 9))))
    target = flat.get("target")
    if isinstance(target, dict):
        clues.append(Clue("'target' as an object", frozenset({1, 2, 3, 4, 5})))
    elif isinstance(target, list):
        clues.append(Clue("'target' as a list", frozenset({6, 7, 8})))
    return clues


def fingerprint(meta: dict[str, Any], archive: Archive) -> Fingerprint:
    """The version-specific clues in an archive's keys and paths (each kind counted once)."""
    clues = _key_clues(meta)
    full_model = meta.get("style", "full-model") == "full-model"
    seen: set[str] = set()
    for member in archive.files():
        for pattern, what, versions in _PATH_VERSIONS:
            if what not in seen and pattern.search(member.name):
                seen.add(what)
                clues.append(Clue(what, versions))
        m = _CODEGEN_NAME.match(member.name)
        if m and full_model:
            prefixed = not m.group(1).startswith("lib")
            what = "codegen files named <m>_lib<N>" if prefixed else "codegen files named lib<N>"
            if what not in seen:
                seen.add(what)
                clues.append(Clue(what, frozenset(range(3, 9)) if prefixed
                                  else frozenset({1, 2})))
    return Fingerprint(tuple(clues))
