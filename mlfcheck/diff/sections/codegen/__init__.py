"""The codegen section: each module's generated C and interface header, symbol by symbol (entry
points, functions by name then by body, data by value, other file-scope items, code size), with
ordering, the naming of static symbols that share a name, and redefinitions left uncompared as
notes. Its parts share the section's factories (.section)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from mlfcheck.diff.normalise import CodeUnit
from mlfcheck.diff.result import Change, SizeRow
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.abi import MEMO, AbiOutcome, merged
from mlfcheck.diff.sections.codegen.data import data
from mlfcheck.diff.sections.codegen.functions import function_changes, order, size_rows
from mlfcheck.diff.sections.codegen.header import header
from mlfcheck.diff.sections.codegen.matching import matching
from mlfcheck.diff.sections.codegen.section import SECTION, note
from mlfcheck.diff.sections.codegen.symbols import (
    broken_in_both,
    entry_point_changes,
    entry_points,
    other_items,
)
from mlfcheck.diff.sections.common import Comparator, Item, Pair


def compare_codegen(p: Pair) -> Iterator[Item]:
    """Symbols of the generated C and the interface header: entry points, functions by name
    then by body, data by value, other file-scope items, code size; ordering as a note."""
    abi = p.memo.get(MEMO)
    report = abi.report if isinstance(abi, AbiOutcome) else None
    count = len(p.modules)
    for old_m, new_m, label in p.both():
        old_h, new_h = p.old.header(old_m), p.new.header(new_m)
        old, new = p.old.code(old_m), p.new.code(new_m)
        same = [(t.path, t.digest) for t in old.tables] == [(t.path, t.digest) for t in new.tables]
        old_api = {} if same else entry_points(old.tables)
        new_api = {} if same else entry_points(new.tables)
        both = broken_in_both(old_h, new_h, old_api, new_api)
        interface = list(header(old_h, new_h, label, skip=both,
                                v8=min(p.old.version, p.new.version) >= 8))
        if same:  # the same bytes: nothing more to compare
            yield from interface if report is None else merged(interface, report, label, count)
            continue
        m = matching(p, old_m, new_m)
        items = [
            *entry_point_changes(old_api, new_api, m, label, "generated C", Rule.D401,
                                 skip=both),
            *entry_point_changes(
                {n: old_api[n] for n in both}, {n: new_api[n] for n in both if n in new_api},
                m, label, "interface header and the generated C", Rule.D401),
            *function_changes(p, old_m, new_m, m, label, entries=set(old_api) | set(new_api)),
            *data(old, new, m, label),
            *other_items(old.tables, new.tables, label, "generated C"),
            *size_rows(old, new, m, label)]
        yield from [*interface, *items] if report is None else \
            merged([*interface, *items], report, label, count)
        yield from order(old, new, m, label)
        yield from _naming(old, new, items, label)
        for side, unit in (("old", old), ("new", new)):
            for kind, name, files in unit.redefined:
                yield note(module=label, kind="skipped", text=f"{kind} {name} is defined "
                           f"{len(files)} times in the {side} code ({', '.join(files)}), which "
                           "C refuses (a redefinition, or a multiple definition at link time); "
                           "only the first definition is compared")


def _naming(old: CodeUnit, new: CodeUnit, items: Sequence[Item], label: str) -> Iterator[Item]:
    """A note for each `name#n` key the reported changes or size rows use: which file's static
    symbol it is."""
    files: dict[tuple[str, str], list[str]] = {}
    for side, unit in (("old", old), ("new", new)):
        for kind, key, file in unit.aliases:
            files.setdefault((kind, key), []).append(f"{side}: {file}")
    if not files:
        return
    said = " ".join(f"{i.subject} {i.old} {i.new}" if isinstance(i, Change) else
                    i.name if isinstance(i, SizeRow) else "" for i in items)
    for (kind, key), where in sorted(files.items()):
        if re.search(re.escape(key) + r"(?![0-9])", said):
            name, _, n = key.rpartition("#")
            yield note(module=label, kind="naming", text=f"{kind} {key} is {kind} {name} "
                       f"number {n} in file order ({'; '.join(where)}): each file may have "
                       f"its own static {kind} of one name, so the report numbers them #2, #3, "
                       "…")


COMPARATOR = Comparator(
    section=SECTION,
    rules=(Rule.D401, Rule.D402, Rule.D403, Rule.D404, Rule.D405, Rule.D406, Rule.D407,
           Rule.D408, Rule.D409, Rule.D410, Rule.D411, Rule.D412, Rule.D413, Rule.D414,
           Rule.D415, Rule.D416, Rule.D804),
    fn=compare_codegen)
