"""Benchmark: the exporter campaign's throughput with every oracle on, before and after, in one
run, and the bound on shrinking.

Usage: python bench/bench_fuzz.py [--examples N] [--seed S] [--jobs J] [--before PACKAGE ...]
                                  [--shrink-examples M]
Runs `mlfcheck fuzz --no-shrink --format json` on a copy of this package (and, with --before,
first on a copy of each other `mlfcheck` package folder, e.g. older checkouts', over the same
seeds: a package whose draws mix in its own constants, as before the fix, draws other models), and
prints for each: examples/min, wall time, the counts, how many models reached integer kernels and
how many ran in C. Then a campaign with shrinking on, against a planted planner bug
(`bench/mutants.json` "pack-overlap", so there is something to shrink): shrinking time per
counterexample against mlfcheck.fuzz.campaign.SHRINK_SECONDS. The load average is printed at the
start and the end: the wall-clock figures are only comparable within one run on a quiet machine.
So each row also gives the CPU seconds the campaign's whole process tree used (this script is
their subreaper, so the fork server and every example's child and compiler are counted) and
the quiet-machine estimate: examples per minute if the campaign had all the cores alone,
`cores × 60 × examples / CPU seconds` (an upper bound: it assumes no core idles).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlfcheck.fuzz.campaign import SHRINK_ATTEMPTS, SHRINK_SECONDS  # noqa: E402
from mlfcheck.fuzz.mutants import PACKAGE, Mutant, load_mutants, run_with  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36


def children_cpu() -> float:
    """User + system CPU seconds of every descendant reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def reap_orphans() -> None:
    """Wait for every descendant left (as subreaper, the campaign's fork server comes here
    when the campaign ends), so its CPU time is counted."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def campaign(package: Path, mutant: Mutant | None,
             args: list[str]) -> tuple[dict[str, Any], float, float]:
    """The JSON report of `mlfcheck fuzz ARGS` on a copy of `package` (with `mutant` planted),
    its wall time and the CPU seconds of its whole process tree."""
    cpu = children_cpu()
    start = time.perf_counter()
    done = run_with(mutant, ["fuzz", *args, "--format", "json"], package=package)
    took = time.perf_counter() - start
    reap_orphans()
    if done.returncode not in (0, 1):
        raise SystemExit(f"campaign could not run ({done.returncode}): {done.stderr.strip()}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report, took, children_cpu() - cpu


def row(label: str, report: dict[str, Any], took: float, cpu: float) -> str:
    """One Markdown row of a throughput table."""
    content = report.get("distribution", {}).get("content", {})
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report["counts"].items()))
    quiet = (os.cpu_count() or 1) * 60.0 * report["ran"] / cpu if cpu > 0 else 0.0
    return (f"| {label} | {report['ran']} | {report['per_minute']:.0f} | {report['seconds']:.0f} "
            f"| {took:.0f} | {cpu:.0f} | {cpu / max(1, report['ran']):.2f} | {quiet:.0f} | "
            f"{content.get('integer kernels', '–')} | "
            f"{content.get('int8 patterns checked', '–')} | {content.get('run in C', '–')} | "
            f"{content.get('every deep oracle', '–')} | {counts} |")


def load() -> str:
    """The 1-minute load average and the cores."""
    return f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--before", type=Path, action="append", default=[],
                        help="another mlfcheck package folder to measure over the same seeds "
                             "(repeatable)")
    parser.add_argument("--shrink-examples", type=int, default=20,
                        help="examples of the shrinking run (0: skip it)")
    ns = parser.parse_args()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    args = ["--examples", str(ns.examples), "--seed", str(ns.seed), "--jobs", str(ns.jobs),
            "--no-shrink"]
    print(f"mlfcheck fuzz {' '.join(args)}; at the start: {load()}")
    print()
    print("| fuzzer | examples | examples/min | campaign s | wall s | CPU s | CPU s/example "
          "| quiet-machine examples/min | with integer kernels | int8 patterns checked "
          "| run in C | every deep oracle | outcomes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    found: list[str] = []
    for label, package in [(f"before ({b})", b) for b in ns.before] + [
            ("after (this tree)", PACKAGE)]:
        report, took, cpu = campaign(package, None, args)
        print(row(label, report, took, cpu), flush=True)
        found += [f"{label}: {c['bucket']}: {c['signature']} (×{c['count']}, first #"
                  f"{c['example']}): {c['detail'].splitlines()[0][:200]}"
                  for c in report["counterexamples"]]
    if found:
        print()
        print("\n".join(found))
    if ns.shrink_examples:
        planted = next(m for m in load_mutants(REPO / "bench" / "mutants.json")
                       if m.name == "pack-overlap")
        report, _, _ = campaign(PACKAGE, planted, ["--examples", str(ns.shrink_examples),
                                                "--seed", str(ns.seed), "--jobs", str(ns.jobs)])
        shrunk = len(report["counterexamples"])
        print()
        print(f"shrinking ({planted.description}, {ns.shrink_examples} examples): "
              f"{shrunk} counterexamples shrunk in {report['shrink_seconds']:.0f} s "
              f"({report['shrink_seconds'] / max(1, shrunk):.0f} s each; bound: "
              f"{SHRINK_SECONDS:.0f} s or {SHRINK_ATTEMPTS} candidate runs each, plus the "
              "candidates running when it is reached)")
    print()
    print(f"at the end: {load()}")


if __name__ == "__main__":
    main()
