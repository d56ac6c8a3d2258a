"""Checks of the members metadata points at: parameters, graph config and generated C, the C
judged as a compiler and a linker would from its symbol tables: which definitions a compiler
skips or may skip (preprocessor conditionals, `#define` renames), external symbols defined
twice, and declarations whose type is not their definition's.

One defect, one finding: an operator function whose only definitions a compiler skips for
certain (`#if 0`) is X001, which says where it hides; X007 reports every other definition that
metadata or an interface names and that sits under a conditional (an entry point under
`#if 0`, an operator under `#ifdef FAST`), and every `#define` of such a name. X005 and X006
read only what a compiler always compiles: definitions outside conditionals."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from mlfcheck.findings import Code, Finding
from mlfcheck.reading.csource import ENTRY_POINT, Data, Function, Prototype, SymbolTable
from mlfcheck.reading.jsondoc import escape_token
from mlfcheck.reading.layouts import graph_path, header_path, params_path
from mlfcheck.reading.loaded import Loaded, Unavailable
from mlfcheck.reading.model import Module
from mlfcheck.reading.params import ParamsError, ParamsFile
from mlfcheck.validate.checks.base import check


@check(Code.P001, Code.P002, Code.P003, needs="model")
def parameters_file(ctx: Loaded) -> Iterator[Finding]:
    """parameters/<m>.params parses completely in TVM's param-dict format (mlf-spec.md §5)."""
    model = ctx.checked_model
    for module in model.modules:
        path = params_path(module)
        params = ctx.params(path)
        if isinstance(params, ParamsError):
            yield Finding(Code.P001, params.message, member=path, offset=params.offset)
        elif isinstance(params, ParamsFile):
            if params.trailing:
                yield Finding(Code.P002, f"{params.trailing} bytes follow the last tensor",
                              member=path, offset=params.size - params.trailing)
            seen: set[str] = set()
            for t in params.tensors:
                if t.name in seen:
                    yield Finding(Code.P003, f"tensor name {t.name!r} appears twice",
                                  member=path, offset=t.data_offset)
                seen.add(t.name)


def _graph(ctx: Loaded, module: Module) -> tuple[str, dict[str, Any] | str | None]:
    """The module's graph JSON, an error message, or None when there is none to read."""
    path = graph_path(ctx.checked_model.version, module)
    graph = ctx.json_member(path) if module.executor == "graph" else None
    if graph is None:
        return path, None
    if isinstance(graph, Unavailable):
        f = graph.finding
        if f.code is Code.M008:  # over --max-metadata-size: not read at all
            return path, f"not read: {f.message}"
        where = f" at {f.line}:{f.column}" if f.line else ""
        return path, f"not valid JSON{where}: {f.message}"
    value = graph.value
    if not isinstance(value, dict):
        return path, "graph JSON is not an object"
    missing = [k for k in ("nodes", "arg_nodes", "heads", "attrs") if k not in value]
    if missing:
        return path, f"graph JSON lacks {', '.join(missing)}"
    try:
        storage = value["attrs"]["storage_id"][1]
        names = [n["name"] for n in value["nodes"]]
        args = [names[i] for i in value["arg_nodes"]]
        if not all(isinstance(s, int) for s in storage):
            raise TypeError
    except (KeyError, IndexError, TypeError):
        return path, "graph JSON has malformed nodes, arg_nodes or attrs.storage_id"
    return path, {"storage": storage, "args": args}


@check(Code.G001, Code.G002, needs="model")
def graph_config(ctx: Loaded) -> Iterator[Finding]:
    """The graph JSON parses, and sids list its distinct storage ids in first-use order (§4)."""
    model = ctx.checked_model
    for module in model.modules:
        path, graph = _graph(ctx, module)
        if isinstance(graph, str):
            yield Finding(Code.G001, graph, member=path)
            continue
        if graph is None or module.sids is None:
            continue
        order = list(dict.fromkeys(graph["storage"]))
        listed = [s.storage_id for s in module.sids]
        sids_at = f"{module.pointer}/memory" + ("/sids" if model.version >= 2 else "")
        if listed != order:
            yield ctx.at(Code.G002, f"sids list storage ids {short_list(listed)} but the graph "
                         f"uses {short_list(order)} in first-use order", sids_at)
        args = set(graph["args"])
        for i, sid in enumerate(module.sids):
            if sid.input_binding is not None and sid.input_binding not in args:
                yield ctx.at(Code.G002, f"input_binding {sid.input_binding!r} is not an input "
                             "node of the graph", f"{sids_at}/{i}/input_binding")


@check(Code.G003, needs="model")
def params_are_graph_inputs(ctx: Loaded) -> Iterator[Finding]:
    """Every parameter name is an input node of the graph (TVMGraphExecutor_LoadParams)."""
    model = ctx.checked_model
    for module in model.modules:
        _, graph = _graph(ctx, module)
        params = ctx.params(params_path(module))
        if not isinstance(graph, dict) or not isinstance(params, ParamsFile):
            continue
        args = set(graph["args"])
        for t in params.tensors:
            if t.name not in args:
                yield Finding(Code.G003, f"tensor {t.name!r} has no input node of that name in "
                              "the graph", member=params_path(module), offset=t.data_offset)


