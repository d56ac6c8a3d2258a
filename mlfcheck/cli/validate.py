"""`mlfcheck validate`: check archives, report findings, exit 0/1/2."""

from __future__ import annotations

import contextlib
import sys

import click

from mlfcheck import api
from mlfcheck.cli._common import (
    EXIT_CLEAN,
    EXIT_FOUND,
    EXIT_TROUBLE,
    BuildWith,
    build_options,
    builder,
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
@build_options(default=False)
@limit_options
def validate(paths: tuple[str, ...], fmt: str, output: str | None, select: tuple[str, ...],
             ignore: tuple[str, ...], strict: bool, build_with: BuildWith,
             limits: Limits) -> None:
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
        made = builder(stack, build_with)
        outcomes: list[Validation] = []
        for path in paths:
            try:
                outcomes.append(api.validate_archive(path, limits=limits, select=chosen,
                                                     ignore=dropped, strict=strict,
                                                     parser=parser, build=made or False))
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

