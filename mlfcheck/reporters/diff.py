"""Renderers for diff results: text, json, markdown (all deterministic strings).

Human formats lead with a headline, then breaking changes, warnings and info; bulk changes of one
rule are rolled up, every value and excerpt line is cut to MAX_LINE characters, and Markdown
stays under MARKDOWN_BUDGET characters. JSON is complete: every change with its typed values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlfcheck.diff.result import (
    SECTION_TITLES,
    Change,
    ConfigOverrides,
    Count,
    DiffResult,
    Note,
    Side,
    Size,
    SizeRow,
    Symbol,
    TensorType,
    Value,
)
from mlfcheck.diff.rules import Level
from mlfcheck.reporters import judged
from mlfcheck.reporters.present import (
    byte_count,
    html_text,
    json_text,
    md_code,
    md_fence,
    md_text,
    report_header,
    text_lines,
)

FORMAT_VERSION = 2
LEVELS = (Level.BREAKING, Level.WARNING, Level.INFO)
MAX_LINE = 200
"""Longest value or excerpt line printed; the rest is counted as `…(+N chars)`."""
ROLLUP = 6
"""More changes than this of one rule in one module are rolled up into one line."""
SIZE_ROWS = 10
"""Rows of the size table shown unless the full table is asked for (--sizes)."""
MARKDOWN_BUDGET = 60_000
"""A GitHub PR comment holds 65,536 characters; Markdown reports stay under this."""
MAX_ERRORS = 5
"""Validation errors listed per archive."""
MAX_OVERRIDES = 20
"""Configuration overrides listed in a human report (JSON lists all)."""


@dataclass(frozen=True)
class Options:
    """How much a human report shows."""

    sizes: bool = False
    """The full size table instead of its largest rows."""
    max_bytes: int | None = None
    """Cut the text report at this many bytes (a note says so)."""


# -- values ---------------------------------------------------------------------------------------


def clip(text: str, width: int = MAX_LINE) -> str:
    """`text` on one line, cut to `width` characters with the rest counted."""
    one = text.replace("\r", "\\r").replace("\n", "\\n")
    return one if len(one) <= width else f"{one[:width]}…(+{len(one) - width} chars)"


def _kb(n: int) -> str:
    sign = "+" if n > 0 else "-" if n < 0 else "±"
    size = abs(n)
    if size < 10_000:
        return f"{sign}{size:,} B"
    if size < 10_000_000:
        return f"{sign}{size / 1000:.0f} KB"
    return f"{sign}{size / 1e6:.1f} MB"


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def value(v: Value | None) -> str:
    """One typed value for people."""
    if v is None:
        return "—"
    if isinstance(v, Size):
        return byte_count(v.bytes)
    if isinstance(v, Count):
        return _plural(v.n, v.noun)
    if isinstance(v, TensorType):
        shape = f" {list(v.shape)}" if v.shape is not None else ""
        size = f", {byte_count(v.size)}" if v.size is not None else ""
        return f"{v.dtype}{shape}{size}"
    if isinstance(v, Symbol):
        return clip(_symbol(v), 120)
    if isinstance(v, int):
        return f"{v:,}"
    return clip(v, 120)


def _symbol(v: Symbol) -> str:
    """A function's signature (it names the function), else 'name: type', else the name."""
    if v.signature and v.name in v.signature:
        return v.signature
    return f"{v.name}: {v.signature}" if v.signature else v.name


def _full(v: Value | None) -> str:
    """A str or Symbol value uncut (the others are never long)."""
    if isinstance(v, Symbol):
        return _symbol(v)
    return v if isinstance(v, str) else value(v)


