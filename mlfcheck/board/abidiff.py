"""ABI comparison with libabigail: two shared objects with DWARF (an archive's host build,
`archivebuild.ArchiveBuilt.shared_object`) compared by `abidiff` (`compare`), and its text
report read into typed facts (`AbiReport`, `AbiChange`).

abidiff (Debian `abigail-tools`) is optional at run time: without it `compare` raises a
BoardError naming the package. It runs through `children.run` (stdin closed, time, memory, CPU
and file-size limits) in leaf mode (each changed type once, not once per function reaching
it), harmless changes included (a renamed struct member is "harmless" to a binary but not to
code that sets it), locations left out and the default suppression files ignored (so
$HOME/.abignore cannot hide a change). Its exit code is a bit field, read exactly.
"""

from __future__ import annotations

import enum
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlfcheck import children
from mlfcheck.board.containment import OverLimit, first_error, stopped
from mlfcheck.errors import BoardError

ABIDIFF = "abidiff"
APT_INSTALL = "apt-get install abigail-tools"
"""The line that installs abidiff (Debian, Ubuntu)."""
ABIDIFF_FLAGS = ("--no-default-suppression", "--leaf-changes-only", "--harmless",
                 "--no-show-locs")
ABIDIFF_LIMITS = children.Limits(seconds=300.0, memory_bytes=4 * 1024**3,
                                 file_bytes=16 * 1024**2, cpu_seconds=300)
"""What one abidiff run may use."""
MAX_REPORT = 16 * 1024**2
"""Characters of abidiff's report read; a longer report is an error (facts would be lost)."""

ERROR, USAGE_ERROR, ABI_CHANGE, ABI_INCOMPATIBLE_CHANGE = 1, 2, 4, 8
"""The bits of abidiff's exit code (`man abidiff`, RETURN VALUES)."""


class AbiKind(enum.Enum):
    """The closed set of facts read from abidiff's report."""

    FUNCTION_REMOVED = "function removed"
    FUNCTION_ADDED = "function added"
    PARAMETER_ADDED = "parameter added"
    PARAMETER_REMOVED = "parameter removed"
    PARAMETER_TYPE_CHANGED = "parameter type changed"
    RETURN_TYPE_CHANGED = "return type changed"
    FUNCTION_CHANGED = "function changed otherwise"
    VARIABLE_REMOVED = "variable removed"
    VARIABLE_ADDED = "variable added"
    VARIABLE_SIZE_CHANGED = "variable size changed"
    VARIABLE_TYPE_CHANGED = "variable type changed"
    VARIABLE_CHANGED = "variable changed otherwise"
    TYPE_REMOVED = "type removed"
    """A type of the public headers no exported function or variable reaches, in the old
    object only: also one that only became reachable."""
    TYPE_ADDED = "type added"
    """Likewise in the new object only: also one that is no longer reachable."""
    TYPE_SIZE_CHANGED = "type size changed"
    MEMBER_ADDED = "member added"
    MEMBER_REMOVED = "member removed"
    MEMBER_TYPE_CHANGED = "member type changed"
    MEMBER_RENAMED = "member renamed"
    MEMBER_OFFSET_CHANGED = "member offset changed"
    TYPE_CHANGED = "type changed otherwise"
    OTHER = "other"
    """A line of no known shape (SONAME, architecture): kept, so nothing is lost unread."""


@dataclass(frozen=True)
class AbiChange:
    """One fact of abidiff's report."""

    kind: AbiKind
    symbol: str
    """The function or variable (its name), or the type as abidiff spells it
    ('struct tvmgen_default_outputs'); '' for OTHER."""
    detail: str
    """What within it: 'parameter 3', 'return type', a member's name; '' for the whole."""
    evidence: str
    """abidiff's own line, stripped (no folder of any path)."""
    old: str | int | None = None
    """The old type, declaration, name, or size (bits for types and offsets, bytes for
    variables), when the line says."""
    new: str | int | None = None
    lines: tuple[str, ...] = ()
    """The lines abidiff nests under `evidence`, stripped."""


@dataclass(frozen=True)
class AbiReport:
    """What abidiff found between two shared objects."""

    changes: tuple[AbiChange, ...]
    changed: bool
    """ABIDIFF_ABI_CHANGE: the ABIs differ."""
    incompatible: bool
    """ABIDIFF_ABI_INCOMPATIBLE_CHANGE: they differ in a way abidiff knows to be incompatible
    (a symbol removed, a type unreachable from the interface changed)."""


# -- running abidiff ---------------------------------------------------------------------------


def tool() -> str:
    """The abidiff on PATH; BoardError naming the package otherwise."""
    found = shutil.which(ABIDIFF)
    if found is None:
        raise BoardError(f"{ABIDIFF} not found: {APT_INSTALL}")
    return found


