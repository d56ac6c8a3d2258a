"""What every subcommand shares: exit codes, archive-limit options, one-line errors."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from mlfcheck.archive import Limits, MiB

EXIT_CLEAN = 0
EXIT_FOUND = 1
EXIT_TROUBLE = 2

F = TypeVar("F", bound=Callable[..., Any])

_LIMIT_FLAGS = (
    ("--max-members", "max_members", "most members an archive may have"),
    ("--max-member-size", "max_member_size", "largest member, in bytes"),
    ("--max-total-size", "max_total_size", "most bytes all members may total"),
    ("--max-name-length", "max_name_length", "longest member name, in characters"),
    ("--max-metadata-size", "max_metadata_size", "largest metadata.json, in bytes"),
    ("--max-json-depth", "max_json_depth", "deepest JSON nesting"),
)


def limit_options(fn: F) -> F:
    """Add one option per archive limit; the command receives them folded into `limits`."""
    defaults = Limits()

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {attr: kwargs.pop(attr) for _, attr, _ in _LIMIT_FLAGS}
        kwargs["limits"] = Limits(**values)
        return fn(*args, **kwargs)

    for flag, attr, text in reversed(_LIMIT_FLAGS):
        default = getattr(defaults, attr)
        shown = f"{default // MiB} MiB" if default >= MiB else str(default)
        wrapper = click.option(flag, attr, type=click.IntRange(min=1), default=default,
                               show_default=shown, help=f"Limit: {text}.")(wrapper)
    return wrapper  # type: ignore[return-value]


def fail(command: str, message: str) -> NoReturn:
    """Print one line to stderr and exit 2 ('could not run')."""
    click.echo(f"mlfcheck {command}: error: {message}", err=True)
    sys.exit(EXIT_TROUBLE)


def emit(text: str, output: str | None) -> None:
    """Write a report to a file (atomically enough: whole text at once) or to stdout."""
    if output:
        with open(output, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=not text.endswith("\n"))