def short_list(values: list[int]) -> str:
    """A list as JSON, cut after 8 values (findings stay one short line)."""
    return json.dumps(values if len(values) <= 8 else [*values[:8], "..."])


@check(Code.X001, needs="model")
def operator_functions_defined(ctx: Loaded) -> Iterator[Finding]:
    """Every operator_functions[].function_name is defined in codegen/host/src, where a
    compiler compiles it (§4)."""
    gaps = _operator_gaps(ctx)
    for module in ctx.checked_model.modules if gaps else ():
        for op in module.operator_functions:
            if op.name in gaps:
                hidden = gaps[op.name]
                why = "" if hidden is None or hidden.condition is None else (
                    f": a compiler skips its definition at {hidden.file}:"
                    f"{hidden.span.first_line}, under `{hidden.condition.directive}` (line "
                    f"{hidden.condition.line})")
                yield ctx.at(Code.X001, f"{op.name} is not defined in codegen/host/src/*{why}",
                             op.pointer + "/function_name")


def _operator_gaps(ctx: Loaded) -> dict[str, Function | None]:
    """The operator functions metadata names that no source defines where a compiler
    compiles them, each with a definition a compiler skips, if there is one; empty when that
    cannot be told (no C, a prebuilt library, a source that was not read)."""
    if ctx.archive.files("codegen/host/lib"):
        return {}
    wanted = {op.name for module in ctx.checked_model.modules
              for op in module.operator_functions}
    if not wanted or not ctx.codegen.sources:
        return {}
    tables = ctx.codegen.tables()
    if any(path not in tables for path in ctx.codegen.sources):
        return {}  # a source over the size limit: what it defines is unknown
    defined = [f for path in ctx.codegen.sources for f in tables[path].functions
               if f.name in wanted]
    skipped = {f.name: f for f in reversed(defined) if not f.compiled}
    return {name: skipped.get(name) for name in sorted(wanted - {f.name for f in defined
                                                                 if f.compiled})}


@check(Code.X002, needs="model")
def header_declares_tensors(ctx: Loaded) -> Iterator[Finding]:
    """The interface header has a struct field for every input and output metadata names."""
    model = ctx.checked_model
    for module in model.modules:
        header = ctx.codegen.table(header_path(module))
        if header is None:
            continue
        fields = {m.name for s in header.structs for m in s.members}
        for entry in module.main:
            for kind, group in (("inputs", entry.inputs), ("outputs", entry.outputs)):
                for t in group or ():
                    c_name = re.sub(r"\W", "_", t.name)
                    if c_name not in fields:
                        yield ctx.at(Code.X002, f"{header_path(module)} has no field {c_name} "
                                     f"for {kind[:-1]} {t.name!r}",
                                     f"{entry.pointer}/{kind}/{escape_token(t.name)}")


@check(Code.X003, Code.X004, needs="archive")
def generated_code_parses(ctx: Loaded) -> Iterator[Finding]:
    """Every generated C file and header parses as C, as a compiler reads it, within the
    limits on reading C."""
    for path, table in ctx.codegen.tables().items():
        if table.error is not None:
            yield Finding(Code.X003, table.error.message, member=path, line=table.error.line,
                          column=table.error.column)
    for path, why in ctx.codegen.unread.items():
        yield Finding(Code.X004, why, member=path)


@check(Code.X005, needs="archive")
def external_symbols_defined_once(ctx: Loaded) -> Iterator[Finding]:
    """No function or data a linker sees is defined twice in codegen/host/src (static ones
    in different files are not: each file keeps its own)."""
    tables = _parsed(ctx)
    first: dict[str, Function | Data] = {}
    for path in ctx.codegen.sources:
        for symbol in _external_definitions(tables[path]) if path in tables else ():
            seen = first.setdefault(symbol.name, symbol)
            if seen is not symbol:
                yield Finding(Code.X005, f"{symbol.name} is defined again here (first at "
                              f"{seen.file}:{seen.span.first_line}): a link fails with "
                              "'multiple definition'", member=path, line=symbol.span.first_line)


def _parsed(ctx: Loaded) -> dict[str, SymbolTable]:
    """The symbol tables of the C files that parse: what error recovery makes of one that
    does not (X003) is not what it defines."""
    return {path: t for path, t in ctx.codegen.tables().items() if t.error is None}


def _external_definitions(table: SymbolTable) -> Iterator[Function | Data]:
    """The definitions of one file that a linker sees (not static, not under a conditional),
    in file order; of data, each name once, unless two initialise it (a file may repeat a
    tentative definition: one object)."""
    yield from (f for f in table.functions if not f.static and f.condition is None)
    kept: dict[str, Data] = {}
    for d in table.data:
        if not d.defined or "static" in d.storage or d.condition is not None or "." in d.name:
            continue
        held = kept.setdefault(d.name, d)
        if held is not d and held.value is not None and d.value is not None:
            yield d  # initialised twice in one file
        elif held is not d and held.value is None:
            kept[d.name] = d
    yield from sorted(kept.values(), key=lambda d: d.span.start)