def version() -> str:
    """'abidiff 2.2.0': the installed abidiff's name and version (BoardError when missing)."""
    done = children.run([tool(), "--version"], limits=ABIDIFF_LIMITS)
    said = done.stdout.strip().rpartition(":")[2].strip()
    return f"{ABIDIFF} {said}" if done.ok and said else ABIDIFF


def compare(old: Path, new: Path, *, old_headers: Sequence[Path] = (),
            new_headers: Sequence[Path] = (),
            limits: children.Limits = ABIDIFF_LIMITS) -> AbiReport:
    """abidiff's facts on two shared objects. With the public header folders of each side
    (codegen/host/include), only types those headers define are compared; given for both
    sides, also those no exported function or variable reaches. OverLimit when a limit stopped
    it; BoardError when abidiff is missing, failed, or wrote a report too long to read whole."""
    argv = [tool(), *ABIDIFF_FLAGS]
    for option, folders in (("--headers-dir1", old_headers), ("--headers-dir2", new_headers)):
        argv += [arg for folder in folders for arg in (option, str(folder))]
    if old_headers and new_headers:
        argv.append("--non-reachable-types")
    done = children.run([*argv, str(old), str(new)], limits=limits, max_output=MAX_REPORT)
    why = stopped(done, limits)
    if why is not None:
        raise OverLimit(f"comparing {old.name} and {new.name} with {ABIDIFF}", why)
    code = done.returncode
    assert code is not None  # a run that timed out was stopped above
    if code & ~(ABI_CHANGE | ABI_INCOMPATIBLE_CHANGE) or \
            (code & ABI_INCOMPATIBLE_CHANGE and not code & ABI_CHANGE):
        usage = ", usage error" if code & USAGE_ERROR else ""
        raise BoardError(f"{ABIDIFF} could not compare {old.name} and {new.name} "
                         f"(exit {code}{usage}): {unpathed(first_error(done.stderr))}")
    if len(done.stdout) >= MAX_REPORT:
        raise BoardError(f"{ABIDIFF}'s report on {old.name} and {new.name} is longer than "
                         f"{MAX_REPORT} characters")
    return AbiReport(tuple(parse(done.stdout)), bool(code & ABI_CHANGE),
                     bool(code & ABI_INCOMPATIBLE_CHANGE))


_FOLDERS = re.compile(r"(?<![\w.~+-])/(?:[^\s/'\"`:,;()<>{}\[\]]+/)+")
"""The folders of an absolute path in a line (its file name is kept)."""


def unpathed(line: str) -> str:
    """A line of abidiff's without the folders of any path it names."""
    return _FOLDERS.sub("", line).strip()


# -- reading the report ------------------------------------------------------------------------


@dataclass
class _Node:
    """A line of the report and the lines indented under it."""

    text: str
    indent: int
    children: list[_Node] = field(default_factory=list)

    def below(self) -> tuple[str, ...]:
        """Every line under this one, in order, stripped."""
        out: list[str] = []
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            out.append(node.text)
            stack.extend(reversed(node.children))
        return tuple(out)


def _tree(text: str) -> list[_Node]:
    """The report's lines as a forest by indentation (blank lines dropped)."""
    roots: list[_Node] = []
    open_: list[_Node] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        node = _Node(unpathed(raw), len(raw) - len(raw.lstrip(" ")))
        while open_ and open_[-1].indent >= node.indent:
            open_.pop()
        (open_[-1].children if open_ else roots).append(node)
        open_.append(node)
    return roots


_SECTION = re.compile(r"^\d+ (Removed|Added|Changed) (function|variable)s?"
                      r"(?: symbols? not referenced by debug info)?:$")
_SUBTYPE_SECTION = re.compile(r"^\d+ functions? with some (?:indirect )?sub-type changes?:$")
_UNREACHABLE = re.compile(r"^\d+ (removed|changed|added) types? unreachable from any public "
                          r"interfaces?:$")
_LEAF_TYPE = re.compile(r"^'(.+)' changed:$")
_ENTRY = re.compile(r"^\[([DAC])\] (?:'(.+?)'|(\S+))(?:\s+\{([^}]*)\})?(?P<rest>.*)$")
_VARIABLE = re.compile(r"^ was changed(?: to '(.+)')?:$")


def parse(text: str) -> Iterator[AbiChange]:
    """The facts of abidiff's leaf-mode report, in its order."""
    for node in _tree(text):
        if "summary:" in node.text:
            continue
        section = _SECTION.match(node.text)
        unreachable = _UNREACHABLE.match(node.text)
        leaf = _LEAF_TYPE.match(node.text)
        if section:
            verb, what = section.group(1), section.group(2)
            for entry in node.children:
                yield from _entry(entry, verb, what)
        elif _SUBTYPE_SECTION.match(node.text):
            for entry in node.children:
                yield from _entry(entry, "Changed", "function")
        elif unreachable:
            for entry in node.children:
                yield from _unreachable(entry, unreachable.group(1))
        elif leaf:
            yield from _type_changes(leaf.group(1), node)
        else:
            yield AbiChange(AbiKind.OTHER, "", "", node.text, lines=node.below())


