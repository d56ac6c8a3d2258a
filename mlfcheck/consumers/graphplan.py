"""The graph plan: an archive's graph config and parameters written as C for graph_runner.c.

A consumer that walks the graph (`profile.GraphWalk`) runs each `tvm_op` node in order, calling its
function with one DLTensor per input entry and per output entry. This module reads the graph
config and the parameter file the consumer reads (the reading layer's JSON and param-dict
readers), and writes `mlfcheck_plan.h`: each storage id as a static buffer sized as the graph
executors size it (the largest entry it holds), every entry's storage, dtype and shape, the
nodes with their functions and arguments, which entries are inputs (arg nodes that are not
parameters, in arg_nodes order), outputs (the heads) and parameters, and the parameters' bytes
(or, for a driver that takes them from the archive's _lookup_linked_param, their storage ids).
How the driver finds and calls a function, and what it does with the parameters, comes from
DRIVERS. Names from the archive reach the C only as escaped string literals, or (direct calls)
as checked C identifiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from math import prod
from typing import Any

from mlfcheck.consumers.profile import MODULE, Evidence, GraphWalk
from mlfcheck.reading.archive import Archive
from mlfcheck.reading.jsondoc import JSONDoc
from mlfcheck.reading.loaded import Loaded
from mlfcheck.reading.model import Model, dtype_bits
from mlfcheck.reading.params import DTYPE_CODES, ParamsFile

HEADER = "mlfcheck_plan.h"
"""The plan's file name beside graph_runner.c."""
MAX_PLAN_BYTES = 256 * 1024**2
"""Most bytes of storage and parameters one plan may hold."""
MAX_NAME = 512
"""Longest function name a plan takes."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,511}")
_CODES = {name: code for code, name in DTYPE_CODES.items()}
_CONFIGS = ("runtime-config/graph/graph.json", "executor-config/graph/graph.json")
_NDARRAY, _DLTENSOR = 13, 7
"""TVM's kTVMNDArrayHandle and kTVMDLTensorHandle argument type codes."""
LOOKUP = "_lookup_linked_param"
"""The function a LINKED driver takes each parameter's data from (graph_runner.c calls it)."""
COPIED, CONST, LINKED = "copied", "const", "linked"
"""What a driver does with the parameters: copies their bytes into their storage (load_params),
points the tensors at const arrays of them (the STM32 emitter's weights), or takes each one's
data from the archive's _lookup_linked_param by its storage id (GVSOCBuilder's runner)."""


@dataclass(frozen=True)
class Driver:
    """What one GRAPH_DRIVERS entry does: how it calls, the type code it passes, what it does
    with the parameters (COPIED, CONST or LINKED), whether the tensors carry a strides array,
    when it reads the graph config, what a function it does not find does, and what its
    generator says of a dtype outside the profile's table."""

    direct: bool
    type_code: int
    params: str
    strides: bool
    config_at_build: bool
    missing: str
    """What a missing function does ('{name}' for the function)."""
    refuses: str = "the consumer's generator does not take dtype {dtype}"
    """Why its generator stops on a dtype outside `GraphWalk.dtypes` ('{dtype}')."""


DRIVERS = {
    "rpc-graph-executor": Driver(
        False, _DLTENSOR, COPIED, False, False,
        "the graph calls {name}, which the system library's function registry does not have: "
        "the host's graph executor stops creating the node (no such function in module)"),
    "crt-graph-executor": Driver(
        False, _NDARRAY, COPIED, False, True,
        "the graph calls {name}, which the system library's function registry does not have: "
        "the C runtime's graph executor drops the failed lookup and never runs the node, so the "
        "program ends with wrong outputs"),
    "stm32-emitter": Driver(
        True, _NDARRAY, CONST, True, True,
        "the emitted network code calls {name}, which the archive does not define",
        "the consumer's generator stops: ValueError: Data type {dtype} is not supported"),
    "gvsoc-builder": Driver(
        True, _DLTENSOR, LINKED, False, True,
        "the generated runner calls {name}, which the archive does not define",
        "the consumer's generator stops: it writes tensors of float32, float64 and (u)int "
        "types only, and {dtype} is none of them (it prints 'can not handle this type')"),
}
"""Each graph driver's behaviour (profile.GRAPH_DRIVERS)."""