def _around_difference(a: str, b: str, width: int = 120) -> tuple[str, str]:
    """Both texts cut to `width` characters from a little before their first difference."""
    n = min(len(a), len(b))
    first = next((i for i in range(n) if a[i] != b[i]), n)
    start = max(0, first - width // 3)
    lead = "…" if start else ""
    return lead + clip(a[start:], width), lead + clip(b[start:], width)


def _values(c: Change) -> str:
    if c.old is None:
        return f"added ({value(c.new)})"
    if c.new is None:
        return f"removed (was {value(c.old)})"
    old, new = value(c.old), value(c.new)
    if old.endswith(" chars)") or new.endswith(" chars)"):  # cut: show where they differ
        old, new = _around_difference(_full(c.old), _full(c.new))
    text = f"{old} → {new}"
    if c.delta:
        pct = f", {c.percent:+.1f} %" if c.percent is not None else ""
        text += f" ({_kb(c.delta) if isinstance(c.old, Size) else f'{c.delta:+,}'}{pct})"
    return text


def _reason(c: Change) -> str:
    parts = [c.reason]
    if c.values is not None:
        biggest = (f", max abs difference {c.values.max_abs:g}" if c.values.max_abs is not None
                   else ", only NaN values differ")
        parts.append(f"{c.values.changed:,} of {c.values.total:,} values differ{biggest}")
    if c.threshold is not None and c.delta and c.delta > 0:
        parts.append(f"threshold {c.threshold}")
    if c.allowed_by:
        parts.append(f"allowed: {c.allowed_by}")
    return "; ".join(parts)


# -- what a human report is made of ---------------------------------------------------------------


def headline(result: DiffResult) -> str:
    """'3 breaking · 1 warning · code +107 KB (+543 %) · constants +77 KB', or 'no changes'."""
    active = result.active
    parts = [f"{result.count(level)} {level}" for level in LEVELS if result.count(level)]
    if not active:
        parts = ["no changes"]
    for m in result.metrics:
        if m.new != m.old:
            pct = f" ({(m.new - m.old) * 100 / m.old:+.0f} %)" if m.old else ""
            parts.append(f"{m.name} {_kb(m.new - m.old)}{pct}")
    allowed = len(result.changes) - len(active)
    if allowed:
        parts.append(f"{allowed} allowed by the config")
    if result.invalid:
        parts.append("INVALID input")
    text = " · ".join(parts)
    if not result.changes and _notes(result):
        text += "; only ordering or volatile differences (see notes)"
    return text


def _side(side: Side) -> str:
    return f"{side.path} ({_version(side)})"


def _version(side: Side, prefix: str = "MLF ") -> str:
    return f"{prefix}v{side.version}" if side.version is not None else \
        f"{prefix}version unknown"


def _problems(result: DiffResult) -> list[str]:
    lines = []
    for name, side in (("old", result.old), ("new", result.new)):
        if side.errors:
            lines.append(f"the {name} archive has {_plural(len(side.errors), 'validation error')}"
                         "; the gate fails unless --allow-invalid:")
            lines += [f"  {clip(f'{e.location()}: {e.code.name} {e.message}')}"
                      for e in side.errors[:MAX_ERRORS]]
            if len(side.errors) > MAX_ERRORS:
                lines.append(f"  … {len(side.errors) - MAX_ERRORS} more")
    for n in result.not_compared:
        lines.append(f"not compared: {n.module or 'archive'}: {SECTION_TITLES[n.section]}: "
                     f"{clip(n.text)}")
    for p in result.config_problems:
        lines.append(f"config: {p.kind} allow-list entry {clip(p.entry)} ({clip(p.reason)})")
    if result.consumer:
        lines.append(f"judged for consumer {result.consumer}: breaking means its reads fail "
                     "(D901); other changes are at most warnings")
    return lines


def config_heading(source: str | None, overrides: ConfigOverrides) -> tuple[str, str]:
    """(which configuration, what it overrides): ('/ci/base.toml', 'overrides 1 level'),
    ('no file', 'defaults') or ('--no-config', ...)."""
    where = source or ("--no-config" if overrides.no_config else "no file")
    counts = [f"{n:,} {one if n == 1 else many}" for n, one, many in (
        (len(overrides.levels), "level", "levels"),
        (len(overrides.thresholds), "threshold", "thresholds"),
        (len(overrides.allow), "allow-list entry", "allow-list entries")) if n]
    return where, "overrides " + ", ".join(counts) if counts else "defaults"


def config_overrides(overrides: ConfigOverrides) -> list[str]:
    """One line per override, at most MAX_OVERRIDES: 'level D409: breaking → info',
    'threshold code: 5% → 10%', 'allow D201 module=default: the entry's reason'."""
    lines = [f"level {rule.name}: {rule.level} → {level}" for rule, level in overrides.levels]
    lines += [f"threshold {metric}: {default} → {value}"
              for metric, default, value in overrides.thresholds]
    lines += [f"allow {entry}: {reason}" for entry, reason in overrides.allow]
    if len(lines) > MAX_OVERRIDES:
        lines = [*lines[:MAX_OVERRIDES], f"… {len(lines) - MAX_OVERRIDES} more "
                 "(--format json lists all)"]
    return [clip(line) for line in lines]


def config_json(source: str | None, overrides: ConfigOverrides) -> dict[str, Any]:
    """The configuration file and every override, as the reports' `config` object."""
    return {"source": source, "no_config": overrides.no_config,
            "levels": [{"rule": r.name, "default": str(r.level), "level": str(level)}
                       for r, level in overrides.levels],
            "thresholds": [{"metric": m, "default": d, "value": v}
                           for m, d, v in overrides.thresholds],
            "allow": [{"entry": e, "reason": why} for e, why in overrides.allow]}


def _config_text(result: DiffResult) -> list[str]:
    where, what = config_heading(result.config_source, result.config_overrides)
    return [f"config: {clip(where)} ({what})",
            *(f"  {line}" for line in config_overrides(result.config_overrides))]


@dataclass(frozen=True)
class Entry:
    """One printed item: a single change, or a roll-up of many of one rule."""

    level: Level
    changes: tuple[Change, ...]

    @property
    def first(self) -> Change:
        """The change that stands for the entry."""
        return self.changes[0]

    def title(self) -> str:
        """'D502  parameter default: p0: removed (…)' or '400 × D502 parameter removed …'."""
        c = self.first
        where = f"{c.module}: " if c.module else ""
        if len(self.changes) == 1:
            return f"{c.rule.name}  {where}{clip(c.subject, 120)}: {_values(c)}"
        subjects = [x.subject for x in self.changes]
        common = os.path.commonprefix(subjects)  # noqa: RUF071 - names, not paths
        total = sum(x.new.bytes if isinstance(x.new, Size) else
                    x.old.bytes if isinstance(x.old, Size) else 0 for x in self.changes)
        size = f", {byte_count(total)}" if total else ""
        pattern = f" (`{clip(common, 80)}*`)" if len(common) > 3 else ""
        module = f" in {c.module}" if c.module else ""
        return f"{len(self.changes)} × {c.rule.name} {c.rule.title}{pattern}{size}{module}"


def entries(result: DiffResult, level: Level) -> list[Entry]:
    """The changes at `level`, in report order, bulk ones of one rule and module rolled up."""
    groups: dict[tuple[str, str], list[Change]] = {}
    for c in result.changes:
        if c.effective_level == level:
            groups.setdefault((c.module, c.rule.name), []).append(c)
    out = []
    for c in result.changes:
        if c.effective_level != level:
            continue
        group = groups[(c.module, c.rule.name)]
        if len(group) > ROLLUP:
            if group[0] is c:
                out.append(Entry(level, tuple(group)))
        else:
            out.append(Entry(level, (c,)))
    return out


def _size_rows(result: DiffResult, options: Options) -> tuple[list[SizeRow], int]:
    rows = list(result.sizes)
    shown = rows if options.sizes else rows[:SIZE_ROWS]
    return shown, len(rows) - len(shown)


def _size_table(result: DiffResult, options: Options) -> list[list[str]]:
    """Rows of [kind, symbol, old source, new source, old storage, new storage, delta]."""
    shown, _ = _size_rows(result, options)

    def n(x: int | None) -> str:
        return "—" if x is None else f"{x:,}"
    table = [[r.kind, clip((f"{r.module}: " if r.module else "") + r.name, 80),
              n(r.old_source), n(r.new_source), n(r.old_storage), n(r.new_storage),
              f"{r.delta:+,}"] for r in shown]
    rows = result.sizes
    table.append(["total", _plural(len(rows), "symbol"),
                  n(sum(r.old_source or 0 for r in rows)), n(sum(r.new_source or 0 for r in rows)),
                  n(sum(r.old_storage or 0 for r in rows)),
                  n(sum(r.new_storage or 0 for r in rows)), f"{sum(r.delta for r in rows):+,}"])
    return table


SIZE_HEADER = ["kind", "symbol", "old src B", "new src B", "old data B", "new data B", "delta B"]


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


def _notes(result: DiffResult) -> list[Note]:
    return [n for n in result.notes if n.kind not in ("skipped", "undescribed")]


# -- text -----------------------------------------------------------------------------------------


def render_text(result: DiffResult, options: Options | None = None) -> str:
    """Headline, problems, breaking → warning → info (rolled up), sizes, notes, unchanged."""
    options = options or Options()
    lines = [f"mlfcheck diff: {clip(_side(result.old))} → {clip(_side(result.new))}",
             headline(result), clip(f"judged by: {judged.diff_heading(result.layers)}"),
             *_config_text(result), *_problems(result)]
    for level in LEVELS:
        found = entries(result, level)
        if not found:
            continue
        lines += ["", f"{level} ({_plural(sum(len(e.changes) for e in found), 'change')})"]
        for e in found:
            lines.append(f"  {e.title()}" + (" (allowed)" if e.first.allowed_by else ""))
            if len(e.changes) == 1:
                lines.append(f"        {clip(_reason(e.first))}")
                lines += [f"          {clip(d)}" for d in e.first.details]
            else:
                lines += [f"        {clip(c.subject, 120)}: {_values(c)}"
                          for c in e.changes[:3]]
                lines.append(f"        … {len(e.changes) - 3} more (--format json lists all)")
    if result.sizes:
        hidden = _size_rows(result, options)[1]
        table = _size_table(result, options)
        widths = [max(len(str(r[i])) for r in [SIZE_HEADER, *table]) for i in range(7)]
        lines += ["", "sizes (symbols that differ, largest change first)"]
        for row in [SIZE_HEADER, *table]:
            lines.append("  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                          for i, (c, w) in enumerate(zip(row, widths,
                                                                         strict=True))))
        if hidden:
            lines.append(f"  … {hidden} more rows (--sizes shows all)")
    if result.board is not None:
        rows = _board_rows(result)
        width = max(len(r[0]) for r in rows)
        lines += ["", _board_heading(result)]
        lines += [f"  {clip(r[0]):<{width}}  {r[1]:<9}" + "".join(f"{c:>10}" for c in r[2:])
                  for r in rows]
    notes = _notes(result)
    if notes:
        lines += ["", "notes"]
        lines += [f"  {n.module or 'archive'}: {SECTION_TITLES[n.section]}: {clip(n.text)}"
                  for n in notes]
    if result.unchanged:
        lines += ["", f"unchanged: {_unchanged(result)}"]
    text = text_lines(lines)
    if options.max_bytes is not None and len(text.encode()) > options.max_bytes:
        cut = text.encode()[:options.max_bytes].decode("utf-8", "ignore")
        cut = cut[:cut.rfind("\n") + 1]
        text = cut + f"… report cut at {options.max_bytes:,} bytes (--max-report-bytes); " \
                     "--format json is complete\n"
    return text


