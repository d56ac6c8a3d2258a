"""Renderers for audit results: json, markdown (release notes) and one self-contained HTML file;
each says which layers judged (the C reader, the host compiler) the audit and every archive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mlfcheck.audit import ArchiveAudit, AuditResult, Operator
from mlfcheck.audit.shards import ShardRecord, to_json
from mlfcheck.consumers import Verdict
from mlfcheck.findings import Severity
from mlfcheck.reading.summary import Summary
from mlfcheck.reporters import diff as diff_reporters
from mlfcheck.reporters import judged
from mlfcheck.reporters import validate as validate_reporters
from mlfcheck.reporters.compat import cell, verdict_json
from mlfcheck.reporters.junit import render_audit_junit
from mlfcheck.reporters.present import byte_count, json_report, md_code, md_text
from mlfcheck.reporters.present import html_text as _e
from mlfcheck.reporters.show import summary_json
from mlfcheck.version import __version__

METRICS = (("workspace_bytes", "workspace", "#1f77b4"),
           ("constants_bytes", "constants", "#ff7f0e"),
           ("io_bytes", "inputs + outputs", "#2ca02c"), ("code_bytes", "generated code", "#9467bd"))
"""(Summary total, label, bar colour) of the memory-per-model chart."""
BOARD_METRICS = (("flash", "#8c564b"), ("static RAM", "#17becf"))
"""(label, bar colour) of the on-board chart (audit --board)."""
OPERATOR_COLOUR = "#d62728"
TOP_OPERATORS = 8
MATRIX_MARK = {"yes": "✅", "no": "❌", "pack": "📦"}
PACK_NOTE = ("every read succeeds, but the consumer opens a tar file and this archive is an "
             "extracted folder: pack it with tar first.")
STATUS_MARK = {"valid": "✅ valid", "invalid": "❌ invalid", "unreadable": "⛔ unreadable"}


def _counts(result: AuditResult) -> dict[str, int]:
    statuses = [a.status for a in result.archives]
    return {"archives": len(statuses), "valid": statuses.count("valid"),
            "invalid": statuses.count("invalid"), "unreadable": statuses.count("unreadable"),
            "compared": sum(1 for a in result.archives
                            if a.comparison and a.comparison.result is not None),
            "failing": sum(a.fails(result.fail_on) for a in result.archives),
            "removed": len(result.removed)}


def headline(result: AuditResult) -> str:
    """'7 archives: 7 valid, 0 invalid, 0 unreadable' plus the baseline outcome."""
    c = _counts(result)
    text = (f"{c['archives']} archive{'s' if c['archives'] != 1 else ''}: {c['valid']} valid, "
            f"{c['invalid']} invalid, {c['unreadable']} unreadable")
    if result.baseline:
        new = sum(1 for a in result.archives if a.comparison is None and a.report is not None)
        text += (f"; against the baseline: {c['compared']} compared, {new} new, "
                 f"{c['removed']} removed")
    if result.fail_on is not None:
        text += f"; {c['failing']} failing (invalid, or a change at or above {result.fail_on})"
    return text


def _label(a: ArchiveAudit) -> str:
    return a.item.key + (" (exported model)" if a.item.kind == "model" else "")


def _short_operator(op: Operator) -> str:
    name = op.name.removeprefix(f"tvmgen_{op.module}_")
    return name if len(name) <= 48 else name[:47] + "…"


# -- json --------------------------------------------------------------------------------------


def _memory_json(summary: Summary | None) -> dict[str, int] | None:
    if summary is None:
        return None
    return {field: getattr(summary, field) for field, _, _ in METRICS}


def _board_json(a: ArchiveAudit, result: AuditResult) -> dict[str, Any] | None:
    if result.board is None or a.on_board is None:
        return None
    fp = a.on_board.footprint
    run = fp.run if fp else None
    return {"name": result.board.name, "error": a.on_board.error,
            "flash_bytes": fp.flash if fp else None, "ram_bytes": fp.ram if fp else None,
            "symbols": len(fp.symbols) if fp else None,
            "instructions": run.instructions if run else None,
            "not_run": run.not_run if run else None}


def _archive_json(a: ArchiveAudit, result: AuditResult) -> dict[str, Any]:
    comparison = None
    if a.comparison is not None:
        diff_doc = (diff_reporters.diff_json(a.comparison.result)
                    if a.comparison.result is not None else None)
        comparison = {"key": a.comparison.baseline, "error": a.comparison.error,
                      "diff": diff_doc}
    validation = validate_reporters.report_json(a.report) if a.report is not None else None
    return {"key": a.item.key, "path": a.item.path, "kind": a.item.kind, "status": a.status,
            "error": a.error, "fails": a.fails(result.fail_on),
            "judged_by": a.report.judged.layers if a.report else None,
            "build": validate_reporters.judged_json(a.report.judged) if a.report else None,
            "validation": validation,
            "summary": summary_json(a.summary) if a.summary else None,
            "memory": _memory_json(a.summary), "board": _board_json(a, result),
            "operators": [{"module": o.module, "name": o.name, "workspace_bytes": o.workspace}
                          for o in a.operators],
            "consumers": [verdict_json(v) for v in a.verdicts], "baseline": comparison}


def render_json(result: AuditResult) -> str:
    """The audit format (schemas/audit-report.schema.json)."""
    return json_report("audit", {
        "config": diff_reporters.config_json(result.config_source, result.config_overrides),
        "judged_by": judged.heading_json(result.build), "timestamp": result.timestamp,
        "baseline": list(result.baseline),
        "fail_on": None if result.fail_on is None else str(result.fail_on),
        "consumers": list(result.consumers), "summary": _counts(result),
        "archives": [_archive_json(a, result) for a in result.archives],
        "removed": [{"key": i.key, "path": i.path, "kind": i.kind} for i in result.removed]})


def render_shard(record: ShardRecord) -> str:
    """A shard record (`audit --shard`), which `audit --merge` reads back (mlfcheck.audit.shards):
    not a report to read, the data of one shard's audit."""
    return json_report("audit-shard", to_json(record))


