"""Benchmark: export time against TVM's own compile with the same passes, and per-model figures.

Usage: python bench/bench_export.py [--runs N] [MODELS_DIR]
Prints, per real model: median export time (import excluded, archive written, no verify) against
`tvm.compile(mod, "c", relax_pipeline=<the same passes>)` in the same process, their ratio
(target ≤ 1.3x), C size, workspace (TVM's blocks, our packed arena, measured by --verify),
constants and --verify time.

Then, per int8 model: TFLite Micro's arena (its RecordingMicroAllocator, `tflite-micro` package,
measured in this run) against mlfcheck's workspace with the integer lowering and with
--no-integer, constants against the .tflite's weight bytes (its constant buffers), C bytes,
export time, and agreement with LiteRT's reference kernels on --verify's seeded inputs.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODELS = ("hello_world_int8.tflite", "hello_world_float.tflite", "mnist-8.onnx")
INT8_MODELS = ("hello_world_int8.tflite", "kws_ref_model.tflite",
               "pretrainedResnet_quant.tflite")
_TFLM = """
import sys
from tflite_micro.python.tflite_micro import runtime
runtime.Interpreter.from_file(sys.argv[1], arena_size=64 * 1024 * 1024).print_allocations()
"""
_ARENA = re.compile(r"Arena allocation total (\d+) bytes")


def median_seconds(fn: Callable[[], Any], runs: int) -> float:
    """Median wall time of `runs` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_model(path: Path, runs: int, out: Path) -> dict[str, Any]:
    """Figures for one model."""
    import tvm

    from mlfcheck.export import export_model
    from mlfcheck.export.frontends import load_model
    from mlfcheck.export.pipeline import relax_pipeline

    imported = load_model(str(path))
    archive = out / f"{path.stem}.tar"
    export_s = median_seconds(lambda: export_model(imported, archive, epoch=0), runs)
    tvm_s = median_seconds(lambda: tvm.compile(imported.mod, target="c",
                                               relax_pipeline=relax_pipeline()), runs)
    start = time.perf_counter()
    result = export_model(imported, archive, epoch=0, verify=True)
    verify_s = time.perf_counter() - start - export_s
    check = result.verification
    assert check is not None
    plan = result.plan
    return {
        "model": path.name, "export_s": export_s, "tvm_s": tvm_s, "ratio": export_s / tvm_s,
        "c_bytes": sum(v for k, v in result.c_files.items() if k.endswith(".c")),
        "tvm_blocks": plan.tvm_plan_bytes,
        "scratch": max(plan.kernel_scratch.values(), default=0),
        "workspace": plan.arena_size, "measured": check.workspace_measured,
        "constants": sum(t.nbytes for t in plan.constants),
        "max_err": max(check.max_abs_error.values(), default=0.0), "verify_s": verify_s,
    }


def tflm_arena(path: Path) -> int:
    """Bytes of arena TFLite Micro allocates for the model (its own report, in a subprocess:
    the allocator prints from C++, to stderr when that is not a terminal)."""
    done = subprocess.run([sys.executable, "-c", _TFLM, str(path)], capture_output=True,
                          text=True, check=True)
    found = _ARENA.search(done.stdout + done.stderr)
    if found is None:
        raise RuntimeError(f"tflite-micro printed no arena total for {path.name}")
    return int(found.group(1))


def weight_bytes(path: Path) -> int:
    """Bytes of the .tflite's constant tensor data (its non-empty buffers)."""
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    buffers = {graph.Tensors(i).Buffer() for i in range(graph.TensorsLength())}
    return sum(model.Buffers(b).DataLength() for b in buffers)


def bench_int8(path: Path, runs: int, out: Path) -> dict[str, Any]:
    """Footprint and agreement of one int8 model, TFLM's arena measured alongside."""
    from mlfcheck.export import export_model
    from mlfcheck.export.frontends import load_model

    imported = load_model(str(path))
    archive = out / f"{path.stem}-int.tar"
    export_s = median_seconds(lambda: export_model(imported, archive, epoch=0), runs)
    result = export_model(imported, archive, epoch=0, verify=True)
    as_float = export_model(imported, out / f"{path.stem}-float.tar", epoch=0, integer=False)
    check = result.verification
    assert check is not None and check.reference is not None
    return {
        "model": path.name, "tflite": path.stat().st_size, "weights": weight_bytes(path),
        "tflm": tflm_arena(path), "workspace": result.plan.arena_size,
        "float_ws": as_float.plan.arena_size,
        "constants": sum(t.nbytes for t in result.plan.constants),
        "c_bytes": sum(v for k, v in result.c_files.items() if k.endswith(".c")),
        "export_s": export_s,
        "litert": "; ".join(f"{a.differing}/{a.total} differ, max {a.max_diff:g}"
                            for a in check.reference),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models_dir", nargs="?", type=Path,
                        default=REPO.parent / "shared" / "models")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    header = ("model", "export s", "tvm s", "ratio", "C bytes", "TVM blocks", "max scratch",
              "workspace", "measured", "constants", "max err", "verify s")
    print(" | ".join(header))
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            r = bench_model(args.models_dir / name, args.runs, Path(tmp))
            print(f"{r['model']} | {r['export_s']:.3f} | {r['tvm_s']:.3f} | {r['ratio']:.2f}x | "
                  f"{r['c_bytes']} | {r['tvm_blocks']} | {r['scratch']} | {r['workspace']} | "
                  f"{r['measured']} | {r['constants']} | {r['max_err']:.3g} | "
                  f"{r['verify_s']:.2f}")
        print()
        print(" | ".join(("int8 model", ".tflite bytes", "weight bytes", "TFLM arena",
                          "workspace", "vs TFLM", "workspace --no-integer", "constants",
                          "vs weights", "C bytes", "export s", "LiteRT")))
        for name in INT8_MODELS:
            r = bench_int8(args.models_dir / name, args.runs, Path(tmp))
            print(f"{r['model']} | {r['tflite']} | {r['weights']} | {r['tflm']} | "
                  f"{r['workspace']} | {r['workspace'] / r['tflm']:.2f}x | {r['float_ws']} | "
                  f"{r['constants']} | {r['constants'] / r['weights']:.3f}x | {r['c_bytes']} | "
                  f"{r['export_s']:.2f} | {r['litert']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
