"""How the audit's reports say which layers judged: the audit's heading and JSON object (the C
reader, and the host compiler or why not) and each archive's cell (its layers and the files
built), shared by the audit's formats and its JUnit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlfcheck.diff.result import NOT_ASKED

if TYPE_CHECKING:
    from mlfcheck.audit import HostBuild
    from mlfcheck.validate import Judged


def not_run(build: HostBuild) -> tuple[str, ...]:
    """Why the compiler did not judge (nothing when it did)."""
    if build.compiler:
        return ()
    return (f"the compiler: {build.unavailable}",) if build.unavailable else (NOT_ASKED,)


def heading(build: HostBuild) -> str:
    """What judged the audit: 'the C reader, gcc 12.2.0 (each archive built on the host)', or
    the reader and, after a semicolon, why not the compiler."""
    if build.compiler:
        return f"the C reader, {build.compiler} (each archive built on the host)"
    return "the C reader; not by " + "; ".join(not_run(build))


def heading_json(build: HostBuild) -> dict[str, Any]:
    """The audit report's `judged_by` object (as a diff report's)."""
    return {"reader": True, "compiler": build.compiler, "not_run": list(not_run(build))}


def cell(judged: Judged) -> str:
    """One archive's layers: 'reader', or 'reader + gcc 12.2.0: built 1 of 11' (and whether
    the objects did not link)."""
    if judged.compiler is None:
        return "reader"
    total = len(judged.built) + len(judged.not_built)
    return (f"{judged.layers}: built {len(judged.built)} of {total}"
            + (", link failed" if judged.linked is False else ""))
