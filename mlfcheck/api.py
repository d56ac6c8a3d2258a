"""The public Python API: the calls the CLI makes, for scripts that want verdicts as objects.

Everything here is re-exported from the package root (`mlfcheck.validate_archive`, ...); every
other module is internal and may change between releases. Nothing here imports TVM until
`export_model` runs (it needs the `tvm` extra), and each call imports only what it runs, so a
command starts without the modules of the others.

A call that reads an archive fails with MlfcheckError only: an archive nested deeper than
Python's stack, one that needs more memory than is left, or C the parser fails on is an
ArchiveError naming it (`errors.typed_reading`), never a RecursionError or MemoryError.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfcheck.errors import typed_reading

if TYPE_CHECKING:
    from mlfcheck.board.archivebuild import Builder
    from mlfcheck.board.boards import Board
    from mlfcheck.board.footprint import Counted, Footprint
    from mlfcheck.consumers import Profile, Verdict
    from mlfcheck.consumers.harness import UserHarness
    from mlfcheck.diff import DiffConfig, DiffResult
    from mlfcheck.export import ExportResult, export_model
    from mlfcheck.findings import Code
    from mlfcheck.reading.archive import Limits
    from mlfcheck.reading.csource import CParser
    from mlfcheck.reading.summary import Summary
    from mlfcheck.validate import Report

PathLike = str | os.PathLike[str]


def validate_archive(path: PathLike, *, limits: Limits | None = None,
                     select: Iterable[Code] = (), ignore: Iterable[Code] = (),
                     strict: bool = False, parser: CParser | None = None,
                     build: bool | Builder = False) -> Report:
    """Validate one archive (.tar, .tar.gz/.tgz or extracted folder) and return its Report.

    `select`/`ignore` keep or drop finding codes; `strict` raises warnings to errors;
    `parser` reads the generated C (one CParser for many calls parses what they share once,
    and with `workers` > 1 may fork; default: a new single-process one). `build` also
    compiles and links the C with the host C compiler (B codes): True with mlfcheck's
    defaults, or a `Builder` (its -I folders, runtime headers, jobs and the `BuildCache` it
    shares between calls). Raises ArchiveError when the input cannot be read as an archive at
    all.
    """
    from mlfcheck.validate import validate

    if build is True:
        from mlfcheck.board.archivebuild import BuildCache, Builder

        with BuildCache() as cache:
            return validate_archive(path, limits=limits, select=select, ignore=ignore,
                                    strict=strict, parser=parser, build=Builder(cache))
    with typed_reading(path):
        return validate(path, limits=limits, select=select, ignore=ignore, strict=strict,
                        parser=parser, builder=build or None)


def diff_archives(old: PathLike, new: PathLike, *, config: DiffConfig | None = None,
                  include_volatile: bool = False, limits: Limits | None = None,
                  consumer: str | Profile | None = None,
                  board: str | Board | None = None,
                  parser: CParser | None = None, build: bool | Builder = False) -> DiffResult:
    """Compare two archives of any MLF versions; `result.fails(Level.BREAKING)` is the gate.

    `config` comes from `load_config(path)` (levels, thresholds, allow-list); with `consumer`
    (a built-in profile name or a Profile), breaking means "breaks that consumer"; with
    `board` (a name or a Board) both archives are also sized for it, symbol by symbol.
    `parser` reads both sides' C (see `validate_archive`; default: a new one for both).
    `build` (True, or a `Builder` as for `validate_archive`; the CLI builds by default) also
    builds both sides' C on the host, once per file content: a new archive whose C no longer
    builds is breaking (D417), and abidiff, when installed, compares their ABIs.
    Raises ArchiveError when an input cannot be read; metadata that is unusable is a result
    (nothing is compared; the new side's is the breaking change D114), not an error.
    """
    from mlfcheck.diff import diff_archives as run

    if build is True:
        from mlfcheck.board.archivebuild import BuildCache, Builder

        with BuildCache() as cache:
            return diff_archives(old, new, config=config, include_volatile=include_volatile,
                                 limits=limits, consumer=consumer, board=board, parser=parser,
                                 build=Builder(cache))
    profile = _profiles([consumer])[0] if consumer is not None else None
    with typed_reading(old, new):
        return run(old, new, config=config, include_volatile=include_volatile, limits=limits,
                   consumer=profile, board=_board(board) if board is not None else None,
                   parser=parser, builder=build or None)


def compat(path: PathLike, consumer: str | Profile, *, limits: Limits | None = None,
           parser: CParser | None = None) -> Verdict:
    """Whether one consumer (a built-in profile name or a Profile) can read the archive."""
    return compat_all(path, [consumer], limits=limits, parser=parser)[0]


def compat_all(path: PathLike, consumers: Sequence[str | Profile] | None = None, *,
               limits: Limits | None = None, parser: CParser | None = None,
               build: bool = False, harness: UserHarness | None = None) -> tuple[Verdict, ...]:
    """Every chosen consumer's verdict on one archive (default: every built-in profile);
    `parser` reads its C (see `validate_archive`). With `build`, each profile's harness is
    built and run against the archive (`Verdict.level`, `Verdict.proof`); with `harness`, the
    user's own application adds a last verdict ('your-application')."""
    from mlfcheck.consumers import check_archive, select_profiles

    chosen = (select_profiles((), (), every=True) if consumers is None
              else _profiles(consumers))
    with typed_reading(path):
        return check_archive(path, chosen, limits=limits, parser=parser, build=build,
                             user=harness)


def compat_harness(path: PathLike, harness: UserHarness, *,
                   limits: Limits | None = None) -> Verdict:
    """The verdict on the user's own application (`UserHarness`: C files, -I folders, board,
    run, inputs, expected outputs) built against the archive: `Verdict.level` says how far it
    got, `Verdict.proof` the first error, the fix and the outputs."""
    return compat_all(path, [], limits=limits, harness=harness)[-1]


def summarize_archive(path: PathLike, *, limits: Limits | None = None,
                      parser: CParser | None = None) -> Summary:
    """What `mlfcheck show` prints, as a typed Summary; UnusableArchive when the metadata is
    unusable. `parser` reads its C (see `validate_archive`)."""
    from mlfcheck.reading.summary import summarize

    with typed_reading(path):
        return summarize(path, limits=limits, parser=parser)


def _board(target: str | Board) -> Board:
    from mlfcheck.board.boards import board

    return board(target) if isinstance(target, str) else target


def size_archive(path: PathLike, target: str | Board, *, includes: Sequence[PathLike] = (),
                 limits: Limits | None = None, run: bool = False) -> Footprint:
    """Flash and RAM per symbol of the archive's C compiled for a board (a name such as
    'mps2-an386', or a Board); `includes` add header folders the archive lacks. With `run`,
    also one call of its entry point on the board, counted in QEMU (`Footprint.run`).

    Raises BoardError (missing toolchain or headers, a compile error), UsageError (unknown
    board) or ArchiveError."""
    from dataclasses import replace

    from mlfcheck.board.footprint import footprint

    target = _board(target)
    with typed_reading(path):
        found = footprint(str(path), target, includes=[Path(i) for i in includes],
                          limits=limits)
        return replace(found, run=count_entry_point(path, target, limits=limits)) if run \
            else found


def count_entry_point(path: PathLike, target: str | Board, *,
                      limits: Limits | None = None) -> Counted:
    """One call of the archive's tvmgen_<module>_run on the board, counted in QEMU, or why it
    did not run (its C does not build into a program that calls it). Raises BoardError for a
    missing toolchain, UsageError, ArchiveError."""
    from mlfcheck.consumers.evaluate import count_on_board

    target = _board(target)
    with typed_reading(path):
        return count_on_board(path, target.name, limits=limits)


def _profiles(consumers: Sequence[str | Profile]) -> tuple[Profile, ...]:
    """Profiles from names (built-in) or Profile objects, in order."""
    from mlfcheck.consumers import select_profiles

    names = tuple(c for c in consumers if isinstance(c, str))
    by_name = {p.name: p for p in select_profiles(names, (), every=False)} if names else {}
    return tuple(by_name[c] if isinstance(c, str) else c for c in consumers)


def __getattr__(name: str) -> Any:
    """`export_model`, `ExportResult`, `Footprint`, `Counted` and `UserHarness` load their
    modules on first use."""
    if name in ("export_model", "ExportResult"):
        from mlfcheck import export

        return getattr(export, name)
    if name in ("Footprint", "Counted"):
        from mlfcheck.board import footprint

        return getattr(footprint, name)
    if name == "UserHarness":
        from mlfcheck.consumers.harness import UserHarness

        return UserHarness
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Counted", "ExportResult", "Footprint", "PathLike", "UserHarness", "compat",
           "compat_all", "compat_harness", "count_entry_point", "diff_archives", "export_model",
           "size_archive", "summarize_archive", "validate_archive"]
