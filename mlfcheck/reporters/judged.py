"""How reports say which layers judged: a diff's heading and JSON object (the C reader, the host
compiler, abidiff, or why not), the audit's (the reader and the host compiler) and each audited
archive's cell (its layers and the files built), shared by the formats of diff, audit and
JUnit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlfcheck.diff.result import NOT_ASKED, Layers

if TYPE_CHECKING:
    from mlfcheck.audit import HostBuild
    from mlfcheck.validate import Judged


def not_run(build: HostBuild) -> tuple[str, ...]:
    """Why the compiler did not judge (nothing when it did)."""
    if build.compiler:
        return ()
    return (f"the compiler: {build.unavailable}",) if build.unavailable else (NOT_ASKED,)


def _joined(used: Sequence[str], missing: Sequence[str]) -> str:
    """'the C reader, <each layer used>' and, after a semicolon, why the others did not judge."""
    return ", ".join(["the C reader", *used]) + \
        ("; not by " + "; ".join(missing) if missing else "")


def heading(build: HostBuild) -> str:
    """What judged the audit: 'the C reader, gcc 12.2.0 (each archive built on the host)', or
    the reader and, after a semicolon, why not the compiler."""
    used = [f"{build.compiler} (each archive built on the host)"] if build.compiler else []
    return _joined(used, not_run(build))


def diff_heading(layers: Layers) -> str:
    """What judged a diff: 'the C reader, gcc 12.2.0 (both archives built), abidiff 2.2.0
    (their ABIs)' and, after a semicolon, why a layer did not judge."""
    used = [f"{layers.compiler} (both archives built)"] if layers.compiler else []
    used += [f"{layers.abi} (their ABIs)"] if layers.abi else []
    return _joined(used, layers.not_run)


def diff_heading_json(layers: Layers) -> dict[str, Any]:
    """A diff report's `judged_by` object."""
    return {"reader": True, "compiler": layers.compiler, "abi": layers.abi,
            "not_run": list(layers.not_run)}


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