def _entry(node: _Node, verb: str, what: str) -> Iterator[AbiChange]:
    """One entry of a section of removed, added or changed functions or variables."""
    found = _ENTRY.match(node.text)
    if found is None:
        yield AbiChange(AbiKind.OTHER, "", "", node.text, lines=node.below())
        return
    declared = found.group(2) or found.group(3)
    linked = found.group(4) or found.group(3)  # an ELF symbol: name[@version]
    name = linked.split("@")[0] if linked else _declared_name(declared)
    if verb in ("Removed", "Added"):
        kind = {("Removed", "function"): AbiKind.FUNCTION_REMOVED,
                ("Added", "function"): AbiKind.FUNCTION_ADDED,
                ("Removed", "variable"): AbiKind.VARIABLE_REMOVED,
                ("Added", "variable"): AbiKind.VARIABLE_ADDED}[verb, what]
        yield AbiChange(kind, name, "", node.text, old=declared if verb == "Removed" else None,
                        new=declared if verb == "Added" else None, lines=node.below())
    elif what == "function":
        for line in node.children:
            yield _function_change(name, declared, line)
    else:
        yield from _variable_changes(name, declared, found.group("rest"), node)


_PARAMETER = re.compile(r"^parameter (\d+) of type '(.+)' (was added|was removed|changed:|"
                        r"has sub-type changes:)$")


def _function_change(name: str, declared: str, node: _Node) -> AbiChange:
    """One change under a changed function: a parameter, its return type, anything else."""
    parameter = _PARAMETER.match(node.text)
    below = node.below()
    if parameter:
        index, type_, how = parameter.groups()
        detail = f"parameter {index}"
        if how == "was added":
            return AbiChange(AbiKind.PARAMETER_ADDED, name, detail, node.text, new=type_,
                             lines=below)
        if how == "was removed":
            return AbiChange(AbiKind.PARAMETER_REMOVED, name, detail, node.text, old=type_,
                             lines=below)
        return AbiChange(AbiKind.PARAMETER_TYPE_CHANGED, name, detail, node.text,
                         old=type_, new=_to(below), lines=below)
    if node.text == "return type changed:":
        return AbiChange(AbiKind.RETURN_TYPE_CHANGED, name, "return type", node.text,
                         old=_from(below), new=_to(below), lines=below)
    return AbiChange(AbiKind.FUNCTION_CHANGED, name, "", node.text, old=declared, lines=below)


_SYMBOL_SIZE = re.compile(r"^size of symbol changed from (\d+) to (\d+)$")


def _variable_changes(name: str, declared: str, rest: str, node: _Node) -> Iterator[AbiChange]:
    """The changes under a changed variable ("'T v' was changed to 'U v':")."""
    header = _VARIABLE.match(rest)
    renewed = header.group(1) if header and header.group(1) else declared
    for line in node.children:
        size = _SYMBOL_SIZE.match(line.text)
        if size:
            yield AbiChange(AbiKind.VARIABLE_SIZE_CHANGED, name, "", line.text,
                            old=int(size.group(1)), new=int(size.group(2)))
        elif line.text == "type of variable changed:":
            yield AbiChange(AbiKind.VARIABLE_TYPE_CHANGED, name, "", line.text, old=declared,
                            new=renewed, lines=line.below())
        else:
            yield AbiChange(AbiKind.VARIABLE_CHANGED, name, "", line.text, old=declared,
                            new=renewed, lines=line.below())


def _unreachable(node: _Node, verb: str) -> Iterator[AbiChange]:
    """One entry of a section of types no exported function or variable reaches."""
    found = _ENTRY.match(node.text)
    spelled = (found.group(2) or found.group(3)) if found else None
    if spelled is None:
        yield AbiChange(AbiKind.OTHER, "", "", node.text, lines=node.below())
    elif verb == "changed":
        yield from _type_changes(spelled, node)
    else:
        kind = AbiKind.TYPE_REMOVED if verb == "removed" else AbiKind.TYPE_ADDED
        yield AbiChange(kind, spelled, "", node.text, lines=node.below())


_TYPE_SIZE = re.compile(r"^(?:type )?size changed from (\d+) to (\d+)(?: \(in bits\)| bits)?$")
_MEMBERS = re.compile(r"^\d+ data members? (insertion|deletion)s?:$")
_MEMBER_CHANGES = re.compile(r"^(?:there are data member changes|\d+ data member changes?.*):$")


