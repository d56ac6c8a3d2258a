"""The records a diff produces: changes, ordering-only notes, both sides, and the result tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlfcheck.diff.rules import Level, Rule

if TYPE_CHECKING:
    from mlfcheck.diff.board import BoardDiff

SECTIONS = ("metadata", "layout", "memory", "io", "codegen", "parameters", "graph", "ir",
            "members")
"""Comparator sections in report order, most specific first."""

SECTION_TITLES = {
    "metadata": "metadata", "layout": "layout", "memory": "memory", "io": "inputs/outputs",
    "codegen": "codegen", "parameters": "parameters", "graph": "graph config", "ir": "IR text",
    "members": "other members",
}


@dataclass(frozen=True)
class Change:
    """One difference between the archives that a consumer could notice."""

    rule: Rule
    """Stable rule ID; see `mlfcheck explain D101`."""
    section: str
    """The comparator that found it (one of SECTIONS)."""
    module: str
    """The module it belongs to; '' for the archive as a whole."""
    subject: str
    """What changed, e.g. "input 'x'" or 'function tvmgen_default_fused_add'."""
    old: str | None
    """The old value as shown to people; None when the thing is new."""
    new: str | None
    """The new value as shown to people; None when the thing is gone."""
    reason: str
    """Why it matters, in plain language."""
    details: tuple[str, ...] = ()
    """Supporting lines: a short unified diff, differing JSON Pointers, digests."""
    level: Level | None = None
    """The level in force after configuration; None means the rule's default."""
    allowed_by: str | None = None
    """The reason of the allow-list entry that accepts this change, if one does."""

    @property
    def effective_level(self) -> Level:
        """The level in force."""
        return self.level if self.level is not None else self.rule.level

    def sort_key(self) -> tuple[str, int, str, str, str, str]:
        """Report order: module, section, subject, rule, values."""
        return (self.module, SECTIONS.index(self.section), self.subject, self.rule.name,
                self.old or "", self.new or "")


@dataclass(frozen=True)
class Note:
    """A difference that is not a change (ordering only, a volatile field) or a skipped check."""

    section: str
    module: str
    kind: str
    """'ordering', 'volatile' or 'skipped'."""
    text: str

    def sort_key(self) -> tuple[str, int, str]:
        """Report order: module, section, text."""
        return (self.module, SECTIONS.index(self.section), self.text)


@dataclass(frozen=True)
class Side:
    """One of the two archives compared, and how its validation went."""

    path: str
    """The path as given."""
    version: int
    """The declared MLF version."""
    errors: int
    """Validation errors; the archive was compared anyway because its metadata is usable."""
    first_error: str | None
    """'location: message' of the first validation error."""


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
    consumer: str | None = None
    """With `--consumer`: the profile whose reads decide what is breaking."""
    board: BoardDiff | None = None
    """With `--board`: both archives sized for that board, symbol by symbol."""

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
        """Compared sections with no change at all, in report order."""
        touched = {c.section for c in self.changes}
        return tuple(s for s in self.compared if s not in touched)

    def tree(self) -> dict[str, dict[str, list[Change]]]:
        """Changes grouped by module, then by section, both in report order."""
        out: dict[str, dict[str, list[Change]]] = {}
        for c in self.changes:
            out.setdefault(c.module, {}).setdefault(c.section, []).append(c)
        return out
