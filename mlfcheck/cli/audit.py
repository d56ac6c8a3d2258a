"""The `mlfcheck audit` command: a release report over many archives, with a gate. Exit 0/1/2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from mlfcheck import audit as auditing
from mlfcheck import children
from mlfcheck.audit import ArchiveAudit, AuditResult
from mlfcheck.board.boards import board
from mlfcheck.board.crossbuild import toolchain
from mlfcheck.cli._common import (
    EXIT_CLEAN,
    EXIT_FOUND,
    EXIT_TROUBLE,
    BuildWith,
    build_options,
    emit,
    fail,
    limit_options,
    shard_option,
)
from mlfcheck.consumers import select_profiles
from mlfcheck.diff import FAIL_ON
from mlfcheck.diff.config import config_for
from mlfcheck.errors import MlfcheckError
from mlfcheck.reading.archive import Limits
from mlfcheck.reporters.audit import RENDERERS, render_shard
from mlfcheck.reporters.present import term

if TYPE_CHECKING:
    from mlfcheck.board.archivebuild import Options


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--baseline", "baseline", multiple=True, type=click.Path(), metavar="PATH",
              help="The previous release (archive, folder or manifest; repeatable). Archives "
                   "are paired by their path relative to the PATH they were found under.")
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="markdown",
              show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to a file instead of stdout.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Archives checked in parallel  [default: one per CPU]")
@click.option("--fail-on", type=click.Choice(list(FAIL_ON)), default="breaking",
              show_default=True,
              help="Exit 1 when a change against the baseline is at or above this level.")
@click.option("--profile", "profiles", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Also evaluate this consumer profile (repeatable).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Diff configuration (default: the nearest mlfcheck.toml, or pyproject.toml "
                   "with [tool.mlfcheck]). In a pull request, pass the base branch's file: the "
                   "one in the checkout is the pull request's own.")
@click.option("--no-config", is_flag=True,
              help="Use the default diff levels and thresholds and no allow-list; read no file.")
@click.option("--timestamp", metavar="TEXT",
              help="A date to print in the report (reports carry none otherwise).")
@click.option("--board", "board_name", metavar="NAME",
              help="Also compile each archive's C for this board (see 'mlfcheck size') and "
                   "report the flash and RAM of its own symbols.")
@shard_option("audit", default=None,
              help="Audit only items K-1, K-1+N, ... of those found (the K-th of N runners of "
                   "a CI matrix) and write a shard record; 'mlfcheck audit --merge' makes the "
                   "N records the whole audit's report.")
@click.option("--merge", is_flag=True,
              help="PATHS are the N shard records of one audit (--shard K/N): write its "
                   "report, as one unsharded run would have, in --format to -o.")
@build_options(default=True)
@limit_options
@click.pass_context
def audit(ctx: click.Context, paths: tuple[str, ...], baseline: tuple[str, ...], fmt: str,
          output: str | None, jobs: int | None, fail_on: str,
          profiles: tuple[str, ...], config_path: str | None, no_config: bool,
          timestamp: str | None, board_name: str | None, shard: tuple[int, int] | None,
          merge: bool, build_with: BuildWith, limits: Limits) -> None:
    """Audit every archive and model under PATHS for a release.

    A PATH is an archive (.tar, .tar.gz/.tgz or a folder holding metadata.json), a model
    (.onnx/.tflite, exported to a temporary archive first), a folder searched recursively for
    both, or a manifest file listing them one per line. For each archive: validation,
    version, memory, the consumers that can read it and, with --baseline, the classified
    diff. Each archive's C is built with the host C compiler unless --no-build (without one,
    one line says so and the reader alone judges): C that does not build makes the archive
    invalid. Exit 0 when all is well, 1 when an archive is invalid or a change is at or above
    --fail-on, 2 when an archive or model could not be read or exported (or bad usage).
    With --shard K/N the report is a shard record of that part, and --merge turns the N
    records into the report (and exit code) of the whole audit.
    """
    if merge:
        _merge(ctx, paths, fmt, output)
    if shard is not None and _given(ctx, "fmt"):
        fail("audit", "--shard writes a shard record; give --format to 'mlfcheck audit "
                      "--merge'")
    try:
        target = board(board_name) if board_name else None
        if target is not None:
            toolchain(run=False)
        chosen = select_profiles((), profiles, every=True)
        config = config_for(config_path, no_config=no_config, start=Path.cwd())
        items = auditing.discover(paths)
        base = auditing.discover(baseline) if baseline else ()
        count = len(auditing.picked(len(items), shard or (1, 1)))
        workers = jobs or auditing.default_jobs()
        # processes parsing, and compiles running, per archive: about one per core in all
        each = max(1, children.available_cores() // max(1, min(workers, count)))
        with _progress(count) as tick:
            result = auditing.audit(items, baseline=base, baseline_paths=baseline,
                                    profiles=chosen, jobs=workers,
                                    limits=limits, config=config, fail_on=FAIL_ON[fail_on],
                                    timestamp=timestamp, progress=tick, board=target,
                                    parse_workers=each,
                                    starter=auditing.starter_for([*items, *base]),
                                    build=_build(build_with, each), shard=shard or (1, 1))
    except MlfcheckError as exc:
        fail("audit", str(exc))
    if shard is None:
        _report(result, RENDERERS[fmt](result), output)
    from mlfcheck.audit.shards import ShardRecord

    _report(result, render_shard(ShardRecord(shard, tuple(i.key for i in items), result)),
            output)


def _merge(ctx: click.Context, paths: tuple[str, ...], fmt: str,
           output: str | None) -> NoReturn:
    """--merge: the report of the audit whose shard records `paths` are; exits."""
    from mlfcheck.audit import shards

    extra = sorted(p.opts[0] for p in ctx.command.params
                   if p.name not in ("paths", "merge", "fmt", "output") and _given(ctx, p.name))
    if extra:
        fail("audit", f"--merge reads shard records: {extra[0]} belongs to the --shard runs")
    try:
        result = shards.merge([shards.read_record(p) for p in paths], paths)
    except MlfcheckError as exc:
        fail("audit", str(exc))
    _report(result, RENDERERS[fmt](result), output)


def _given(ctx: click.Context, name: str | None) -> bool:
    """True when option `name` was given on the command line (or by the environment)."""
    source = ctx.get_parameter_source(name) if name else None
    return source not in (None, click.core.ParameterSource.DEFAULT)


def _report(result: AuditResult, text: str, output: str | None) -> NoReturn:
    """Say once when the reader alone judged, write the report, exit with the audit's code."""
    if result.build.unavailable:
        click.echo(term(f"mlfcheck audit: note: {result.build.unavailable}; each archive is "
                        "judged by the C reader only"), err=True)
    emit(text, output)
    sys.exit(_exit_code(result))


def _build(build_with: BuildWith, jobs: int) -> Options | None:
    """The host build the options ask for (None with --no-build), `jobs` compiles at once."""
    if build_with is None:
        return None
    from mlfcheck.board.archivebuild import Options

    runtime, includes = build_with
    return Options(includes, runtime, jobs=jobs)


def _exit_code(result: AuditResult) -> int:
    if result.unreadable:
        for a in result.archives:
            if a.error:
                click.echo(term(f"mlfcheck audit: error: {a.item.path}: {a.error}"), err=True)
        return EXIT_TROUBLE
    return EXIT_FOUND if result.fails else EXIT_CLEAN


class _progress:
    """A progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, total: int) -> None:
        stream = sys.stderr
        self._bar = (click.progressbar(length=total, label="auditing", file=stream,
                                       item_show_func=lambda key: term(key) if key else key)
                     if stream.isatty() and total > 1 else None)

    def __enter__(self) -> _progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __call__(self, done: ArchiveAudit) -> None:
        if self._bar is not None:
            self._bar.update(1, done.item.key)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