# -- json -----------------------------------------------------------------------------------------


def _value_json(v: Value | None) -> Any:
    if v is None or isinstance(v, str | int):
        return v
    if isinstance(v, Size):
        return {"bytes": v.bytes}
    if isinstance(v, Count):
        return {"count": v.n, "of": v.noun}
    if isinstance(v, TensorType):
        return {"dtype": v.dtype, "shape": list(v.shape) if v.shape is not None else None,
                "bytes": v.size}
    return {"symbol": v.kind, "name": v.name, "signature": v.signature}


def _change_json(c: Change) -> dict[str, Any]:
    values = None if c.values is None else {
        "changed": c.values.changed, "total": c.values.total, "max_abs": c.values.max_abs}
    return {"rule": c.rule.name, "title": c.rule.title, "level": str(c.effective_level),
            "default_level": str(c.rule.level), "section": c.section, "module": c.module,
            "subject": c.subject, "old": _value_json(c.old), "new": _value_json(c.new),
            "delta": c.delta, "percent": None if c.percent is None else round(c.percent, 3),
            "values": values, "threshold": c.threshold, "reason": c.reason,
            "details": list(c.details), "allowed_by": c.allowed_by}


def diff_json(result: DiffResult) -> dict[str, Any]:
    """The diff as a document of schemas/diff-report.schema.json (complete, never cut)."""
    def side(s: Side) -> dict[str, Any]:
        return {"path": s.path, "version": s.version, "validation_errors": len(s.errors),
                "errors": [{"code": e.code.name, "location": e.location(), "message": e.message}
                           for e in s.errors]}

    worst = max((c.effective_level for c in result.active), default=None)
    board = {} if result.board is None else {"board": {
        "name": result.board.board.name,
        "totals": {"old_flash": result.board.old_flash, "new_flash": result.board.new_flash,
                   "old_ram": result.board.old_ram, "new_ram": result.board.new_ram},
        "symbols": [{"name": s.name, "kind": s.kind, "old_flash": s.old_flash,
                     "new_flash": s.new_flash, "old_ram": s.old_ram, "new_ram": s.new_ram}
                    for s in result.board.symbols]}}
    return {**board,
        **report_header("diff"), "format_version": FORMAT_VERSION,
        "old": side(result.old), "new": side(result.new),
        "summary": {**{str(level): result.count(level) for level in LEVELS},
                    "allowed": len(result.changes) - len(result.active),
                    "worst": None if worst is None else str(worst),
                    "invalid": result.invalid},
        "metrics": {m.name: {"old": m.old, "new": m.new} for m in result.metrics},
        "changes": [_change_json(c) for c in result.changes],
        "sizes": [{"module": r.module, "kind": r.kind, "name": r.name,
                   "old_source": r.old_source, "new_source": r.new_source,
                   "old_storage": r.old_storage, "new_storage": r.new_storage,
                   "delta": r.delta} for r in result.sizes],
        "notes": [{"section": n.section, "module": n.module, "kind": n.kind, "text": n.text}
                  for n in result.notes],
        "unchanged": list(result.unchanged),
        "thresholds": dict(result.thresholds),
        "consumer": result.consumer,
        "judged_by": judged.diff_heading_json(result.layers),
        "config": {**config_json(result.config_source, result.config_overrides),
                   "problems": [{"kind": p.kind, "entry": p.entry, "reason": p.reason}
                                for p in result.config_problems]},
    }


