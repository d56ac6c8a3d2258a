"""Benchmark `mlfcheck audit` (wall time, a fresh process per run) over all real fixtures (alone
and against themselves as the baseline) and over the committed fixtures/, each with and without
the host build (`--no-build`), with --jobs 1 and --jobs 2."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_validate import compile_package  # noqa: E402

from tests.shared_paths import real_dir  # noqa: E402

ENTRY = "from mlfcheck.cli.audit import audit; audit()"
"""The command itself (works before and after it is registered in `mlfcheck.cli`)."""
BUILDS = ("--no-build", "--build")


def inputs() -> list[tuple[str, list[str]]]:
    """(label, PATH arguments) of each row."""
    real = str(real_dir())
    return [("real-mlf (7 archives)", [real]),
            ("real-mlf + --baseline (7 diffs)", [real, "--baseline", real]),
            ("fixtures/ (73 archives)", [str(REPO / "fixtures")])]


def command(paths: list[str], jobs: int, build: str, fmt: str) -> list[str]:
    """The CLI run timed: a fresh process, as CI runs it."""
    return [sys.executable, "-c", ENTRY, *paths, build, "--jobs", str(jobs), "--format", fmt,
            "-o", "/dev/null"]


def wall(cmd: list[str], repeat: int) -> float:
    """Median wall time in seconds over `repeat` runs (after one warm-up run); exit 0 or 1
    (invalid archives) is a run, anything else stops the benchmark."""
    times = []
    for n in range(repeat + 1):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, check=False)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}")
        if n:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per cell")
    parser.add_argument("--format", dest="fmt", default="markdown",
                        choices=("json", "markdown", "html", "junit"), help="report format")
    args = parser.parse_args()
    compile_package()
    print("| run | build | --jobs 1 | --jobs 2 | speed-up |")
    print("|---|---|---|---|---|")
    for label, paths in inputs():
        for build in BUILDS:
            one = wall(command(paths, 1, build, args.fmt), args.repeat)
            two = wall(command(paths, 2, build, args.fmt), args.repeat)
            print(f"| {label} | {build} | {one:.2f} s | {two:.2f} s | {one / two:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
