"""The two whole properties fuzzing checks, one per target, shared by the tests and `mlfcheck
fuzz`: every exporter invariant on one model file, and a reader that survives one mutated input.

Each is composed of the checks in `exports` (the exports themselves), `oracles` (the archive
against the model and its C build) and `metamorphic`; the reader one runs the command as `replay`
does, under `guard` and `alarm`. They raise `PropertyFailure` (see `outcomes`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mlfcheck.fuzz import metamorphic, oracles
from mlfcheck.fuzz.alarm import TimeLimitReached, time_limit
from mlfcheck.fuzz.exports import (
    archive_validates,
    diff_is_empty,
    export_is_clean,
    exports_are_identical,
    memory_map_holds,
    verify_catches_a_wrong_output,
)
from mlfcheck.fuzz.guard import guarded
from mlfcheck.fuzz.outcomes import (
    Bucket,
    PropertyFailure,
    crash_signature,
    describe_exception,
    normalise,
)
from mlfcheck.fuzz.reader import MutationSpec, materialize
from mlfcheck.fuzz.replay import command_line, read_as_the_cli_does

if TYPE_CHECKING:
    from mlfcheck.export import ExportResult


PATTERNS, C_RUN, ALL = 1, 2, 3
"""Levels of the deep oracles: the int8 patterns against their float semantics; also the C
run (oracles.c_builds_agree); all of them (also an export in a fresh process, the metamorphic
diffs and --verify's own comparison failing on a wrong output)."""


def exporter_properties(model: Path, workdir: Path, *, verify: bool,
                        tolerance: float | None = None,
                        deep: Callable[[ExportResult], int] | None = None,
                        patterns: str | None = None, fresh: Path | None = None) -> ExportResult:
    """Every exporter invariant on one model file, in order; ExportError passes through.
    The cheap ones always (archive_compiles only where no C build follows: those compile every
    file fully); the deep ones at the level `deep` gives the first export (PATTERNS, C_RUN or
    ALL), all of them with `verify`. `patterns` is the model's int8 patterns alone
    (`models.render_patterns`, checked by metamorphic.patterns_agree); `fresh` a campaign's
    fresh-process server (`fresh.FreshExporter`). The cheaper deep oracles run first."""
    first = export_is_clean(model, workdir / "first.tar")
    second = export_is_clean(model, workdir / "second.tar")
    level = ALL if verify else deep(first) if deep is not None else 0
    archive_validates(first.path)
    exports_are_identical(first.path, second.path)
    diff_is_empty(first.path, second.path)
    if level < C_RUN or not first.link_params:  # the C builds compile every file, fully
        oracles.archive_compiles(first)
    oracles.params_are_the_constants(first)
    oracles.header_matches_metadata(first)
    oracles.operator_workspace_matches(first)
    memory_map_holds(first)
    oracles.plan_matches_use(first)
    oracles.output_copies_are_whole(first)
    oracles.dtypes_agree(first)
    if level >= PATTERNS and patterns is not None:
        metamorphic.patterns_agree(patterns, workdir)
    if level >= ALL:
        oracles.exports_agree_across_processes(model, first.path, workdir, fresh)
        metamorphic.diffs_are_expected(model, first.path, workdir)
        verify_catches_a_wrong_output(model, first, workdir)
    if level >= C_RUN:
        from mlfcheck.export import DEFAULT_TOLERANCE

        oracles.c_builds_agree(model, first, DEFAULT_TOLERANCE if tolerance is None
                               else tolerance)
    return first


def reader_survives(spec: MutationSpec, original: bytes, scratch: Path, *,
                    seconds: float | None = None) -> int:
    """The reader behind the command ends through its documented paths (a report, or
    MlfcheckError), raises nothing else, writes nothing outside `scratch` and opens no file a
    link member points at. Returns the exit code the CLI gives that outcome."""
    path = materialize(spec, original, scratch / "mutated")
    pristine = scratch / "pristine.tar"
    pristine.write_bytes(original)
    args = command_line(spec, path, pristine)
    with guarded(scratch) as guard:
        try:
            with time_limit(seconds):
                code = read_as_the_cli_does(spec, path, pristine)
        except TimeLimitReached:
            raise PropertyFailure(Bucket.TIMEOUT, f"{args[0]}: over {seconds:g} s",
                                  " ".join(args)) from None
        except MemoryError as exc:
            raise PropertyFailure(Bucket.MEMORY_LIMIT, f"{args[0]}: {crash_signature(exc)}",
                                  describe_exception(exc)) from exc
        except Exception as exc:
            raise PropertyFailure(Bucket.CRASH, f"{args[0]}: {crash_signature(exc)}",
                                  describe_exception(exc)) from exc
    if guard.wrote:
        raise PropertyFailure(Bucket.WROTE_OUTSIDE, f"{args[0]}: {normalise(guard.wrote)}",
                              guard.wrote)
    if guard.followed:
        raise PropertyFailure(Bucket.FOLLOWED_LINK, f"{args[0]}: opened a link target",
                              guard.followed)
    return code
