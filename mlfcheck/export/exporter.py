"""The export: import → compile → plan → generate → write (→ verify), one archive per call."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mlfcheck.board.boards import Board
from mlfcheck.board.crossbuild import RUN_TIMEOUT
from mlfcheck.errors import ExportError
from mlfcheck.export import cgen, metadata, onboard, runtime, writer
from mlfcheck.export.frontends import Imported, Shape, load_model
from mlfcheck.export.integer import Lowering, lower
from mlfcheck.export.pipeline import compile_model, kernel_prefix
from mlfcheck.export.plan import Plan, build_plan
from mlfcheck.export.stages import stage
from mlfcheck.export.verify import DEFAULT_TOLERANCE, Verification, verify_archive
from mlfcheck.version import __version__

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class ExportResult:
    """What was written, and (with verify) how the C build compared with TVM."""

    path: Path
    name: str
    c_files: dict[str, int]
    """Archive path → size in bytes of each generated C source and header."""
    plan: Plan
    link_params: bool
    verification: Verification | None
    lowering: Lowering
    """How quantized operators were lowered (integer kernels, what stayed float)."""
    board_runs: tuple[onboard.BoardVerification, ...] = ()
    """With verify and boards: how the archive built, fitted and ran on each board."""


def source_date_epoch(explicit: int | None) -> int:
    """The archive's timestamp: the explicit value, else $SOURCE_DATE_EPOCH, else now."""
    if explicit is not None:
        return explicit
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        try:
            return int(env)
        except ValueError:
            raise ExportError("write", f"SOURCE_DATE_EPOCH={env!r} is not an integer") from None
    return int(time.time())


def export_model(model: str | Imported, output: str | os.PathLike[str], *,
                 name: str = "default", verify: bool = False,
                 tolerance: float = DEFAULT_TOLERANCE, with_runtime: bool = True,
                 link_params: bool = True, epoch: int | None = None,
                 input_shapes: Mapping[str, Shape] | None = None,
                 boards: Sequence[Board] = (),
                 board_timeout: float = RUN_TIMEOUT, integer: bool = True,
                 cpu: str | None = None) -> ExportResult:
    """Export `model` (a path, 'default', or an already imported model) to a v8 archive;
    with verify, also build, run and compare it on each of `boards` in QEMU.

    Quantized operators become int8 kernels unless `integer` is False (the frontend's float
    lowering). For a `cpu` with the Arm DSP extension (boards.DSP_CPUS) conv2d, depthwise and
    dense call the SIMD kernel library. Raises ExportError naming the stage that failed;
    nothing is left at `output`.
    """
    if not _NAME.match(name):
        raise ExportError("write", f"module name {name!r} must match {_NAME.pattern}")
    if verify and not with_runtime:
        raise ExportError("verify", "--verify builds the archive alone, so it needs runtime/")
    if boards and not verify:
        raise ExportError("verify", "boards are part of --verify; give --verify too")
    if boards:
        onboard.toolchain()
    imported = model if isinstance(model, Imported) else load_model(
        model, input_shapes=input_shapes)
    with stage("compile"):
        lowering = lower(imported.mod, imported.entry, integer=integer, cpu=cpu)
    lowered = replace(imported, mod=lowering.mod)
    # TVM runs the reference on LLVM, which cannot call the SIMD library: it runs the same
    # model with the TIR kernels instead, so --verify also checks the library against them.
    reference = replace(imported, mod=lower(imported.mod, imported.entry, integer=integer).mod) \
        if verify and lowering.simd_cpu else lowered
    files, plan = archive_files(lowered, name, link_params=link_params,
                                with_runtime=with_runtime,
                                epoch=source_date_epoch(epoch), lowering=lowering)
    path = Path(output)
    model_file = imported.source if imported.kind == "tflite" or (
        imported.kind == "onnx" and lowering.quantized) else None
    with writer.atomic_output(path) as temp:
        temp.write_bytes(writer.tar_bytes(files, source_date_epoch(epoch)))
        verification = (verify_archive(temp, reference, plan, name, link_params=link_params,
                                       tolerance=tolerance, model_file=model_file)
                        if verify else None)
        board_runs = onboard.verify_on_boards(temp, reference, plan, name, boards,
                                              link_params=link_params, tolerance=tolerance,
                                              timeout=board_timeout) if boards else ()
    sources = {p: len(d) for p, d in files.items() if p.startswith("codegen/")}
    return ExportResult(path, name, sources, plan, link_params, verification, lowering,
                        board_runs)


def archive_files(imported: Imported, name: str, *, link_params: bool, with_runtime: bool,
                  epoch: int, lowering: Lowering | None = None) -> tuple[dict[str, bytes], Plan]:
    """Every member of the archive (path → bytes), and the plan behind them."""
    import tvm

    compiled = compile_model(imported, name)
    with stage("codegen"):
        plan = build_plan(compiled.planned, compiled.kernels_c, f"__tvm_ffi_{kernel_prefix(name)}",
                          imported.output_names)
        summary = (f"Model {name}, generated by mlfcheck {__version__} with TVM "
                   f"{tvm.__version__}")
        generated = cgen.generate(plan, name, link_params=link_params, summary=summary)
        relax_text = imported.mod.script(show_meta=False)
    with stage("write"):
        params = bytes(tvm.runtime.save_param_dict(
            {t.name: tvm.runtime.tensor(v) for t, v in zip(plan.constants, plan.constant_values,
                                                           strict=True)}))
        entry = metadata.module_entry(plan, name, target=compiled.target, epoch=epoch,
                                      with_runtime=with_runtime, lowering=lowering)
        files = {
            "metadata.json": metadata.metadata_json(entry, name),
            f"codegen/host/src/{name}_lib0.c": compiled.kernels_c.encode(),
            f"codegen/host/src/{name}_lib1.c": generated.entry_c.encode(),
            f"codegen/host/include/tvmgen_{name}.h": generated.header.encode(),
            f"parameters/{name}.params": params,
            f"src/{name}.relax": relax_text.encode(),
        }
        if with_runtime:
            files.update(runtime.runtime_files())
    return files, plan
