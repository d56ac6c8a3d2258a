"""Semantic diff of two MLF archives: validate both, run the comparators (or, when a side's
metadata is unusable, say so and judge that), apply the config."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from mlfcheck.diff.building import build_layer
from mlfcheck.diff.config import BOARD_THRESHOLDS, DiffConfig
from mlfcheck.diff.normalise import Snapshot, code_bytes
from mlfcheck.diff.result import (
    BoardDiff,
    Change,
    ConfigProblem,
    DiffResult,
    Metric,
    Note,
    Side,
    SizeRow,
)
from mlfcheck.diff.rules import FAIL_ON, Level, Rule
from mlfcheck.diff.sections import layout, metadata
from mlfcheck.diff.sections.codegen.abi import MEMO as abi_memo
from mlfcheck.diff.sections.common import Pair
from mlfcheck.diff.table import COMPARATORS
from mlfcheck.findings import Severity
from mlfcheck.reading.archive import Archive, Limits
from mlfcheck.reading.csource import CParser
from mlfcheck.reading.loaded import Loaded
from mlfcheck.reading.model import Model
from mlfcheck.validate import Report, validate_loaded

if TYPE_CHECKING:  # --board and --consumer load their modules when given
    from mlfcheck.board.archivebuild import Builder
    from mlfcheck.board.boards import Board
    from mlfcheck.consumers import Profile, Verdict

RANK = {c.section: i for i, c in enumerate(COMPARATORS)}
"""Report order of the sections: the order of the comparators, most specific first."""

__all__ = ["FAIL_ON", "DiffConfig", "DiffResult", "Level", "Rule", "diff_archives",
           "diff_loaded"]


def diff_archives(old: str | os.PathLike[str], new: str | os.PathLike[str], *,
                  config: DiffConfig | None = None, include_volatile: bool = False,
                  limits: Limits | None = None, today: dt.date | None = None,
                  consumer: Profile | None = None, board: Board | None = None,
                  parser: CParser | None = None, builder: Builder | None = None) -> DiffResult:
    """Compare two archives of any versions.

    With `consumer`, a change is breaking exactly when it breaks that consumer's reads (D901);
    every other change is capped at warning. With `board`, both archives' C is compiled for it
    and sized per symbol (D211-D214). Both sides' C is read by one `parser` (default: a new
    one), so what they have in common is parsed once. With `builder`, both archives' C is
    built on the host (a file the same on both sides once): a new archive whose C no longer
    builds is breaking (D417), and abidiff's report on the two shared objects joins the codegen
    section.

    Raises ArchiveError when an input cannot be read. An archive whose metadata does not read
    into a model is a result, not an error: nothing is compared, its validation errors are
    listed, and a new archive that became unusable is a breaking change (D114); archives with
    other validation errors are compared as far as their metadata allows.
    """
    shared = parser if parser is not None else CParser()
    with Archive(old, limits=limits) as a, Archive(new, limits=limits) as b:
        return diff_loaded(Loaded(a, digest_params=True, parser=shared, builder=builder),
                           Loaded(b, digest_params=True, parser=shared, builder=builder),
                           labels=(str(old), str(new)), config=config,
                           include_volatile=include_volatile, today=today, consumer=consumer,
                           board=board)


def diff_loaded(old: Loaded, new: Loaded, *, labels: tuple[str, str] | None = None,
                reports: tuple[Report, Report] | None = None, config: DiffConfig | None = None,
                include_volatile: bool = False, today: dt.date | None = None,
                consumer: Profile | None = None, board: Board | None = None) -> DiffResult:
    """Compare two loaded archives (loaded with `digest_params=True`); `reports` are their
    validation reports when the caller has them already, `labels` name them (default: paths)."""
    config = config or DiffConfig()
    if reports is None:
        reports = (validate_loaded(old), validate_loaded(new))
    names = labels or (old.archive.path, new.archive.path)
    usable = isinstance(old.model, Model) and isinstance(new.model, Model)
    layers, abi, built = build_layer(old, new, reports)
    if usable:
        pair = Pair(Snapshot(names[0], old), Snapshot(names[1], new), config.thresholds)
        pair.memo[abi_memo] = abi
        changes, notes, sizes = _compare(pair, include_volatile=include_volatile)
        changes += built
        metrics, compared = _metrics(pair.old, pair.new), tuple(c.section for c in COMPARATORS)
    else:  # nothing to compare: say why, and judge a new archive that became unusable (D114)
        found = list(metadata.unusable(old, new))
        changes = [c for c in found if isinstance(c, Change)]
        notes = [n for n in found if isinstance(n, Note)]
        sizes, metrics, compared = [], (), ()
    sized: BoardDiff | None = None
    thresholds = dict(config.thresholds)
    if board is not None and usable:
        from mlfcheck.diff.board import compare_on_board

        sized, on_board = compare_on_board(old.archive.path, new.archive.path, board,
                                           config.thresholds)
        changes += [c for c in on_board if isinstance(c, Change)]
        notes += [n for n in on_board if isinstance(n, Note)]
        thresholds = {**BOARD_THRESHOLDS, **thresholds}
    if consumer is not None:
        changes, notes = _for_consumer(consumer, old, new, changes, notes)
    sides = (_side(names[0], old, reports[0]), _side(names[1], new, reports[1]))
    judged, problems = _apply(config, changes, today or dt.date.today())
    if consumer is not None:  # breaking means: breaks this consumer, and only D901 says that
        judged = [c if c.rule is Rule.D901 or c.effective_level < Level.BREAKING
                  else replace(c, level=Level.WARNING) for c in judged]
    return DiffResult(
        old=sides[0], new=sides[1],
        changes=tuple(sorted(judged, key=lambda c: c.sort_key(RANK))),
        notes=tuple(sorted(notes, key=lambda n: n.sort_key(RANK))),
        compared=compared,
        thresholds=tuple((k, str(v)) for k, v in sorted(thresholds.items())),
        config_source=config.source,
        config_problems=problems, config_overrides=config.overrides(),
        consumer=consumer.name if consumer is not None else None, board=sized,
        sizes=tuple(sorted(sizes, key=lambda r: (-abs(r.delta), r.module, r.kind, r.name))),
        metrics=metrics, layers=layers)


def _compare(pair: Pair, *,
             include_volatile: bool) -> tuple[list[Change], list[Note], list[SizeRow]]:
    """Every comparator's changes, notes and size rows; a volatile change is a note unless
    `include_volatile`."""
    changes: list[Change] = []
    notes: list[Note] = []
    sizes: list[SizeRow] = []
    for comparator in COMPARATORS:
        for item in comparator.fn(pair):
            if isinstance(item, Note):
                notes.append(item)
            elif isinstance(item, SizeRow):
                sizes.append(item)
            elif item.rule.volatile and not include_volatile:
                notes.append(Note(section=item.section, module=item.module, kind="volatile",
                                  text=f"{item.subject} differs (volatile, ignored; "
                                  "--include-volatile shows it)"))
            else:
                changes.append(item)
    return changes, notes, sizes


def _for_consumer(consumer: Profile, old: Loaded, new: Loaded, changes: list[Change],
                  notes: list[Note]) -> tuple[list[Change], list[Note]]:
    """`changes` and `notes` with the consumer's broken reads (D901) and, when it cannot read
    the old archive either, a note saying so."""
    from mlfcheck.consumers import evaluate

    old_verdict = evaluate(consumer, old)
    if old_verdict.readable:
        return changes + _consumer_changes(old_verdict, new), notes
    return changes, [*notes, metadata.note(
        module="", kind="skipped", text=f"consumer {consumer.name} cannot read the old archive "
        "either; nothing of it can break")]


def _consumer_changes(old: Verdict, new: Loaded) -> list[Change]:
    """One D901 change per read of the consumer that works on the old archive, fails on the new."""
    from mlfcheck.consumers import broken_by

    consumer = old.profile
    out = []
    for f in broken_by(old, new):
        why = f"the consumer {f.why}" + (f"; {f.error}" if f.error else "")
        section = metadata.SECTION if f.member == "metadata.json" else layout.SECTION
        out.append(Change(rule=Rule.D901, section=section, module=f.module or "",
                          subject=f"{consumer.name}: {f.read}", old="read succeeds",
                          new=f.message, reason=why,
                          details=(f.location(),) if f.location() else ()))
    return out


def _side(label: str, ctx: Loaded, report: Report) -> Side:
    errors = tuple(f for f in report.findings if f.level == Severity.ERROR)
    return Side(label, ctx.version if isinstance(ctx.version, int) else None, errors)


def _metrics(old: Snapshot, new: Snapshot) -> tuple[Metric, ...]:
    """Archive-wide bytes of code (as D406 counts them: no comments, no layout), constants and
    workspace, for the headline."""
    sizes: dict[bytes, int] = {}

    def totals(s: Snapshot) -> tuple[int, int, int]:
        code = sum(code_bytes(s.code(m).functions.values(), sizes) for m in s.model.modules)
        constants = sum(e.constants_size_bytes for m in s.model.modules for e in m.main)
        workspace = sum(e.workspace_size_bytes for m in s.model.modules for e in m.main)
        return code, constants, workspace
    a, b = totals(old), totals(new)
    return tuple(Metric(name, x, y) for name, x, y in zip(
        ("code", "constants", "workspace"), a, b, strict=True))


def _apply(config: DiffConfig, changes: list[Change],
           today: dt.date) -> tuple[list[Change], tuple[ConfigProblem, ...]]:
    """Set each change's level in force and allow-list entry; report expired/unused entries."""
    live = [e for e in config.allow if e.expires is None or e.expires >= today]
    used: set[int] = set()
    out = []
    for change in changes:
        entry = next((i for i, e in enumerate(live) if e.matches(change)), None)
        if entry is not None:
            used.add(entry)
        out.append(replace(change, level=config.level_of(change.rule),
                           allowed_by=live[entry].reason if entry is not None else None))
    problems = [ConfigProblem("expired", e.describe(), e.reason) for e in config.allow
                if e not in live]
    problems += [ConfigProblem("unused", e.describe(), e.reason)
                 for i, e in enumerate(live) if i not in used]
    return out, tuple(sorted(problems, key=lambda p: (p.kind, p.entry, p.reason)))