@dataclass(frozen=True)
class Plan:
    """The C plan and what the harness needs to know of it."""

    header: str
    """The text of mlfcheck_plan.h."""
    calls: tuple[str, ...]
    """The functions the plan calls, in node order (no '__nop')."""
    workspace: int | None
    """The largest workspace an operator function of the module asks for (metadata), if
    known."""
    config: str | None
    """The graph config read; None: the archive has none (an empty plan)."""


@dataclass(frozen=True)
class NoPlan:
    """Why there is no plan: the consumer stops before it builds, or mlfcheck cannot walk the
    graph (`level` None, `why` starts 'not built here: '), or the consumer's generator refuses
    the graph (`level` 'compiles', with the consumer line)."""

    why: str
    level: str | None = None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class _Entry:
    storage: int
    dtype: tuple[int, int, int]
    shape: tuple[int, ...]

    @property
    def bytes(self) -> int:
        return prod(self.shape) * ((self.dtype[1] * self.dtype[2] + 7) // 8)


@dataclass(frozen=True)
class _Node:
    name: str
    args: tuple[tuple[int, tuple[int, ...]], ...]
    """(entry, shape it is passed with) per argument: inputs, then outputs."""


class _Malformed(ValueError):
    """The graph config is not one a graph executor loads."""


def dl_type(dtype: str) -> tuple[int, int, int] | None:
    """(DLDataType code, bits, lanes) of a TVM dtype string, as the graph executors parse it
    ('bool' is uint1); None for one they do not know."""
    if dtype == "bool":
        return 1, 1, 1
    base = dtype.split("x")[0].rstrip("0123456789")
    bits = dtype_bits(dtype)
    lanes = dtype.partition("x")[2] or "1"
    if base not in _CODES or bits is None or not lanes.isdigit():
        return None
    return _CODES[base], bits, int(lanes)


def plan(archive: Archive, walk: GraphWalk, module: str) -> Plan | NoPlan:
    """The plan of the module's graph as `walk` reads it, or why there is none."""
    loaded = Loaded(archive)
    driver = DRIVERS[walk.driver]
    config = _first(archive, walk.config, module)
    if config is None:
        elsewhere = _graph_configs(archive)
        if elsewhere:
            return NoPlan(f"not built here: the consumer reads {_shown(walk.config, module)}, "
                          f"and the archive's graph config is {elsewhere[0]}")
        if driver.config_at_build:
            return NoPlan(f"not built here: the consumer reads {_shown(walk.config, module)} "
                          "before it builds, and the archive has no graph config")
        return Plan(_empty(walk.driver), (), _workspace(loaded, module), None)
    doc = loaded.json_member(config)
    if not isinstance(doc, JSONDoc):
        why = doc.finding.message if doc is not None else "it cannot be read"
        return NoPlan(f"not built here: {config} is not JSON a graph executor loads ({why})")
    params_path = _first(archive, walk.params, module)
    params = loaded.params(params_path) if params_path else None
    try:
        entries, nodes, inputs, outputs, bound = _graph(doc.value, params)
    except _Malformed as exc:
        return NoPlan(f"not built here: {config} is not a graph a graph executor loads ({exc})")
    refused = _refused(walk, doc.value, nodes)
    if refused is not None:
        return refused
    total = _storage_bytes(entries) + sum(entries[e].bytes for e in bound.values())
    if total > MAX_PLAN_BYTES:
        return NoPlan(f"not built here: the graph's storage and parameters take {total} bytes, "
                      f"over mlfcheck's {MAX_PLAN_BYTES} for one harness")
    if driver.params == LINKED:
        data: list[tuple[int, bytes]] | NoPlan = [(e, b"") for e in sorted(bound.values())]
    else:
        data = _param_bytes(archive, params_path, params, bound, entries)
    if isinstance(data, NoPlan):
        return data
    header = _header(walk.driver, config, entries, nodes, inputs, outputs, data)
    return Plan(header, tuple(n.name for n in nodes), _workspace(loaded, module), config)


def _first(archive: Archive, paths: tuple[str, ...], module: str) -> str | None:
    found = (p.replace(MODULE, module) for p in paths)
    return next((p for p in found if archive.readable(p)), None)


def _graph_configs(archive: Archive) -> list[str]:
    """The archive's graph configs wherever its version put them (layouts.graph_path)."""
    return sorted(m for m in archive.members if m in _CONFIGS or (
        m.startswith("executor-config/graph/") and m.endswith(".graph") and m.count("/") == 2))


def _shown(paths: tuple[str, ...], module: str) -> str:
    return " or ".join(p.replace(MODULE, module) for p in paths)


def _workspace(loaded: Loaded, module: str) -> int | None:
    model = loaded.model
    if not isinstance(model, Model):
        return None
    found = [m for m in model.modules if m.name == module] or list(model.modules[:1])
    sizes = [f.max_workspace for m in found for f in m.operator_functions]
    return max(sizes) if sizes else None


def _refused(walk: GraphWalk, doc: dict[str, Any], nodes: list[_Node]) -> NoPlan | None:
    """The consumer's generator refusing the graph before any C exists: an entry dtype outside
    its table, or (a direct call) a function name that is no C identifier."""
    other = next((n for n in doc["attrs"]["dltype"][1] if n not in walk.dtypes), None) \
        if walk.dtypes else None
    if other is not None:
        return NoPlan(DRIVERS[walk.driver].refuses.format(dtype=str(other)[:32]), "compiles",
                      walk.dtypes_evidence)
    bad = next((n.name for n in nodes if not _IDENTIFIER.fullmatch(n.name)), None)
    if bad is not None and DRIVERS[walk.driver].direct:
        return NoPlan(f"the graph calls {bad[:80]!r}, which is no C identifier: the consumer's "
                      "generated code does not compile", "compiles", walk.calls)
    return None


# -- reading the graph ------------------------------------------------------------------------


def _list(attrs: dict[str, Any], key: str) -> list[Any]:
    value = attrs.get(key)
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], list)):
        raise _Malformed(f"attrs.{key} is not a typed list")
    return value[1]


