"""Running a click command in-process the way the tests do: (exit code, stdout, stderr)."""

from __future__ import annotations

import click
from click.testing import CliRunner


def invoke(command: click.Command, *args: str) -> tuple[int, str, str]:
    """Run `command` with `args`; stdout and stderr are kept apart."""
    result = CliRunner().invoke(command, list(args))
    return result.exit_code, result.stdout, result.stderr
