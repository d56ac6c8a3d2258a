"""What every section's comparator shares: the pair of snapshots it compares, its modules matched
old to new, its entry in the table, and the summary of two arrays of numbers that differ."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from mlfcheck.diff.config import Threshold
from mlfcheck.diff.normalise import Snapshot
from mlfcheck.diff.result import Change, Note, SizeRow, ValueDiff
from mlfcheck.diff.rules import Rule
from mlfcheck.reading.model import Module

Item = Change | Note | SizeRow
"""What a comparator yields."""


@dataclass(frozen=True)
class ModulePair:
    """A module of the old archive matched with one of the new (either may be missing)."""

    old: Module | None
    new: Module | None

    @property
    def label(self) -> str:
        """The module name, or 'old → new' when the only module was renamed."""
        names = [m.name for m in (self.old, self.new) if m is not None]
        return names[0] if len(set(names)) == 1 else " → ".join(names)


@dataclass(frozen=True)
class Pair:
    """What every comparator sees: both snapshots, matched modules, thresholds."""

    old: Snapshot
    new: Snapshot
    thresholds: dict[str, Threshold]
    memo: dict[tuple[str, ...], object] = field(default_factory=dict, compare=False,
                                                repr=False)
    """Facts one section computes and others read too, made once per pair (the functions
    matched by codegen.matching, whose renames the memory and IR sections follow)."""

    @cached_property
    def modules(self) -> tuple[ModulePair, ...]:
        """Modules matched by name; a lone module on each side is matched even if renamed."""
        old, new = self.old.modules, self.new.modules
        if len(old) == len(new) == 1 and set(old) != set(new):
            return (ModulePair(*old.values(), *new.values()),)
        return tuple(ModulePair(old.get(n), new.get(n)) for n in sorted(set(old) | set(new)))

    def both(self) -> Iterator[tuple[Module, Module, str]]:
        """(old module, new module, label) for modules present on both sides."""
        for mp in self.modules:
            if mp.old is not None and mp.new is not None:
                yield mp.old, mp.new, mp.label


@dataclass(frozen=True, kw_only=True)
class Comparator:
    """One entry of the table: its section, the rules it may report, and the function."""

    section: str
    rules: tuple[Rule, ...]
    fn: Callable[[Pair], Iterator[Item]]


def value_diff(x: Sequence[float], y: Sequence[float]) -> ValueDiff:
    """How two arrays of numbers of the same length differ (NaN differences are counted but
    not measured)."""
    diffs = [abs(u - v) for u, v in zip(x, y, strict=True) if u != v]
    finite = [d for d in diffs if not math.isnan(d)]
    return ValueDiff(len(diffs), len(x), max(finite) if finite else None)
