"""Benchmark: every model TFLite Micro ships, and the MLPerf Tiny v1.0 models, through export.

Usage: python bench/bench_tflm_models.py --tflite-micro GITDIR --tiny GITDIR [--boards A,B]
       [--only SUBSTRING]
GITDIR: a clone (bare or not) of tensorflow/tflite-micro and of mlcommons/tiny
(`git clone --mirror https://github.com/tensorflow/tflite-micro`); the models are read at the
pinned commits below, never from the network.

Prints, per model: exported or the refusal (stage and message); the operators left float; the
archive's workspace + io (+ state, for a model that keeps one between calls: TFLite Micro's
arena holds its variable tensors too) against TFLite Micro's arena for the same model (its
RecordingMicroAllocator, `tflite-micro` package, this run); constants against the .tflite's
weight buffers; `--verify`'s agreement with the model's reference runtime; and per board
(default mps2-an386 and netduinoplus2) flash, static RAM and peak stack of the verify image.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_export import tflm_arena, weight_bytes  # noqa: E402

TFLM_COMMIT = "90b983c"
"""tensorflow/tflite-micro: the commit the issue pins (its examples and models folders)."""
TFLM_FOLDERS = ("tensorflow/lite/micro/examples/", "tensorflow/lite/micro/models/")
TINY_COMMIT = "1beaec082a2c8a0f3a6626f85cd11b502f8c18e3"
"""mlcommons/tiny v1.0."""
TINY_MODELS = (
    "benchmark/training/keyword_spotting/trained_models/kws_ref_model.tflite",
    "benchmark/training/visual_wake_words/trained_models/vww_96_int8.tflite",
    "benchmark/training/image_classification/trained_models/pretrainedResnet_quant.tflite",
    "benchmark/training/anomaly_detection/trained_models/ad01_int8.tflite",
)
BOARDS = ("mps2-an386", "netduinoplus2")


def _git(gitdir: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={_git_dir(gitdir)}", *args], check=True,
                          capture_output=True).stdout


def _git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").is_dir() else path


def models(tflm: Path, tiny: Path, out: Path) -> list[Path]:
    """The .tflite files of both repositories at their pinned commits, written into `out`."""
    listed = _git(tflm, "ls-tree", "-r", "--name-only", TFLM_COMMIT).decode().splitlines()
    wanted = [(tflm, TFLM_COMMIT, p) for p in listed
              if p.endswith(".tflite") and p.startswith(TFLM_FOLDERS)]
    wanted += [(tiny, TINY_COMMIT, p) for p in TINY_MODELS]
    paths = []
    for repo, commit, member in wanted:
        path = out / Path(member).name
        path.write_bytes(_git(repo, "show", f"{commit}:{member}"))
        paths.append(path)
    return paths


def bench_model(path: Path, boards: list[Any], out: Path) -> dict[str, Any]:
    """One model's row: the refusal, or the export's figures with TFLM's alongside."""
    from mlfcheck.errors import ExportError
    from mlfcheck.export import export_model

    row: dict[str, Any] = {"model": path.name, "weights": weight_bytes(path)}
    try:
        row["tflm"] = tflm_arena(path)
    except (RuntimeError, subprocess.CalledProcessError):
        row["tflm"] = None
    try:
        result = export_model(str(path), out / f"{path.stem}.tar", epoch=0, verify=True,
                              boards=boards)
    except ExportError as exc:
        row["refused"] = str(exc)
        return row
    plan = result.plan
    check = result.verification
    assert check is not None
    io = sum(t.nbytes for t in (*plan.inputs, *plan.outputs))
    row.update(
        float=", ".join(sorted({f.operator for f in result.lowering.stayed_float})) or "none",
        ws_io=plan.arena_size + io + plan.state_size, state=plan.state_size,
        calls=check.calls, constants=sum(t.nbytes for t in plan.constants),
        agreement="; ".join(f"{a.differing}/{a.total} differ (max {a.max_diff:g})"
                            for a in check.reference or ()) or "(no reference)",
        runtime=check.runtime,
        boards={b.board.name: (b.size.flash if b.size else None,
                               b.size.ram if b.size else None, b.stack_peak, b.ok)
                for b in result.board_runs})
    return row


def _cells(row: dict[str, Any]) -> list[str]:
    tflm = f"{row['tflm']:,}" if row["tflm"] is not None else "—"
    if "refused" in row:
        return [row["model"], "refused: " + row["refused"].replace("|", "\\|"), "", tflm, "",
                f"{row['weights']:,}", ""]
    boards = "; ".join(f"{name}: flash {f:,}, RAM {r:,}, stack {s}{'' if ok else ' (FAILED)'}"
                       for name, (f, r, s, ok) in row["boards"].items())
    state = f" (state {row['state']:,})" if row["state"] else ""
    calls = f" over {row['calls']} calls" if row["calls"] > 1 else ""
    return [row["model"], "exported", row["float"], f"{row['ws_io']:,}{state} / {tflm}",
            f"{row['constants']:,}", f"{row['weights']:,}",
            f"{row['runtime']}: {row['agreement']}{calls}; {boards}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflite-micro", type=Path, required=True, metavar="GITDIR")
    parser.add_argument("--tiny", type=Path, required=True, metavar="GITDIR")
    parser.add_argument("--boards", default=",".join(BOARDS))
    parser.add_argument("--only", default="", help="run only models whose name contains this")
    args = parser.parse_args()
    from mlfcheck.board.boards import board

    boards = [board(name) for name in args.boards.split(",") if name]
    print("| model | export | left float | workspace+io / TFLM arena | constants | "
          ".tflite weights | agreement; boards |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="mlfcheck-bench-tflm-") as tmp:
        root = Path(tmp)
        (root / "models").mkdir()
        for path in models(args.tflite_micro, args.tiny, root / "models"):
            if args.only not in path.name:
                continue
            print("| " + " | ".join(_cells(bench_model(path, boards, root))) + " |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
