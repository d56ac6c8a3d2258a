"""Benchmark: each model built for mps2-an386 and run in QEMU, against the host --verify.

Usage: python bench/bench_board.py [--runs N] [--shared DIR] [--board NAME]
Prints, per model (the embedded default and the real models in ../shared/models/): the median
time of the board check (arm-none-eabi-gcc build, QEMU run, TVM's reference, comparison) and of
its two parts, beside the median host --verify of the same archive in the same process (host cc
build, run, the same reference); the image's flash and static RAM, whole and the model's own
symbols; the peak stack the run used.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from bench_validate import bench_args, bench_parser  # noqa: E402
from shared_paths import models_dir  # noqa: E402

MODELS = ("default", "hello_world_int8.tflite", "hello_world_float.tflite", "mnist-8.onnx")


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


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__.splitlines()[0], runs=5,
                          baseline="nothing (the baseline, host --verify, needs no install)")
    parser.add_argument("--board", default="mps2-an386", help="board to run on")
    args = bench_args(parser, argv, "bench_board.py")
    from mlfcheck.board.boards import board

    target = board(args.board)
    print(f"Board {target.name} ({target.description}); medians of {args.runs} runs after one "
          "warm-up; both checks include TVM's reference run on llvm.\n")
    print("| model | board check s | build s | QEMU run s | host --verify s | ratio | flash B "
          "(model) | static RAM B (model) | peak stack B | max abs err |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            r = bench_model(model, target, args.runs, Path(tmp))
            print(f"| {r['model']} | {r['board_s']:.2f} | {r['build_s']:.2f} | {r['run_s']:.2f} "
                  f"| {r['host_s']:.2f} | {r['board_s'] / r['host_s']:.2f}× | {r['flash']} "
                  f"({r['own_flash']}) | {r['ram']} ({r['own_ram']}) | {r['stack']} "
                  f"| {r['max_err']:.3g} |")
    print("\nThe machine is shared with other jobs: compare rows of one run, not across runs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