def _type_changes(spelled: str, node: _Node) -> Iterator[AbiChange]:
    """The changes of one type (a struct, union, enum or typedef)."""
    for line in node.children:
        size = _TYPE_SIZE.match(line.text)
        members = _MEMBERS.match(line.text)
        if size:
            yield AbiChange(AbiKind.TYPE_SIZE_CHANGED, spelled, "", line.text,
                            old=int(size.group(1)), new=int(size.group(2)))
        elif members:
            added = members.group(1) == "insertion"
            for member in line.children:
                yield _member_added_or_removed(spelled, member, added=added)
        elif _MEMBER_CHANGES.match(line.text):
            for member in line.children:
                yield _member_change(spelled, member)
        elif line.text not in ("type size hasn't changed", "details were reported earlier"):
            yield AbiChange(AbiKind.TYPE_CHANGED, spelled, "", line.text, lines=line.below())


_INSERTED = re.compile(r"^'(.+)', at offset (\d+)")


def _member_added_or_removed(spelled: str, node: _Node, *, added: bool) -> AbiChange:
    """A member inserted into or deleted from a type ("'void* output1', at offset 64 ...")."""
    found = _INSERTED.match(node.text)
    declared = found.group(1) if found else node.text
    name = _declared_name(declared)
    type_ = _declared_type(declared, name)
    if added:
        return AbiChange(AbiKind.MEMBER_ADDED, spelled, name, node.text, new=type_,
                         lines=node.below())
    return AbiChange(AbiKind.MEMBER_REMOVED, spelled, name, node.text, old=type_,
                     lines=node.below())


_MEMBER_TYPE = re.compile(r"^type '(.+)' of '(?:\w+::)*(\w+)' changed:$|"
                          r"^type of '(.+)' changed:$")
_MEMBER_NAME = re.compile(r"^(?:and )?name of '(?:\w+::)*(\w+)' changed to '(?:\w+::)*(\w+)'$")
_MEMBER_OFFSET = re.compile(r"^'(.+)' offset changed from (\d+) to (\d+)")


def _member_change(spelled: str, node: _Node) -> AbiChange:
    """One entry under a type's data member changes."""
    below = node.below()
    typed = _MEMBER_TYPE.match(node.text)
    if typed:
        if typed.group(3) is not None:  # "type of 'void* S::input' changed:"
            name = _declared_name(typed.group(3))
            old = _declared_type(typed.group(3), name)
        else:
            old, name = typed.group(1), typed.group(2)
        return AbiChange(AbiKind.MEMBER_TYPE_CHANGED, spelled, name, node.text, old=old,
                         new=_to(below), lines=below)
    renamed = _MEMBER_NAME.match(node.text)
    if renamed:
        return AbiChange(AbiKind.MEMBER_RENAMED, spelled, renamed.group(1), node.text,
                         old=renamed.group(1), new=renamed.group(2), lines=below)
    moved = _MEMBER_OFFSET.match(node.text)
    if moved:
        return AbiChange(AbiKind.MEMBER_OFFSET_CHANGED, spelled, _declared_name(moved.group(1)),
                         node.text, old=int(moved.group(2)), new=int(moved.group(3)),
                         lines=below)
    return AbiChange(AbiKind.TYPE_CHANGED, spelled, "", node.text, lines=below)


_FROM_TO = re.compile(r"changed from:? '?(.+?)'? to:? '?(.+?)'?(?: \(in bits\))?$")


def _from(lines: Sequence[str]) -> str | None:
    """The old type the first 'changed from X to Y' line under a change names."""
    found = next((m for m in map(_FROM_TO.search, lines) if m), None)
    return found.group(1) if found else None


def _to(lines: Sequence[str]) -> str | None:
    """The new type the first 'changed from X to Y' line under a change names."""
    found = next((m for m in map(_FROM_TO.search, lines) if m), None)
    return found.group(2) if found else None


_FUNCTION_NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")
_LAST_NAME = re.compile(r"(?:\w+::)*([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*$")
_POINTER_NAME = re.compile(r"\(\s*\*\s*(?:\w+::)*([A-Za-z_]\w*)\s*\)")


def _declared_name(declared: str) -> str:
    """The name a declaration as abidiff prints it declares: 'function int32_t f(int)' → f,
    'float w[16]' → w, 'int32_t (*cb)(void*)' → cb, 'int S::m' → m."""
    if declared.startswith("function "):
        found = _FUNCTION_NAME.search(declared)
        return found.group(1) if found else declared
    pointer = _POINTER_NAME.search(declared)
    if pointer:
        return pointer.group(1)
    found = _LAST_NAME.search(declared)
    return found.group(1) if found else declared


def _declared_type(declared: str, name: str) -> str:
    """A declaration without its name: 'void* output1' → 'void*', 'float w[4]' → 'float[4]'."""
    return re.sub(rf"\s*(?:\w+::)*\b{re.escape(name)}\b\s*", "", declared, count=1)
