"""A `Snapshot` of one archive: the normalised model plus every comparable fact beside it.

Wraps a `Loaded` archive and adds what only the diff needs: generated C split into
functions and top-level declarations per module, the graph config's inputs, outputs and called
functions, the IR text, and which members those facts came from. Also how C text is compared
beyond folding: numeric literals by value (`by_value`), code counted without comments and
layout (`code_bytes`), one-element arrays told from scalars (`declared_array`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

from mlfcheck.reading.csource import C_SOURCE, Data, Function, SymbolTable
from mlfcheck.reading.jsondoc import JSONDoc
from mlfcheck.reading.layouts import codegen_prefix, graph_path, header_path, ir_path, params_path
from mlfcheck.reading.loaded import METADATA, Loaded
from mlfcheck.reading.model import Module, TensorSpec, dtype_bytes
from mlfcheck.reading.params import ParamsError, ParamsFile

_Symbol = TypeVar("_Symbol", Function, Data)


@dataclass(frozen=True)
class Pooled(Generic[_Symbol]):
    """Symbols of one kind (functions or data) pooled over a module's files by name."""

    symbols: dict[str, _Symbol]
    """By key: the name, or `name#2`, `name#3`... (in file order) for a static symbol whose
    name a symbol of another file has too; those are distinct symbols of valid C."""
    aliases: tuple[tuple[str, str], ...] = ()
    """(key, file) of each `name#n` key."""
    redefined: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(name, files) of each name defined more than once where C allows it once (two external
    definitions, or two in one file): only the first definition is in `symbols`."""


@dataclass(frozen=True)
class CodeUnit:
    """A module's generated C: functions and data by unique key, pooled over its files."""

    functions: dict[str, Function]
    order: tuple[str, ...]
    """Function keys in file order (files sorted by name)."""
    data: dict[str, Data]
    tables: tuple[SymbolTable, ...]
    """The module's files' symbol tables, in the same order."""
    aliases: tuple[tuple[str, str, str], ...] = ()
    """(kind, key, file) of each `name#n` key: 'function' or 'data'."""
    redefined: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    """(kind, name, files) of each name defined more than once where C allows it once."""


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
            tables = tuple(t for path in sorted(files, key=_natural)
                           if (t := read.get(path)) is not None)
            funcs = _pool([f for t in tables for f in t.functions], lambda f: f.static)
            data = _pool(_definitions([d for t in tables for d in t.data]),
                         lambda d: "static" in d.storage)
            out[name] = CodeUnit(
                funcs.symbols, tuple(funcs.symbols), data.symbols, tables,
                tuple(("function", *a) for a in funcs.aliases)
                + tuple(("data", *a) for a in data.aliases),
                tuple(("function", *r) for r in funcs.redefined)
                + tuple(("data", *r) for r in data.redefined))
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


def _pool(found: list[_Symbol], internal: Callable[[_Symbol], bool]) -> Pooled[_Symbol]:
    """`found` (in file order) by key. A symbol whose name is taken gets `name#n` when it sits
    in another file than every earlier one and it, or every earlier one, is `internal` (static):
    valid C, two symbols. Otherwise it is a redefinition C refuses; it is left out, and
    listed."""
    pooled: dict[str, _Symbol] = {}
    kept: dict[str, list[_Symbol]] = {}
    aliases: list[tuple[str, str]] = []
    refused: dict[str, list[str]] = {}
    for symbol in found:
        earlier = kept.setdefault(symbol.name, [])
        key = symbol.name if not earlier else f"{symbol.name}#{len(earlier) + 1}"
        if earlier and (symbol.file in {e.file for e in earlier} or not (
                internal(symbol) or all(internal(e) for e in earlier))):
            refused.setdefault(symbol.name, [earlier[0].file]).append(symbol.file)
            continue
        if earlier:
            aliases.append((key, symbol.file))
        earlier.append(symbol)
        pooled[key] = symbol
    return Pooled(pooled, tuple(aliases),
                  tuple((name, tuple(files)) for name, files in refused.items()))


def _definitions(data: list[Data]) -> list[Data]:
    """`data` as the symbols it names, each once: an `extern` declaration (no initializer)
    only where the module defines no data of its name, a tentative definition (no initializer)
    only where its file has no other definition of the name (C makes them one symbol)."""
    def bare(d: Data) -> bool:
        return d.value is None

    def extern(d: Data) -> bool:
        return bare(d) and "extern" in d.storage
    defined = {d.name for d in data if not extern(d)}
    initialised = {(d.file, d.name) for d in data if not bare(d)}
    seen: set[tuple[str, str]] = set()
    out = []
    for d in data:
        where = ("", d.name) if extern(d) else (d.file, d.name)
        if bare(d):
            if where in seen or (extern(d) and d.name in defined) or where in initialised:
                continue
            seen.add(where)
        out.append(d)
    return out


