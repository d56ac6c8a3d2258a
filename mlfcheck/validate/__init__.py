"""Validation of one archive: run the check table, filter findings, return a Report."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace

from mlfcheck.findings import Code, Finding, Severity
from mlfcheck.reading.archive import Archive, Limits
from mlfcheck.reading.csource import CParser
from mlfcheck.reading.loaded import Loaded
from mlfcheck.validate.checks import CHECKS, unmet_need

_WHY_SKIPPED = {
    "document": "metadata.json could not be parsed",
    "version": "the declared version is missing or unknown",
    "model": "metadata.json does not match its schema",
}


@dataclass(frozen=True)
class Report:
    """The outcome of validating one archive."""

    path: str
    declared_version: int | None
    """The declared version when it is a known integer."""
    detected_versions: tuple[int, ...]
    """Versions whose layout fits the archive best (the fingerprint)."""
    findings: tuple[Finding, ...]
    skipped: tuple[tuple[str, str], ...]
    """(check name, reason) for checks that could not run."""

    def count(self, level: Severity) -> int:
        """How many findings have this severity."""
        return sum(f.level == level for f in self.findings)

    @property
    def ok(self) -> bool:
        """True when there is no error-level finding."""
        return self.count(Severity.ERROR) == 0


@dataclass(frozen=True)
class Unreadable:
    """An input that could not be read as an archive at all, and why."""

    path: str
    error: str
    """The reason, without the path."""


Validation = Report | Unreadable
"""What validating one input gives: its report, or why it could not be read."""


def validate(path: str | os.PathLike[str], *, limits: Limits | None = None,
             select: Iterable[Code] = (), ignore: Iterable[Code] = (),
             strict: bool = False, parser: CParser | None = None) -> Report:
    """Validate one archive; its C is read by `parser` (default: one of its own). Raises
    ArchiveError when the input cannot be read at all."""
    with Archive(path, limits=limits) as archive:
        return validate_loaded(Loaded(archive, parser=parser), select=select, ignore=ignore,
                               strict=strict)


def validate_loaded(ctx: Loaded, *, select: Iterable[Code] = (), ignore: Iterable[Code] = (),
                     strict: bool = False) -> Report:
    """Validate an archive already loaded (callers that go on using it share its work)."""
    found: list[Finding] = []
    skipped: list[tuple[str, str]] = []
    chosen = (set(select) if select else set(Code)) - set(ignore)
    for chk in CHECKS:
        if not chosen.intersection(chk.codes):
            continue  # e.g. --ignore X001,X003,X004 does not parse the generated C at all
        missing = unmet_need(ctx, chk.needs)
        if missing:
            skipped.append((chk.name, _WHY_SKIPPED[missing]))
            continue
        found.extend(chk.fn(ctx))
    detected = _detected(ctx)
    kept = [f for f in found if f.code in chosen]
    if strict:
        kept = [replace(f, severity=Severity.ERROR) if f.level == Severity.WARNING else f
                for f in kept]
    kept.sort(key=Finding.sort_key)
    version = ctx.version if isinstance(ctx.version, int) else None
    return Report(ctx.archive.path, version, detected, tuple(kept), tuple(skipped))


def _detected(ctx: Loaded) -> tuple[int, ...]:
    return ctx.fingerprint.best() if ctx.meta else ()
