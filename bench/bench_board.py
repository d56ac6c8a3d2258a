"""Benchmark: each model built for a board and run in QEMU, against the host --verify and
against TFLite Micro with and without CMSIS-NN.

Usage: python bench/bench_board.py [--runs N] [--shared DIR] [--board NAME] [--part P]
                                   [--mirrors DIR] [--jobs N] [--kernels-o2]
Prints, per model (the embedded default and the real models in ../shared/models/): the median
time of the board check (arm-none-eabi-gcc build, QEMU run, TVM's reference, comparison) and of
its two parts, beside the median host --verify of the same archive in the same process (host cc
build, run, the same reference); the image's flash and static RAM, whole and the model's own
symbols; the peak stack the run used.

Then (`--part tflm`; `--part both` is the default), per int8 model (the four MLPerf Tiny
models, hello_world_int8 and micro_speech_quantized), on the same board: the instructions one
inference executes (counted in QEMU by mlfcheck.board.icount between markers around the call)
for mlfcheck's archive (tvmgen_default_run) exported for the board's CPU (`--cpu`, the -mcpu=
of its flags: the SIMD kernel library on a core with DSP) and without it (the portable TIR
kernels, "before"), TFLite Micro with its reference kernels and with CMSIS-NN (Invoke()), all
from the same seeded inputs; the ratios; whether the outputs are bit-exact; each image's
flash, static RAM and peak stack (mlfcheck's: the --cpu archive; "before" beside it); TFLM's
arena_used_bytes() against mlfcheck's workspace + I/O buffers. TFLM and CMSIS-NN are built
from fetched sources at pinned commits (bench/tflm_build.py; git mirrors in --mirrors), the
library cached in .cache/tflm/ (the first build takes 10-25 minutes per variant on two
cores). Instruction counts are deterministic: they are measured once.
"""

from __future__ import annotations

import statistics
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from bench_validate import bench_args, bench_parser  # noqa: E402
from shared_paths import models_dir  # noqa: E402
from tflm_build import (  # noqa: E402
    CMSIS_NN,
    TFLM,
    TINY_MODELS,
    VARIANTS,
    build_library,
    library,
    run_image,
    run_tflm,
    tiny_model,
)

MODELS = ("default", "hello_world_int8.tflite", "hello_world_float.tflite", "mnist-8.onnx")
TFLM_MODELS = ("kws_ref_model.tflite", "vww_96_int8.tflite", "pretrainedResnet_quant.tflite",
               "ad01_int8.tflite", "hello_world_int8.tflite", "micro_speech_quantized.tflite")
"""The int8 models run on TFLM too: vww and ad01 come from MLPerf Tiny's mirror, the rest from
the shared models folder."""
RUN_TIMEOUT = 900.0


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def bench_model(model: str, target: Any, runs: int, out: Path) -> dict[str, Any]:
    """Figures for one model on one board."""
    from mlfcheck.export import export_model
    from mlfcheck.export.frontends import load_model
    from mlfcheck.export.onboard import verify_on_boards
    from mlfcheck.export.verify import DEFAULT_TOLERANCE, verify_archive

    source = model if model == "default" else str(models_dir() / model)
    imported = load_model(source)
    archive = out / "model.tar"
    result = export_model(imported, archive, epoch=0)
    plan, name = result.plan, result.name
    host, board, build, run = [], [], [], []
    check: Any = None
    for i in range(runs + 1):
        host_s, _ = _timed(lambda: verify_archive(archive, imported, plan, name,
                                                  link_params=True, tolerance=DEFAULT_TOLERANCE))
        board_s, (check,) = _timed(lambda: verify_on_boards(
            archive, imported, plan, name, [target], link_params=True,
            tolerance=DEFAULT_TOLERANCE))
        if i:  # the first round warms caches
            host.append(host_s)
            board.append(board_s)
            build.append(check.build_seconds)
            run.append(check.run_seconds)
    assert check.ok, check
    return {"model": model, "host_s": statistics.median(host),
            "board_s": statistics.median(board), "build_s": statistics.median(build),
            "run_s": statistics.median(run), "flash": check.size.flash,
            "own_flash": check.size.own.flash, "ram": check.size.ram,
            "own_ram": check.size.own.ram, "stack": check.stack_peak,
            "max_err": max(check.max_abs_error.values(), default=0.0)}