def render_json(result: DiffResult, options: Options | None = None) -> str:
    """The diff format (schemas/diff-report.schema.json), complete whatever the options."""
    return json_text(diff_json(result))


# -- markdown -------------------------------------------------------------------------------------


def _cell(text: str | None) -> str:
    return "—" if text is None else md_text(text)


def _md_row(e: Entry) -> str:
    c = e.first
    level = f"{e.level}" + (" (allowed)" if c.allowed_by else "")
    why = clip(_reason(c)) if len(e.changes) == 1 else "rolled up; `--format json` lists all"
    return f"| {level} | {c.rule.name} | {_cell(e.title().split('  ', 1)[-1])} | {_cell(why)} |"


def _md_excerpts(found: list[Entry]) -> list[str]:
    lines = []
    for e in found:
        c = e.first
        if len(e.changes) == 1 and c.details:
            lines += ["", f"<details><summary>{c.rule.name} {html_text(clip(c.subject, 120))}"
                      "</summary>", "", *md_fence((clip(d) for d in c.details), "diff"), "",
                      "</details>"]
    return lines


def render_markdown(result: DiffResult, options: Options | None = None) -> str:
    """For a PR comment: headline, breaking and warnings in tables, info folded, sizes; under
    MARKDOWN_BUDGET characters (excerpts, then info rows, then size rows go first)."""
    options = options or Options()
    for details, info_rows, size_rows in ((True, None, True), (False, None, True),
                                          (False, 40, True), (False, 0, False)):
        text = _markdown(result, options, details=details, info_rows=info_rows,
                         size_rows=size_rows)
        if len(text) <= MARKDOWN_BUDGET:
            return text
    return text[:MARKDOWN_BUDGET - 80].rsplit("\n", 1)[0] + \
        "\n\n> report cut to fit a PR comment; `--format json` is complete\n"