def _entries(doc: dict[str, Any]) -> list[_Entry]:
    attrs = doc.get("attrs")
    if not isinstance(attrs, dict):
        raise _Malformed("no attrs")
    sids, dtypes, shapes = (_list(attrs, k) for k in ("storage_id", "dltype", "shape"))
    if not len(sids) == len(dtypes) == len(shapes):
        raise _Malformed("storage_id, dltype and shape differ in length")
    entries = []
    for sid, dtype, shape in zip(sids, dtypes, shapes, strict=True):
        dl = dl_type(dtype) if isinstance(dtype, str) else None
        if dl is None:
            raise _Malformed(f"unknown dtype {str(dtype)[:32]!r}")
        if not (_natural(sid) and isinstance(shape, list) and all(map(_natural, shape))):
            raise _Malformed("a storage id or shape is not natural numbers")
        entries.append(_Entry(sid, dl, tuple(shape)))
    return entries


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**40


def _rows(nodes: list[Any]) -> list[int]:
    """node_row_ptr as the graph executors compute it: each node's first entry."""
    rows = [0]
    for node in nodes:
        outputs = node.get("attrs", {}).get("num_outputs", "1") if node.get("op") != "null" \
            else "1"
        rows.append(rows[-1] + int(outputs))
    return rows


def _graph(doc: Any, params: Any) -> tuple[list[_Entry], list[_Node], list[int], list[int],
                                           dict[str, int]]:
    """Entries, the op nodes, input and output entries, and {parameter name: entry}."""
    try:
        if not isinstance(doc, dict):
            raise _Malformed("not an object")
        entries = _entries(doc)
        nodes = doc["nodes"]
        rows = doc.get("node_row_ptr") or _rows(nodes)
        if len(rows) != len(nodes) + 1 or rows[-1] != len(entries):
            raise _Malformed("node_row_ptr does not match the entries")
        names = {t.name for t in params.tensors} if isinstance(params, ParamsFile) else set()
        args = [int(i) for i in doc["arg_nodes"]]
        bound = {nodes[i]["name"]: rows[i] for i in args if nodes[i]["name"] in names}
        inputs = [rows[i] for i in args if nodes[i]["name"] not in names]
        outputs = [rows[int(h[0])] + int(h[1]) for h in doc["heads"]]
        ops = [_node(n, rows, i, entries) for i, n in enumerate(nodes) if n.get("op") != "null"]
        if any(not 0 <= e < len(entries) for e in (*inputs, *outputs)):
            raise _Malformed("an input or head is not an entry")
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise _Malformed(str(exc)[:120] or type(exc).__name__) from None
    return entries, [n for n in ops if n.name != "__nop"], inputs, outputs, bound


