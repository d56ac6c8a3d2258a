"""`mlfcheck explain`: what a finding code or a diff rule means."""

from __future__ import annotations

import click

from mlfcheck.cli._common import fail
from mlfcheck.diff.rules import Rule
from mlfcheck.findings import Code


@click.command()
@click.argument("code", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every code and rule with its title.")
def explain(code: str | None, list_all: bool) -> None:
    """Explain a finding code (e.g. P001) or a diff rule (e.g. D301), or list them all."""
    if list_all or code is None:
        for c in Code:
            click.echo(f"{c.name}  {c.severity!s:<8}  {c.title}")
        for r in Rule:
            click.echo(f"{r.name}  {r.level!s:<8}  {r.title}")
        return
    name = code.strip().upper()
    if name in Code.__members__:
        c = Code[name]
        click.echo(f"{c.name} ({c.severity}): {c.title}\n\n{c.info.explanation}")
    elif name in Rule.__members__:
        r = Rule[name]
        click.echo(f"{r.name} ({r.level}): {r.title}\n\n{r.explanation}")
    else:
        fail("explain", f"unknown code or rule {code!r}; 'mlfcheck explain --list' lists them")
