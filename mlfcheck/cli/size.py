"""`mlfcheck size`: what an archive's generated C costs on a Cortex-M board, per symbol."""

from __future__ import annotations

from pathlib import Path

import click

from mlfcheck.board.boards import board_names
from mlfcheck.cli._common import emit, fail, limit_options
from mlfcheck.errors import MlfcheckError
from mlfcheck.reading.archive import Limits


@click.command()
@click.argument("path", type=click.Path())
@click.option("--board", "board_name", required=True, metavar="NAME",
              help=f"QEMU board whose CPU flags to compile for: {board_names()}.")
@click.option("-I", "--include", "includes", multiple=True, metavar="DIR",
              type=click.Path(path_type=Path),
              help="A folder of headers the archive's C includes but does not carry "
                   "(repeatable), e.g. TVM's include/ for a v5-v7 archive without runtime/.")
@click.option("--run", is_flag=True,
              help="Also link the archive with mlfcheck's caller of its tvmgen_<module>_run, run "
                   "it in QEMU and count the instructions of one call (instructions per "
                   "inference).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to a file instead of stdout.")
@limit_options
def size(path: str, board_name: str, includes: tuple[Path, ...], run: bool, fmt: str,
         output: str | None, limits: Limits) -> None:
    """Compile the archive's codegen for a board (-Os; no link, no run unless --run) and print
    flash and RAM bytes per symbol: functions, constants, workspace and other variables; with
    --run, also the instructions one call of its entry point executes in QEMU.

    Exit 0 printed, 2 could not compile (the line names missing headers or the package,
    an include outside the archive that was refused, or the limit a build ran past).
    """
    from mlfcheck import api
    from mlfcheck.reporters.size import RENDERERS

    try:
        result = api.size_archive(path, board_name, includes=includes, limits=limits, run=run)
    except MlfcheckError as exc:
        message = str(exc)
        if message.startswith("headers not found"):
            message += " (add a folder holding them with --include)"
        fail("size", message)
    emit(RENDERERS[fmt](result), output)
