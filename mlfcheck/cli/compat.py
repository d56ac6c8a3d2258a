"""The `mlfcheck compat` command: can these consumers read this archive? Exit 0/1/2."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlfcheck import api
from mlfcheck.cli._common import EXIT_CLEAN, EXIT_FOUND, c_parser, emit, fail, limit_options
from mlfcheck.consumers import UserHarness, builtin_profiles, select_profiles
from mlfcheck.errors import MlfcheckError, UsageError
from mlfcheck.reading import userfile
from mlfcheck.reading.archive import Limits
from mlfcheck.reporters.compat import RENDERERS, WHY_RENDERERS


@click.command()
@click.argument("archive", type=click.Path(), required=False)
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
@click.option("--why", "why", metavar="NAME",
              help="Print every requirement of one consumer profile with the consumer source "
                   "line behind it (repo@commit:path:line), and exit; takes no ARCHIVE.")
@click.option("--build", "build", is_flag=True,
              help="Also build each chosen profile's harness against ARCHIVE (the consumer's "
                   "include folders, files and application, contained) and run it on the host "
                   "or its QEMU board: the verdict's level (compiles, links, runs) is then "
                   "proved here.")
@click.option("--harness", "harness", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Your own application's C file (repeatable), built against "
              "the archive's C and headers as one more verdict, 'your-application'.")
@click.option("-I", "includes", multiple=True, type=click.Path(file_okay=False),
              metavar="DIR", help="An include folder for --harness (repeatable).")
@click.option("--board", metavar="NAME",
              help="Build --harness for this board (QEMU machine) instead of the host.")
@click.option("--run", "run", is_flag=True,
              help="Run --harness as `app in.bin out.bin` (host, or the board in QEMU).")
@click.option("--input", "input_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="The bytes of in.bin for --run (default: empty; the harness fills).")
@click.option("--expect", "expect_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="The expected out.bin of --run: the level is 'matches' when it equals it "
                   "(float32 within 1e-5).")
@limit_options
def compat(archive: str | None, consumers: tuple[str, ...], every: bool,
           profiles: tuple[str, ...], fmt: str, output: str | None, why: str | None,
           build: bool, harness: tuple[str, ...], includes: tuple[str, ...],
           board: str | None, run: bool, input_file: str | None, expect_file: str | None,
           limits: Limits) -> None:
    """Can a consumer read ARCHIVE, and if not, which read fails and why?

    ARCHIVE is a .tar, .tar.gz/.tgz or an extracted folder. Exit 0 when every chosen consumer
    can read it, 1 when one cannot, 2 when the check could not run.
    """
    try:
        if why is not None:
            if archive is not None:
                raise UsageError("--why prints a profile's requirements and takes no ARCHIVE")
            profile = next(p for p in select_profiles((why,), profiles, every=False)
                           if p.name == why)
            emit(WHY_RENDERERS[fmt](profile), output)
            sys.exit(EXIT_CLEAN)
        if archive is None:
            raise UsageError("missing ARCHIVE (or use --why NAME, --list-consumers)")
        user = _user(harness, includes, board, run, input_file, expect_file)
        chosen = (() if user is not None and not (consumers or profiles or every)
                  else select_profiles(consumers, profiles, every=every))
        verdicts = api.compat_all(archive, chosen, limits=limits, parser=c_parser(),
                                  build=build, harness=user)
    except MlfcheckError as exc:
        fail("compat", str(exc))
    emit(RENDERERS[fmt](verdicts), output)
    sys.exit(EXIT_CLEAN if all(v.readable for v in verdicts) else EXIT_FOUND)


def _user(files: tuple[str, ...], includes: tuple[str, ...], board: str | None, run: bool,
          input_file: str | None, expect_file: str | None) -> UserHarness | None:
    """The user's harness from the options; UsageError for options that need --harness."""
    if not files:
        if includes or board or run or input_file or expect_file:
            raise UsageError("-I, --board, --run, --input and --expect need --harness FILE")
        return None
    if expect_file and not run:
        raise UsageError("--expect compares the outputs of a run: give --run too")
    return UserHarness(tuple(Path(f) for f in files), tuple(Path(i) for i in includes), board,
                       run, userfile.read_bytes(input_file, "input") if input_file else b"",
                       userfile.read_bytes(expect_file, "expected output")
                       if expect_file else None)


def _list(ctx: click.Context) -> None:
    for p in builtin_profiles():
        click.echo(f"{p.name:<24} {p.title}")
    ctx.exit(EXIT_CLEAN)
