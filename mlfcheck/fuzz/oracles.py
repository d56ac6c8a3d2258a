"""Exporter oracles that read an exported archive back and hold it against the model: the C
compiles, the parameters are TVM's constants, the header agrees with the metadata, the memory
the generated C uses agrees with the plan, and a fresh process exports the same bytes.

Each raises PropertyFailure with its bucket; they read the archive through mlfcheck.reading.archive
and the generated C as text (a minimal reading of the AOT entry `tvmgen_<m>_run`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfcheck import children
from mlfcheck.board.containment import tool_error
from mlfcheck.fuzz.exports import EPOCH, exports_are_identical
from mlfcheck.fuzz.outcomes import Bucket, PropertyFailure, normalise

if TYPE_CHECKING:
    from mlfcheck.export import ExportResult
    from mlfcheck.export.plan import Plan

FRESH_HASH_SEED = "4242"
"""PYTHONHASHSEED of the fresh process (the campaign's own children hash with a random seed)."""
FRESH_EXPORT_LIMITS = children.Limits(seconds=600.0, memory_bytes=None, cpu_seconds=600)
"""The fresh process's export: ten minutes of wall clock and of CPU (so it ends even when the
example's child was killed first), the example's address-space limit."""
_DEFINE = re.compile(r"^#define (TVMGEN_\w+)_SIZE (\d+)$", re.M)
_ARENA = re.compile(r"^(?:extern )?uint8_t tvmgen_\w+_workspace\[(\d+)\]", re.M)
_SHAPE = re.compile(r"^static int64_t tvmgen_\w+_shape(\d+)\[\d+\] = \{([^}]*)\};", re.M)
_TENSOR = re.compile(r"tvmgen_\w+_tensor\(tvmgen_\w+_workspace \+ (\d+), \d+, "
                     r"tvmgen_\w+_shape(\d+), \d+, (\d+), (\d+)\)")
_CALL = re.compile(r"tvmgen_\w+_call\((\w+), t, \d+, (?:tvmgen_\w+_workspace \+ (\d+), (\d+)|"
                   r"NULL, 0)\)")
_KERNEL_DEF = re.compile(r"^TVM_DLL int32_t (\w+)\([^;{]*\)\s*\{", re.M)
_ALLOC = re.compile(r"TVMBackendAllocWorkspace\([^,]+,[^,]+,\s*\(uint64_t\)(\d+)")
_MEMCPY = re.compile(r"memcpy\(outputs->\w+, tvmgen_\w+_workspace \+ (\d+), (\d+)\)")


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


def header_matches_metadata(result: ExportResult) -> None:
    """Each *_SIZE macro and each input/output struct member of the header agrees with the
    metadata's inputs and outputs (dtype × shape); WORKSPACE_SIZE, the header's extern and the
    arena lib1.c defines equal the metadata's workspace."""
    from mlfcheck.export.plan import element_bytes

    files = _read_all(result.path)
    main = _main_memory(files, result.name)
    header = files[f"codegen/host/include/tvmgen_{result.name}.h"].decode()
    entry_c = files[f"codegen/host/src/{result.name}_lib1.c"].decode()
    prefix = f"TVMGEN_{result.name.upper()}_"
    macros = {m.group(1).removeprefix(prefix): int(m.group(2)) for m in _DEFINE.finditer(header)}
    problems = []
    for group in ("inputs", "outputs"):
        struct = re.search(rf"struct tvmgen_{result.name}_{group} \{{(.*?)\}};", header, re.S)
        members = re.findall(r"void\* (\w+);", struct.group(1)) if struct else []
        if members != list(main[group]):
            problems.append(("struct members differ from metadata",
                             f"{group}: header {members}, metadata {list(main[group])}"))
        for tensor, t in main[group].items():
            size = element_bytes(t["dtype"]) * prod(t["shape"])
            if macros.get(tensor.upper()) != size:
                problems.append(("a size macro differs from metadata",
                                 f"{tensor}: macro {macros.get(tensor.upper())}, "
                                 f"metadata {t['dtype']}{t['shape']} = {size} bytes"))
    arenas = [int(n) for n in _ARENA.findall(header) + _ARENA.findall(entry_c)]
    workspace = main["workspace_size_bytes"]
    if macros.get("WORKSPACE") != workspace or any(a != max(1, workspace) for a in arenas):
        problems.append(("workspace differs between metadata, header and C",
                         f"metadata {workspace}, WORKSPACE_SIZE {macros.get('WORKSPACE')}, "
                         f"arrays {arenas}"))
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
class _Use:
    """A workspace region the generated C hands to a step."""

    start: int
    end: int
    step: int
    scratch: bool


def workspace_uses(entry_c: str) -> list[_Use]:
    """The workspace regions each step of `tvmgen_<m>_run` uses, read from the C in call order
    (a step is a kernel call or an output memcpy; regions are byte ranges)."""
    shapes = {int(i): [int(d) for d in dims.split(",") if d.strip()]
              for i, dims in _SHAPE.findall(entry_c)}
    body = entry_c[entry_c.rindex("_run("):]
    uses: list[_Use] = []
    step = 0
    pending: list[tuple[int, int]] = []
    for line in body.splitlines():
        for off, shape, bits, lanes in _TENSOR.findall(line):
            size = prod(shapes[int(shape)]) * max(1, int(bits) * int(lanes) // 8)
            pending.append((int(off), int(off) + size))
        call = _CALL.search(line)
        copy = _MEMCPY.search(line)
        if call or copy:
            uses += [_Use(a, b, step, False) for a, b in pending]
            if call and call.group(2):
                at = int(call.group(2))
                uses.append(_Use(at, at + int(call.group(3)), step, True))
            if copy:
                at = int(copy.group(1))
                uses.append(_Use(at, at + int(copy.group(2)), step, False))
            pending = []
            step += 1
    return uses


def plan_matches_use(result: ExportResult) -> None:
    """Recomputed from the C alone: every tensor region (offset, size) lives from the first to
    the last step that uses it, scratch during its call; no two regions live at one step may
    overlap in bytes, and none reaches past the workspace."""
    files = _read_all(result.path)
    entry_c = files[f"codegen/host/src/{result.name}_lib1.c"].decode()
    workspace = _main_memory(files, result.name)["workspace_size_bytes"]
    live: dict[tuple[int, int, bool], list[int]] = {}
    for u in workspace_uses(entry_c):
        span = live.setdefault((u.start, u.end, u.scratch), [u.step, u.step])
        span[0], span[1] = min(span[0], u.step), max(span[1], u.step)
        if u.end > workspace:
            raise PropertyFailure(Bucket.MEMORY_MAP, "the C uses bytes past the workspace",
                                  f"step {u.step} uses [{u.start}, {u.end}) of {workspace}")
    regions = sorted(live.items())
    for i, ((a0, a1, _), (f0, l0)) in enumerate(regions):
        for (b0, b1, _), (f1, l1) in regions[i + 1:]:
            if b0 >= a1:
                break
            if f0 <= l1 and f1 <= l0 and (a0, a1) != (b0, b1):
                raise PropertyFailure(
                    Bucket.MEMORY_MAP, "two live regions of the workspace overlap",
                    f"[{a0}, {a1}) live at steps {f0}..{l0} overlaps [{b0}, {b1}) live at "
                    f"steps {f1}..{l1}")


def exports_agree_across_processes(model: Path, first: Path, workdir: Path) -> None:
    """A second export in a fresh process with another PYTHONHASHSEED (and another second on
    the clock) gives the same bytes as the first."""
    second = workdir / "fresh.tar"
    env = dict(os.environ, PYTHONHASHSEED=FRESH_HASH_SEED, PYTHONSAFEPATH="1")
    done = children.run([sys.executable, "-m", "mlfcheck", "export", str(model), "-o",
                         str(second), "--source-date-epoch", str(EPOCH)],
                        limits=FRESH_EXPORT_LIMITS, env=env)
    if not done.ok:
        raise PropertyFailure(Bucket.NONDETERMINISTIC, "a fresh process could not export it",
                              done.stderr or tool_error(done))
    exports_are_identical(first, second)


def source_is_the_model(written: bytes, mod: Any) -> None:
    """src/<m>.relax is the model as TVM prints it, imported afresh (TVM 0.27 cannot parse it
    back: the weights are elided, and printing them with show_meta=True segfaults)."""
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
    above 1) of TVM's Relax VM."""
    import tvm
    from tvm import relax

    from mlfcheck.export.frontends import load_model
    from mlfcheck.fuzz import builds

    if not result.link_params:
        return
    files = _read_all(result.path)
    with tempfile.TemporaryDirectory(prefix="mlfcheck-builds-") as tmp:
        packed, spread, spread_plan = _build_both(result, files, Path(tmp))
        imported = load_model(str(model))
        source_is_the_model(files[f"src/{result.name}.relax"], imported.mod)
        vm = relax.VirtualMachine(tvm.compile(imported.mod, target="llvm"), tvm.cpu())
        for inputs_name, inputs in builds.input_sets(result.plan).items():
            got = _both_agree(result.plan, (packed, spread), spread_plan, inputs_name, inputs)
            result_vm = vm[imported.entry](*[tvm.runtime.tensor(x) for x in inputs])
            want = [r.numpy() for r in (list(result_vm) if not hasattr(result_vm, "numpy")
                                        else [result_vm])]
            _within_tolerance(result.plan, got, want, inputs_name, tolerance)


def _build_both(result: ExportResult, files: dict[str, bytes],
                root: Path) -> tuple[Path, Path, Plan]:
    """The packed build and the spread one, unpacked and compiled below `root`: both
    executables and the spread plan."""
    from mlfcheck.export import cgen
    from mlfcheck.export.verify import driver_source
    from mlfcheck.fuzz import builds

    plan, name = result.plan, result.name
    spread_plan, guards = builds.spread(plan)
    generated = cgen.generate(spread_plan, name, link_params=True, summary="spread build")
    packed, spread = root / "packed", root / "spread"
    _unpack(files, packed)
    _unpack(files, spread)
    (spread / f"codegen/host/src/{name}_lib1.c").write_text(generated.entry_c)
    (spread / f"codegen/host/include/tvmgen_{name}.h").write_text(generated.header)
    try:
        exe_packed = builds.compile_archive(
            packed, driver_source(plan, name, link_params=True), "packed", ())
        exe_spread = builds.compile_archive(
            spread, builds.guarded_driver(spread_plan, name, guards), "spread", builds.SANITIZE)
    except builds.RunFailed as exc:
        raise PropertyFailure(Bucket.DOES_NOT_COMPILE, normalise(str(exc)), str(exc)) from exc
    return exe_packed, exe_spread, spread_plan


def _both_agree(plan: Plan, exes: tuple[Path, Path], spread_plan: Plan, inputs_name: str,
                inputs: list[Any]) -> list[Any]:
    """Run the packed and the spread build (`exes`) on one input set: the packed outputs, when
    no canary or sanitizer fired, the packed run stayed within the plan's workspace and both
    gave the same bytes."""
    packed, spread = exes
    unpacked, _ = _run_build(spread, spread_plan, inputs, inputs_name, sanitized=True)
    got, used = _run_build(packed, plan, inputs, inputs_name, sanitized=False)
    if used > plan.arena_size:
        raise PropertyFailure(Bucket.MEMORY_MAP, "the C run used more workspace than "
                              "planned", f"used {used} > planned {plan.arena_size}")
    differing = [t.name for t, a, b in zip(plan.outputs, got, unpacked, strict=True)
                 if a.tobytes() != b.tobytes()]
    if differing:
        raise PropertyFailure(Bucket.MEMORY_MAP, "packed and unpacked builds differ",
                              f"on {inputs_name} inputs: outputs {differing}")
    return got


def _run_build(exe: Path, plan: Plan, inputs: list[Any], inputs_name: str, *,
               sanitized: bool) -> tuple[list[Any], int]:
    """One run of the spread (`sanitized`) or the packed build: a failed run is a memory-safety
    failure (the spread build's signature is its first report line), a hang a timeout."""
    from mlfcheck.fuzz import builds

    build = "spread build" if sanitized else "packed build"
    try:
        return builds.run(exe, plan, inputs, sanitized=sanitized)
    except builds.RunTimedOut as exc:
        raise PropertyFailure(Bucket.TIMEOUT, f"the {build} ran past its time limit",
                              f"{build} on {inputs_name} inputs: {exc}") from exc
    except builds.RunFailed as exc:
        raise PropertyFailure(Bucket.MEMORY_SAFETY, normalise(str(exc)) if sanitized
                              else f"the {build} failed",
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
