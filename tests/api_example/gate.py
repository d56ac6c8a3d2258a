"""A downstream build script using mlfcheck's public API: type-checked with mypy --strict by
tests/unit/test_api.py, and run by it."""

from __future__ import annotations

import sys

import mlfcheck


def check(archive: str, baseline: str | None) -> int:
    """0 when the archive is valid, readable by TVMC 0.8's loader and not breaking the baseline."""
    report: mlfcheck.Report = mlfcheck.validate_archive(archive)
    errors = [f for f in report.findings if f.level is mlfcheck.Severity.ERROR]
    for f in errors:
        print(f"{f.location()}: {f.code.name} {f.message}")
    verdict: mlfcheck.Verdict = mlfcheck.compat(archive, "tvmc-0.8")
    if not verdict.readable and verdict.first is not None:
        print(f"tvmc-0.8 cannot read it: {verdict.first.read}")
    breaking = 0
    if baseline is not None:
        result: mlfcheck.DiffResult = mlfcheck.diff_archives(baseline, archive)
        breaking = result.count(mlfcheck.Level.BREAKING)
    summary: mlfcheck.Summary = mlfcheck.summarize_archive(archive)
    print(f"{summary.path}: v{summary.declared_version}, workspace {summary.workspace_bytes} B, "
          f"{breaking} breaking")
    return 1 if errors or breaking or not verdict.readable else 0


if __name__ == "__main__":
    sys.exit(check(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
