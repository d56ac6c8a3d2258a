"""Benchmark `mlfcheck audit` over every real fixture with --jobs 1 and --jobs 2 (wall time)."""

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

from tests.shared_paths import shared_dir  # noqa: E402

FORMATS = ("json", "markdown", "html")
ENTRY = "from mlfcheck.cli.audit import audit; audit()"
"""The command itself (works before and after it is registered in `mlfcheck.cli`)."""


def command(jobs: int, fmt: str, baseline: bool) -> list[str]:
    """The CLI run timed: a fresh process, as CI runs it."""
    real = str(shared_dir() / "fixtures" / "real-mlf")
    extra = ["--baseline", real] if baseline else []
    return [sys.executable, "-c", ENTRY, real, *extra, "--jobs", str(jobs), "--format", fmt,
            "-o", "/dev/null"]


def wall(cmd: list[str], repeat: int) -> float:
    """Median wall time in seconds over `repeat` runs (after one warm-up run)."""
    subprocess.run(cmd, check=True, cwd=REPO)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=REPO)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per row")
    args = parser.parse_args()
    compile_package()
    print("| run | --jobs 1 | --jobs 2 | speed-up |")
    print("|---|---|---|---|")
    for baseline in (False, True):
        for fmt in FORMATS:
            one = wall(command(1, fmt, baseline), args.repeat)
            two = wall(command(2, fmt, baseline), args.repeat)
            label = f"{fmt}{' + --baseline (7 diffs)' if baseline else ''}"
            print(f"| {label} | {one:.2f} s | {two:.2f} s | {one / two:.2f}x |")


if __name__ == "__main__":
    main()
