"""A `Snapshot` of one archive: the normalised model plus every comparable fact beside it.

Wraps a `Loaded` archive and adds what only the diff needs: generated C split into
functions and top-level declarations per module, the graph config's inputs, outputs and called
functions, the IR text, and which members those facts came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from mlfcheck.reading.csource import C_SOURCE, Data, Function, SymbolTable
from mlfcheck.reading.jsondoc import JSONDoc
from mlfcheck.reading.layouts import codegen_prefix, graph_path, header_path, ir_path, params_path
from mlfcheck.reading.loaded import METADATA, Loaded
from mlfcheck.reading.model import Module, TensorSpec, dtype_bytes
from mlfcheck.reading.params import ParamsError, ParamsFile


@dataclass(frozen=True)
class CodeUnit:
    """A module's generated C: functions and data by unique name, pooled over its files."""

    functions: dict[str, Function]
    order: tuple[str, ...]
    """Function keys in file order (files sorted by name)."""
    data: dict[str, Data]
    tables: tuple[SymbolTable, ...]
    """The module's files' symbol tables, in the same order."""


@dataclass(frozen=True)
class Graph:
    """The parts of a graph executor config the diff reads."""

    doc: dict[str, Any]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    calls: frozenset[str]
    """Function names of tvm_op nodes."""


