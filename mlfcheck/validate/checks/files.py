"""Checks of the members metadata points at: parameters, graph config and generated C."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from mlfcheck.findings import Code, Finding
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
    """Every operator_functions[].function_name is defined in codegen/host/src (§4)."""
    model = ctx.checked_model
    if ctx.archive.files("codegen/host/lib"):
        return
    wanted = {op.name for module in model.modules for op in module.operator_functions}
    if not wanted or not ctx.codegen.sources:
        return
    tables = ctx.codegen.tables()
    if any(path not in tables for path in ctx.codegen.sources):
        return  # a source over the size limit: what it defines is unknown
    found = wanted.intersection(f.name for path in ctx.codegen.sources
                                for f in tables[path].functions)
    for module in model.modules:
        for op in module.operator_functions:
            if op.name not in found:
                yield ctx.at(Code.X001, f"{op.name} is not defined in codegen/host/src/*",
                             op.pointer + "/function_name")


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
