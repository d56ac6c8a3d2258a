"""The exporter's properties of its own exports: an export succeeds or fails with the documented
ExportError, validates, is the same bytes (and an empty diff) when repeated, and has a memory map
that adds up. `ExportError` passes through unchanged: the campaign buckets it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from mlfcheck.errors import ExportError
from mlfcheck.fuzz.outcomes import (
    Bucket,
    PropertyFailure,
    crash_signature,
    describe_exception,
    normalise,
)

if TYPE_CHECKING:
    from mlfcheck.export import ExportResult

EPOCH = 1_700_000_000
"""The fixed SOURCE_DATE_EPOCH of every fuzz export, so two exports can be compared bytewise."""


def export_is_clean(model: Path, output: Path) -> ExportResult:
    """Export succeeds or raises ExportError; any other exception is a crash."""
    from mlfcheck.export import export_model

    try:
        return export_model(str(model), output, epoch=EPOCH)
    except ExportError:
        raise
    except MemoryError as exc:
        raise PropertyFailure(Bucket.MEMORY_LIMIT, "MemoryError during export",
                              describe_exception(exc)) from exc
    except Exception as exc:
        raise PropertyFailure(Bucket.CRASH, crash_signature(exc),
                              describe_exception(exc)) from exc


def export_error_signature(exc: ExportError) -> str:
    """The stage, operator and normalised first line of an ExportError."""
    first = str(exc).splitlines()[0] if str(exc) else exc.stage
    return normalise(first)


def archive_validates(path: Path) -> None:
    """`validate` finds no errors in an exported archive."""
    from mlfcheck.validate import validate

    report = validate(path)
    if not report.ok:
        errors = [f for f in report.findings if f.level.name == "ERROR"]
        codes = ",".join(sorted({f.code.name for f in errors}))
        raise PropertyFailure(Bucket.INVALID_ARCHIVE, f"codes {codes}",
                              "\n".join(f"{f.code.name} {f.location()}: {f.message}"
                                        for f in errors))


def _members(path: Path) -> dict[str, bytes]:
    """Every regular member of an exported archive by name: its mode and its bytes."""
    from mlfcheck.reading.archive import Archive

    with Archive(path) as archive:
        return {m.name: oct(m.mode).encode() + b":" + archive.read(m.name)
                for m in archive.files()}


def exports_are_identical(first: Path, second: Path) -> None:
    """Two exports of the same model are the same bytes."""
    if first.read_bytes() == second.read_bytes():
        return
    a, b = _members(first), _members(second)
    differing = sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n)) or [
        "(tar headers)"]
    raise PropertyFailure(Bucket.NONDETERMINISTIC,
                          "bytes differ: " + ", ".join(normalise(n) for n in differing[:3]),
                          "members that differ: " + ", ".join(differing))


def diff_is_empty(first: Path, second: Path) -> None:
    """`mlfcheck diff` of two exports of the same model reports no change."""
    from mlfcheck.diff import diff_archives

    result = diff_archives(first, second)
    if result.changes:
        rules = ",".join(sorted({c.rule.name for c in result.changes}))
        raise PropertyFailure(Bucket.NONDETERMINISTIC, f"diff rules {rules}",
                              "\n".join(f"{c.rule.name} {c.subject}: {c.old} → {c.new}"
                                        for c in result.changes))


def memory_map_holds(result: ExportResult) -> None:
    """The workspace covers the largest operator, io is the sum of inputs and outputs, and
    every tensor's size is its shape × dtype."""
    from mlfcheck.export.plan import element_bytes
    from mlfcheck.reading.archive import Archive

    with Archive(result.path) as archive:
        entry = json.loads(archive.read("metadata.json"))["modules"][result.name]
    memory = entry["memory"]["functions"]
    main = memory["main"][0]
    problems = []
    largest = max((w["workspace_size_bytes"] for op in memory["operator_functions"]
                   for w in op["workspace"]), default=0)
    if main["workspace_size_bytes"] < largest:
        problems.append(("workspace below the largest operator",
                         f"workspace {main['workspace_size_bytes']} < operator {largest}"))
    tensors = [*main["inputs"].items(), *main["outputs"].items()]
    if main["io_size_bytes"] != sum(t["size"] for _, t in tensors):
        problems.append(("io is not the sum of inputs and outputs",
                         f"io {main['io_size_bytes']} != {sum(t['size'] for _, t in tensors)}"))
    for name, t in tensors:
        want = element_bytes(t["dtype"])
        for d in t["shape"]:
            want *= d
        if t["size"] != want:
            problems.append(("a tensor size is not shape × dtype",
                             f"{name}: size {t['size']}, shape {t['shape']} {t['dtype']}"))
    if problems:
        raise PropertyFailure(Bucket.MEMORY_MAP, problems[0][0],
                              "\n".join(detail for _, detail in problems))


def verify_catches_a_wrong_output(model: Path, result: ExportResult, workdir: Path) -> None:
    """`--verify`'s comparison (verify_archive, against the exported module on TVM's VM) fails
    on the archive with one output byte flipped at the end of `tvmgen_<m>_run`: the checker
    checks."""
    from dataclasses import replace

    from mlfcheck.export import DEFAULT_TOLERANCE
    from mlfcheck.export.frontends import load_model
    from mlfcheck.export.plan import element_bytes
    from mlfcheck.export.verify import verify_archive
    from mlfcheck.export.writer import tar_bytes
    from mlfcheck.reading.archive import Archive

    if not result.plan.outputs or not result.link_params:
        return
    out = result.plan.outputs[0]
    with Archive(result.path) as archive:
        files = {m.name.removeprefix("./"): archive.read(m.name) for m in archive.files()}
    entry = f"codegen/host/src/{result.name}_lib1.c"
    byte, flip = (0, 1) if out.dtype == "bool" else (element_bytes(out.dtype) - 1, 0x40)
    text = files[entry].decode()
    at = text.rindex("  return status;\n}")
    files[entry] = (text[:at] + f"  ((uint8_t*)outputs->{out.name})[{byte}] ^= {flip};\n"
                    + text[at:]).encode()
    wrong = workdir / "wrong.tar"
    wrong.write_bytes(tar_bytes(files, EPOCH))
    imported = load_model(str(model))
    check = verify_archive(wrong, replace(imported, mod=result.lowering.mod), result.plan,
                           result.name, link_params=True, tolerance=DEFAULT_TOLERANCE)
    wrong.unlink()
    if check.ok:
        raise PropertyFailure(Bucket.NUMERIC_MISMATCH, "--verify accepts a wrong output",
                              f"{out.name}: byte {byte} flipped by {flip:#x} after the run; "
                              f"verify reports {check.max_abs_error}")