class Snapshot:
    """One archive read for comparison; facts are computed once, on first use."""

    def __init__(self, label: str, ctx: Loaded) -> None:
        self.label = label
        self.ctx = ctx
        self.model = ctx.usable_model(label, "compare")

    @property
    def version(self) -> int:
        """The declared MLF version."""
        return self.model.version

    @cached_property
    def modules(self) -> dict[str, Module]:
        """Modules by name."""
        return {m.name: m for m in self.model.modules}

    def entry(self, module: Module) -> dict[str, Any]:
        """The module's own metadata object (modules.<m> in v7+, the whole document before)."""
        meta = self.ctx.meta
        if isinstance(meta.get("modules"), dict):
            value = meta["modules"].get(module.name, {})
            return value if isinstance(value, dict) else {}
        return {k: v for k, v in meta.items() if k != "version"}

    # -- members per role -----------------------------------------------------------------------

    def role_paths(self, module: Module) -> dict[str, str]:
        """Where this module's IR text, parameters and graph config live (when present)."""
        out = {"IR text": ir_path(self.version, module), "parameters": params_path(module)}
        if module.executor == "graph":
            out["graph config"] = graph_path(self.version, module)
        return {role: path for role, path in out.items() if path in self.ctx.archive.members}

    @cached_property
    def claimed(self) -> frozenset[str]:
        """Members a specific comparator reads; the rest go to the generic member comparator."""
        paths = {METADATA} | {p for f in self.c_files.values() for p in f}
        paths |= {header_path(m) for m in self.model.modules}
        for module in self.model.modules:
            paths |= set(self.role_paths(module).values())
        return frozenset(paths)

    # -- generated code -------------------------------------------------------------------------

    @cached_property
    def c_files(self) -> dict[str, tuple[str, ...]]:
        """C source members per module name, by codegen file prefix (else the first module)."""
        names = [m.name for m in self.model.modules]
        prefixes = sorted(((codegen_prefix(self.version, m), m.name) for m in self.model.modules),
                          key=lambda p: -len(p[0]))
        out: dict[str, list[str]] = {n: [] for n in names}
        for member in self.ctx.archive.files("codegen/host/src"):
            if not C_SOURCE.match(member.name):
                continue
            base = member.name.rsplit("/", 1)[1]
            owner = next((n for pre, n in prefixes if base.startswith(pre)), names[0])
            out[owner].append(member.name)
        return {n: tuple(files) for n, files in out.items()}

    def header(self, module: Module) -> SymbolTable | None:
        """The module's interface header (codegen/host/include/tvmgen_<m>.h), when present."""
        return self.ctx.codegen.table(header_path(module))

    def code(self, module: Module) -> CodeUnit:
        """The module's functions and declarations, pooled over its C files."""
        return self._code[module.name]

    @cached_property
    def _code(self) -> dict[str, CodeUnit]:
        out = {}
        read = self.ctx.codegen.tables()
        for name, files in self.c_files.items():
            funcs: dict[str, Function] = {}
            data: dict[str, Data] = {}
            tables = []
            for path in sorted(files, key=_natural):
                table = read.get(path)
                if table is None:
                    continue
                tables.append(table)
                for fn in table.functions:
                    funcs[_unique(fn.name, funcs)] = fn
                for d in table.data:
                    data[_unique(d.name, data)] = d
            out[name] = CodeUnit(funcs, tuple(funcs), data, tuple(tables))
        return out

    # -- graph config, I/O, parameters, IR ---------------------------------------------------------

    def graph(self, module: Module) -> Graph | None:
        """The parsed graph config, None when absent or unreadable (validation says why)."""
        path = self.role_paths(module).get("graph config")
        doc = self.ctx.json_member(path) if path is not None else None
        if not isinstance(doc, JSONDoc):
            return None
        try:
            return _graph(doc.value, self.params(module))
        except (KeyError, IndexError, TypeError, ValueError):
            return None

    def io(self, module: Module) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]] | None:
        """Inputs and outputs from metadata (v7+), else from the graph config, else None."""
        for entry in module.main:
            if entry.inputs is not None and entry.outputs is not None:
                return entry.inputs, entry.outputs
        graph = self.graph(module)
        if graph is not None:
            return graph.inputs, graph.outputs
        return None

    def params(self, module: Module) -> ParamsFile | ParamsError | None:
        """The module's parsed parameters (cached by the validation context)."""
        return self.ctx.params(params_path(module))

    def tensor_bytes(self, module: Module, offset: int, nbytes: int) -> bytes:
        """Raw bytes of one tensor's data in the module's parameters file."""
        with self.ctx.archive.open(params_path(module)) as stream:
            stream.seek(offset)
            return stream.read(nbytes)

    def ir_text(self, module: Module) -> str | None:
        """The IR text with line endings, trailing spaces and blank lines normalised."""
        path = self.role_paths(module).get("IR text")
        text = self.ctx.text(path) if path else None
        if text is None:
            return None
        lines = (line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
        return "\n".join(line for line in lines if line)


def _unique(key: str, taken: dict[str, Any]) -> str:
    """`key`, or `key#2`, `key#3`... when the name is already taken (static duplicates)."""
    if key not in taken:
        return key
    n = 2
    while f"{key}#{n}" in taken:
        n += 1
    return f"{key}#{n}"


def _natural(path: str) -> tuple[Any, ...]:
    """Sort key that puts lib2 before lib10. Every other part of the split is a run of ASCII
    digits, compared as a number by its length and then its digits (no int(): a run may be
    longer than int() reads)."""
    return tuple((len(q := p.lstrip("0")), q) if n % 2 else p
                 for n, p in enumerate(re.split(r"([0-9]+)", path)))


def _graph(doc: Any, params: ParamsFile | ParamsError | None) -> Graph:
    """Inputs (arg nodes that are not parameters), outputs (heads) and called functions."""
    nodes = doc["nodes"]
    attrs = doc["attrs"]
    shapes = attrs["shape"][1]
    dtypes = attrs["dltype"][1]
    row = doc.get("node_row_ptr") or list(range(len(nodes) + 1))
    bound = {t.name for t in params.tensors} if isinstance(params, ParamsFile) else set()

    def spec(name: str, entry: int) -> TensorSpec:
        shape = tuple(int(d) for d in shapes[entry])
        size = 1
        for d in shape:
            size *= d
        return TensorSpec(name, dtypes[entry], size * (dtype_bytes(dtypes[entry]) or 0), shape)

    inputs = tuple(spec(nodes[i]["name"], row[i]) for i in doc["arg_nodes"]
                   if nodes[i]["name"] not in bound)
    heads = doc["heads"]
    names = ["output"] if len(heads) == 1 else [f"output{i}" for i in range(len(heads))]
    outputs = tuple(spec(name, row[h[0]] + h[1]) for name, h in zip(names, heads, strict=True))
    calls = frozenset(n["attrs"]["func_name"] for n in nodes
                      if n.get("op") == "tvm_op" and "func_name" in n.get("attrs", {}))
    return Graph(doc, inputs, outputs, calls)
