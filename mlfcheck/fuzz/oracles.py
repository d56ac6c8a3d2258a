"""Exporter oracles that read an exported archive back and hold it against the model: the C
compiles, the parameters are TVM's constants, the header agrees with the metadata (sizes and
dtypes), the memory the generated C uses agrees with the plan, every output copy moves the whole
output, and a fresh process exports the same bytes.

Each raises PropertyFailure with its bucket; they read the archive through mlfcheck.reading.archive
and the generated C through its symbol tables (mlfcheck.reading.csource): the AOT entry
`tvmgen_<m>_run` is read call by call from its folded text (`read_entry`), the shape arrays,
workspace and constants from the table's data, the header's sizes, structs and their member
comments from the header's table.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfcheck.board.containment import tool_error
from mlfcheck.fuzz.exports import exports_are_identical
from mlfcheck.fuzz.outcomes import Bucket, PropertyFailure, normalise

if TYPE_CHECKING:
    from mlfcheck.export import ExportResult
    from mlfcheck.export.plan import Plan
    from mlfcheck.reading.csource import SymbolTable

_KERNEL_DEF = re.compile(r"^TVM_DLL int32_t (\w+)\([^;{]*\)\s*\{", re.M)
_ALLOC = re.compile(r"TVMBackendAllocWorkspace\([^,]+,[^,]+,\s*\(uint64_t\)(\d+)")


def _read_all(path: Path) -> dict[str, bytes]:
    from mlfcheck.reading.archive import Archive

    with Archive(path) as archive:
        return {m.name: archive.read(m.name) for m in archive.files()}


def _main_memory(files: dict[str, bytes], name: str) -> dict[str, Any]:
    entry = json.loads(files["metadata.json"])["modules"][name]
    main: dict[str, Any] = entry["memory"]["functions"]["main"][0]
    return main


def archive_compiles(result: ExportResult) -> None:
    """Every C file of the archive compiles with the system compiler (no run, no link): an
    archive that exports with exit 0 but does not build is caught without --verify. The
    build is contained, as --verify's."""
    from mlfcheck.board import containment
    from mlfcheck.errors import BoardError
    from mlfcheck.export.verify import CFLAGS, compiler

    files = _read_all(result.path)
    with tempfile.TemporaryDirectory(prefix="mlfcheck-compiles-") as tmp:
        root = Path(tmp)
        _unpack(files, root)
        sources = sorted(root / m for m in files if m.endswith(".c"))
        includes = [root / d for d in ("codegen/host/include", "runtime/include")]
        cc = containment.compiler(compiler())
        build = containment.Build(cc, containment.Tree(root), root)
        try:
            failed = build.check(sources, CFLAGS, includes)
            done = failed[0][1] if failed else build.command(
                [cc.path, *cc.flags, *CFLAGS, "-fsyntax-only", *(f"-I{d}" for d in includes),
                 *map(str, sources)], what="compiling the archive")
        except BoardError as exc:
            raise PropertyFailure(Bucket.DOES_NOT_COMPILE, normalise(str(exc)),
                                  str(exc)) from None
    if not done.ok:
        first = tool_error(done) if done.timed_out else next(
            (ln for ln in done.stderr.splitlines() if "error" in ln), done.stderr.strip()[:200])
        raise PropertyFailure(Bucket.DOES_NOT_COMPILE,
                              normalise(first.split("error:", 1)[-1].strip()), done.stderr)


