"""The `mlfcheck export` command: options in, export_model called, a short summary out."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from mlfcheck.board.boards import CPUS, board, board_names
from mlfcheck.cli._common import EXIT_CLEAN, EXIT_FOUND, EXIT_TROUBLE
from mlfcheck.errors import ExportError, UsageError

NEEDS_TVM = "mlfcheck export needs TVM: pip install 'mlfcheck[tvm]'"


def _shape(ctx: click.Context, param: click.Parameter,
           values: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for value in values:
        name, sep, dims = value.partition("=")
        try:
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            sep = ""
        if not sep or not name or any(d <= 0 for d in shapes.get(name, (0,))):
            raise click.BadParameter(f"{value!r} is not name=d0,d1,... with positive dims")
    return shapes


def _tvm_installed() -> bool:
    from importlib.util import find_spec

    return all(find_spec(m) is not None for m in ("tvm", "numpy"))


def _fail(line: str) -> NoReturn:
    """Print one line to stderr and exit 2, keeping stderr quiet afterwards.

    TVM's C++ objects held by the failed stage log warnings (e.g. "BlockBuilder destroyed with
    remaining blocks") when they are freed at exit; the one-line contract wins over them.
    """
    click.echo(line, err=True)
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    sys.exit(EXIT_TROUBLE)


def _summary(result: Any) -> str:
    plan = result.plan
    lines = [f"wrote {result.path} (MLF version 8, module {result.name})"]
    lines += [f"  {path}: {size} bytes" for path, size in sorted(result.c_files.items())]
    lines.append(f"  workspace {plan.arena_size} bytes (TVM's planned blocks: "
                 f"{plan.tvm_plan_bytes}, plus kernel scratch; packed by liveness), "
                 f"constants {sum(t.nbytes for t in plan.constants)} bytes"
                 f"{'' if result.link_params else ' (not linked)'}, io "
                 f"{sum(t.nbytes for t in plan.inputs + plan.outputs)} bytes")
    lines += _lowering_lines(result.lowering)
    check = result.verification
    if check is not None:
        over = f", over {check.calls} consecutive calls" if check.calls > 1 else ""
        lines.append(f"  verify: {'ok' if check.ok else 'MISMATCH'} against TVM's Relax VM on "
                     f"llvm (tolerance {check.tolerance:g}{over}, {check.seconds:.2f} s)")
        lines += [f"    {name}: max abs error {err:.3g}"
                  for name, err in sorted(check.max_abs_error.items())]
        lines.append(f"    workspace used by the C run: {check.workspace_measured} of "
                     f"{check.workspace_planned} bytes")
        lines += _reference_lines(check)
    for run in result.board_runs:
        lines += _board_lines(run)
    return "\n".join(lines)


def _reference_lines(check: Any) -> list[str]:
    """The model's runtime (which decides) and the second opinion (which does not)."""
    lines = []
    if check.reference is not None:
        bound = "bit for bit" if check.reference_units == 0 else \
            f"within {check.reference_units} unit{'s' if check.reference_units > 1 else ''}"
        lines.append(f"  verify against {check.runtime}, same inputs (decides; integer "
                     f"outputs {bound}):")
        lines += _agreement_lines(check.reference)
    opinion = check.second_opinion
    if opinion is not None and opinion.agreement is None:
        lines.append(f"  second opinion, {opinion.runtime} (does not decide): {opinion.error}")
    elif opinion is not None:
        lines.append(f"  second opinion, {opinion.runtime}, same inputs (does not decide):")
        lines += _agreement_lines(opinion.agreement)
    return lines


def _agreement_lines(agreements: Any) -> list[str]:
    return [f"    {a.name}: {a.differing} of {a.total} elements differ, max difference "
            f"{a.max_diff:g}" for a in agreements]


def _lowering_lines(lowering: Any) -> list[str]:
    if not lowering.quantized:
        return []
    if not lowering.integer:
        return ["  quantized operators: float (dequantize → float op → quantize, --no-integer)"]
    kernels = ", ".join(f"{kind} ×{n}" for kind, n in lowering.kernels.items()) or "none"
    lines = [f"  quantized operators: integer kernels: {kernels}"]
    if lowering.simd_cpu is not None:
        from mlfcheck.export.simd import KINDS

        kinds = ", ".join(k for k in lowering.kernels if k in KINDS)
        lines.append(f"    {kinds}: mlfcheck's SIMD kernels for {lowering.simd_cpu} (SMLAD where "
                     "the compiler targets a DSP core, plain C elsewhere)")
    lines += [f"    {f.operator} at {f.at} stayed float: {f.reason}"
              for f in lowering.stayed_float]
    return lines