@check(Code.X006, needs="archive")
def declarations_match_definitions(ctx: Loaded) -> Iterator[Finding]:
    """Each declaration of an interface header, and each declaration in the file that defines
    it, has its definition's type: return and parameter types; element type, qualifiers and
    length."""
    tables = _parsed(ctx)
    external: dict[str, list[Function | Data]] = {}
    for path in ctx.codegen.sources:
        for symbol in _external_definitions(tables[path]) if path in tables else ():
            external.setdefault(symbol.name, []).append(symbol)
    for path, table in tables.items():
        own: dict[str, list[Function | Data]] = {}
        if path not in ctx.codegen.headers:
            for symbol in _definitions(table):
                if symbol.condition is None and (isinstance(symbol, Function) or symbol.defined):
                    own.setdefault(symbol.name, []).append(symbol)
        declared: list[Prototype | Data] = [*table.prototypes, *(
            d for d in table.data if not d.defined and d.condition is None)]
        for declaration in declared:
            found = own if path not in ctx.codegen.headers else external
            for definition in found.get(declaration.name, ()):
                mismatch = _mismatch(declaration, definition)
                if mismatch is not None:
                    yield Finding(Code.X006, f"{declaration.name} is declared here {mismatch} at "
                                  f"{definition.file}:{definition.span.first_line}",
                                  member=path, line=declaration.span.first_line)
                    break


def _definitions(table: SymbolTable) -> list[Function | Data]:
    """The functions and data of one file (data includes `extern` declarations)."""
    return [*table.functions, *table.data]


def _mismatch(declared: Prototype | Data, defined: Function | Data) -> str | None:
    """How a declaration's type differs from its definition's, said as `as X but defined as
    Y`; None when they agree (a declaration without parameters, `f()`, agrees with any)."""
    if isinstance(declared, Prototype) != isinstance(defined, Function):
        return "as a " + ("function" if isinstance(declared, Prototype) else "variable") + \
            " but defined as a " + ("function" if isinstance(defined, Function) else "variable")
    if isinstance(declared, Prototype) and isinstance(defined, Function):
        if declared.type == defined.type or declared.type.endswith("()"):
            return None
        return f"as `{declared.type}` but defined as `{defined.type}`"
    assert isinstance(declared, Data) and isinstance(defined, Data)
    same_type = _qualified(declared) == _qualified(defined)
    same_length = None in (declared.count, defined.count) or declared.count == defined.count
    if same_type and same_length:
        return None
    return f"as `{_shown(declared)}` but defined as `{_shown(defined)}`"


def _qualified(d: Data) -> str:
    """A variable's qualifiers and element type (`const int8_t`)."""
    return " ".join([*(q for q in d.storage if q in ("const", "volatile")), d.type])


def _shown(d: Data) -> str:
    """A variable's qualifiers, type and length, as a message shows them."""
    length = "" if d.count == 1 else f"[{'' if d.count is None else d.count}]"
    return f"{_qualified(d)}{length}"


@check(Code.X007, needs="model")
def definitions_not_hidden(ctx: Loaded) -> Iterator[Finding]:
    """No function or data that metadata or an interface header names is defined under a
    preprocessor conditional, and no such name is `#define`d to something else."""
    tables = _parsed(ctx)
    named = _named(ctx, tables)
    reported = set(_operator_gaps(ctx))  # X001's
    for path, table in tables.items():
        for symbol in _definitions(table):
            name, condition = symbol.name.partition(".")[0], symbol.condition
            if condition is None or name not in named or name in reported:
                continue
            reported.add(name)
            why = "which a compiler skips" if condition.skipped else \
                "so whether a compiler builds it depends on macros from outside the archive"
            yield Finding(Code.X007, f"{name} is defined under `{condition.directive}` (line "
                          f"{condition.line}), {why}", member=path, line=symbol.span.first_line)
    every = named.union(*({s.name for s in _definitions(t)} | {p.name for p in t.prototypes}
                          for t in tables.values()))
    for path, table in tables.items():
        for macro in table.macros:
            if macro.replaces in every:
                value = macro.value if len(macro.value) <= 60 else macro.value[:59] + "…"
                yield Finding(Code.X007, f"`#define {macro.name} {value}` renames "
                              f"{macro.replaces}: a compiler reads the expansion wherever the "
                              "name is written", member=path, line=macro.span.first_line)


def _named(ctx: Loaded, tables: dict[str, SymbolTable]) -> set[str]:
    """The names a consumer uses: operator functions metadata lists, entry points, and what
    the interface headers declare."""
    named = {op.name for module in ctx.checked_model.modules
             for op in module.operator_functions}
    for path, table in tables.items():
        named.update(name for name in table.entry_points() if ENTRY_POINT.match(name))
        if path in ctx.codegen.headers:
            named.update(p.name for p in table.prototypes)
            named.update(d.name for d in table.data if not d.defined)
    return named