# -- markdown ----------------------------------------------------------------------------------

def _version(a: ArchiveAudit) -> str:
    v = a.report.declared_version if a.report else None
    return f"v{v}" if v is not None else "?"


def _readers(a: ArchiveAudit) -> str:
    if not a.verdicts:
        return ""
    packed = sum(v.container_only for v in a.verdicts)
    extra = f" (+{packed} once packed as tar)" if packed else ""
    return f"{sum(v.readable for v in a.verdicts)} of {len(a.verdicts)}{extra}"


def _memory_cells(a: ArchiveAudit) -> list[str]:
    m = a.summary
    return [byte_count(getattr(m, field)) if m else "" for field, _, _ in METRICS]


def _board_cells(a: ArchiveAudit) -> list[str]:
    """Flash and RAM of the archive's own symbols on the board, each marked when the board's
    region is smaller, and instructions per inference there; the first line of why when it did
    not compile or run."""
    if a.on_board is None:
        return ["", "", ""]
    fp = a.on_board.footprint
    if fp is None:
        return [f"not compiled: {a.on_board.error}", "", ""]
    counted = "" if fp.run is None else f"{fp.run.instructions:,}" \
        if fp.run.instructions is not None else f"not run: {fp.run.not_run}"
    return [byte_count(fp.flash) + (" (over FLASH)" if fp.flash > fp.board.flash.length else ""),
            byte_count(fp.ram) + (" (over RAM)" if fp.ram > fp.board.ram.length else ""),
            counted]


def _baseline_cell(a: ArchiveAudit) -> str:
    if a.comparison is None:
        return "new"
    if a.comparison.result is None:
        return f"could not compare: {a.comparison.error}"
    return diff_reporters.headline(a.comparison.result)


def _table_rows(result: AuditResult, marks: dict[str, str]) -> list[list[str]]:
    """Header, then one row per archive (shared by Markdown and HTML)."""
    header = ["#", "archive", "status", "judged by", "MLF",
              *(label for _, label, _ in METRICS)]
    if result.board:
        header += [f"flash on {result.board.name}", f"RAM on {result.board.name}",
                   f"instructions on {result.board.name}"]
    header.append("consumers that read it")
    if result.baseline:
        header.append("since the baseline")
    rows = [header]
    for i, a in enumerate(result.archives, 1):
        row = [str(i), _label(a), marks[a.status],
               judged.cell(a.report.judged) if a.report else "", _version(a), *_memory_cells(a),
               *(_board_cells(a) if result.board else []), _readers(a)]
        if result.baseline:
            row.append(_baseline_cell(a))
        rows.append(row)
    return rows


def _matrix_rows(result: AuditResult) -> list[list[str]]:
    """Header (consumer, #1, #2, ...), then one row per consumer (yes / no)."""
    readable = [a for a in result.archives if a.verdicts]
    rows = [["consumer", *(f"#{result.archives.index(a) + 1}" for a in readable)]]
    for i, name in enumerate(result.consumers):
        rows.append([name, *(_matrix_value(a.verdicts[i]) for a in readable)])
    return rows


