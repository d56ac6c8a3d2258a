"""The records a diff produces: changes, ordering-only notes, both sides, the board table, and
the result tree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlfcheck.diff.rules import Level, Rule
from mlfcheck.findings import Finding

if TYPE_CHECKING:
    from mlfcheck.board.boards import Board

SECTION_TITLES = {
    "metadata": "metadata", "layout": "layout", "memory": "memory", "io": "inputs/outputs",
    "codegen": "codegen", "parameters": "parameters", "graph": "graph config", "ir": "IR text",
    "members": "other members",
}


@dataclass(frozen=True)
class Size:
    """A number of bytes."""

    bytes: int


@dataclass(frozen=True)
class Count:
    """A number of things of one kind: 8 functions, 42 nodes, 3 lines."""

    n: int
    noun: str
    """Singular noun ('function'); reporters pluralise."""


@dataclass(frozen=True)
class TensorType:
    """A tensor's dtype, shape (when known) and size in bytes (when known)."""

    dtype: str
    shape: tuple[int, ...] | None
    size: int | None


@dataclass(frozen=True)
class Symbol:
    """A C symbol: its kind ('function', 'data', 'prototype', 'member', 'macro'), name and,
    when it matters, its folded signature or type."""

    kind: str
    name: str
    signature: str | None = None


Value = str | int | Size | Count | TensorType | Symbol
"""A typed fact: str for names, versions, dtypes and expressions (reporters clip and quote it),
int for plain numbers."""


@dataclass(frozen=True)
class ValueDiff:
    """How two arrays of numbers with the same shape differ."""

    changed: int
    total: int
    max_abs: float | None
    """Largest absolute difference; None when only NaNs differ or values are not decoded."""


@dataclass(frozen=True, kw_only=True)
class Change:
    """One difference between the archives that a consumer could notice (built by keyword, so
    old and new, or subject and reason, cannot swap unnoticed)."""

    rule: Rule
    """Stable rule ID; see `mlfcheck explain D101`."""
    section: str
    """The comparator that found it (its section name)."""
    module: str
    """The module it belongs to; '' for the archive as a whole."""
    subject: str
    """What changed, e.g. "input 'x'" or 'function tvmgen_default_fused_add'."""
    old: Value | None
    """The old value; None when the thing is new."""
    new: Value | None
    """The new value; None when the thing is gone."""
    reason: str
    """Why it matters, in plain language (no figures: those are in the typed fields)."""
    details: tuple[str, ...] = ()
    """Supporting lines: a capped unified diff excerpt, differing JSON Pointers."""
    values: ValueDiff | None = None
    """For value changes (D505, D411): how many elements differ and by how much."""
    threshold: str | None = None
    """The growth threshold the change was judged against, as configured ('5%')."""
    level: Level | None = None
    """The level in force after configuration; None means the rule's default."""
    allowed_by: str | None = None
    """The reason of the allow-list entry that accepts this change, if one does."""

    @property
    def effective_level(self) -> Level:
        """The level in force."""
        return self.level if self.level is not None else self.rule.level

    @property
    def delta(self) -> int | None:
        """new - old for sizes and counts on both sides, else None."""
        a, b = self.old, self.new
        if isinstance(a, Size) and isinstance(b, Size):
            return b.bytes - a.bytes
        if isinstance(a, Count) and isinstance(b, Count):
            return b.n - a.n
        return None

    @property
    def percent(self) -> float | None:
        """The delta relative to a non-zero old size, in percent."""
        d = self.delta
        old = self.old.bytes if isinstance(self.old, Size) else (
            self.old.n if isinstance(self.old, Count) else 0)
        return None if d is None or not old else d * 100 / old

    def sort_key(self, rank: Mapping[str, int]) -> tuple[str, int, str, str, str, str]:
        """Report order: module, section (by `rank`, the comparator order), subject, rule,
        values."""
        return (self.module, rank[self.section], self.subject, self.rule.name,
                repr(self.old), repr(self.new))


@dataclass(frozen=True)
class SizeRow:
    """One symbol's footprint on both sides: source bytes and, for data, storage bytes."""

    module: str
    kind: str
    """'function' or 'data'."""
    name: str
    old_source: int | None
    new_source: int | None
    old_storage: int | None = None
    new_storage: int | None = None

    @property
    def delta(self) -> int:
        """Change in bytes: storage when known on either side, else source."""
        if self.old_storage is not None or self.new_storage is not None:
            return (self.new_storage or 0) - (self.old_storage or 0)
        return (self.new_source or 0) - (self.old_source or 0)


@dataclass(frozen=True)
class Metric:
    """An archive-wide total for the headline: 'code', 'constants' or 'workspace' bytes."""

    name: str
    old: int
    new: int


@dataclass(frozen=True, kw_only=True)
class Note:
    """A difference that is not a change (ordering only, a volatile field) or a skipped check."""

    section: str
    module: str
    kind: str
    """'ordering', 'volatile', 'skipped' (could not be compared), 'undescribed' (this
    version does not describe it) or 'naming' (how the report tells symbols apart)."""
    text: str

    def sort_key(self, rank: Mapping[str, int]) -> tuple[str, int, str]:
        """Report order: module, section (by `rank`, the comparator order), text."""
        return (self.module, rank[self.section], self.text)


