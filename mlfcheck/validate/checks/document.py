"""Checks on the container and on metadata.json as a document: parsing, version, schema."""

from __future__ import annotations

from collections.abc import Iterator

from mlfcheck.findings import Code, Finding
from mlfcheck.reading.layouts import describe_versions
from mlfcheck.reading.loaded import Loaded, Unavailable
from mlfcheck.validate.checks.base import check


@check(Code.A101, Code.A102, Code.A103, Code.A104, Code.A105, Code.A106, Code.A107, Code.A108,
       Code.A109, Code.A110, needs="archive")
def container(ctx: Loaded) -> Iterator[Finding]:
    """Members are plain files and folders with safe, unique names (design.md §2)."""
    yield from ctx.archive.findings


@check(Code.M001, Code.M002, Code.M003, Code.M004, Code.M005, Code.M006, Code.M007, Code.M008,
       needs="archive")
def metadata_document(ctx: Loaded) -> Iterator[Finding]:
    """metadata.json exists at the root and is strict UTF-8 JSON (mlf-spec.md §1.2)."""
    if isinstance(ctx.metadata, Unavailable):
        yield ctx.metadata.finding


@check(Code.S001, Code.S002, Code.S004, needs="document")
def declared_version(ctx: Loaded) -> Iterator[Finding]:
    """`version` is an integer naming a known MLF version (mlf-spec.md §6)."""
    if isinstance(ctx.version, Unavailable):
        yield ctx.version.finding


@check(Code.S003, needs="version")
def schema(ctx: Loaded) -> Iterator[Finding]:
    """metadata.json matches schemas/mlf-v<version>.schema.json, and so fits the model."""
    yield from ctx.schema_findings
    if not ctx.schema_findings and isinstance(ctx.model, Unavailable):
        yield ctx.model.finding


@check(Code.V001, needs="version")
def version_fingerprint(ctx: Loaded) -> Iterator[Finding]:
    """The keys and paths present fit the declared version at least as well as any other."""
    declared = ctx.version
    assert isinstance(declared, int)
    against = ctx.fingerprint.against(declared)
    if against:
        why = "; ".join(f"{c.what} ({describe_versions(c.versions)} only)" for c in against)
        best = ctx.fingerprint.best()
        looks = "" if declared in best else (
            f"; it looks like {describe_versions(frozenset(best))}")
        yield ctx.at(Code.V001, f"declares version {declared}, but found: {why}{looks}",
                     "/version")