def _node(node: dict[str, Any], rows: list[int], nid: int, entries: list[_Entry]) -> _Node:
    if node["op"] != "tvm_op":
        raise _Malformed(f"node {nid} has op {str(node['op'])[:32]!r}, not tvm_op")
    attrs = node["attrs"]
    name = attrs["func_name"]
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise _Malformed(f"node {nid} has no function name a runtime can look up")
    ids = [rows[int(i[0])] + int(i[1]) for i in node["inputs"]]
    ids += [rows[nid] + k for k in range(int(attrs.get("num_outputs", "1")))]
    flat = str(attrs.get("flatten_data", "0")) == "1"
    args = tuple((e, (prod(entries[e].shape),) if flat else entries[e].shape) for e in ids)
    return _Node(name, args)


def _param_bytes(archive: Archive, path: str | None, params: Any, bound: dict[str, int],
                 entries: list[_Entry]) -> list[tuple[int, bytes]] | NoPlan:
    """(entry, bytes) of each parameter the graph binds, in file order."""
    if path is None or not isinstance(params, ParamsFile):
        return []
    out = []
    with archive.open(path) as stream:
        for tensor in params.tensors:
            if tensor.name not in bound:
                continue
            entry = bound[tensor.name]
            if tensor.nbytes != entries[entry].bytes:
                return NoPlan(f"not built here: parameter {tensor.name[:64]!r} has "
                              f"{tensor.nbytes} bytes, its graph entry {entries[entry].bytes} "
                              "(loading the parameters fails)")
            stream.seek(tensor.data_offset)
            out.append((entry, stream.read(tensor.nbytes)))
    return out


def _storage_bytes(entries: list[_Entry]) -> int:
    sizes: dict[int, int] = {}
    for e in entries:
        sizes[e.storage] = max(sizes.get(e.storage, 0), e.bytes)
    return sum(sizes.values())


# -- writing the C ----------------------------------------------------------------------------

IN_PLACE = 0xFFFFFFFF
"""The storage index of a parameter entry whose data stays in its const array."""


def _c_string(text: str) -> str:
    """A C string literal of `text` with every byte that is not an ASCII letter or digit
    escaped."""
    return '"' + "".join(chr(b) if chr(b).isalnum() and b < 128 else f"\\{b:03o}"
                         for b in text.encode("utf-8")) + '"'


def _array(kind: str, name: str, items: list[str], per_line: int = 16) -> str:
    """`static kind name[] = {...};` (`kind` says const), with one zero element when `items`
    is empty (the counts say how many there are)."""
    rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n  ".join(rows) or ("{0}" if "mlfcheck_" in kind else "0")
    return f"static {kind} {name}[] = {{\n  {body}\n}};\n"


def _empty(driver: str) -> str:
    """The plan of an archive without a graph config: no storage, no nodes."""
    return _header(driver, None, [], [], [], [], [])


def _header(driver: str, config: str | None, entries: list[_Entry], nodes: list[_Node],
            inputs: list[int], outputs: list[int], params: list[tuple[int, bytes]]) -> str:
    """The plan; `params`: (entry, bytes) of each parameter (bytes empty for LINKED)."""
    d = DRIVERS[driver]
    kept = _unstored(d.params, entries, params)
    linked = sorted(kept) if d.params == LINKED else []
    params = [] if d.params == LINKED else params
    sizes: dict[int, int] = {}
    for i, e in enumerate(entries):
        if i not in kept:
            sizes[e.storage] = max(sizes.get(e.storage, 0), e.bytes)
    storages = sorted(sizes)
    index = {sid: i for i, sid in enumerate(storages)}
    places = [IN_PLACE if i in kept else index[e.storage] for i, e in enumerate(entries)]
    lines = [f"/* mlfcheck graph plan for {driver}: written by mlfcheck from the archive's "
             f"{config or 'graph config (none: no nodes)'} and parameters. */",
             f"#define MLFCHECK_DIRECT_CALLS {int(d.direct)}",
             f"#define MLFCHECK_TYPE_CODE {d.type_code}",
             f"#define MLFCHECK_STRIDES {int(d.strides)}",
             f"#define MLFCHECK_STORAGES {len(storages)}",
             f"#define MLFCHECK_ENTRIES {len(entries)}",
             f"#define MLFCHECK_NODES {len(nodes)}",
             f"#define MLFCHECK_INPUTS {len(inputs)}",
             f"#define MLFCHECK_OUTPUTS {len(outputs)}",
             f"#define MLFCHECK_PARAMS {len(params)}",
             f"#define MLFCHECK_LINKED {len(linked)}", ""]
    lines += [f"static uint8_t mlfcheck_storage_{i}[{max(sizes[s], 1)}] "
              "__attribute__((aligned(16)));" for i, s in enumerate(storages)]
    lines.append(_array("uint8_t* const", "mlfcheck_storages",
                        [f"mlfcheck_storage_{i}" for i in range(len(storages))], 4))
    lines += _tensors(entries, places, nodes)
    lines += _calls(nodes, d.direct)
    lines += _data(params)
    lines.append(_array("const mlfcheck_linked_t", "mlfcheck_linked",
                        [f"{{{e}, {entries[e].storage}}}" for e in linked], 4))
    lines.append(_array("const uint32_t", "mlfcheck_inputs", [str(e) for e in inputs]))
    lines.append(_array("const uint32_t", "mlfcheck_outputs", [str(e) for e in outputs]))
    return "\n".join(lines) + "\n"