def _matrix_value(verdict: Verdict) -> str:
    """'yes', 'no', or 'pack' when only the container (an extracted folder) is refused."""
    if verdict.readable:
        return "yes"
    return "pack" if verdict.container_only else "no"


def _md_table(rows: list[list[str]], *, code_column: int | None = None) -> list[str]:
    def fmt(r: list[str]) -> str:
        cells = [md_code(c, table=True) if i == code_column else md_text(c)
                 for i, c in enumerate(r)]
        return "| " + " | ".join(cells) + " |"

    head = "| " + " | ".join(rows[0]) + " |"  # the tool's own column names
    return [head, "|" + "---|" * len(rows[0]), *map(fmt, rows[1:])]


def _built(result: AuditResult) -> list[tuple[ArchiveAudit, list[str]]]:
    """Each archive built on the host, with what its build says (the compiler and the TVM
    runtime headers, files built, each file not built that no B finding names)."""
    return [(a, validate_reporters.judged_lines(a.report)) for a in result.archives
            if a.report is not None and a.report.judged.asked]


def _build_lines(result: AuditResult) -> list[str]:
    out = []
    for a, (first, *rest) in _built(result):
        out += [f"- {md_code(a.item.key)}: {md_text(first)}", *(f"  - {md_text(r)}" for r in rest)]
    return ["", "### Host builds", "", *out] if out else []


def _finding_lines(a: ArchiveAudit) -> list[str]:
    if a.error is not None:
        return [f"- {md_code(a.item.key)}: could not audit: {md_text(a.error)}"]
    if a.report is None or not a.report.findings:
        return []
    return [f"- {md_code(a.item.key)}: {f.code.name} {f.level} at {md_code(f.location())}: "
            f"{md_text(f.message)}" for f in a.report.findings]


def render_markdown(result: AuditResult) -> str:
    """Release notes: headline, what judged, archive table, consumer matrix, changes, host
    builds, findings."""
    lines = ["## MLF audit", "", f"**{headline(result)}**", "",
             *diff_reporters.config_markdown(result.config_source, result.config_overrides), "",
             f"**judged by**: {md_text(judged.heading(result.build))}"]
    if result.timestamp:
        lines += ["", f"Generated {result.timestamp}."]
    lines += ["", *_md_table(_table_rows(result, STATUS_MARK), code_column=1)]
    if result.consumers:
        matrix = _matrix_rows(result)
        marks = [[r[0], *(MATRIX_MARK[c] for c in r[1:])] for r in matrix[1:]]
        lines += ["", "### Who can read each archive", "",
                  *_md_table([matrix[0], *marks], code_column=0)]
        if any("pack" in r for r in matrix):
            lines += ["", f"{MATRIX_MARK['pack']} {PACK_NOTE}"]
    changed = [a for a in result.archives if a.comparison and a.comparison.result
               and a.comparison.result.changes]
    if changed:
        lines += ["", "### Changes since the baseline"]
        for a in changed:
            assert a.comparison is not None and a.comparison.result is not None
            lines += ["", f"<details><summary><code>{_e(a.item.key)}</code>: "
                      f"{_e(_baseline_cell(a))}</summary>", "",
                      diff_reporters.render_markdown(a.comparison.result).rstrip("\n"), "",
                      "</details>"]
    lines += _build_lines(result)
    findings = [line for a in result.archives for line in _finding_lines(a)]
    if findings:
        lines += ["", "### Validation findings", "", *findings]
    if result.removed:
        lines += ["", "### Removed since the baseline", ""]
        lines += [f"- {md_code(i.key)}" for i in result.removed]
    return "\n".join(lines) + "\n"


