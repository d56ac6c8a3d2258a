"""Metamorphic checks: change a generated model file in a way whose effect on the archive is
known (rename an input, swap two independent layers, add an identity layer), export both, and
require `mlfcheck diff` to report exactly the expected kinds of change. This tests the
exporter and the differ together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlfcheck.diff import Rule
from mlfcheck.diff.result import Change
from mlfcheck.fuzz.exports import EPOCH
from mlfcheck.fuzz.outcomes import Bucket, PropertyFailure

STORAGE = "storage"
"""A change of the storage list (the memory plan's blocks): D110, or D106 when it appears."""
WORKSPACE_MACRO = "workspace macro"
"""D415 (size macro changed) on the header's WORKSPACE_SIZE."""
_CODE = {"D405", "D406", "D407", "D408", "D412", "D701", "D803"}
"""Kernel bodies, code size (and its growth warning), declarations, IR text and the members
holding them."""
_LAYOUT = _CODE | {"D401", "D402", "D404", "D201", "D202", "D206", "D207", "D208",
                   "D210", "D411", "D501", "D502", "D503", "D504", "D505", STORAGE,
                   WORKSPACE_MACRO}
"""What another arrangement of the same computation may change: code, the memory plan, and
which constant is called p0, p1, ..."""
_EMIT = re.compile(r"^        (v\d+) = bb\.emit\((.*)\)$")


@dataclass(frozen=True)
class Relation:
    """A source transformation and the diff rules it must and may produce."""

    name: str
    required: frozenset[str]
    allowed: frozenset[str]
    """Rule codes (STORAGE for a change of the storage list)."""


RENAME = Relation("rename input x0", frozenset({"D309"}),
                  frozenset(_CODE | {"D309", "D413", "D414", "D415"}))
"""An input renamed (D309), with its struct member and size macro (D413-D415)."""
REORDER = Relation("swap two independent layers", frozenset(), frozenset(_LAYOUT))
IDENTITY = Relation("identity layer before the output", frozenset(), frozenset(_LAYOUT))


def renamed(source: str) -> str | None:
    """The model with its first input called `renamed_x0`."""
    out = source.replace("relax.Var('x0', ", "relax.Var('renamed_x0', ", 1)
    return out if out != source else None


def reordered(source: str) -> str | None:
    """The model with the first two adjacent layers swapped that do not read each other and
    do not both draw weights (which would swap their weights)."""
    lines = source.splitlines()
    for i in range(len(lines) - 1):
        a, b = _EMIT.match(lines[i]), _EMIT.match(lines[i + 1])
        if a and b and not re.search(rf"\b{a.group(1)}\b", b.group(2)) and not (
                "weights(" in a.group(2) and "weights(" in b.group(2)):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
            return "\n".join(lines) + "\n"
    return None


def with_identity(source: str) -> str | None:
    """The model with a reshape to the same shape in front of its single output."""
    match = re.search(r"^        out = bb\.emit_output\((v\d+)\)$", source, re.M)
    if match is None:
        return None
    var = match.group(1)
    return source.replace(match.group(0),
                          f"        same = bb.emit(op.reshape({var}, {var}.ty.shape))\n"
                          "        out = bb.emit_output(same)")


def _kind(change: Change) -> str:
    """The change's rule code, or STORAGE for the storage list changing (D110) or appearing
    or going (D106), or WORKSPACE_MACRO for WORKSPACE_SIZE changing (D415)."""
    if (change.rule is Rule.D110 and change.subject == "storage") or (
            change.rule is Rule.D106 and "storage/" in f"{change.old} {change.new}"):
        return STORAGE
    if change.rule is Rule.D415 and "WORKSPACE_SIZE" in f"{change.subject} {change.old}":
        return WORKSPACE_MACRO
    return change.rule.name


TRANSFORMS = ((RENAME, renamed), (REORDER, reordered), (IDENTITY, with_identity))


def diffs_are_expected(model: Path, first: Path, workdir: Path) -> None:
    """Each applicable transformation of `model`, exported, differs from `first` (the export
    of `model`) by the relation's required rules and nothing outside its allowed ones."""
    from mlfcheck.diff import diff_archives
    from mlfcheck.export import export_model

    source = model.read_text()
    for relation, transform in TRANSFORMS:
        changed = transform(source)
        if changed is None:
            continue
        variant = workdir / "variant.py"
        variant.write_text(changed)
        exported = export_model(str(variant), workdir / "variant.tar", epoch=EPOCH)
        rules = {_kind(c) for c in diff_archives(first, exported.path).changes}
        missing, unexpected = relation.required - rules, rules - relation.allowed
        if missing or unexpected:
            names = sorted(unexpected) or sorted(missing)
            raise PropertyFailure(
                Bucket.METAMORPHIC, f"{relation.name}: " + ("unexpected " if unexpected
                                                            else "missing ") + ",".join(names),
                f"{relation.name}: diff rules {sorted(rules)}; required "
                f"{sorted(relation.required)}, allowed {sorted(relation.allowed)}")
        exported.path.unlink()
