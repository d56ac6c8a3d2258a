"""The `mlfcheck compat` command: can these consumers read this archive? Exit 0/1/2."""

from __future__ import annotations

import sys

import click

from mlfcheck import api
from mlfcheck.archive import Limits
from mlfcheck.cli._common import EXIT_CLEAN, EXIT_FOUND, emit, fail, limit_options
from mlfcheck.consumers import builtin_profiles, select_profiles
from mlfcheck.errors import MlfcheckError
from mlfcheck.reporters.compat import RENDERERS


@click.command()
@click.argument("archive", type=click.Path())
@click.option("--consumer", "consumers", multiple=True, metavar="NAME",
              help="A consumer profile by name (repeatable); --list-consumers names them.")
@click.option("--all", "every", is_flag=True, help="Every built-in profile and every --profile.")
@click.option("--profile", "profiles", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Also load a profile file (repeatable); see docs/consumers.md.")
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="text",
              show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to a file instead of stdout.")
@click.option("--list-consumers", is_flag=True, is_eager=True, expose_value=False,
              callback=lambda ctx, _param, value: _list(ctx) if value else None,
              help="List the built-in consumer profiles and exit.")
@limit_options
def compat(archive: str, consumers: tuple[str, ...], every: bool, profiles: tuple[str, ...],
           fmt: str, output: str | None, limits: Limits) -> None:
    """Can a consumer read ARCHIVE, and if not, which read fails and why?

    ARCHIVE is a .tar, .tar.gz/.tgz or an extracted folder. Exit 0 when every chosen consumer
    can read it, 1 when one cannot, 2 when the check could not run.
    """
    try:
        chosen = select_profiles(consumers, profiles, every=every)
        verdicts = api.compat_all(archive, chosen, limits=limits)
    except MlfcheckError as exc:
        fail("compat", str(exc))
    emit(RENDERERS[fmt](verdicts), output)
    sys.exit(EXIT_CLEAN if all(v.readable for v in verdicts) else EXIT_FOUND)


def _list(ctx: click.Context) -> None:
    for p in builtin_profiles():
        click.echo(f"{p.name:<24} {p.title}")
    ctx.exit(EXIT_CLEAN)
