"""`mlfcheck validate`: check archives, report findings, exit 0/1/2."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlfcheck import api
from mlfcheck.cli._common import (
    EXIT_CLEAN,
    EXIT_FOUND,
    EXIT_TROUBLE,
    c_parser,
    emit,
    fail,
    limit_options,
)
from mlfcheck.errors import ArchiveError, MlfcheckError
from mlfcheck.findings import parse_code_selection
from mlfcheck.reading.archive import Limits
from mlfcheck.reporters import validate as validate_reporters
from mlfcheck.reporters.junit import render_junit
from mlfcheck.reporters.present import term
from mlfcheck.validate import Report, Unreadable, Validation

if TYPE_CHECKING:
    from mlfcheck.board.archivebuild import Builder

RENDERERS = {**validate_reporters.RENDERERS, "junit": render_junit}
"""Report formats of `validate` (JUnit lives in its own reporter, shared with `audit`)."""


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)),
              default="text", show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to a file instead of stdout.")
@click.option("--select", multiple=True, metavar="CODES",
              help="Only report these codes or prefixes (comma-separated, repeatable).")
@click.option("--ignore", multiple=True, metavar="CODES",
              help="Never report these codes or prefixes (comma-separated, repeatable).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--build/--no-build", default=False, show_default=True,
              help="Also compile and link the archive's C with the host C compiler (gcc or "
                   "cc), as a consumer builds it (B codes).")
@click.option("--runtime-include", type=click.Path(exists=True, file_okay=False, path_type=Path),
              metavar="DIR", help="With --build: the TVM C runtime headers of the exporting "
                                  "version (default: the archive's runtime/include, else "
                                  "mlfcheck's own declarations of that ABI).")
@click.option("-I", "--include", "includes", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="With --build: an include folder of a library the C needs (repeatable).")
@limit_options
def validate(paths: tuple[str, ...], fmt: str, output: str | None, select: tuple[str, ...],
             ignore: tuple[str, ...], strict: bool, build: bool, runtime_include: Path | None,
             includes: tuple[Path, ...], limits: Limits) -> None:
    """Validate MLF archives (.tar, .tar.gz/.tgz or extracted folders).

    Exit 0 when no archive has errors (warnings allowed unless --strict), 1 when some
    archive has errors, 2 when some archive could not be read.
    """
    try:
        chosen = parse_code_selection(select)
        dropped = parse_code_selection(ignore)
    except MlfcheckError as exc:
        fail("validate", str(exc))
    parser = c_parser()
    with contextlib.ExitStack() as stack:
        builder = _builder(stack, includes, runtime_include) if build else None
        outcomes: list[Validation] = []
        for path in paths:
            try:
                outcomes.append(api.validate_archive(path, limits=limits, select=chosen,
                                                     ignore=dropped, strict=strict,
                                                     parser=parser, build=builder or False))
            except ArchiveError as exc:
                outcomes.append(Unreadable(path, exc.detail))
    emit(RENDERERS[fmt](outcomes), output)
    unreadable = [o for o in outcomes if isinstance(o, Unreadable)]
    if fmt != "text" or output:  # the text report on stdout already says it
        for u in unreadable:
            click.echo(term(f"mlfcheck validate: error: {u.path}: {u.error}"), err=True)
    if unreadable:
        sys.exit(EXIT_TROUBLE)
    sys.exit(EXIT_CLEAN if all(isinstance(o, Report) and o.ok for o in outcomes)
             else EXIT_FOUND)


def _builder(stack: contextlib.ExitStack, includes: tuple[Path, ...],
             runtime_include: Path | None) -> Builder:
    """The builder of --build: one compile per core, a cache for every archive given (removed
    when the command ends)."""
    from mlfcheck.board.archivebuild import BuildCache, Builder, Options

    cache = stack.enter_context(BuildCache())
    return Builder(cache, Options(includes, runtime_include, jobs=os.cpu_count() or 1))
