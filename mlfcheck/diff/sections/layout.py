"""The layout section: member paths that moved because the MLF version changed."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from mlfcheck.diff.result import Change
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.common import Comparator, Item, Pair

SECTION = "layout"
change = partial(Change, section=SECTION)

PATH_RENAMES = {
    4: "relay.txt → src/relay.txt",
    5: "runtime-config/ → executor-config/",
    7: "src/relay.txt → src/<m>.relay, executor-config/graph/graph.json → "
       "executor-config/graph/<m>.graph",
    8: "src/<m>.relay → src/<m>.relax",
}
"""Member paths each version moved (mlf-spec.md §3.1)."""


def compare_layout(p: Pair) -> Iterator[Item]:
    """Member paths that moved because the version changed."""
    ov, nv = p.old.version, p.new.version
    for old_m, new_m, label in p.both():
        if old_m.name != new_m.name:
            continue  # D109 already says every path follows the module name
        old_paths, new_paths = p.old.role_paths(old_m), p.new.role_paths(new_m)
        for role in sorted(set(old_paths) & set(new_paths)):
            if old_paths[role] == new_paths[role]:
                continue
            steps = [f"v{v}: {text}" for v, text in sorted(PATH_RENAMES.items())
                     if min(ov, nv) < v <= max(ov, nv)]
            yield change(rule=Rule.D104, module=label, subject=f"{role} path",
                         old=old_paths[role], new=new_paths[role],
                         reason=f"moved by the MLF v{ov} → v{nv} format change "
                         f"({'; '.join(steps)})")


COMPARATOR = Comparator(section=SECTION, rules=(Rule.D104,), fn=compare_layout)