def check_table(target: Any, runs: int) -> None:
    """The board check against the host --verify, per model of MODELS."""
    print(f"Board {target.name} ({target.description}); medians of {runs} runs after one "
          "warm-up; both checks include TVM's reference run on llvm.\n")
    print("| model | board check s | build s | QEMU run s | host --verify s | ratio | flash B "
          "(model) | static RAM B (model) | peak stack B | max abs err |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            r = bench_model(model, target, runs, Path(tmp))
            print(f"| {r['model']} | {r['board_s']:.2f} | {r['build_s']:.2f} | {r['run_s']:.2f} "
                  f"| {r['host_s']:.2f} | {r['board_s'] / r['host_s']:.2f}× | {r['flash']} "
                  f"({r['own_flash']}) | {r['ram']} ({r['own_ram']}) | {r['stack']} "
                  f"| {r['max_err']:.3g} |")


@dataclass(frozen=True)
class Counted:
    """One model's archive on the board: instructions of one tvmgen_<name>_run, its outputs,
    the image's size and stack, the workspace (planned, used) and the I/O buffers."""

    instructions: int
    outputs: bytes
    size: Any
    stack: int
    workspace: int
    workspace_used: int
    io: int
    seconds: float


def mlfcheck_counted(tools: Any, target: Any, plugin: Any, model: Path, inputs: bytes,
                     result: Any, work: Path) -> Counted:
    """Build the exported archive with --verify's driver for the board, its entry point
    counted as `export --verify --board` counts it (`icount.wrap`), and run it; the driver runs
    the model twice (two workspace fills), and both windows must agree."""
    from mlfcheck.board import crossbuild, elfsize, icount
    from mlfcheck.board.containment import Tree
    from mlfcheck.export.onboard import STRICT, archive_sources
    from mlfcheck.export.verify import driver_source

    plan, name = result.plan, result.name
    with tarfile.open(result.path) as tar:
        tar.extractall(work / "archive", filter="data")
    sources, includes = archive_sources(work / "archive")
    (work / "mlfcheck_driver.c").write_text(driver_source(plan, name, link_params=True))
    counted = icount.wrap(f"tvmgen_{name}_run")
    (work / "mlfcheck_counted.c").write_text(counted.source)
    tree = Tree(work / "archive", own=work)
    own = crossbuild.compile_objects(tools, target, sources, includes, work, extra=STRICT,
                                     tree=tree)
    rest = crossbuild.compile_objects(tools, target, [work / "mlfcheck_driver.c"], includes, work,
                                      extra=STRICT, tree=tree)
    rest += crossbuild.compile_objects(tools, target, [work / "mlfcheck_counted.c"], [], work,
                                       tree=tree)
    elf = work / "model.elf"
    assert crossbuild.link(tools, target, [*own, *rest], elf, tree=tree,
                           flags=counted.link_flags) == (), model.name
    ran = run_image(tools, target, elf, inputs, plugin, RUN_TIMEOUT)
    assert ran.counts is not None and len(set(ran.counts.windows)) == 1, ran.counts
    io = sum(t.nbytes for t in (*plan.inputs, *plan.outputs))
    return Counted(ran.counts.windows[0], (work / "out.bin").read_bytes(),
                   elfsize.image_size(elf, own), ran.stack_peak, plan.arena_size,
                   int(ran.stdout.split()[-1]), io, ran.seconds)


def model_path(mirrors: Path, model: str) -> Path:
    """Where a model of TFLM_MODELS is: MLPerf Tiny's mirror or the shared models folder."""
    return tiny_model(mirrors, model) if model in TINY_MODELS else models_dir() / model


def _same(a: bytes, b: bytes) -> str:
    """'yes', or how far apart two int8 output files are."""
    if a == b:
        return "yes"
    if len(a) != len(b):
        return f"no ({len(a)} B vs {len(b)} B)"
    worst = max(abs(x - y) for x, y in zip(memoryview(a).cast("b"), memoryview(b).cast("b"),
                                           strict=True))
    return f"no (max |Δ| {worst})"


def board_cpu(target: Any) -> str:
    """The board's CPU as `export --cpu` names it: the -mcpu= of its compiler flags."""
    return next(str(f).split("=", 1)[1] for f in target.cpu_flags if f.startswith("-mcpu="))


@dataclass(frozen=True)
class Ours:
    """mlfcheck's archive counted: exported for the board's CPU, and without --cpu."""

    simd: Counted | None
    """None when the --cpu export failed (`refused` says why)."""
    before: Counted
    refused: str = ""


def compare_model(tools: Any, target: Any, plugin: Any, libs: dict[str, Any],
                  model: Path, work: Path) -> tuple[Ours, dict[str, Any]]:
    """One model: exported with and without --cpu and counted with mlfcheck, then on each
    TFLM variant."""
    from mlfcheck.errors import BoardError, ExportError
    from mlfcheck.export import export_model
    from mlfcheck.export.verify import random_inputs

    work.mkdir()
    before = export_model(str(model), work / "before.tar", epoch=0)
    inputs = b"".join(x.tobytes() for x in random_inputs(before.plan.inputs))
    (work / "before").mkdir()
    portable = mlfcheck_counted(tools, target, plugin, model, inputs, before, work / "before")
    simd, refused = None, ""
    try:  # a failure of the --cpu archive is a row of the table, not the end of the run
        result = export_model(str(model), work / "simd.tar", epoch=0, cpu=board_cpu(target))
        (work / "simd").mkdir()
        simd = mlfcheck_counted(tools, target, plugin, model, inputs, result, work / "simd")
    except (ExportError, BoardError) as exc:
        refused = str(exc)
    theirs = {variant: run_tflm(tools, target, lib, built, model, inputs, work / variant,
                                plugin, RUN_TIMEOUT)
              for variant, (lib, built) in libs.items()}
    return Ours(simd, portable, refused), theirs


def _million(n: int) -> str:
    """An instruction count as the table shows it: in millions from 100,000 up."""
    return f"{n / 1e6:.3g} M" if n >= 1e5 else str(n)


def tflm_table(target: Any, mirrors: Path, jobs: int, kernels_o2: bool) -> None:
    """Instructions, size and memory per model: mlfcheck against TFLM and TFLM + CMSIS-NN."""
    from mlfcheck.board import crossbuild, icount

    tools = crossbuild.toolchain(run=True)
    opt = "kernels and CMSIS-NN at -O2, the rest -Os" if kernels_o2 else "all -Os"
    print(f"\nTFLite Micro {TFLM.commit[:7]} (reference kernels; CMSIS-NN {CMSIS_NN.commit[:7]}; "
          f"{opt}) and mlfcheck on {target.name}, the same seeded int8 inputs; instructions "
          "counted in QEMU between markers around tvmgen_default_run / Invoke().\n")
    libs = {}
    for variant in VARIANTS:
        lib = library(mirrors, variant)
        built = build_library(tools, target, lib, jobs, kernels_o2=kernels_o2)
        libs[variant] = (lib, built)
        print(f"TFLM library ({variant}): {len(built.objects)} objects, "
              f"{'cached' if built.cached else 'compiled'} in {built.seconds:.1f} s")
    rows, mem, notes = [], [], []
    cpu = board_cpu(target)
    with tempfile.TemporaryDirectory(prefix="mlfcheck-bench-tflm-") as tmp:
        plugin = icount.build(Path(tmp))
        for model in TFLM_MODELS:
            ours, theirs = compare_model(tools, target, plugin, libs, model_path(mirrors, model),
                                         Path(tmp) / Path(model).stem)
            stem = Path(model).stem
            rows.append(_row(stem, ours, theirs["ref"], theirs["cmsis_nn"]))
            mem.append(_memory(stem, ours, theirs["ref"], theirs["cmsis_nn"]))
            if ours.refused:
                notes.append(f"{stem}: the --cpu {cpu} archive failed: {ours.refused}")
            simd_s = f"{ours.simd.seconds:.1f}" if ours.simd else "-"
            print(f"  {model}: counted (QEMU {simd_s} / {ours.before.seconds:.1f} / "
                  f"{theirs['ref'].seconds:.1f} / {theirs['cmsis_nn'].seconds:.1f} s)",
                  flush=True)
    print(f"\n| model | mlfcheck --cpu {cpu} | mlfcheck before (no --cpu) | TFLM ref | "
          "TFLM + CMSIS-NN | --cpu / TFLM + CMSIS-NN | before / TFLM + CMSIS-NN | "
          "--cpu / TFLM ref | bit-exact --cpu = TFLM ref | before = TFLM ref | "
          "TFLM ref = TFLM + CMSIS-NN |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    print("\n".join(rows))
    for note in notes:
        print(f"\n{note}")
    print(f"\nmlfcheck --cpu {cpu} / TFLM ref / TFLM + CMSIS-NN images (bytes; flash: every "
          "loaded section, RAM: .data + .bss, the arena and I/O buffers included); mlfcheck "
          "before (no --cpu) in the last column:\n")
    print("| model | flash | static RAM | mlfcheck workspace + I/O | TFLM arena_used_bytes "
          "(least arena AllocateTensors accepts) ref / CMSIS-NN | peak stack | before: flash, "
          "workspace + I/O |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(mem))


def _ratio(ours: Counted | None, theirs: Any) -> str:
    return f"{ours.instructions / theirs.instructions:.2f}×" if ours else "-"


def _row(stem: str, ours: Ours, ref: Any, nn: Any) -> str:
    """One row of the instructions table."""
    simd, before = ours.simd, ours.before
    return (f"| {stem} | {_million(simd.instructions) if simd else 'refused'} | "
            f"{_million(before.instructions)} | {_million(ref.instructions)} | "
            f"{_million(nn.instructions)} | {_ratio(simd, nn)} | {_ratio(before, nn)} | "
            f"{_ratio(simd, ref)} | {_same(simd.outputs, ref.outputs) if simd else '-'} | "
            f"{_same(before.outputs, ref.outputs)} | {_same(ref.outputs, nn.outputs)} |")


def _memory(stem: str, ours: Ours, ref: Any, nn: Any) -> str:
    """One row of the memory table: the --cpu archive's figures beside TFLM's, then the
    portable archive's flash and workspace + I/O."""
    shown, before = ours.simd or ours.before, ours.before
    return (f"| {stem}{'' if ours.simd else ' (no --cpu)'} | {shown.size.flash} / "
            f"{ref.size.flash} / {nn.size.flash} | {shown.size.ram} / {ref.size.ram} / "
            f"{nn.size.ram} | {shown.workspace} + {shown.io} = {shown.workspace + shown.io} "
            f"({shown.workspace_used} used) | {ref.arena_used} ({ref.arena}) / "
            f"{nn.arena_used} ({nn.arena}) | {shown.stack} / {ref.stack} / {nn.stack} | "
            f"{before.size.flash}, {before.workspace + before.io} |")


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__.splitlines()[0], runs=5,
                          baseline="nothing (the baseline, host --verify, needs no install)")
    parser.add_argument("--board", default="mps2-an386", help="board to run on")
    parser.add_argument("--part", choices=("check", "tflm", "both"), default="both",
                        help="the board check against host --verify, the comparison with "
                        "TFLite Micro, or both (default)")
    parser.add_argument("--mirrors", type=Path, default=REPO.parent / ".mirror",
                        help="folder of git mirrors (<owner>+<name>/repo or <name>.git) of "
                        "tflite-micro, CMSIS-NN, CMSIS_6, flatbuffers, gemmlowp, ruy and "
                        "mlcommons/tiny (default: ../.mirror beside the repo)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="compilers run at once building TFLM (default 2)")
    parser.add_argument("--kernels-o2", action="store_true",
                        help="compile TFLM's kernels and CMSIS-NN at -O2, as TFLM's Makefile "
                        "does (default: -Os, like everything else)")
    args = bench_args(parser, argv, "bench_board.py")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    from mlfcheck.board.boards import board
    from mlfcheck.errors import BoardError

    target = board(args.board)
    if args.part in ("check", "both"):
        check_table(target, args.runs)
    if args.part in ("tflm", "both"):
        try:
            tflm_table(target, args.mirrors, args.jobs, args.kernels_o2)
        except BoardError as exc:
            print(f"bench_board.py: {exc}", file=sys.stderr)
            return 2
    print("\nThe machine is shared with other jobs: compare rows of one run, not across runs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