@dataclass(frozen=True)
class SymbolDelta:
    """With `--board`: one symbol's flash and RAM in each archive (0 where it is absent)."""

    name: str
    kind: str
    old_flash: int
    new_flash: int
    old_ram: int
    new_ram: int


@dataclass(frozen=True)
class BoardDiff:
    """With `--board`: both archives sized for one board, totals and every symbol that
    differs."""

    board: Board
    old_flash: int
    new_flash: int
    old_ram: int
    new_ram: int
    symbols: tuple[SymbolDelta, ...]
    """Symbols whose flash or RAM differ, largest change first."""


@dataclass(frozen=True)
class Side:
    """One of the two archives compared, and how its validation went."""

    path: str
    """The path as given."""
    version: int | None
    """The declared MLF version; None when the metadata declares no known one."""
    errors: tuple[Finding, ...]
    """Validation errors (the archive was compared as far as its metadata allows)."""


@dataclass(frozen=True)
class ConfigProblem:
    """An allow-list entry that is expired or matched nothing."""

    kind: str
    """'expired' or 'unused'."""
    entry: str
    """The entry, described as rule, module, subject and expiry."""
    reason: str
    """The entry's own reason."""


@dataclass(frozen=True)
class ConfigOverrides:
    """What the configuration in force changes from the defaults; reports print it beside its
    file, so that a relaxed gate shows."""

    no_config: bool = False
    """True with --no-config: no file was looked for."""
    levels: tuple[tuple[Rule, Level], ...] = ()
    """(rule, level in force) for each rule set to a level other than its default."""
    thresholds: tuple[tuple[str, str, str], ...] = ()
    """(metric, default, in force) for each growth threshold other than its default."""
    allow: tuple[tuple[str, str], ...] = ()
    """(entry, reason) of each allow-list entry, the entry described as in ConfigProblem."""


NOT_ASKED = "the compiler: not asked for (--no-build)"
"""Why the build layer did not judge a diff made without a builder."""


@dataclass(frozen=True)
class Layers:
    """What judged a diff: the source reader always; the host compiler (name and version)
    when it built both archives; abidiff (name and version) when it compared their shared
    objects; and why a layer did not judge."""

    compiler: str | None = None
    abi: str | None = None
    not_run: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiffResult:
    """Everything one comparison found, sorted; reporters render it, the CLI judges it."""

    old: Side
    new: Side
    changes: tuple[Change, ...]
    notes: tuple[Note, ...]
    compared: tuple[str, ...]
    """Sections that ran (a section without a change is reported as unchanged)."""
    thresholds: tuple[tuple[str, str], ...]
    """(metric, threshold as text) in force."""
    config_source: str | None
    config_problems: tuple[ConfigProblem, ...]
    config_overrides: ConfigOverrides
    """What the configuration changes from the defaults, and whether --no-config was given."""
    consumer: str | None = None
    """With `--consumer`: the profile whose reads decide what is breaking."""
    board: BoardDiff | None = None
    """With `--board`: both archives sized for that board, symbol by symbol."""
    sizes: tuple[SizeRow, ...] = ()
    """Per-symbol footprints of symbols that differ, largest |delta| first."""
    metrics: tuple[Metric, ...] = ()
    """Archive-wide totals for the headline."""
    layers: Layers = Layers(not_run=(NOT_ASKED,))
    """Which layers judged: the reader, the compiler, abidiff."""

    @property
    def invalid(self) -> bool:
        """True when either archive has validation errors (the gate fails unless allowed)."""
        return bool(self.old.errors or self.new.errors)

    @property
    def active(self) -> tuple[Change, ...]:
        """Changes not accepted by the allow-list."""
        return tuple(c for c in self.changes if c.allowed_by is None)

    def count(self, level: Level) -> int:
        """Active changes at exactly this level."""
        return sum(c.effective_level == level for c in self.active)

    def fails(self, threshold: Level | None) -> bool:
        """True when an active change is at or above `threshold` (None: never)."""
        return threshold is not None and any(c.effective_level >= threshold
                                             for c in self.active)

    @property
    def unchanged(self) -> tuple[str, ...]:
        """Compared sections with no change and nothing skipped, in report order."""
        touched = {c.section for c in self.changes}
        touched |= {n.section for n in self.notes if n.kind in ("skipped", "undescribed")}
        return tuple(s for s in self.compared if s not in touched)

    @property
    def not_compared(self) -> tuple[Note, ...]:
        """Notes about what was skipped or is not described by a side's version."""
        return tuple(n for n in self.notes if n.kind in ("skipped", "undescribed"))

    def tree(self) -> dict[str, dict[str, list[Change]]]:
        """Changes grouped by module, then by section, both in report order."""
        out: dict[str, dict[str, list[Change]]] = {}
        for c in self.changes:
            out.setdefault(c.module, {}).setdefault(c.section, []).append(c)
        return out