def params_are_the_constants(result: ExportResult) -> None:
    """parameters/<m>.params holds TVM's constants bit for bit, read back both with mlfcheck's
    reader and with TVM's loader."""
    import io

    import tvm

    from mlfcheck.reading.params import read_params

    data = _read_all(result.path)[f"parameters/{result.name}.params"]
    ours = read_params(io.BytesIO(data), len(data), digest=True)
    theirs = tvm.runtime.load_param_dict(bytearray(data))
    want = {t.name: (t.dtype, t.shape, v) for t, v in
            zip(result.plan.constants, result.plan.constant_values, strict=True)}
    problems = []
    if [t.name for t in ours.tensors] != list(want):
        problems.append(f"names {[t.name for t in ours.tensors]} != {list(want)}")
    for t in ours.tensors:
        if t.name not in want:
            continue
        dtype, shape, value = want[t.name]
        raw = value.tobytes()
        if (t.dtype, t.shape) != (dtype, shape) or t.sha256 != hashlib.sha256(raw).hexdigest():
            problems.append(f"{t.name}: mlfcheck's reader sees other bytes than TVM's constant")
        if t.name not in theirs or theirs[t.name].numpy().tobytes() != raw:
            problems.append(f"{t.name}: TVM's loader sees other bytes than TVM's constant")
    if problems:
        raise PropertyFailure(Bucket.ARCHIVE_MODEL, "parameters differ from the constants",
                              "\n".join(problems))


@dataclass(frozen=True)
class _Interface:
    """What the header and the AOT entry's file say of one module's interface: the `*_SIZE`
    macros (name without `TVMGEN_<M>_` → bytes), each input and output struct's members with
    the dtype and shape their comments give, and the workspace arrays declared or defined."""

    sizes: dict[str, int]
    members: dict[str, list[tuple[str, str]]]
    """'inputs' / 'outputs' → (member, its comment's text, e.g. `float32[1, 16]`)."""
    arenas: list[int]


def _tables(files: dict[str, bytes], name: str) -> tuple[SymbolTable, SymbolTable]:
    """The symbol tables of `<m>_lib1.c` (the AOT entry) and of `tvmgen_<m>.h`."""
    from mlfcheck.reading.csource import CParser

    parser = CParser()
    entry, header = (f"codegen/host/src/{name}_lib1.c", f"codegen/host/include/tvmgen_{name}.h")
    return parser.parse(entry, files[entry]), parser.parse(header, files[header])


def _interface(files: dict[str, bytes], name: str) -> _Interface:
    """The interface as the header (and the entry's workspace definition) declare it."""
    from mlfcheck.reading.csource.symbols import OPAQUE

    entry, header = _tables(files, name)
    text = files[f"codegen/host/include/tvmgen_{name}.h"]
    prefix = f"TVMGEN_{name.upper()}_"
    sizes = {m.removesuffix("_SIZE").removeprefix(prefix): n for m, v in
             header.size_macros().items() if (n := _integer(v)) is not None}
    members: dict[str, list[tuple[str, str]]] = {}
    for group in ("inputs", "outputs"):
        struct = header.struct(f"tvmgen_{name}_{group}")
        if struct is None:
            members[group] = []
            continue
        comments = [m.group(1)[2:-2].strip().decode("utf-8", "replace") for m in
                    OPAQUE.finditer(text, struct.span.start, struct.span.end) if m.group(1)]
        named = [m.name for m in struct.members if m.type == "void*"]
        members[group] = list(zip(named, comments + [""] * (len(named) - len(comments)),
                                  strict=False))
    arenas = [d.count for t in (header, entry) for d in t.data
              if d.name == f"tvmgen_{name}_workspace" and d.count is not None]
    return _Interface(sizes, members, arenas)


def _integer(text: str) -> int | None:
    """A C integer literal's value; None for anything else."""
    from mlfcheck.reading.csource.literals import parse_number

    value = parse_number(text)
    return int(value) if value is not None and value.is_integer() else None


