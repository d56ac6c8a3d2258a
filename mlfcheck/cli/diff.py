"""The `mlfcheck diff` command: options in, DiffResult out, reporter, exit code 0/1/2."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from mlfcheck import api
from mlfcheck.cli._common import (
    EXIT_CLEAN,
    EXIT_FOUND,
    BuildWith,
    build_options,
    builder,
    c_parser,
    emit,
    fail,
    limit_options,
)
from mlfcheck.diff.config import config_for, parse_threshold_option
from mlfcheck.diff.rules import FAIL_ON
from mlfcheck.errors import MlfcheckError
from mlfcheck.reading.archive import Limits
from mlfcheck.reporters.diff import RENDERERS, Options


@click.command()
@click.argument("old", type=click.Path())
@click.argument("new", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="text",
              show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to a file instead of stdout.")
@click.option("--fail-on", type=click.Choice(list(FAIL_ON)), default="breaking",
              show_default=True, help="Exit 1 when a change is at or above this level.")
@click.option("--include-volatile", is_flag=True,
              help="Also report volatile fields such as export_datetime.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file (default: the nearest mlfcheck.toml, or pyproject.toml "
                   "with [tool.mlfcheck]). In a pull request, pass the base branch's file: the "
                   "one in the checkout is the pull request's own.")
@click.option("--no-config", is_flag=True,
              help="Use the default levels and thresholds and no allow-list; read no file.")
@click.option("--threshold", "thresholds", multiple=True, metavar="METRIC=VALUE",
              help="Growth threshold for workspace, constants, code (or, with --board, flash "
                   "and ram), in bytes (4096, 4KiB) or percent (10%); repeatable, overrides "
                   "the config.")
@click.option("--consumer", metavar="NAME",
              help="Judge for one consumer: breaking exactly when its reads fail (see "
                   "'mlfcheck compat --list-consumers').")
@click.option("--profile", "profile_files", multiple=True, type=click.Path(dir_okay=False),
              help="A consumer profile file (docs/consumers.md); repeatable.")
@click.option("--board", "board_name", metavar="NAME",
              help="Also compile both archives' C for this board (see 'mlfcheck size'): flash "
                   "and RAM per symbol, old -> new, under the 'flash' and 'ram' thresholds.")
@click.option("--allow-invalid", is_flag=True,
              help="Judge only the changes even when an archive has validation errors (by "
                   "default such an archive fails the gate: exit 1).")
@click.option("--sizes", is_flag=True, help="Show the full per-symbol size table.")
@click.option("--max-report-bytes", type=click.IntRange(min=256), metavar="N",
              help="Cut the text report at N bytes (JSON is always complete).")
@build_options(default=True)
@limit_options
def diff(old: str, new: str, fmt: str, output: str | None, fail_on: str,
         include_volatile: bool, config_path: str | None, no_config: bool,
         thresholds: tuple[str, ...],
         consumer: str | None, profile_files: tuple[str, ...], board_name: str | None,
         allow_invalid: bool, sizes: bool, max_report_bytes: int | None,
         build_with: BuildWith, limits: Limits) -> None:
    """Compare two MLF archives by meaning: what changed, and does it break consumers?

    OLD and NEW are .tar, .tar.gz/.tgz files or extracted folders of any MLF version. Exit 0
    when no change is at or above --fail-on, 1 when one is or when an archive has validation
    errors (unless --allow-invalid), 2 when they could not be compared. Both archives' C is
    built with the host C compiler unless --no-build: a new archive that no longer builds is
    breaking, and abidiff (when installed) compares their ABIs.
    """
    stack = contextlib.ExitStack()
    try:
        config = config_for(config_path, no_config=no_config, start=Path.cwd()).with_thresholds(
            dict(parse_threshold_option(t) for t in thresholds))
        profile = None
        if consumer:
            from mlfcheck.consumers import select_profiles

            profile = select_profiles((consumer,), profile_files, every=False)[0]
        result = api.diff_archives(old, new, config=config, include_volatile=include_volatile,
                                   limits=limits, consumer=profile, board=board_name,
                                   parser=c_parser(),
                                   build=builder(stack, build_with) or False)
    except MlfcheckError as exc:
        fail("diff", str(exc))
    finally:
        stack.close()
    emit(RENDERERS[fmt](result, Options(sizes=sizes, max_bytes=max_report_bytes)), output)
    failed = result.fails(FAIL_ON[fail_on]) or (result.invalid and not allow_invalid)
    sys.exit(EXIT_FOUND if failed else EXIT_CLEAN)
