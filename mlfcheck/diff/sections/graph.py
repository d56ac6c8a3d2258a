"""The graph config section: the graph executor config as JSON, pointer by pointer."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from mlfcheck.diff.result import Change, Count, Note
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.common import Comparator, Item, Pair
from mlfcheck.diff.sections.excerpts import clip, json_changes

SECTION = "graph"
change = partial(Change, section=SECTION)
note = partial(Note, section=SECTION)


def compare_graph(p: Pair) -> Iterator[Item]:
    """The graph executor config as JSON (deepdiff, lists aligned), pointer by pointer."""
    for old_m, new_m, label in p.both():
        a, b = p.old.graph(old_m), p.new.graph(new_m)
        has_a = "graph config" in p.old.role_paths(old_m)
        has_b = "graph config" in p.new.role_paths(new_m)
        if (has_a and a is None) or (has_b and b is None):
            yield note(module=label, kind="skipped",
                       text="a graph config is unreadable; not compared")
            continue
        if a is None and b is None:
            continue
        if a is None or b is None:
            yield change(rule=Rule.D601, module=label, subject="graph config",
                         old=Count(len(a.doc["nodes"]), "node") if a else None,
                         new=Count(len(b.doc["nodes"]), "node") if b else None,
                         reason=f"only the {'old' if a else 'new'} archive has a graph config")
            continue
        out = json_changes(a.doc, b.doc)
        if out:
            yield change(rule=Rule.D601, module=label, subject="graph config",
                         old=Count(len(a.doc["nodes"]), "node"),
                         new=Count(len(b.doc["nodes"]), "node"),
                         reason=f"{len(out)} JSON value(s) differ", details=clip(out))


COMPARATOR = Comparator(section=SECTION, rules=(Rule.D601,), fn=compare_graph)
