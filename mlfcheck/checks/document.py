"""Checks on the container and on metadata.json as a document: parsing, version, schema."""

from __future__ import annotations

from collections.abc import Iterator

from mlfcheck.checks.base import Context, check
from mlfcheck.findings import Code, Finding
from mlfcheck.layouts import describe_versions


@check(Code.A101, Code.A102, Code.A103, Code.A104, Code.A105, Code.A106, Code.A107, Code.A108,
       needs="archive")
def container(ctx: Context) -> Iterator[Finding]:
    """Members are plain files and folders with safe, unique names (design.md §2)."""
    yield from ctx.archive.findings


@check(Code.M001, Code.M002, Code.M003, Code.M004, Code.M005, Code.M006, Code.M007, Code.M008,
       needs="archive")
def metadata_document(ctx: Context) -> Iterator[Finding]:
    """metadata.json exists at the root and is strict UTF-8 JSON (mlf-spec.md §1.2)."""
    finding = ctx.metadata[1]
    if finding is not None:
        yield finding


@check(Code.S001, Code.S002, Code.S004, needs="document")
def declared_version(ctx: Context) -> Iterator[Finding]:
    """`version` is an integer naming a known MLF version (mlf-spec.md §6)."""
    finding = ctx.declared_version[1]
    if finding is not None:
        yield finding


@check(Code.S003, needs="version")
def schema(ctx: Context) -> Iterator[Finding]:
    """metadata.json matches schemas/mlf-v<version>.schema.json, and so fits the model."""
    yield from ctx.schema_findings
    misfit = ctx.model_result[1]
    if misfit is not None:
        yield misfit


@check(Code.V001, needs="version")
def version_fingerprint(ctx: Context) -> Iterator[Finding]:
    """The keys and paths present fit the declared version at least as well as any other."""
    declared = ctx.version
    assert declared is not None
    against = ctx.fingerprint.against(declared)
    if against:
        why = "; ".join(f"{c.what} ({describe_versions(c.versions)} only)" for c in against)
        best = ctx.fingerprint.best()
        looks = "" if declared in best else (
            f"; it looks like {describe_versions(frozenset(best))}")
        yield ctx.at(Code.V001, f"declares version {declared}, but found: {why}{looks}",
                     "/version")
