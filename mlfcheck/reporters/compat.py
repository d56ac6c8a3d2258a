"""Renderers for compat verdicts: text, json, markdown (one archive, one or more consumers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mlfcheck.consumers import Failure, Verdict
from mlfcheck.consumers.evaluate import CONTAINER
from mlfcheck.reporters.present import json_report, md_code, md_text, text_lines


def cell(verdict: Verdict) -> str:
    """A short verdict for matrices: 'yes', 'no (container only)' or 'no: <first read>'."""
    if verdict.readable:
        return "yes"
    if verdict.container_only:
        return f"no ({CONTAINER} only)"
    first = next(f for f in verdict.failures if f.read != CONTAINER)
    return f"no: {first.read}"


def _heading(verdicts: Sequence[Verdict]) -> str:
    v = verdicts[0]
    version = f"MLF v{v.version}" if v.version is not None else "unknown MLF version"
    return f"{v.path} ({version}, {v.container})"


def _failure_lines(f: Failure, label: str) -> list[str]:
    where = f.location()
    module = f" [module {f.module}]" if f.module else ""
    lines = [f"  {label}: {f.read}{module}: {f.message}" + (f" ({where})" if where else ""),
             f"    the consumer {f.why}"]
    if f.error:
        lines.append(f"    → {f.error}")
    return lines


def _detail(v: Verdict) -> list[str]:
    p = v.profile
    verdict = "can read it" if v.readable else "CANNOT read it"
    lines = [f"{p.name}: {verdict} — {p.title}"]
    for i, f in enumerate(v.failures):
        lines += _failure_lines(f, "fails first" if i == 0 else "also fails")
    for f in v.misses:
        lines += _failure_lines(f, "optional, missing")
    lines += [f"  note: {n}" for n in v.notes]
    lines += [f"  source: {s}" for s in p.sources]
    lines.append(f"  certainty: {p.certainty}" + ("" if p.origin == "built-in"
                                                  else f"; profile from {p.origin}"))
    return lines


def render_text(verdicts: Sequence[Verdict]) -> str:
    """One consumer: the verdict with every failing read. Several: a matrix, then details."""
    lines = [_heading(verdicts)]
    if len(verdicts) > 1:
        width = max(len(v.profile.name) for v in verdicts)
        readable = sum(v.readable for v in verdicts)
        lines.append(f"readable by {readable} of {len(verdicts)} consumers")
        lines += [f"  {v.profile.name:<{width}}  {cell(v)}" for v in verdicts]
        unreadable = [v for v in verdicts if not v.readable]
        for v in unreadable:
            lines += ["", *_detail(v)]
        return text_lines(lines)
    lines += _detail(verdicts[0])
    return text_lines(lines)


def failure_json(f: Failure) -> dict[str, Any]:
    """One failing read as JSON (shared with the audit report)."""
    return {"read": f.read, "message": f.message, "why": f.why, "error": f.error,
            "module": f.module, "member": f.member, "pointer": f.pointer, "line": f.line,
            "column": f.column}


def verdict_json(v: Verdict) -> dict[str, Any]:
    """One consumer's verdict as JSON (shared with the audit report)."""
    p = v.profile
    return {"consumer": p.name, "title": p.title, "certainty": p.certainty,
            "origin": p.origin, "sources": [str(s) for s in p.sources],
            "readable": v.readable, "failures": [failure_json(f) for f in v.failures],
            "misses": [failure_json(f) for f in v.misses], "notes": list(v.notes)}


def render_json(verdicts: Sequence[Verdict]) -> str:
    """The compat format (schemas/compat-report.schema.json)."""
    v = verdicts[0]
    return json_report("compat", {
        "archive": {"path": v.path, "version": v.version, "container": v.container},
        "verdicts": [verdict_json(x) for x in verdicts]})


def render_markdown(verdicts: Sequence[Verdict]) -> str:
    """A table of consumers: verdict, the read that fails first and why."""
    lines = [f"**mlfcheck compat** {md_code(_heading(verdicts))}", "",
             "| consumer | readable | fails first | because |", "|---|---|---|---|"]
    for v in verdicts:
        first = v.first
        mark = "✅ yes" if v.readable else "❌ no"
        failing = md_code(first.read, table=True) if first else ""
        because = md_text(f"{first.message} → {first.error or 'fails'}") if first else ""
        lines.append(f"| {md_code(v.profile.name, table=True)} | {mark} | {failing} "
                     f"| {because} |")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Sequence[Verdict]], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown,
}
