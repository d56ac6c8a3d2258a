"""Validation of one archive: run the check table, filter findings, return a Report."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace

from mlfcheck.archive import Archive, Limits
from mlfcheck.checks import CHECKS, Context
from mlfcheck.checks.base import NEEDS
from mlfcheck.findings import Code, Finding, Severity

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


def validate(path: str | os.PathLike[str], *, limits: Limits | None = None,
             select: Iterable[Code] = (), ignore: Iterable[Code] = (),
             strict: bool = False) -> Report:
    """Validate one archive. Raises ArchiveError when the input cannot be read at all."""
    with Archive(path, limits=limits) as archive:
        return validate_context(Context(archive), select=select, ignore=ignore, strict=strict)


def validate_context(ctx: Context, *, select: Iterable[Code] = (), ignore: Iterable[Code] = (),
                     strict: bool = False) -> Report:
    """Validate an archive already opened in `ctx` (callers that go on using it share its work)."""
    found: list[Finding] = []
    skipped: list[tuple[str, str]] = []
    for chk in CHECKS:
        missing = _unmet(ctx, chk.needs)
        if missing:
            skipped.append((chk.name, _WHY_SKIPPED[missing]))
            continue
        found.extend(chk.fn(ctx))
    detected = _detected(ctx)
    chosen = set(select) if select else set(Code)
    chosen -= set(ignore)
    kept = [f for f in found if f.code in chosen]
    if strict:
        kept = [replace(f, severity=Severity.ERROR) if f.level == Severity.WARNING else f
                for f in kept]
    kept.sort(key=Finding.sort_key)
    return Report(ctx.archive.path, ctx.version, detected, tuple(kept), tuple(skipped))


def _unmet(ctx: Context, needs: str) -> str | None:
    """The first stage `needs` requires that this archive does not reach, or None."""
    reached = {
        "archive": True,
        "document": ctx.doc is not None,
        "version": ctx.doc is not None and ctx.version is not None,
        "model": ctx.doc is not None and ctx.version is not None and ctx.model is not None,
    }
    for stage in NEEDS[: NEEDS.index(needs) + 1]:
        if not reached[stage]:
            return stage
    return None


def _detected(ctx: Context) -> tuple[int, ...]:
    return ctx.fingerprint.best() if ctx.meta else ()
