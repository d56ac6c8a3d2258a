"""The `mlfcheck` command group: parse options, call a function, report, pick the exit code."""

from __future__ import annotations

import json
import sys

import click

from mlfcheck import __version__, schemas
from mlfcheck.archive import Limits
from mlfcheck.cli._common import EXIT_CLEAN, EXIT_FOUND, EXIT_TROUBLE, emit, fail, limit_options
from mlfcheck.cli.diff import diff
from mlfcheck.cli.export import export
from mlfcheck.diff.rules import Rule
from mlfcheck.errors import ArchiveError, MlfcheckError
from mlfcheck.findings import Code, parse_code_selection
from mlfcheck.reporters import show as show_reporters
from mlfcheck.reporters import validate as validate_reporters
from mlfcheck.reporters.validate import Outcome
from mlfcheck.summary import summarize
from mlfcheck.validate import validate as validate_archive


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mlfcheck")
def main() -> None:
    """Validate, show, diff and export Apache TVM Model Library Format (MLF) archives.

    Exit codes: 0 clean, 1 ran and found problems, 2 could not run.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(sorted(validate_reporters.RENDERERS)),
              default="text", show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to a file instead of stdout.")
@click.option("--select", multiple=True, metavar="CODES",
              help="Only report these codes or prefixes (comma-separated, repeatable).")
@click.option("--ignore", multiple=True, metavar="CODES",
              help="Never report these codes or prefixes (comma-separated, repeatable).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@limit_options
def validate(paths: tuple[str, ...], fmt: str, output: str | None, select: tuple[str, ...],
             ignore: tuple[str, ...], strict: bool, limits: Limits) -> None:
    """Validate MLF archives (.tar, .tar.gz/.tgz or extracted folders).

    Exit 0 when no archive has errors (warnings allowed unless --strict), 1 when some
    archive has errors, 2 when some archive could not be read.
    """
    try:
        chosen = parse_code_selection(select)
        dropped = parse_code_selection(ignore)
    except MlfcheckError as exc:
        fail("validate", str(exc))
    outcomes: list[Outcome] = []
    for path in paths:
        try:
            outcomes.append(validate_archive(path, limits=limits, select=chosen, ignore=dropped,
                                             strict=strict))
        except ArchiveError as exc:
            outcomes.append((path, str(exc).removeprefix(f"{path}: ")))
    emit(validate_reporters.RENDERERS[fmt](outcomes), output)
    unreadable = [o for o in outcomes if isinstance(o, tuple)]
    if fmt != "text" or output:  # the text report on stdout already says it
        for path, message in unreadable:
            click.echo(f"mlfcheck validate: error: {path}: {message}", err=True)
    if unreadable:
        sys.exit(EXIT_TROUBLE)
    sys.exit(EXIT_CLEAN if all(not isinstance(o, tuple) and o.ok for o in outcomes)
             else EXIT_FOUND)


@main.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(sorted(show_reporters.RENDERERS)),
              default="text", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to a file instead of stdout.")
@limit_options
def show(path: str, fmt: str, output: str | None, limits: Limits) -> None:
    """Summarise an archive: version, modules, memory, I/O, codegen and parameters."""
    try:
        summary = summarize(path, limits=limits)
    except MlfcheckError as exc:
        fail("show", str(exc))
    emit(show_reporters.RENDERERS[fmt](summary), output)


@main.command()
@click.argument("code", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every code and rule with its title.")
def explain(code: str | None, list_all: bool) -> None:
    """Explain a finding code (e.g. P001) or a diff rule (e.g. D301), or list them all."""
    if list_all or code is None:
        for c in Code:
            click.echo(f"{c.name}  {c.severity!s:<8}  {c.title}")
        for r in Rule:
            click.echo(f"{r.name}  {r.level!s:<8}  {r.title}")
        return
    name = code.strip().upper()
    if name in Code.__members__:
        c = Code[name]
        click.echo(f"{c.name} ({c.severity}): {c.title}\n\n{c.info.explanation}")
    elif name in Rule.__members__:
        r = Rule[name]
        click.echo(f"{r.name} ({r.level}): {r.title}\n\n{r.explanation}")
    else:
        fail("explain", f"unknown code or rule {code!r}; 'mlfcheck explain --list' lists them")


@main.group()
def schema() -> None:
    """List or print the JSON Schemas mlfcheck ships."""


@schema.command("list")
def schema_list() -> None:
    """List shipped schemas: one per MLF version, then mlfcheck's own output formats."""
    for name in schemas.schema_names():
        doc = schemas.load(name)
        click.echo(f"{name:<32} {doc.get('title', '')}")


@schema.command("show")
@click.argument("which")
def schema_show(which: str) -> None:
    """Print a schema: an MLF version number (e.g. 7) or a schema file name."""
    try:
        doc = schemas.mlf_schema(int(which)) if which.isdigit() else schemas.load(which)
    except MlfcheckError as exc:
        fail("schema show", str(exc))
    click.echo(json.dumps(doc, indent=2))


main.add_command(diff)
main.add_command(export)

__all__ = ["EXIT_CLEAN", "EXIT_FOUND", "EXIT_TROUBLE", "main"]
