"""The codegen section: each module's generated C and interface header, symbol by symbol (entry
points, functions by name then by body, data by value, other file-scope items, code size), with
ordering as notes. Its parts share the section's factories (.section)."""

from __future__ import annotations

from collections.abc import Iterator

from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.data import data
from mlfcheck.diff.sections.codegen.functions import function_changes, order, size_rows
from mlfcheck.diff.sections.codegen.header import header
from mlfcheck.diff.sections.codegen.matching import match_functions
from mlfcheck.diff.sections.codegen.section import SECTION
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
    for old_m, new_m, label in p.both():
        old_h, new_h = p.old.header(old_m), p.new.header(new_m)
        old, new = p.old.code(old_m), p.new.code(new_m)
        same = [(t.path, t.digest) for t in old.tables] == [(t.path, t.digest) for t in new.tables]
        old_api = {} if same else entry_points(old.tables)
        new_api = {} if same else entry_points(new.tables)
        both = broken_in_both(old_h, new_h, old_api, new_api)
        yield from header(old_h, new_h, label, skip=both)
        if same:
            continue  # the same bytes: nothing to compare
        m = match_functions(old, new)
        yield from entry_point_changes(old_api, new_api, m, label, "generated C", Rule.D401,
                                       skip=both)
        yield from entry_point_changes(
            {n: old_api[n] for n in both}, {n: new_api[n] for n in both if n in new_api}, m,
            label, "interface header and the generated C", Rule.D401)
        yield from function_changes(p, old_m, new_m, m, label,
                                    entries=set(old_api) | set(new_api))
        yield from data(old, new, m, label)
        yield from other_items(old.tables, new.tables, label, "generated C")
        yield from size_rows(old, new, m, label)
        yield from order(old, new, m, label)


COMPARATOR = Comparator(
    section=SECTION,
    rules=(Rule.D401, Rule.D402, Rule.D403, Rule.D404, Rule.D405, Rule.D406, Rule.D407,
           Rule.D408, Rule.D409, Rule.D410, Rule.D411, Rule.D412, Rule.D413, Rule.D414,
           Rule.D415, Rule.D416, Rule.D804),
    fn=compare_codegen)