def header_matches_metadata(result: ExportResult) -> None:
    """Each *_SIZE macro and each input/output struct member of the header agrees with the
    metadata's inputs and outputs (dtype × shape); WORKSPACE_SIZE, the header's extern and the
    arena lib1.c defines equal the metadata's workspace."""
    from mlfcheck.export.plan import element_bytes

    files = _read_all(result.path)
    main = _main_memory(files, result.name)
    interface = _interface(files, result.name)
    problems = []
    for group in ("inputs", "outputs"):
        members = [m for m, _ in interface.members[group]]
        if members != list(main[group]):
            problems.append(("struct members differ from metadata",
                             f"{group}: header {members}, metadata {list(main[group])}"))
        for tensor, t in main[group].items():
            size = element_bytes(t["dtype"]) * prod(t["shape"])
            macro = interface.sizes.get(tensor.upper())
            if macro != size:
                problems.append(("a size macro differs from metadata",
                                 f"{tensor}: macro {macro}, "
                                 f"metadata {t['dtype']}{t['shape']} = {size} bytes"))
    workspace = main["workspace_size_bytes"]
    arenas = interface.arenas
    if interface.sizes.get("WORKSPACE") != workspace or len(arenas) != 2 or any(
            a != max(1, workspace) for a in arenas):
        problems.append(("workspace differs between metadata, header and C",
                         f"metadata {workspace}, WORKSPACE_SIZE "
                         f"{interface.sizes.get('WORKSPACE')}, arrays {arenas}"))
    if problems:
        raise PropertyFailure(Bucket.ARCHIVE_MODEL, problems[0][0],
                              "\n".join(detail for _, detail in problems))


def operator_workspace_matches(result: ExportResult) -> None:
    """Each kernel's workspace in the metadata lies between its largest and the sum of its
    TVMBackendAllocWorkspace requests in `<m>_lib0.c` (each 64-byte aligned), and is 0 for a
    kernel that asks for none; every kernel of the C (`__tvm_ffi_tvmgen_<m>_*`) is listed."""
    from mlfcheck.export.pipeline import kernel_symbol
    from mlfcheck.export.plan import align

    files = _read_all(result.path)
    kernels_c = files[f"codegen/host/src/{result.name}_lib0.c"].decode()
    entry = json.loads(files["metadata.json"])["modules"][result.name]
    listed = {op["function_name"]: sum(w["workspace_size_bytes"] for w in op["workspace"])
              for op in entry["memory"]["functions"]["operator_functions"]}
    starts = list(_KERNEL_DEF.finditer(kernels_c))
    problems = []
    for n, start in enumerate(starts):
        end = starts[n + 1].start() if n + 1 < len(starts) else len(kernels_c)
        asks = [align(int(m.group(1))) for m in _ALLOC.finditer(kernels_c, start.end(), end)]
        kernel, low, high = start.group(1), max(asks, default=0), sum(asks)
        if not kernel.startswith(kernel_symbol(result.name, "")):
            continue
        if kernel not in listed:
            problems.append(f"{kernel}: not in the metadata's operator_functions")
        elif not low <= listed[kernel] <= high:
            problems.append(f"{kernel}: metadata workspace {listed[kernel]}, the C asks for "
                            f"{asks or 'nothing'}")
    if problems:
        raise PropertyFailure(Bucket.ARCHIVE_MODEL, "an operator's workspace differs from its "
                              "kernel's", "\n".join(problems))


@dataclass(frozen=True)
class Place:
    """Where a pointer the AOT entry passes points: `workspace` (at `offset`), an `input` or
    `output` buffer (by member), a `constant` (by symbol or member), or `none` (NULL)."""

    kind: str
    name: str = ""
    offset: int = 0