def _unstored(params: str, entries: list[_Entry], bound: list[tuple[int, bytes]]) -> set[int]:
    """The entries without a storage buffer: CONST parameters (their data stays in its const
    array); for LINKED, every entry of a parameter's storage id (its data is the lookup's)."""
    if params == CONST:
        return {e for e, _ in bound}
    if params == LINKED:
        sids = {entries[e].storage for e, _ in bound}
        return {i for i, e in enumerate(entries) if e.storage in sids}
    return set()


def _tensors(entries: list[_Entry], places: list[int], nodes: list[_Node]) -> list[str]:
    """The entries (storage index or IN_PLACE, dtype, bytes), the shapes and the arguments
    (entry, ndim, first shape element)."""
    rows = [f"{{{place}u, {e.dtype[0]}, {e.dtype[1]}, {e.dtype[2]}, {e.bytes}u}}"
            for e, place in zip(entries, places, strict=True)]
    shapes: list[str] = []
    args: list[str] = []
    for node in nodes:
        for entry, shape in node.args:
            args.append(f"{{{entry}, {len(shape)}, {len(shapes)}}}")
            shapes += [f"{d}LL" for d in shape]
    return [_array("const int64_t", "mlfcheck_shapes", shapes),
            _array("const mlfcheck_entry_t", "mlfcheck_entries", rows, 4),
            _array("const mlfcheck_arg_t", "mlfcheck_args", args, 4)]


def _calls(nodes: list[_Node], direct: bool) -> list[str]:
    """The nodes (name, first argument, argument count); for direct calls, each function
    declared and called by its C name with the three arguments the STM32 emitter and
    GVSOCBuilder pass (mlfcheck_call: node index to call, as their generated code calls)."""
    rows = []
    first = 0
    for n in nodes:
        rows.append(f"{{{_c_string(n.name)}, {first}, {len(n.args)}}}")
        first += len(n.args)
    lines = [_array("const mlfcheck_node_t", "mlfcheck_nodes", rows, 1)]
    if not direct:
        return lines
    lines += [f"int32_t {name}(void* args, void* arg_type_ids, int32_t num_args);"
              for name in dict.fromkeys(n.name for n in nodes)]
    cases = "".join(f"  case {i}: return {n.name}(args, codes, num_args);\n"
                    for i, n in enumerate(nodes))
    return [*lines, "static int32_t mlfcheck_call(uint32_t node, void* args, void* codes, "
                    f"int32_t num_args) {{\n  switch (node) {{\n{cases}  default: return -1;"
                    "\n  }\n}\n"]


def _data(params: list[tuple[int, bytes]]) -> list[str]:
    """Each parameter's bytes as a const array, and the table binding them to entries."""
    lines = []
    rows = []
    for i, (entry, data) in enumerate(params):
        lines.append(f"static const uint8_t mlfcheck_param_{i}[{max(len(data), 1)}] "
                     "__attribute__((aligned(16))) = {" + (",".join(map(str, data)) or "0")
                     + "};")
        rows.append(f"{{{entry}, mlfcheck_param_{i}, {len(data)}u}}")
    return [*lines, _array("const mlfcheck_param_t", "mlfcheck_params", rows, 2)]
