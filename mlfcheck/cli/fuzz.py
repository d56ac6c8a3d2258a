"""The `mlfcheck fuzz` command: options in, run_campaign called, summary table out, exit 0/1/2."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlfcheck.cli._common import EXIT_CLEAN, EXIT_FOUND, emit, fail, shard_option


@click.group("fuzz", invoke_without_command=True)
@click.pass_context
@click.option("--target", type=click.Choice(["exporter", "reader"]), default="exporter",
              show_default=True, help="Fuzz the exporter with random models, or the readers "
                                      "(validate, show, diff) with mutated archives.")
@click.option("--examples", type=click.IntRange(min=1), default=200, show_default=True,
              help="How many examples to draw.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed: the same seed draws the same examples.")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Stop starting examples after this long.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Examples run at once, each in its own process.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write one reproducer folder per distinct counterexample here.")
@click.option("--verify", is_flag=True,
              help="Exporter: also build each archive with the C compiler and compare with "
                   "TVM (slower).")
@click.option("--fixtures", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Reader: archives to mutate, or folders of them (repeatable).")
@click.option("--max-ops", type=click.IntRange(min=1), default=30, show_default=True,
              help="Exporter: most layers in a generated model.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=120.0,
              show_default=True, help="Seconds one exporter example (or one reader batch "
                                      "beyond its examples' own limits) may take.")
@click.option("--memory-limit", type=click.IntRange(min=64), default=4096, show_default=True,
              metavar="MIB", help="Address-space limit of each child process, in MiB.")
@shard_option("fuzz", default="1/1",
              help="Run the K-th of N parts of the campaign (examples K-1, K-1+N, ...); "
                   "combine the N JSON reports with 'mlfcheck fuzz merge'.")
@click.option("--no-shrink", is_flag=True,
              help="Write each counterexample as drawn, without shrinking it first.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Summary format.")
def fuzz(ctx: click.Context, target: str, examples: int, seed: int,
         time_budget: float | None, jobs: int, out: Path | None, verify: bool,
         fixtures: tuple[Path, ...], max_ops: int, timeout: float, memory_limit: int,
         shard: tuple[int, int], no_shrink: bool, fmt: str) -> None:
    """Check that the exporter and the readers stay stable on many generated inputs.

    Each example runs in a child process with a time and memory limit; outcomes are bucketed
    and deduplicated, and each distinct counterexample is shrunk and written to --out.
    Exit 0 when no counterexample was found, 1 when some were, 2 when the campaign could not
    run. `mlfcheck fuzz merge` combines the JSON reports of a sharded campaign.
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        from mlfcheck.fuzz.campaign import PRELOAD, CampaignError, Options, run_campaign
    except ImportError as exc:
        fail("fuzz", f"needs {exc.name}: pip install 'mlfcheck[test]'")
    from mlfcheck.children import Limits, Starter
    from mlfcheck.reporters.fuzz import RENDERERS

    options = Options(target=target, examples=examples, seed=seed, time_budget=time_budget,
                      jobs=jobs, out=out, verify=verify, fixtures=fixtures, max_ops=max_ops,
                      shrink=not no_shrink, shard=shard,
                      limits=Limits(seconds=timeout, memory_bytes=memory_limit * 1024**2))
    show = sys.stderr.isatty()
    try:
        with click.progressbar(length=examples, label=f"fuzzing {target}", file=sys.stderr,
                               hidden=not show) as bar:
            result = run_campaign(options, progress=bar.update, starter=Starter(PRELOAD))
    except CampaignError as exc:
        fail("fuzz", str(exc))
    emit(RENDERERS[fmt](result), None)
    sys.exit(EXIT_FOUND if result.found else EXIT_CLEAN)


@fuzz.command("merge")
@click.argument("reports", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Summary format.")
def merge(reports: tuple[Path, ...], fmt: str) -> None:
    """Combine the JSON reports of one campaign's shards (--shard K/N) into one summary.

    Exit 0 when no shard found a counterexample, 1 when some did, 2 when the reports cannot be
    read or are not shards of one campaign.
    """
    from mlfcheck.fuzz import campaign
    from mlfcheck.reporters.fuzz import RENDERERS

    try:
        result = campaign.merge([campaign.read_report(p) for p in reports])
    except campaign.CampaignError as exc:
        fail("fuzz merge", str(exc))
    emit(RENDERERS[fmt](result), None)
    sys.exit(EXIT_FOUND if result.found else EXIT_CLEAN)