def _board_lines(run: Any) -> list[str]:
    """The summary of one --board run: verdict, errors, flash, RAM and stack."""
    head = f"  verify on {run.board.name} ({run.board.description}): "
    if run.overflows:
        return [head + "DOES NOT FIT: " + "; ".join(
            f"{o.region.name} ({o.region.length} bytes at {o.region.origin:#010x}) overflowed "
            f"by {o.by} bytes" for o in run.overflows)]
    if run.fault is not None:
        return [head + f"FAULT: {run.fault.describe()}"]
    verdict = "ok" if run.ok else ("STACK OVERFLOW" if run.stack_peak >= run.stack_room
                                   else "MISMATCH")
    lines = [head + f"{verdict} (tolerance {run.tolerance:g}; build {run.build_seconds:.2f} s, "
             f"run {run.run_seconds:.2f} s)"]
    lines += [f"    {name}: max abs error {err:.3g}"
              for name, err in sorted(run.max_abs_error.items())]
    size = run.size
    lines.append(f"    flash {size.flash} bytes (model {size.own.flash}), static RAM {size.ram} "
                 f"bytes (model {size.own.ram}), peak stack {run.stack_peak} of "
                 f"{run.stack_room} bytes")
    if run.instructions is not None:
        lines.append(f"    {run.instructions} instructions per inference (tvmgen_*_run, "
                     "counted in QEMU)")
    return lines


def _boards(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    try:
        return tuple(board(v) for v in dict.fromkeys(values))
    except UsageError as exc:
        _fail(f"mlfcheck export: {exc}")


@click.command("export")
@click.argument("model", required=False)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Archive to write (.tar).")
@click.option("--default", "use_default", is_flag=True,
              help="Export the embedded default model (same as MODEL 'default').")
@click.option("--name", default="default", show_default=True,
              help="Module name: C symbols tvmgen_<name>_*, paths <name>_lib0.c, ...")
@click.option("--verify", is_flag=True,
              help="Build the archive with the system C compiler, run it on seeded inputs and "
                   "compare with TVM's Relax VM on llvm, and with the model's runtime: TFLite "
                   "Micro for .tflite (integer outputs bit for bit; LiteRT reported beside it), "
                   "onnxruntime for a quantized .onnx.")
@click.option("--board", "boards", multiple=True, callback=_boards, metavar="NAME",
              help=f"With --verify: also build for this QEMU board ({board_names()}), run it, "
                   "compare, and report flash, RAM and peak stack (repeatable).")
@click.option("--board-timeout", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds a QEMU run may take before it counts as hung.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=None,
              help="Largest absolute error per output element --verify accepts [1e-05].")
@click.option("--no-runtime", is_flag=True, help="Leave out runtime/ (headers and stubs).")
@click.option("--link-params/--no-link-params", default=True, show_default=True,
              help="Put constants in <name>_lib1.c as const arrays, or let the caller pass them.")
@click.option("--source-date-epoch", type=int, default=None,
              help="Timestamp for export_datetime and tar mtimes [$SOURCE_DATE_EPOCH, else now].")
@click.option("--input-shape", "input_shapes", multiple=True, callback=_shape,
              metavar="NAME=D0,D1,...", help="Fix an input's shape (repeatable).")
@click.option("--cpu", type=click.Choice(CPUS), default=None,
              help="The Cortex-M core the archive is for: on one with the DSP extension (M4, "
                   "M7, M33, M55, ...) conv2d, depthwise and dense use mlfcheck's SIMD kernels "
                   "(plain C where the compiler's target has no DSP). Default: portable kernels.")
@click.option("--integer/--no-integer", default=True, show_default=True,
              help="Lower quantized operators to int8 kernels, or keep the frontend's "
                   "dequantize → float → quantize.")
def export(model: str | None, output: str, use_default: bool, name: str, verify: bool,
           boards: tuple[Any, ...], board_timeout: float, tolerance: float | None,
           no_runtime: bool, link_params: bool,
           source_date_epoch: int | None, input_shapes: dict[str, tuple[int, ...]],
           integer: bool, cpu: str | None) -> None:
    """Compile MODEL (.onnx, .tflite, a Python model file, or 'default') with TVM and write
    an MLF version 8 archive that builds with nothing but a C compiler.

    Exit 0 written (and verified), 1 --verify found a difference beyond the tolerance (or, with
    --board, an image that does not fit, a fault, a stack overflow), 2 could not export.
    """
    if use_default == (model is not None):
        raise click.UsageError("give MODEL or --default, not both or neither")
    if not _tvm_installed():
        click.echo(NEEDS_TVM, err=True)
        sys.exit(EXIT_TROUBLE)
    from mlfcheck import api
    from mlfcheck.export import DEFAULT_TOLERANCE

    try:
        result = api.export_model(model or "default", output, name=name, verify=verify,
                                  tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
                                  with_runtime=not no_runtime, link_params=link_params,
                                  epoch=source_date_epoch, input_shapes=input_shapes,
                                  boards=boards, board_timeout=board_timeout,
                                  integer=integer, cpu=cpu)
    except ExportError as exc:
        _fail(f"mlfcheck export: {exc}".splitlines()[0])
    click.echo(_summary(result))
    failed = (result.verification and not result.verification.ok) or any(
        not run.ok for run in result.board_runs)
    sys.exit(EXIT_FOUND if failed else EXIT_CLEAN)
