"""The `mlfcheck` command group; each subcommand lives in its own module, imported on use."""

from __future__ import annotations

import importlib
from typing import Any

import click

from mlfcheck.cli._common import EXIT_CLEAN, EXIT_FOUND, EXIT_TROUBLE, fail
from mlfcheck.errors import reading_failure
from mlfcheck.version import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("mlfcheck.cli.validate", "Validate MLF archives against their version's rules."),
    "show": ("mlfcheck.cli.show", "Summarise an archive: version, memory, I/O, codegen."),
    "diff": ("mlfcheck.cli.diff", "Compare two archives by meaning and classify changes."),
    "export": ("mlfcheck.cli.export", "Compile a model with TVM into an MLF v8 archive."),
    "size": ("mlfcheck.cli.size", "Flash and RAM per symbol of an archive built for a board."),
    "compat": ("mlfcheck.cli.compat", "Can a consumer read an archive? Which read fails, and why."),
    "audit": ("mlfcheck.cli.audit", "Audit many archives and models for a release, with a gate."),
    "fuzz": ("mlfcheck.cli.fuzz", "Fuzz the exporter with generated models, or the readers."),
    "explain": ("mlfcheck.cli.explain", "Explain a finding code or a diff rule."),
    "schema": ("mlfcheck.cli.schema", "List or print the JSON Schemas mlfcheck ships."),
}
"""Subcommand name → (module defining a click command of that name, one-line help)."""


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        command: click.Command = getattr(module, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand. A failure reading an input that nothing below typed (a
        RecursionError, a MemoryError, the C parser's own; `errors.reading_failure`) is one
        line and exit 2, like any input that cannot be read; any other exception is a bug and
        shows its traceback."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            why = reading_failure(exc)
            if why is None:
                raise
        fail(ctx.invoked_subcommand or "", why)  # (out of the handler: its frames are freed)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, text) for name, (_, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mlfcheck")
def main() -> None:
    """Validate, show, diff and export Apache TVM Model Library Format (MLF) archives.

    Exit codes: 0 clean, 1 ran and found problems, 2 could not run.
    """


__all__ = ["COMMANDS", "EXIT_CLEAN", "EXIT_FOUND", "EXIT_TROUBLE", "main"]
