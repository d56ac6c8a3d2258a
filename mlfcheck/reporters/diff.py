"""Renderers for diff results: text, json, markdown (all deterministic strings)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlfcheck.diff.result import SECTION_TITLES, Change, DiffResult, Side
from mlfcheck.diff.rules import Level
from mlfcheck.reporters.present import (
    html_text,
    json_text,
    md_code,
    md_fence,
    md_text,
    report_header,
    text_lines,
)

LEVELS = (Level.BREAKING, Level.WARNING, Level.INFO)


def _side(side: Side) -> str:
    return f"{side.path} (MLF v{side.version})"


def summary_line(result: DiffResult) -> str:
    """'3 changes: 0 breaking, 0 warning, 3 info' or 'no changes', plus allowed and notes."""
    active = result.active
    if active:
        counts = ", ".join(f"{result.count(level)} {level}" for level in LEVELS)
        text = f"{len(active)} change{'s' if len(active) != 1 else ''}: {counts}"
    else:
        text = "no changes"
    allowed = len(result.changes) - len(active)
    if allowed:
        text += f" ({allowed} more allowed by the config)"
    if not result.changes and result.notes:
        text += "; only ordering or volatile differences (see notes)"
    return text


def _values(c: Change) -> str:
    if c.old is None:
        return f"added ({c.new})"
    if c.new is None:
        return f"removed (was {c.old})"
    return f"{c.old} → {c.new}"


def _warnings(result: DiffResult) -> list[str]:
    lines = []
    for name, side in (("old", result.old), ("new", result.new)):
        if side.errors:
            lines.append(f"warning: the {name} archive has {side.errors} validation error"
                         f"{'s' if side.errors != 1 else ''} (first: {side.first_error}); "
                         "compared anyway because its metadata is usable")
    for p in result.config_problems:
        lines.append(f"config: {p.kind} allow-list entry {p.entry} ({p.reason})")
    return lines


def _unchanged(result: DiffResult) -> str:
    reordered = {n.section for n in result.notes if n.kind == "ordering"}
    return ", ".join(SECTION_TITLES[s] + (" (ordering only)" if s in reordered else "")
                     for s in result.unchanged)


def _board_rows(result: DiffResult) -> list[list[str]]:
    """Header, totals, then each symbol that differs: flash and RAM old, new and the delta."""
    sized = result.board
    assert sized is not None
    rows = [["symbol", "kind", "flash old", "flash new", "Δ flash", "RAM old", "RAM new",
             "Δ RAM"],
            ["(the archive's own symbols)", "total", *_sizes(sized.old_flash, sized.new_flash),
             *_sizes(sized.old_ram, sized.new_ram)]]
    rows += [[s.name, s.kind, *_sizes(s.old_flash, s.new_flash), *_sizes(s.old_ram, s.new_ram)]
             for s in sized.symbols]
    return rows


def _sizes(old: int, new: int) -> list[str]:
    return [str(old), str(new), f"{new - old:+d}"]


def _board_heading(result: DiffResult) -> str:
    assert result.board is not None
    b = result.board.board
    return (f"on {b.name} ({b.description}), compiled with -Os as mlfcheck size does: "
            f"{len(result.board.symbols)} symbol{'s' if len(result.board.symbols) != 1 else ''}"
            " differ")


def render_text(result: DiffResult) -> str:
    """A header, the summary, changes grouped by module, notes, and what did not change."""
    lines = [f"mlfcheck diff: {_side(result.old)} → {_side(result.new)}",
             summary_line(result), *_warnings(result)]
    if result.consumer:
        lines.append(f"judged for consumer {result.consumer}: breaking means its reads fail "
                     "(D901); other changes are at most warnings")
    for module, sections in result.tree().items():
        lines += ["", f"module {module}" if module else "archive"]
        for changes in sections.values():
            for c in changes:
                level = f"{c.effective_level}" + (" (allowed)" if c.allowed_by else "")
                lines.append(f"  {level:<9} {c.rule.name}  {c.subject}: {_values(c)}")
                lines.append(f"  {'':<9} {'':<5} {c.reason}"
                             + (f"; allowed: {c.allowed_by}" if c.allowed_by else ""))
                lines += [f"  {'':<9} {'':<5}   {d}" for d in c.details]
    if result.board is not None:
        rows = _board_rows(result)
        width = max(len(r[0]) for r in rows)
        lines += ["", _board_heading(result)]
        lines += [f"  {r[0]:<{width}}  {r[1]:<9}" + "".join(f"{c:>10}" for c in r[2:])
                  for r in rows]
    if result.notes:
        lines += ["", "notes"]
        lines += [f"  {n.module or 'archive'}: {SECTION_TITLES[n.section]}: {n.text}"
                  for n in result.notes]
    if result.unchanged:
        lines += ["", f"unchanged: {_unchanged(result)}"]
    return text_lines(lines)


def _change_json(c: Change) -> dict[str, Any]:
    return {"rule": c.rule.name, "title": c.rule.title, "level": str(c.effective_level),
            "default_level": str(c.rule.level), "section": c.section, "module": c.module,
            "subject": c.subject, "old": c.old, "new": c.new, "reason": c.reason,
            "details": list(c.details), "allowed_by": c.allowed_by}


def diff_json(result: DiffResult) -> dict[str, Any]:
    """The diff as a document of schemas/diff-report.schema.json."""
    def side(s: Side) -> dict[str, Any]:
        return {"path": s.path, "version": s.version, "validation_errors": s.errors,
                "first_error": s.first_error}

    worst = max((c.effective_level for c in result.active), default=None)
    board = {} if result.board is None else {"board": {
        "name": result.board.board.name,
        "totals": {"old_flash": result.board.old_flash, "new_flash": result.board.new_flash,
                   "old_ram": result.board.old_ram, "new_ram": result.board.new_ram},
        "symbols": [{"name": s.name, "kind": s.kind, "old_flash": s.old_flash,
                     "new_flash": s.new_flash, "old_ram": s.old_ram, "new_ram": s.new_ram}
                    for s in result.board.symbols]}}
    return {**board, **report_header("diff"),
        "old": side(result.old), "new": side(result.new),
        "summary": {**{str(level): result.count(level) for level in LEVELS},
                    "allowed": len(result.changes) - len(result.active),
                    "worst": None if worst is None else str(worst)},
        "changes": [_change_json(c) for c in result.changes],
        "notes": [{"section": n.section, "module": n.module, "kind": n.kind, "text": n.text}
                  for n in result.notes],
        "unchanged": list(result.unchanged),
        "thresholds": dict(result.thresholds),
        "consumer": result.consumer,
        "config": {"source": result.config_source,
                   "problems": [{"kind": p.kind, "entry": p.entry, "reason": p.reason}
                                for p in result.config_problems]},
    }


def render_json(result: DiffResult) -> str:
    """The diff format (schemas/diff-report.schema.json)."""
    return json_text(diff_json(result))


def _cell(text: str | None) -> str:
    return "—" if text is None else md_text(text)


def render_markdown(result: DiffResult) -> str:
    """For a PR comment: one summary line, a table per module, collapsible details."""
    lines = [f"**mlfcheck diff**: {summary_line(result)} — {md_code(result.old.path)} "
             f"(v{result.old.version}) → {md_code(result.new.path)} (v{result.new.version})"]
    lines += [f"> {md_text(w)}" for w in _warnings(result)]
    for module, sections in result.tree().items():
        lines += ["", f"#### module {md_code(module)}" if module else "#### archive", "",
                  "| level | rule | subject | old | new | reason |",
                  "|---|---|---|---|---|---|"]
        detailed: list[Change] = []
        for changes in sections.values():
            for c in changes:
                level = f"{c.effective_level}" + (" (allowed)" if c.allowed_by else "")
                lines.append(f"| {level} | {c.rule.name} | {_cell(c.subject)} | {_cell(c.old)} "
                             f"| {_cell(c.new)} | {_cell(c.reason)} |")
                if c.details:
                    detailed.append(c)
        for c in detailed:
            lines += ["", f"<details><summary>{c.rule.name} {html_text(c.subject)}</summary>",
                      "", *md_fence(c.details, "diff"), "", "</details>"]
    if result.board is not None:
        rows = _board_rows(result)
        lines += ["", f"#### {_cell(_board_heading(result))}", "",
                  "| " + " | ".join(rows[0]) + " |", "|---|---|" + "---:|" * 6]
        lines += ["| " + " | ".join([md_code(r[0], table=True), *r[1:]]) + " |"
                  for r in rows[1:]]
    if result.notes:
        lines += ["", f"<details><summary>notes ({len(result.notes)})</summary>", ""]
        lines += [f"- {md_text(n.module or 'archive')}: {SECTION_TITLES[n.section]}: "
                  f"{md_text(n.text)}" for n in result.notes]
        lines += ["", "</details>"]
    if result.unchanged:
        lines += ["", f"Unchanged: {_unchanged(result)}."]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[DiffResult], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown,
}