def _markdown(result: DiffResult, options: Options, *, details: bool, info_rows: int | None,
              size_rows: bool) -> str:
    lines = [f"**mlfcheck diff**: {_cell(headline(result))} — {md_code(result.old.path)} "
             f"({_version(result.old, '')}) → {md_code(result.new.path)} "
             f"({_version(result.new, '')})",
             "", "**judged by**: " + md_text(clip(judged.diff_heading(result.layers))), "",
             *config_markdown(result.config_source, result.config_overrides)]
    problems = [f"> {_cell(line)}" for line in _problems(result)]
    lines += ["", *problems] if problems else []
    cut = not details
    for level in LEVELS:
        found = entries(result, level)
        if not found:
            continue
        shown = found if level is not Level.INFO or info_rows is None else found[:info_rows]
        cut = cut or len(shown) < len(found)
        head = ["", "| level | rule | change | why |", "|---|---|---|---|"]
        body = [_md_row(e) for e in shown]
        if len(shown) < len(found):
            body.append(f"| … | | {len(found) - len(shown)} more info changes | |")
        if details:
            body += _md_excerpts(shown)
        total = _plural(sum(len(e.changes) for e in found), "change")
        if level is Level.INFO:
            lines += ["", f"<details><summary>info ({total})</summary>", *head, *body, "",
                      "</details>"]
        else:
            lines += ["", f"#### {level} ({total})", *head, *body]
    if result.sizes and size_rows:
        table = _size_table(result, options)
        lines += ["", "<details><summary>sizes</summary>", "",
                  "| " + " | ".join(SIZE_HEADER) + " |", "|---|---|" + "---:|" * 5]
        lines += ["| " + " | ".join(_cell(x) for x in row) + " |" for row in table]
        lines += ["", "</details>"]
    if result.board is not None:
        rows = _board_rows(result)
        lines += ["", f"#### {_cell(_board_heading(result))}", "",
                  "| " + " | ".join(rows[0]) + " |", "|---|---|" + "---:|" * 6]
        lines += ["| " + " | ".join([md_code(clip(r[0], 120), table=True), *r[1:]]) + " |"
                  for r in rows[1:]]
    notes = _notes(result)
    if notes:
        lines += ["", f"<details><summary>notes ({len(notes)})</summary>", ""]
        lines += [f"- {_cell(n.module or 'archive')}: {SECTION_TITLES[n.section]}: "
                  f"{_cell(clip(n.text))}" for n in notes]
        lines += ["", "</details>"]
    if result.unchanged:
        lines += ["", f"Unchanged: {_unchanged(result)}."]
    if cut and result.changes:
        lines += ["", "> some excerpts or rows were left out to fit a PR comment; "
                  "`--format json` is complete"]
    return "\n".join(lines) + "\n"


def config_markdown(source: str | None, overrides: ConfigOverrides) -> list[str]:
    """'**config**: `FILE` (overrides …)' and a list item per override."""
    where, what = config_heading(source, overrides)
    shown = md_code(where) if source else md_text(where)
    return [f"**config**: {shown} ({what})",
            *(f"- {md_text(line)}" for line in config_overrides(overrides))]


RENDERERS: dict[str, Callable[[DiffResult, Options], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown,
}
