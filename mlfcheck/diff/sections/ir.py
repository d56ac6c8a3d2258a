"""The IR text section: the Relay/Relax text, normalised (functions the generated C renamed
renamed in it too), as a capped unified diff."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from mlfcheck.diff.result import Change, Count
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.matching import ir_texts
from mlfcheck.diff.sections.common import Comparator, Item, Pair
from mlfcheck.diff.sections.excerpts import unified

SECTION = "ir"
change = partial(Change, section=SECTION)


def compare_ir(p: Pair) -> Iterator[Item]:
    """The Relay/Relax text, normalised, the old one with the renames of the generated C."""
    for old_m, new_m, label in p.both():
        a, b = ir_texts(p, old_m, new_m)
        if a == b:
            continue
        yield change(rule=Rule.D701, module=label, subject="IR text",
                     old=None if a is None else Count(a.count("\n") + 1, "line"),
                     new=None if b is None else Count(b.count("\n") + 1, "line"),
                     reason="the model's IR differs", details=unified(a or "", b or "", "IR"))


COMPARATOR = Comparator(section=SECTION, rules=(Rule.D701,), fn=compare_ir)
