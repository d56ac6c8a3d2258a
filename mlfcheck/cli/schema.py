"""`mlfcheck schema list|show`: the JSON Schemas mlfcheck ships."""

from __future__ import annotations

import json

import click

from mlfcheck.cli._common import fail
from mlfcheck.errors import MlfcheckError
from mlfcheck.reading import schemas


@click.group()
def schema() -> None:
    """List or print the JSON Schemas mlfcheck ships."""


@schema.command("list")
def schema_list() -> None:
    """List shipped schemas: one per MLF version, then mlfcheck's own output formats."""
    for name in schemas.schema_names():
        doc = schemas.load(name)
        click.echo(f"{name:<32} {doc.get('title', '')}")


@schema.command("show")
@click.argument("which")
def schema_show(which: str) -> None:
    """Print a schema: an MLF version number (e.g. 7) or a schema file name."""
    try:
        # ASCII digits: '²'.isdigit() holds, but int('²') fails (and int() reads 4300 digits)
        number = which.isascii() and which.isdigit() and len(which) <= 9
        doc = schemas.mlf_schema(int(which)) if number else schemas.load(which)
    except MlfcheckError as exc:
        fail("schema show", str(exc))
    click.echo(json.dumps(doc, indent=2))
