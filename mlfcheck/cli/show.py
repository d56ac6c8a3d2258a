"""`mlfcheck show`: summarise one archive."""

from __future__ import annotations

import click

from mlfcheck import api
from mlfcheck.cli._common import c_parser, emit, fail, limit_options
from mlfcheck.errors import MlfcheckError
from mlfcheck.reading.archive import Limits
from mlfcheck.reporters import show as show_reporters


@click.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(sorted(show_reporters.RENDERERS)),
              default="text", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to a file instead of stdout.")
@limit_options
def show(path: str, fmt: str, output: str | None, limits: Limits) -> None:
    """Summarise an archive: version, modules, memory, I/O, codegen and parameters."""
    try:
        summary = api.summarize_archive(path, limits=limits, parser=c_parser())
    except MlfcheckError as exc:
        fail("show", str(exc))
    emit(show_reporters.RENDERERS[fmt](summary), output)
