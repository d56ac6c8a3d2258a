"""Validation of one archive: run the check table, filter findings, return a Report."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mlfcheck.findings import Code, Finding, Severity
from mlfcheck.reading.archive import Archive, Limits
from mlfcheck.reading.csource import CParser
from mlfcheck.reading.loaded import Loaded
from mlfcheck.validate.checks import CHECKS, unmet_need
from mlfcheck.validate.checks.build import BUILD_CODES

if TYPE_CHECKING:
    from mlfcheck.board.archivebuild import Builder, FileOutcome

_WHY_SKIPPED = {
    "document": "metadata.json could not be parsed",
    "version": "the declared version is missing or unknown",
    "model": "metadata.json does not match its schema",
}


@dataclass(frozen=True)
class Judged:
    """Which layers judged an archive: the reader always; with a build asked for, also the
    host compiler (name and version), which TVM runtime headers it compiled against, which
    files it built and which not (member, why), and whether the objects linked. `unavailable`
    says why a build asked for could not run."""

    asked: bool = False
    compiler: str | None = None
    runtime_headers: str | None = None
    built: tuple[str, ...] = ()
    not_built: tuple[tuple[str, str], ...] = ()
    linked: bool | None = None
    unavailable: str | None = None

    @property
    def layers(self) -> str:
        """'reader', or 'reader + gcc 12.2.0'."""
        return f"reader + {self.compiler}" if self.compiler else "reader"


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
    judged: Judged = Judged()
    """Which layers judged it (the reader; the host compiler with --build)."""

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
             strict: bool = False, parser: CParser | None = None,
             builder: Builder | None = None) -> Report:
    """Validate one archive; its C is read by `parser` (default: one of its own) and, with a
    `builder`, also built on the host (B codes). Raises ArchiveError when the input cannot be
    read at all."""
    with Archive(path, limits=limits) as archive:
        return validate_loaded(Loaded(archive, parser=parser, builder=builder), select=select,
                               ignore=ignore, strict=strict)


def validate_loaded(ctx: Loaded, *, select: Iterable[Code] = (), ignore: Iterable[Code] = (),
                     strict: bool = False) -> Report:
    """Validate an archive already loaded (callers that go on using it share its work); its
    C is built when `ctx` has a builder and a B code is chosen."""
    found: list[Finding] = []
    skipped: list[tuple[str, str]] = []
    chosen = (set(select) if select else set(Code)) - set(ignore)
    for chk in CHECKS:
        if not chosen.intersection(chk.codes):
            continue  # e.g. ignoring X001 and X003 to X007 parses no generated C at all
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
    return Report(ctx.archive.path, version, detected, tuple(kept), tuple(skipped),
                  _judged(ctx, chosen))


def _judged(ctx: Loaded, chosen: set[Code]) -> Judged:
    """What the report says of the layers: the build's facts when one ran."""
    from mlfcheck.board.archivebuild import ArchiveBuilt, Compiled

    if ctx.builder is None or not chosen.intersection(BUILD_CODES):
        return Judged()
    built = ctx.built
    if not isinstance(built, ArchiveBuilt):
        return Judged(asked=True, unavailable=built.reason if built is not None else None)
    not_built = tuple((f.member, _why(f)) for f in built.files if not isinstance(f, Compiled))
    return Judged(True, built.compiler, built.headers, built.built, not_built,
                  built.link.ok if built.link is not None else None)


def _why(outcome: FileOutcome) -> str:
    """Why a file was not built, in a few words."""
    from mlfcheck.board.archivebuild import (
        CompileError,
        NeedsHeaders,
        RefusedFile,
        Skipped,
        Stopped,
    )

    if isinstance(outcome, NeedsHeaders):
        return outcome.describe()
    if isinstance(outcome, CompileError):
        return "does not compile"
    if isinstance(outcome, Stopped):
        return "stopped by a limit"
    if isinstance(outcome, Skipped):
        return outcome.reason
    if isinstance(outcome, RefusedFile):
        return "refused: " + "; ".join(r.describe() for r in outcome.refusals[:1])
    return "built"


def _detected(ctx: Loaded) -> tuple[int, ...]:
    return ctx.fingerprint.best() if ctx.meta else ()