def declared_array(d: Data, unit: CodeUnit) -> bool:
    """Whether `d` is declared as an array: the reader counts a scalar and a one-element array
    alike (`count` 1), the declarator (or, for a member of an initialised struct, the struct's
    member type) tells them apart."""
    owner, dot, member = d.name.partition(".")
    if dot:
        struct = unit.data[owner].type.removeprefix("struct ") if owner in unit.data else ""
        found = (m for t in unit.tables for s in t.structs if s.name == struct
                 for m in s.members if m.name == member)
        return any("[" in m.type for m in found)
    end = d.value[0] if d.value is not None else d.span.end
    head = d._text.fold(d.span.start, end)  # the declaration up to its initializer
    return re.search(rf"(?<![\w]){re.escape(d.name)}\[", head) is not None


def code_bytes(functions: Iterable[Function], sizes: dict[bytes, int] | None = None) -> int:
    """Bytes of code of `functions`: their text without comments, with whitespace only where
    it separates tokens (what the headline and D406/D407 count, not the layout). `sizes`
    (a function's bytes → its count) is filled and read, so the two sides of a diff fold each
    byte-identical function once (equal bytes fold to equal text)."""
    sizes = {} if sizes is None else sizes
    total = 0
    for f in functions:
        if (size := sizes.get(f.raw)) is None:
            size = sizes[f.raw] = len(f.folded.encode("utf-8", "surrogatepass"))
        total += size
    return total


_LITERAL_TOKEN = re.compile(r""""(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'"""
                            r"|(?<![\w.])(\.?[0-9](?:[eEpP][+-]|[\w.])*)")
"""A string or character literal (kept as written), or (group 1) a preprocessing number: what
C lexes as one numeric token, from a digit (or a dot and a digit) to the last character that
can continue it."""
_DIGIT = re.compile(r"[0-9]")
_INTEGER = re.compile(r"(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)"
                      r"((?:[uU](?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU]?)?)")
_DECIMAL_FLOAT = re.compile(r"(?:([0-9]*)\.([0-9]*)|([0-9]+)(?=[eE]))(?:[eE]([+-]?[0-9]+))?"
                            r"([fFlL]?)")
_HEX_FLOAT = re.compile(r"0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?[0-9]+)([fFlL]?)")
_LONGEST_LITERAL = 64
"""Longer numeric tokens are compared as written (no real literal is this long)."""
_INT_MIN_MAX = 32767
"""The least INT_MAX C allows: up to it a literal is an int (or the type its suffix asks for)
in any base, beyond it a hexadecimal or octal one may be unsigned where a decimal one is not."""
_BINARY_EXPONENT = 1100
"""Hex floats with a larger binary exponent are compared as written."""


def by_value(text: str) -> str:
    """Folded C text with every numeric literal spelled one way per value and type (16, 0x10
    and 020 alike; 2.560000e+02f and 256.0f alike), strings and characters untouched; two
    texts equal after this compile to the same code."""
    if _DIGIT.search(text) is None:
        return text
    spelled: dict[str, str] = {}  # a body repeats a few numbers many times

    def one(m: re.Match[str]) -> str:
        token = m.group(1)
        if token is None:
            return m.group()
        found = spelled.get(token)
        if found is None:
            found = spelled[token] = _literal(token)
        return found
    return _LITERAL_TOKEN.sub(one, text)


def _literal(token: str) -> str:
    """One numeric token spelled canonically, or as written when it is not a literal this
    reads (or too long to be one)."""
    if len(token) > _LONGEST_LITERAL:
        return token
    if (m := _INTEGER.fullmatch(token)) is not None:
        digits, suffix = m.groups()
        value = int(digits, 16 if digits[1:2] in "xX" and len(digits) > 1 else
                    2 if digits[1:2] in "bB" and len(digits) > 1 else
                    8 if digits.startswith("0") else 10)
        suffix = "u" * ("u" in suffix.lower()) + suffix.lower().replace("u", "")
        decimal = not digits.startswith("0") or value <= _INT_MIN_MAX or "u" in suffix
        return f"{value}{suffix}" if decimal else f"0x{value:x}{suffix}"
    if (m := _DECIMAL_FLOAT.fullmatch(token)) is not None:
        whole, fraction, bare, exponent, suffix = m.groups()
        digits = (whole or "") + (fraction or "") if bare is None else bare
        return _decimal(digits, int(exponent or 0) - len(fraction or ""), suffix.lower())
    if (m := _HEX_FLOAT.fullmatch(token)) is not None:
        whole, fraction, exponent, suffix = m.groups()
        mantissa = int((whole or "") + (fraction or "") or "0", 16)
        power = int(exponent) - 4 * len(fraction or "")
        if abs(power) > _BINARY_EXPONENT:
            return token
        scaled = mantissa << power if power >= 0 else mantissa * 5 ** -power
        return _decimal(str(scaled), min(power, 0), suffix.lower())
    return token


def _decimal(digits: str, exponent: int, suffix: str) -> str:
    """digits × 10^exponent as `<digits without zeros at either end>e<exponent><suffix>`."""
    digits = digits.lstrip("0")
    if not digits:
        return f"0e0{suffix}"
    kept = digits.rstrip("0")
    return f"{kept}e{exponent + len(digits) - len(kept)}{suffix}"


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