@dataclass(frozen=True)
class TensorArg:
    """One DLTensor the entry makes for a kernel: where its data is, its shape and dtype."""

    place: Place
    shape: tuple[int, ...]
    dtype: tuple[int, int, int]
    """DLDataType (code, bits, lanes)."""

    @property
    def nbytes(self) -> int:
        """Bytes the tensor spans (sub-byte elements take a byte)."""
        _, bits, lanes = self.dtype
        return prod(self.shape) * max(1, bits * lanes // 8)


@dataclass(frozen=True)
class Step:
    """One step of `tvmgen_<m>_run`, in call order: a kernel call (its tensors and scratch
    region) or a `memcpy` (destination, source, bytes)."""

    tensors: tuple[TensorArg, ...] = ()
    scratch: tuple[int, int] | None = None
    """(offset, bytes) of the kernel's scratch in the workspace."""
    copy: tuple[Place, Place, int] | None = None


class _Unreadable(Exception):
    """The AOT entry holds a statement this reading does not know."""


_KEYWORDS = frozenset({"if", "for", "while", "switch", "return", "sizeof"})


def read_entry(entry_c: str | bytes) -> tuple[Step, ...]:
    """The steps of the AOT entry `tvmgen_<m>_run` in one C file, read from its symbol table:
    the run function's folded text call by call (`tvmgen_<m>_tensor`, `tvmgen_<m>_call`,
    `memcpy`), shapes from the `tvmgen_<m>_shape<i>` arrays. Raises _Unreadable."""
    from mlfcheck.reading.csource import CParser

    raw = entry_c.encode() if isinstance(entry_c, str) else entry_c
    table = CParser().parse("codegen/host/src/entry.c", raw)
    run = next((f for f in table.functions
                if f.name.startswith("tvmgen_") and f.name.endswith("_run")), None)
    if run is None:
        raise _Unreadable("no tvmgen_<m>_run function")
    prefix = run.name.removesuffix("_run")
    shapes = {d.name: tuple(int(v) for v in d.values() or ()) for d in table.data
              if d.name.startswith(f"{prefix}_shape")}
    steps: list[Step] = []
    pending: list[TensorArg] = []
    body = run.folded[run.folded.index("{"):]
    for callee, args in _calls(body):
        if callee == f"{prefix}_tensor" and len(args) == 6:
            code, bits, lanes = (_number(a) for a in args[3:])
            if args[2] not in shapes:
                raise _Unreadable(f"shape {args[2]} is not a shape array")
            pending.append(TensorArg(_place(args[0], prefix), shapes[args[2]],
                                     (code, bits, lanes)))
        elif callee == f"{prefix}_call" and len(args) == 5:
            scratch = _place(args[3], prefix)
            steps.append(Step(tuple(pending), None if scratch.kind == "none"
                              else (scratch.offset, _number(args[4]))))
            pending = []
        elif callee == "memcpy" and len(args) == 3:
            steps.append(Step(tuple(pending), copy=(_place(args[0], prefix),
                                                    _place(args[1], prefix), _number(args[2]))))
            pending = []
        elif callee.startswith(prefix) or callee == "memcpy":
            raise _Unreadable(f"{callee} with {len(args)} arguments")
    return tuple(steps)


def _calls(text: str) -> list[tuple[str, list[str]]]:
    """The calls of folded C text in order, outermost only: (callee, its arguments)."""
    calls, at = [], 0
    while (opening := text.find("(", at)) >= 0:
        start = opening
        while start and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        callee = text[start:opening]
        if not callee or callee[0].isdigit() or callee in _KEYWORDS:
            at = opening + 1
            continue
        closing, args = _arguments(text, opening)
        calls.append((callee, args))
        at = closing + 1
    return calls


def _arguments(text: str, opening: int) -> tuple[int, list[str]]:
    """Where the call whose `(` is at `opening` closes, and its arguments (split at the commas
    outside brackets)."""
    depth, args, start = 0, [], opening + 1
    for at in range(opening, len(text)):
        ch = text[at]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                args.append(text[start:at].strip())
                return at, args if args != [""] else []
        elif ch == "," and depth == 1:
            args.append(text[start:at].strip())
            start = at + 1
    raise _Unreadable("a call is not closed")


def _place(expr: str, prefix: str) -> Place:
    """Where a pointer expression of the entry points (casts to a pointer type dropped)."""
    while expr.startswith("(") and expr.find(")") > 0 and expr[:expr.find(")")].endswith("*"):
        expr = expr[expr.find(")") + 1:].strip()
    workspace = f"{prefix}_workspace"
    if expr == workspace:
        return Place("workspace")
    if expr.startswith(workspace + "+"):
        return Place("workspace", offset=_number(expr[len(workspace) + 1:]))
    for arrow, kind in (("inputs->", "input"), ("outputs->", "output"),
                        ("constants->", "constant")):
        if expr.startswith(arrow) and expr[len(arrow):].isidentifier():
            return Place(kind, expr[len(arrow):])
    if expr in ("NULL", "0"):
        return Place("none")
    if expr.startswith(prefix + "_") and expr.isidentifier():
        return Place("constant", expr)
    raise _Unreadable(f"pointer {expr}")


def _number(text: str) -> int:
    """An integer argument of the entry's calls; _Unreadable for anything else."""
    value = _integer(text)
    if value is None:
        raise _Unreadable(f"{text} is not an integer")
    return value


def _entry_steps(files: dict[str, bytes], name: str) -> tuple[Step, ...]:
    """The AOT entry's steps; an entry this reading cannot follow contradicts the exporter."""
    try:
        return read_entry(files[f"codegen/host/src/{name}_lib1.c"])
    except _Unreadable as exc:
        raise PropertyFailure(Bucket.ARCHIVE_MODEL, "the AOT entry cannot be read",
                              str(exc)) from None


@dataclass(frozen=True)
class _Use:
    """A workspace region the generated C hands to a step."""

    start: int
    end: int
    step: int
    scratch: bool
    writes: bool = False
    """The step writes a new value there (a kernel call's last tensor, TVM's
    destination-passing output, or a copy's destination)."""


def _uses(steps: tuple[Step, ...]) -> list[_Use]:
    """The workspace regions each step uses (a region is a byte range)."""
    uses: list[_Use] = []
    for n, step in enumerate(steps):
        last = len(step.tensors) - 1
        uses += [_Use(a.place.offset, a.place.offset + a.nbytes, n, False,
                      k == last and step.copy is None)
                 for k, a in enumerate(step.tensors) if a.place.kind == "workspace"]
        if step.scratch is not None:
            uses.append(_Use(step.scratch[0], sum(step.scratch), n, True))
        if step.copy is not None and step.copy[1].kind == "workspace":
            at = step.copy[1].offset
            uses.append(_Use(at, at + step.copy[2], n, False, True))
    return uses


def workspace_uses(entry_c: str) -> list[_Use]:
    """The workspace regions each step of `tvmgen_<m>_run` uses, read from the C in call order
    (a step is a kernel call or an output memcpy; regions are byte ranges)."""
    return _uses(read_entry(entry_c))


def plan_matches_use(result: ExportResult) -> None:
    """Recomputed from the C alone: each value in the workspace lives from the step that writes
    it to the last step that reads it, scratch during its call; no two values live at one step
    may overlap in bytes (a region holding a succession of values is not compared with itself),
    and none reaches past the workspace."""
    files = _read_all(result.path)
    workspace = _main_memory(files, result.name)["workspace_size_bytes"]
    values: list[tuple[int, int, list[int]]] = []
    latest: dict[tuple[int, int], list[int]] = {}
    for u in _uses(_entry_steps(files, result.name)):
        if u.end > workspace:
            raise PropertyFailure(Bucket.MEMORY_MAP, "the C uses bytes past the workspace",
                                  f"step {u.step} uses [{u.start}, {u.end}) of {workspace}")
        key = (u.start, u.end)
        if u.scratch or u.writes or key not in latest:
            latest[key] = [u.step, u.step]
            values.append((u.start, u.end, latest[key]))
        else:
            latest[key][1] = u.step
    regions = sorted(values, key=lambda v: (v[0], v[1], v[2][0]))
    for i, (a0, a1, (f0, l0)) in enumerate(regions):
        for b0, b1, (f1, l1) in regions[i + 1:]:
            if b0 >= a1:
                break
            if f0 <= l1 and f1 <= l0 and (a0, a1) != (b0, b1):
                raise PropertyFailure(
                    Bucket.MEMORY_MAP, "two live regions of the workspace overlap",
                    f"[{a0}, {a1}) live at steps {f0}..{l0} overlaps [{b0}, {b1}) live at "
                    f"steps {f1}..{l1}")


def output_copies_are_whole(result: ExportResult) -> None:
    """Each `memcpy` of the AOT entry fills an output and moves exactly that output's
    `*_SIZE` bytes, from a source that holds them (an input or output buffer, a linked
    constant array, the workspace); no DLTensor on an input or output spans more than its
    buffer; every output is written by some step."""
    files = _read_all(result.path)
    main = _main_memory(files, result.name)
    sizes = _interface(files, result.name).sizes
    entry, _ = _tables(files, result.name)
    held = {d.name: d.storage_bytes for d in entry.data}
    steps = _entry_steps(files, result.name)
    workspace: int = main["workspace_size_bytes"]

    def holds(place: Place) -> int | None:
        if place.kind == "workspace":
            return workspace - place.offset
        if place.kind in ("input", "output"):
            return sizes.get(place.name.upper())
        return held.get(place.name) if place.kind == "constant" else 0

    problems = []
    for n, step in enumerate(steps):
        for a in step.tensors:
            room = holds(a.place)
            if a.place.kind in ("input", "output") and (room is None or a.nbytes > room):
                problems.append(f"step {n}: a DLTensor of {a.nbytes} bytes on "
                                f"{a.place.kind} {a.place.name} ({room} bytes)")
        if step.copy is None:
            continue
        to, source, count = step.copy
        size = sizes.get(to.name.upper()) if to.kind == "output" else None
        if to.kind != "output" or to.name not in main["outputs"] or count != size:
            problems.append(f"step {n}: memcpy of {count} bytes into {to.kind} {to.name or ''}"
                            f"{'' if size is None else f' ({size} bytes)'}".rstrip())
        room = holds(source)
        if room is not None and count > room:
            problems.append(f"step {n}: memcpy of {count} bytes from {source.kind} "
                            f"{source.name or source.offset}, which holds {room}")
    written = {s.copy[0].name for s in steps if s.copy} | {
        a.place.name for s in steps for a in s.tensors if a.place.kind == "output"}
    problems += [f"{t}: no step writes this output" for t in main["outputs"]
                 if t not in written]
    if problems:
        raise PropertyFailure(Bucket.ARCHIVE_MODEL,
                              "an output copy or tensor differs from its buffer's size",
                              "\n".join(problems))


def dtypes_agree(result: ExportResult) -> None:
    """Each input's and output's dtype is the same in the metadata, in the header's struct
    comment (`void* y0;  /* bool[1, 16] */`) and in every DLTensor the AOT entry makes of its
    buffer (DLDataType code, bits, lanes, as TVM defines the metadata's dtype)."""
    import tvm

    files = _read_all(result.path)
    main = _main_memory(files, result.name)
    interface = _interface(files, result.name)
    steps = _entry_steps(files, result.name)
    problems = []
    for group, kind in (("inputs", "input"), ("outputs", "output")):
        comments = dict(interface.members[group])
        for tensor, t in main[group].items():
            if comments.get(tensor) != f"{t['dtype']}{t['shape']}":
                problems.append(f"{tensor}: metadata {t['dtype']}{t['shape']}, header comment "
                                f"{comments.get(tensor) or '(none)'}")
            try:
                want = tvm.runtime.DataType(t["dtype"])
            except (ValueError, TypeError):
                problems.append(f"{tensor}: metadata {t['dtype']!r} is not a dtype")
                continue
            code = (int(want.type_code), int(want.bits), int(want.lanes))
            passed = sorted({a.dtype for s in steps for a in s.tensors
                             if a.place == Place(kind, tensor) and a.dtype != code})
            problems += [f"{tensor}: metadata {t['dtype']} is DLDataType {code}, the C passes "
                         f"{got}" for got in passed]
    if problems:
        raise PropertyFailure(Bucket.ARCHIVE_MODEL,
                              "an input or output dtype differs between metadata, header and C",
                              "\n".join(problems))


def exports_agree_across_processes(model: Path, first: Path, workdir: Path,
                                   server: Path | None = None) -> None:
    """A second export in a fresh process with another PYTHONHASHSEED (`fresh.export`, through
    a campaign's `server` when given) gives the same bytes as the first."""
    from mlfcheck.fuzz import fresh

    second = workdir / "fresh.tar"
    why = fresh.export(model, second, server)
    if why is not None:
        raise PropertyFailure(Bucket.NONDETERMINISTIC, "a fresh process could not export it",
                              why)
    exports_are_identical(first, second)


def source_is_the_model(written: bytes, mod: Any) -> None:
    """src/<m>.relax is `mod` as TVM prints it: the model imported afresh and lowered as the
    exporter lowers it (quantized patterns become integer kernels), so an integer-lowered
    model is compared with its lowered IR (TVM 0.27 cannot parse the file back: the weights
    are elided, and printing them with show_meta=True segfaults)."""
    want = mod.script(show_meta=False)
    if written.decode() != want:
        at = next((i for i, (a, b) in enumerate(zip(written.decode(), want, strict=False))
                   if a != b), min(len(written), len(want)))
        raise PropertyFailure(Bucket.ARCHIVE_MODEL, "src/ is not the model's IR",
                              f"first difference at character {at}")


def _unpack(files: dict[str, bytes], root: Path) -> None:
    """Write an archive's members (read through mlfcheck.reading.archive) below `root`."""
    for member, data in files.items():
        (root / member).parent.mkdir(parents=True, exist_ok=True)
        (root / member).write_bytes(data)


def _max_error(got: Any, want: Any) -> float:
    """Largest |got − want|, relative to |want| where that is above 1; NaN against a number
    (or a number against NaN) is infinite."""
    import numpy as np

    g, w = got.astype(np.float64), want.astype(np.float64)
    same = (np.isnan(g) & np.isnan(w)) | (g == w)
    error = np.where(same, 0.0, np.abs(g - w) / np.maximum(1.0, np.abs(w)))
    return float(np.max(np.nan_to_num(error, nan=np.inf), initial=0.0))


def c_builds_agree(model: Path, result: ExportResult, tolerance: float) -> None:
    """The packed build and the spread, sanitized, canary-guarded build (fuzz.builds) run on
    every input set: no canary or sanitizer fires, the packed run changes no workspace byte
    beyond the plan, both give the same bytes, and both are within `tolerance` (relative
    above 1) of TVM's Relax VM running what the C was compiled from: the model imported
    afresh and integer-lowered as the exporter lowers it (as --verify compares)."""
    from mlfcheck.export.frontends import load_model
    from mlfcheck.export.integer import lower
    from mlfcheck.export.verify import reference_vm, run_vm
    from mlfcheck.fuzz import builds

    if not result.link_params:
        return
    files = _read_all(result.path)
    with tempfile.TemporaryDirectory(prefix="mlfcheck-builds-") as tmp:
        packed, spread, spread_plan = _build_both(result, files, Path(tmp))
        imported = load_model(str(model))
        lowered = lower(imported.mod, imported.entry).mod
        source_is_the_model(files[f"src/{result.name}.relax"], lowered)
        vm = reference_vm(lowered)
        for inputs_name, inputs in builds.input_sets(result.plan).items():
            got = _both_agree(result.plan, (packed, spread), spread_plan, inputs_name, inputs)
            want = run_vm(vm, imported.entry, inputs)
            _within_tolerance(result.plan, got, want, inputs_name, tolerance)


def _build_both(result: ExportResult, files: dict[str, bytes],
                root: Path) -> tuple[Path, Path, Plan]:
    """The packed build and the spread one, unpacked and compiled below `root` (the spread
    one first: the packed one links its kernel objects): both executables and the spread
    plan."""
    from mlfcheck.export import cgen
    from mlfcheck.export.verify import archive_sources, driver_source, object_file
    from mlfcheck.fuzz import builds

    plan, name = result.plan, result.name
    spread_plan, guards = builds.spread(plan)
    generated = cgen.generate(spread_plan, name, link_params=True, summary="spread build")
    packed, spread = root / "packed", root / "spread"
    _unpack(files, packed)
    _unpack(files, spread)
    (spread / f"codegen/host/src/{name}_lib1.c").write_text(generated.entry_c)
    (spread / f"codegen/host/include/tvmgen_{name}.h").write_text(generated.header)
    entry = spread / f"codegen/host/src/{name}_lib1.c"
    kernels = {source.relative_to(spread).as_posix(): object_file(spread / "spread", spread, source)
               for source in archive_sources(spread) if source != entry}
    try:
        exe_spread = builds.compile_archive(
            spread, builds.guarded_driver(spread_plan, name, guards), "spread", builds.SANITIZE)
        exe_packed = builds.compile_archive(
            packed, driver_source(plan, name, link_params=True), "packed", builds.SANITIZE,
            prebuilt=kernels)
    except builds.RunFailed as exc:
        raise PropertyFailure(Bucket.DOES_NOT_COMPILE, normalise(str(exc)), str(exc)) from exc
    return exe_packed, exe_spread, spread_plan


def _both_agree(plan: Plan, exes: tuple[Path, Path], spread_plan: Plan, inputs_name: str,
                inputs: list[Any]) -> list[Any]:
    """Run the packed and the spread build (`exes`) on one input set: the packed outputs, when
    no canary or sanitizer fired, the packed run stayed within the plan's workspace and both
    gave the same bytes."""
    packed, spread = exes
    unpacked, _ = _run_build(spread, spread_plan, inputs, inputs_name, "spread build")
    got, used = _run_build(packed, plan, inputs, inputs_name, "packed build")
    if used > plan.arena_size:
        raise PropertyFailure(Bucket.MEMORY_MAP, "the C run used more workspace than "
                              "planned", f"used {used} > planned {plan.arena_size}")
    differing = [t.name for t, a, b in zip(plan.outputs, got, unpacked, strict=True)
                 if a.tobytes() != b.tobytes()]
    if differing:
        raise PropertyFailure(Bucket.MEMORY_MAP, "packed and unpacked builds differ",
                              f"on {inputs_name} inputs: outputs {differing}")
    return got


def _run_build(exe: Path, plan: Plan, inputs: list[Any], inputs_name: str,
               build: str) -> tuple[list[Any], int]:
    """One run of the spread or the packed `build`: a failed run is a memory-safety failure
    (signature: its first report line; the packed build's names it), a hang a timeout."""
    from mlfcheck.fuzz import builds

    try:
        return builds.run(exe, plan, inputs)
    except builds.RunTimedOut as exc:
        raise PropertyFailure(Bucket.TIMEOUT, f"the {build} ran past its time limit",
                              f"{build} on {inputs_name} inputs: {exc}") from exc
    except builds.RunFailed as exc:
        said = normalise(str(exc))
        raise PropertyFailure(Bucket.MEMORY_SAFETY,
                              said if build == "spread build" else f"{build}: {said}",
                              f"{build} on {inputs_name} inputs: {exc}") from exc


def _within_tolerance(plan: Plan, got: list[Any], want: list[Any], inputs_name: str,
                      tolerance: float) -> None:
    """Every output of the C run is within `tolerance` of TVM's."""
    errors = {t.name: _max_error(g, w) for t, g, w in zip(plan.outputs, got, want, strict=True)}
    worst = max(errors, key=lambda k: errors[k], default="")
    if worst and errors[worst] > tolerance:
        dtype = next(t.dtype for t in plan.outputs if t.name == worst)
        raise PropertyFailure(Bucket.NUMERIC_MISMATCH,
                              f"{dtype} output on {inputs_name.rstrip('-12')} inputs",
                              f"{inputs_name} inputs: " + ", ".join(
                                  f"{k}: error {v:.3g}" for k, v in sorted(errors.items()))
                              + f" (tolerance {tolerance:g})")