# -- html --------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
h3{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}td.num{text-align:right}
td.yes,td.valid{background:#e3f4e3}td.no,td.invalid,td.unreadable{background:#f9e0e0}td.pack{background:#fdf3d0}code{font-size:13px}
.headline{font-weight:600}.muted{color:#666}svg text{font:12px system-ui,sans-serif}
details{margin:6px 0}pre{background:#f6f6f6;padding:6px;overflow-x:auto}
"""


def _html_table(rows: list[list[str]], classes: Callable[[int, str], str] | None = None) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in rows[0])
    body = []
    for row in rows[1:]:
        cells = "".join(
            f'<td class="{classes(i, c)}">{_e(c)}</td>' if classes else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _bar(x: float, y: float, width: float, height: float, colour: str, title: str) -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0.0):.1f}" height="{height}" '
            f'fill="{colour}"><title>{_e(title)}</title></rect>')


def _text(x: float, y: float, text: str, *, anchor: str = "start") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{_e(text)}</text>'


def memory_chart(archives: Sequence[ArchiveAudit]) -> str:
    """One row per archive, one small bar chart per memory metric (each on its own scale)."""
    rows = [(a.item.key, [getattr(a.summary, field) for field, _, _ in METRICS])
            for a in archives if a.summary is not None]
    if not rows:
        return '<p class="muted">No archive has usable memory figures.</p>'
    return _bars(rows, [(label, colour) for _, label, colour in METRICS], "memory per model")


def board_chart(result: AuditResult) -> str:
    """Flash and RAM of each archive's own symbols on the audit's board, as bars."""
    rows = [(a.item.key, [fp.flash, fp.ram]) for a in result.archives
            if a.on_board is not None and (fp := a.on_board.footprint) is not None]
    if not rows or result.board is None:
        return '<p class="muted">No archive compiled for the board.</p>'
    return _bars(rows, BOARD_METRICS, f"flash and RAM on {result.board.name}")


def _bars(rows: Sequence[tuple[str, list[int]]], metrics: Sequence[tuple[str, str]],
          title: str) -> str:
    """An SVG of one row per (label, values), one bar column per (metric, colour)."""
    label_w, col_w, row_h, top = 260, 190, 24, 34
    width = label_w + col_w * len(metrics)
    height = top + row_h * len(rows) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{_e(title)}">']
    for j, (label, colour) in enumerate(metrics):
        x0 = label_w + j * col_w
        parts.append(_bar(x0, 8, 12, 12, colour, label))
        parts.append(_text(x0 + 16, 19, label))
        peak = max(values[j] for _, values in rows) or 1
        for i, (key, values) in enumerate(rows):
            y = top + i * row_h
            bar_w = (col_w - 80) * values[j] / peak
            parts.append(_bar(x0, y, bar_w, row_h - 8, colour,
                              f"{key}: {label} {values[j]:,} bytes"))
            parts.append(_text(x0 + bar_w + 4, y + row_h - 11, byte_count(values[j])))
    for i, (key, _) in enumerate(rows):
        shown = key if len(key) <= 38 else "…" + key[-37:]
        parts.append(_text(label_w - 8, top + i * row_h + row_h - 11, shown, anchor="end"))
    parts.append("</svg>")
    return "".join(parts)


def operator_chart(archive: ArchiveAudit) -> str:
    """The operators with the largest workspace in one archive, as horizontal bars."""
    ops = sorted(archive.operators, key=lambda o: (-o.workspace, o.name))[:TOP_OPERATORS]
    label_w, bar_w, row_h = 380, 300, 20
    peak = max((o.workspace for o in ops), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 90}" '
             f'height="{row_h * len(ops) + 6}" role="img" '
             f'aria-label="workspace per operator of {_e(archive.item.key)}">']
    for i, op in enumerate(ops):
        y = 3 + i * row_h
        w = bar_w * op.workspace / peak
        parts.append(_text(label_w - 8, y + row_h - 7, _short_operator(op), anchor="end"))
        parts.append(_bar(label_w, y, w, row_h - 6, OPERATOR_COLOUR,
                          f"{op.name}: {op.workspace:,} bytes of workspace"))
        parts.append(_text(label_w + w + 4, y + row_h - 7, byte_count(op.workspace)))
    parts.append("</svg>")
    return "".join(parts)


def _operator_section(result: AuditResult) -> list[str]:
    out = ["<h2>Workspace per operator</h2>",
           f'<p class="muted">The {TOP_OPERATORS} operator functions with the largest '
           "workspace in each archive (memory.functions.operator_functions).</p>"]
    for a in result.archives:
        if a.operators:
            more = len(a.operators) - min(len(a.operators), TOP_OPERATORS)
            note = f' <span class="muted">(and {more} more)</span>' if more > 0 else ""
            out += [f"<h3><code>{_e(a.item.key)}</code>{note}</h3>", operator_chart(a)]
    return out


def _matrix_class(column: int, value: str) -> str:
    return "" if column == 0 else value


def _changes_section(result: AuditResult) -> list[str]:
    out = []
    for a in result.archives:
        if a.comparison is None:
            continue
        out.append(f"<details><summary><code>{_e(a.item.key)}</code> against "
                   f"<code>{_e(a.comparison.baseline)}</code>: {_e(_baseline_cell(a))}"
                   "</summary>")
        if a.comparison.result is not None:
            out.append(f"<pre>{_e(diff_reporters.render_text(a.comparison.result))}</pre>")
        out.append("</details>")
    if result.removed:
        out.append("<p>Removed since the baseline: " + ", ".join(
            f"<code>{_e(i.key)}</code>" for i in result.removed) + "</p>")
    return ["<h2>Changes since the baseline</h2>", *out] if out else []


def _build_section(result: AuditResult) -> list[str]:
    items = "".join(f"<li><code>{_e(a.item.key)}</code>: {_e(first)}"
                    + ("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in rest) + "</ul>"
                       if rest else "") + "</li>"
                    for a, (first, *rest) in _built(result))
    return ["<h2>Host builds</h2>", f"<ul>{items}</ul>"] if items else []


def _findings_section(result: AuditResult) -> list[str]:
    rows = [["archive", "code", "severity", "where", "message"]]
    for a in result.archives:
        if a.error is not None:
            rows.append([a.item.key, "", str(Severity.ERROR), "", f"could not audit: {a.error}"])
        for f in a.report.findings if a.report else ():
            rows.append([a.item.key, f.code.name, str(f.level), f.location(), f.message])
    if len(rows) == 1:
        return []
    return ["<h2>Validation findings</h2>", _html_table(rows)]


def _consumer_details(result: AuditResult) -> list[str]:
    out = []
    for a in result.archives:
        failing = [v for v in a.verdicts if not v.readable]
        if failing:
            items = "".join(f"<li><code>{_e(v.profile.name)}</code>: {_e(cell(v))}"
                            + (f" — {_e(v.first.message)}" if v.first else "") + "</li>"
                            for v in failing)
            out.append(f"<details><summary><code>{_e(a.item.key)}</code>: "
                       f"{len(failing)} consumers cannot read it</summary><ul>{items}</ul>"
                       "</details>")
    return out


def _board_note(result: AuditResult) -> str:
    assert result.board is not None
    b = result.board
    return (f'<p class="muted">Each archive\'s C compiled for {_e(b.name)} '
            f"({_e(b.description)}; FLASH {byte_count(b.flash.length)}, "
            f"RAM {byte_count(b.ram.length)}) "
            "with -Os, compile only: the flash and static RAM of its own symbols (mlfcheck "
            "size). Peak stack needs a run: mlfcheck export --verify --board.</p>")


def _config_html(result: AuditResult) -> str:
    """Which diff configuration judged the comparisons, and each of its overrides."""
    where, what = diff_reporters.config_heading(result.config_source, result.config_overrides)
    items = "".join(f"<li>{_e(line)}</li>"
                    for line in diff_reporters.config_overrides(result.config_overrides))
    shown = f"<code>{_e(where)}</code>" if result.config_source else _e(where)
    return f"<p>Diff configuration: {shown} ({_e(what)})</p>" + (
        f"<ul>{items}</ul>" if items else "")


def render_html(result: AuditResult) -> str:
    """One self-contained page (inline CSS and SVG, no script, no network)."""
    rows = _table_rows(result, {s: s for s in STATUS_MARK})
    numeric = {rows[0].index(label) for _, label, _ in METRICS}
    status = rows[0].index("status")
    when = f"<p class=\"muted\">Generated {_e(result.timestamp)}.</p>" if result.timestamp else ""
    body = [f"<h1>MLF audit</h1><p class=\"headline\">{_e(headline(result))}</p>{when}",
            _config_html(result), f"<p>Judged by: {_e(judged.heading(result.build))}</p>",
            "<h2>Archives</h2>",
            _html_table(rows, lambda i, c: "num" if i in numeric else c if i == status else ""),
            "<h2>Memory per model</h2>", memory_chart(result.archives),
            *(["<h2>On the board</h2>", _board_note(result), board_chart(result)]
              if result.board else []),
            *_operator_section(result)]
    if result.consumers:
        body += ["<h2>Who can read each archive</h2>",
                 '<p class="muted">Columns are the archive numbers of the table above; '
                 "see docs/consumers.md for the profiles.</p>",
                 _html_table(_matrix_rows(result), _matrix_class),
                 f'<p class="muted">pack: {_e(PACK_NOTE)}</p>', *_consumer_details(result)]
    body += _changes_section(result) + _build_section(result) + _findings_section(result)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>MLF audit</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body)
            + f"\n<p class=\"muted\">mlfcheck {_e(__version__)}</p>\n</body></html>\n")


RENDERERS: dict[str, Callable[[AuditResult], str]] = {
    "json": render_json, "markdown": render_markdown, "html": render_html,
    "junit": render_audit_junit,
}
