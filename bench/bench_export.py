"""Benchmark: export time against TVM's own compile with the same passes, and per-model figures.

Usage: python bench/bench_export.py [--runs N] [MODELS_DIR]
Prints, per real model: median export time (import excluded, archive written, no verify) against
`tvm.compile(mod, "c", relax_pipeline=<the same passes>)` in the same process, their ratio
(target ≤ 1.3x), C size, workspace (TVM's blocks, our packed arena, measured by --verify),
constants and --verify time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODELS = ("hello_world_int8.tflite", "hello_world_float.tflite", "mnist-8.onnx")


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
