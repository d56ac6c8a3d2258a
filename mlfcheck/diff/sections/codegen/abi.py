"""The codegen section's ABI layer: abidiff run on both sides' shared objects (`abi_outcome`),
its facts (mlfcheck.board.abidiff) as changes under the D4xx rules (entry-point signatures:
D409, D401; the members and layout of the interface structs tvmgen_<m>_inputs, _outputs,
_devices, _workspace_pools: D413, and D409 for a member added; exported data: D408), abidiff's
own lines as each change's details, and those changes merged with the source comparison's
(`merged`: one change per subject).

Left to the source comparison: other functions and types, and whether an interface struct
exists at all (abidiff lists a struct that only changed between reachable and unreachable from
the exported functions as an unreachable type "added" or "removed")."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mlfcheck.board.abidiff import AbiChange, AbiKind, AbiReport, compare, version
from mlfcheck.board.archivebuild import HEADER_FOLDERS, ArchiveBuilt, materialise
from mlfcheck.diff.result import Change, Size, Symbol
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.section import change
from mlfcheck.diff.sections.common import Item
from mlfcheck.errors import BoardError
from mlfcheck.reading.csource.symbols import ENTRY_POINT
from mlfcheck.reading.loaded import Loaded

MEMO = ("abi",)
"""Where a pair keeps its `AbiOutcome` (Pair.memo), set before the comparators run."""


@dataclass(frozen=True)
class AbiOutcome:
    """The ABI layer of one diff: abidiff's report on both sides' shared objects and the tool
    that wrote it, or why the ABIs were not compared."""

    report: AbiReport | None
    tool: str | None
    why_not: str | None


def abi_outcome(old: Loaded, new: Loaded) -> AbiOutcome | None:
    """abidiff run on the shared objects of both sides' host builds, with each side's
    interface headers; None when neither side was built (no builder). Only whole builds are
    compared: a shared object that lacks a file that did not compile (or needs a library's
    header) lacks its symbols, which abidiff would report as removed."""
    built = (old.built, new.built)
    if built == (None, None):
        return None
    objects = []
    for side, got in zip(("old", "new"), built, strict=True):
        if not isinstance(got, ArchiveBuilt) or got.shared_object is None:
            return AbiOutcome(None, None, f"the {side} archive's C did not build and link")
        left = len(got.files) - len(got.built)
        if left:
            return AbiOutcome(None, None, f"{left} of the {side} archive's {len(got.files)} C "
                              "files were not built, so its shared object lacks their symbols")
        objects.append(got.shared_object)
    try:
        with tempfile.TemporaryDirectory(prefix="mlfcheck-abi-") as tmp:
            headers = []
            for side, ctx in (("old", old), ("new", new)):
                materialise(ctx.archive, Path(tmp) / side, HEADER_FOLDERS[:1])
                folder = Path(tmp) / side / HEADER_FOLDERS[0]
                headers.append([folder] if folder.is_dir() else [])
            report = compare(objects[0], objects[1], old_headers=headers[0],
                             new_headers=headers[1])
        return AbiOutcome(report, version(), None)
    except BoardError as exc:
        return AbiOutcome(None, None, str(exc))


def merged(source: Sequence[Item], report: AbiReport, label: str, modules: int) -> list[Item]:
    """The source comparison's changes of module `label` with abidiff's: an ABI change about a
    subject the source already reports (the same entry point, struct member or data) adds
    abidiff's lines to it, or takes its place when abidiff's rule is the stricter; the rest
    are added (the compiler saw what the reader did not)."""
    own = report if modules == 1 else AbiReport(
        tuple(c for c in report.changes if f"tvmgen_{label}_" in c.symbol), report.changed,
        report.incompatible)
    out = list(source)
    for found in abi_changes(own, label):
        same = [i for i, c in enumerate(out)
                if isinstance(c, Change) and _about(found.subject, c.subject)]
        if not same:
            out.append(found)
            continue
        first = out[same[0]]
        assert isinstance(first, Change)
        if found.rule.level > first.rule.level:
            out[same[0]] = replace(found, details=(*first.details, *found.details))
        else:
            out[same[0]] = replace(first, details=(*first.details, *found.details))
    return out


def _about(abi: str, source: str) -> bool:
    """Whether an ABI change's subject names what a source change's subject names: the same
    subject, or a part of it ('entry point f parameter 3' of 'entry point f')."""
    return abi == source or abi.startswith(source + " ")

INTERFACE_STRUCT = re.compile(r"^struct tvmgen_\w+?_(inputs|outputs|devices|workspace_pools)$")
"""The structs of the interface header a consumer fills and passes to tvmgen_<m>_run."""
_MEMBER_KINDS = (AbiKind.MEMBER_ADDED, AbiKind.MEMBER_REMOVED, AbiKind.MEMBER_TYPE_CHANGED,
                 AbiKind.MEMBER_RENAMED)
_DATA_KINDS = (AbiKind.VARIABLE_REMOVED, AbiKind.VARIABLE_ADDED, AbiKind.VARIABLE_SIZE_CHANGED,
               AbiKind.VARIABLE_TYPE_CHANGED, AbiKind.VARIABLE_CHANGED)
_ADDED_REASON = {
    "outputs": "run() writes the new output through a member that code written for the old "
               "header leaves NULL",
    "inputs": "run() reads the new input through a member that code written for the old "
              "header leaves NULL",
}


def abi_changes(report: AbiReport, label: str) -> list[Change]:
    """The changes of module `label` that abidiff's facts show, in the report's order."""
    grouped: dict[str, list[AbiChange]] = {}
    for fact in report.changes:
        grouped.setdefault(fact.symbol, []).append(fact)
    out: list[Change] = []
    for symbol, facts in grouped.items():
        struct = INTERFACE_STRUCT.match(symbol)
        if ENTRY_POINT.match(symbol):
            out += _entry_point(symbol, facts, label)
        elif struct:
            out += _interface_struct(symbol, struct.group(1), facts, label)
        elif all(f.kind in _DATA_KINDS for f in facts):
            out.append(_data(symbol, facts, label))
    return out


def _evidence(facts: Sequence[AbiChange]) -> tuple[str, ...]:
    """abidiff's lines for `facts`: each fact's line and the lines under it."""
    return tuple(line for f in facts for line in (f.evidence, *f.lines))


def _signature(fact: AbiChange) -> str | None:
    """The declaration abidiff printed for a function, without its 'function ' prefix."""
    declared = fact.old if fact.old is not None else fact.new
    return declared.removeprefix("function ") if isinstance(declared, str) else None


def _entry_point(name: str, facts: Sequence[AbiChange], label: str) -> Iterator[Change]:
    """An entry point removed (D409), added (D401), or one change per part of its signature
    (D409): a parameter added, removed or retyped, the return type, anything else."""
    for fact in facts:
        details = _evidence([fact])
        subject = f"entry point {name}"
        if fact.kind is AbiKind.FUNCTION_REMOVED:
            yield change(rule=Rule.D409, module=label, subject=subject,
                         old=Symbol("function", name, _signature(fact)), new=None,
                         reason="no longer in the shared object; an application calling it "
                         "no longer links", details=details)
        elif fact.kind is AbiKind.FUNCTION_ADDED:
            yield change(rule=Rule.D401, module=label, subject=subject, old=None,
                         new=Symbol("function", name, _signature(fact)),
                         reason="only in the new shared object", details=details)
        elif fact.kind is AbiKind.FUNCTION_CHANGED:
            yield change(rule=Rule.D409, module=label, subject=subject,
                         old=Symbol("function", name, _signature(fact)),
                         new=Symbol("function", name), reason="its ABI changed",
                         details=details)
        else:
            yield change(rule=Rule.D409, module=label, subject=f"{subject} {fact.detail}",
                         old=_text(fact.old), new=_text(fact.new),
                         reason=_SIGNATURE_REASON[fact.kind], details=details)


_SIGNATURE_REASON = {
    AbiKind.PARAMETER_ADDED: "callers written for the old signature do not pass it",
    AbiKind.PARAMETER_REMOVED: "callers pass an argument it no longer takes",
    AbiKind.PARAMETER_TYPE_CHANGED: "callers pass an argument of the old type",
    AbiKind.RETURN_TYPE_CHANGED: "callers read the result as the old type",
}


def _text(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _interface_struct(spelled: str, role: str, facts: Sequence[AbiChange],
                      label: str) -> Iterator[Change]:
    """A member added (D409: code written for the old header leaves it unset), removed,
    renamed or retyped (D413); the struct's size or layout alone (D413). The size and offset
    lines go with each member's change."""
    context = [f for f in facts if f.kind not in (*_MEMBER_KINDS, AbiKind.TYPE_REMOVED,
                                                   AbiKind.TYPE_ADDED)]
    members: dict[str, list[AbiChange]] = {}
    for fact in facts:
        if fact.kind in _MEMBER_KINDS:
            members.setdefault(fact.detail, []).append(fact)
    for name, about in members.items():
        yield _member(spelled, role, name, about, label, _evidence([*about, *context]))
    if context and not members:
        sizes = [f for f in context if f.kind is AbiKind.TYPE_SIZE_CHANGED]
        old, new = ((Size(int(sizes[0].old or 0) // 8), Size(int(sizes[0].new or 0) // 8))
                    if sizes else (spelled, spelled))
        yield change(rule=Rule.D413, module=label, subject=spelled, old=old, new=new,
                     reason="its size or layout changed", details=_evidence(context))


def _member(spelled: str, role: str, name: str, facts: Sequence[AbiChange], label: str,
            details: tuple[str, ...]) -> Change:
    """One member's change: added (D409), removed, renamed or retyped (D413)."""
    kinds = {f.kind: f for f in facts}
    subject = f"{spelled} member {name}"
    added, removed = kinds.get(AbiKind.MEMBER_ADDED), kinds.get(AbiKind.MEMBER_REMOVED)
    if added is not None:
        return change(rule=Rule.D409, module=label, subject=subject, old=None,
                      new=Symbol("member", name, _text(added.new)),
                      reason=_ADDED_REASON.get(role, "code written for the old header leaves "
                                               "the new member unset"), details=details)
    if removed is not None:
        return change(rule=Rule.D413, module=label, subject=subject,
                      old=Symbol("member", name, _text(removed.old)), new=None,
                      reason=f"code that sets .{name} no longer compiles", details=details)
    retyped, renamed = kinds.get(AbiKind.MEMBER_TYPE_CHANGED), kinds.get(AbiKind.MEMBER_RENAMED)
    to = str(renamed.new) if renamed is not None else name
    return change(rule=Rule.D413, module=label,
                  subject=f"{spelled} member renamed" if renamed is not None else subject,
                  old=Symbol("member", name, _text(retyped.old) if retyped else None),
                  new=Symbol("member", to, _text(retyped.new) if retyped else None),
                  reason=f"code that sets .{name} no longer compiles" if renamed is not None
                  else "the member's type changed", details=details)


def _data(name: str, facts: Sequence[AbiChange], label: str) -> Change:
    """An exported variable added, removed, retyped or resized (D408), one change for all of
    abidiff's lines about it."""
    kinds = {f.kind for f in facts}
    declared = [f for f in facts if isinstance(f.old, str) or isinstance(f.new, str)]
    sized = [f for f in facts if f.kind is AbiKind.VARIABLE_SIZE_CHANGED]
    old: Symbol | Size | None
    new: Symbol | Size | None
    if declared:
        old = Symbol("data", name, declared[0].old) if isinstance(declared[0].old, str) else None
        new = Symbol("data", name, declared[0].new) if isinstance(declared[0].new, str) else None
    else:
        old, new = Size(int(sized[0].old or 0)), Size(int(sized[0].new or 0))
    reason = ("defined only in the old shared object" if AbiKind.VARIABLE_REMOVED in kinds
              else "defined only in the new shared object" if AbiKind.VARIABLE_ADDED in kinds
              else "its type or size changed")
    return change(rule=Rule.D408, module=label, subject=f"data {name}", old=old, new=new,
                  reason=reason, details=_evidence(facts))
