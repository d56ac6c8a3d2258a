"""Benchmark: how strong is `mlfcheck fuzz`? Plant each bug of bench/mutants.json in a temporary
copy of the package and run a fixed-seed exporter campaign against it.

Usage: python bench/mutation.py [--examples N] [--verify-examples M] [--seed S] [--jobs J]
                                [--only NAME ...] [--old GIT_REF] [--tests PATH ...]
                                [--package DIR]
Per planted bug: caught or not, the first example that caught it (examples needed), the bucket
and signature, first without --verify (N examples; the default campaign already runs the C
builds on the models whose content needs them) and, for a bug that run missed, with --verify
(M examples). A bug counts as caught by a counterexample the unmutated package does not have
over the same seeds (the baseline, run first: it should find nothing). With --tests, the same
pytest paths run against each planted bug too (caught: a test fails). Also the baseline's
throughput with and without --verify, and with --old that of the fuzzer at GIT_REF (e.g. the
commit before the oracles) over the same seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlfcheck.fuzz.mutants import (  # noqa: E402
    PACKAGE,
    Mutant,
    MutantError,
    load_mutants,
    plant,
    run_with,
)


def campaign(mutant: Mutant | None, examples: int, seed: int, jobs: int,
             verify: bool, package: Path = PACKAGE) -> tuple[dict[str, Any], float]:
    """The campaign's JSON report against the mutant (None: unmutated) planted in a copy of
    `package`, and its wall time."""
    args = ["fuzz", "--examples", str(examples), "--seed", str(seed), "--jobs", str(jobs),
            "--no-shrink", "--format", "json", *(["--verify"] if verify else [])]
    start = time.perf_counter()
    done = run_with(mutant, args, package=package)
    took = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"campaign could not run ({done.returncode}): {done.stderr.strip()}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report, took


def old_throughput(ref: str, examples: int, seed: int, jobs: int, verify: bool) -> float:
    """Examples per minute of `mlfcheck fuzz` as it was at git `ref` (run from an archive of
    that commit)."""
    with tempfile.TemporaryDirectory(prefix="mlfcheck-old-") as tmp:
        tree = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True,
                              check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=tree, check=True)
        env = dict(os.environ, PYTHONPATH=tmp, PYTHONSAFEPATH="1")
        done = subprocess.run([sys.executable, "-m", "mlfcheck", "fuzz", "--examples",
                               str(examples), "--seed", str(seed), "--jobs", str(jobs),
                               "--format", "json", *(["--verify"] if verify else [])],
                              env=env, capture_output=True, text=True)
    rate: float = json.loads(done.stdout)["per_minute"]
    return rate


def caught(report: dict[str, Any], baseline: set[tuple[str, str]]) -> str:
    """'#N bucket: signature' of the earliest counterexample not in `baseline` (bucket,
    signature pairs of the unmutated package), or '' when none."""
    found = [c for c in report["counterexamples"]
             if (c["bucket"], c["signature"]) not in baseline]
    if not found:
        return ""
    first = min(found, key=lambda c: c["example"])
    return f"#{first['example'] + 1} {first['bucket']}: {first['signature'][:60]}"


def signatures(report: dict[str, Any]) -> set[tuple[str, str]]:
    """The (bucket, signature) pairs of a report's counterexamples."""
    return {(c["bucket"], c["signature"]) for c in report["counterexamples"]}


def tests_fail(mutant: Mutant, paths: list[str], package: Path) -> str:
    """'yes: <the first failing test>' when pytest on `paths` (stopping at the first failure)
    fails against the mutant, else 'no (<pytest's last line>)'."""
    done = run_with(mutant, ["-q", "-x", "-rf", "-p", "no:cacheprovider", *paths],
                    module="pytest", cwd=REPO, package=package)
    lines = done.stdout.strip().splitlines() or ["?"]
    failed = next((ln.removeprefix("FAILED ").split(" - ")[0] for ln in lines
                   if ln.startswith("FAILED ")), None)
    if done.returncode == 1 and failed:
        return f"yes: {failed}"
    return f"no ({lines[-1]})"


def check_patches(mutants: list[Mutant], package: Path) -> None:
    """Stop with one line per mutant whose edits do not apply to `package` as it is now (the
    text to replace is not there exactly once), before any campaign runs."""
    broken = []
    for m in mutants:
        with tempfile.TemporaryDirectory(prefix="mlfcheck-mutant-") as tmp:
            try:
                plant(m, Path(tmp), package=package)
            except MutantError as exc:
                broken.append(str(exc))
    if broken:
        raise SystemExit("bench/mutants.json does not apply to this package:\n"
                         + "\n".join(broken))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--verify-examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="mutant names to run")
    parser.add_argument("--old", default=None, help="git ref of a fuzzer to compare speed with")
    parser.add_argument("--tests", nargs="*", default=[], help="pytest paths to run too")
    parser.add_argument("--package", type=Path, default=PACKAGE,
                        help="the mlfcheck package folder to plant the bugs in")
    ns = parser.parse_args()
    mutants = [m for m in load_mutants(REPO / "bench" / "mutants.json")
               if ns.only is None or m.name in ns.only]
    check_patches(mutants, ns.package)

    base, base_s = campaign(None, ns.examples, ns.seed, ns.jobs, False, ns.package)
    print(f"baseline (unmutated), {ns.examples} examples, seed {ns.seed}: "
          f"{base['per_minute']:.0f} examples/min, {len(base['counterexamples'])} "
          f"counterexamples, {base_s:.0f} s")
    known = signatures(base)
    if ns.verify_examples:
        vbase, vbase_s = campaign(None, min(ns.verify_examples, 40), ns.seed, ns.jobs, True,
                                  ns.package)
        print(f"baseline with --verify, {min(ns.verify_examples, 40)} examples: "
              f"{vbase['per_minute']:.0f} examples/min, {len(vbase['counterexamples'])} "
              f"counterexamples, {vbase_s:.0f} s")
        known |= signatures(vbase)
    if ns.old:
        print(f"fuzzer at {ns.old}, same seeds: "
              f"{old_throughput(ns.old, ns.examples, ns.seed, ns.jobs, False):.0f} examples/min"
              f", with --verify ({min(ns.verify_examples, 40)} examples) "
              f"{old_throughput(ns.old, min(ns.verify_examples, 40), ns.seed, ns.jobs, True):.0f}"
              " examples/min")
    print()
    print(f"| planted bug | {ns.examples} without --verify | "
          f"{ns.verify_examples} with --verify |" + (" tests |" if ns.tests else ""))
    print("|---|---|---|" + ("---|" if ns.tests else ""))
    for m in mutants:
        report, _ = campaign(m, ns.examples, ns.seed, ns.jobs, False, ns.package)
        plain = caught(report, known) or f"missed in {report['ran']}"
        with_verify = "(not needed)"
        if not caught(report, known) and ns.verify_examples:
            vreport, _ = campaign(m, ns.verify_examples, ns.seed, ns.jobs, True, ns.package)
            with_verify = caught(vreport, known) or f"missed in {vreport['ran']}"
        tests = f" {tests_fail(m, ns.tests, ns.package)} |" if ns.tests else ""
        print(f"| {m.name}: {m.description} | {plain} | {with_verify} |{tests}", flush=True)


if __name__ == "__main__":
    main()
