"""Renderers for validation reports: text, json, sarif, markdown."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from mlfcheck.findings import Code, Finding, Severity
from mlfcheck.reporters.present import json_report, json_text, md_code, md_text, text_lines
from mlfcheck.validate import Judged, Report, Unreadable, Validation
from mlfcheck.version import __version__

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/mlfcheck/mlfcheck"

"""A report, or (path, error message) for an archive that could not be read."""


def _counts(report: Report) -> str:
    parts = []
    for s in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        n = report.count(s)
        parts.append(f"{n} {s}" + ("s" if n != 1 and s != Severity.INFO else ""))
    return ", ".join(parts)


def _version_line(report: Report) -> str:
    declared = f"v{report.declared_version}" if report.declared_version else "unknown version"
    detected = "/".join(f"v{v}" for v in report.detected_versions) or "?"
    return f"MLF {declared} (layout looks like {detected})"


def render_text(outcomes: Sequence[Validation]) -> str:
    """One block per archive: a verdict line, then one line per finding."""
    lines: list[str] = []
    for outcome in outcomes:
        if isinstance(outcome, Unreadable):
            lines.append(f"{outcome.path}: could not read: {outcome.error}")
            continue
        verdict = "valid" if outcome.ok else "INVALID"
        lines.append(f"{outcome.path}: {verdict}, {_version_line(outcome)}: {_counts(outcome)}")
        lines += [f"  {line}" for line in judged_lines(outcome)]
        for f in outcome.findings:
            lines.append(f"  {f.location()}: {f.code.name} {f.level}: {f.message}")
        reasons: dict[str, int] = {}
        for _, why in outcome.skipped:
            reasons[why] = reasons.get(why, 0) + 1
        for why, n in reasons.items():
            lines.append(f"  ({n} later check{'s' if n != 1 else ''} skipped: {why})")
    return text_lines(lines)


def judged_lines(report: Report) -> list[str]:
    """What built the archive and what it did not build (files a B finding names are counted,
    not listed again); nothing when no build was asked."""
    judged = report.judged
    if not judged.asked:
        return []
    if judged.compiler is None:
        return [f"judged by the reader only: {judged.unavailable}"]
    total = len(judged.built) + len(judged.not_built)
    linked = {True: ", linked", False: ", link failed", None: ""}[judged.linked]
    named = {f.member for f in report.findings if f.code.name.startswith("B")}
    listed = [(m, why) for m, why in judged.not_built if m not in named]
    below = len(judged.not_built) - len(listed)
    lines = [f"judged by {judged.layers} against {judged.runtime_headers}: built "
             f"{len(judged.built)} of {total} file{'s' if total != 1 else ''}{linked}"
             + (f"; {below} not built (B findings below)" if below else "")]
    return lines + [f"not built: {member}: {why}" for member, why in listed]


def judged_json(judged: Judged) -> dict[str, Any] | None:
    """The report's `build` object; None when no build was asked for."""
    if not judged.asked:
        return None
    return {"compiler": judged.compiler, "unavailable": judged.unavailable,
            "runtime_headers": judged.runtime_headers, "built": list(judged.built),
            "not_built": [{"member": m, "why": why} for m, why in judged.not_built],
            "linked": judged.linked}


def _finding_json(f: Finding) -> dict[str, Any]:
    return {"code": f.code.name, "severity": str(f.level), "title": f.code.title,
            "message": f.message, "member": f.member, "pointer": f.pointer, "line": f.line,
            "column": f.column, "offset": f.offset}


def report_json(outcome: Validation) -> dict[str, Any]:
    if isinstance(outcome, Unreadable):
        return {"path": outcome.path, "error": outcome.error}
    return {
        "path": outcome.path,
        "valid": outcome.ok,
        "declared_version": outcome.declared_version,
        "detected_versions": list(outcome.detected_versions),
        "summary": {str(s): outcome.count(s) for s in Severity},
        "findings": [_finding_json(f) for f in outcome.findings],
        "skipped_checks": [{"check": n, "reason": why} for n, why in outcome.skipped],
        "judged_by": outcome.judged.layers,
        "build": judged_json(outcome.judged),
    }


def render_json(outcomes: Sequence[Validation]) -> str:
    """The validate-report format (schemas/validate-report.schema.json)."""
    return json_report("validate", {"archives": [report_json(o) for o in outcomes]})


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render_sarif(outcomes: Sequence[Validation]) -> str:
    """SARIF 2.1.0: one run; each archive an artifact, each member a nested artifact."""
    rules = [{"id": c.name, "name": c.title.replace(" ", "-"),
              "shortDescription": {"text": c.title},
              "fullDescription": {"text": c.info.explanation},
              "defaultConfiguration": {"level": _SARIF_LEVEL[c.severity]},
              "helpUri": f"{INFO_URI}#finding-codes"} for c in Code]
    rule_index = {c.name: i for i, c in enumerate(Code)}
    artifacts: list[dict[str, Any]] = []
    index: dict[tuple[str, str | None], int] = {}

    def artifact(path: str, member: str | None) -> int:
        key = (path, member)
        if key not in index:
            if member is None:
                artifacts.append({"location": {"uri": _uri(path)}})
            else:
                artifacts.append({"location": {"uri": _uri(member)},
                                  "parentIndex": artifact(path, None)})
            index[key] = len(artifacts) - 1
        return index[key]

    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    judged = [{"archive": o.path, "judgedBy": o.judged.layers, "build": judged_json(o.judged)}
              for o in outcomes if isinstance(o, Report)]
    for outcome in outcomes:
        if isinstance(outcome, Unreadable):
            notifications.append({"level": "error", "message": {"text": f"{outcome.path}: "
                                                                  f"{outcome.error}"}})
            continue
        for f in outcome.findings:
            member = f.member
            loc: dict[str, Any] = {"artifactLocation": {
                "uri": _uri(member if member else outcome.path),
                "index": artifact(outcome.path, member)}}
            region: dict[str, Any] = {}
            if f.line is not None:
                region = {"startLine": f.line, "startColumn": f.column or 1}
            elif f.offset is not None:
                region = {"byteOffset": f.offset}
            if region:
                loc["region"] = region
            result: dict[str, Any] = {
                "ruleId": f.code.name, "ruleIndex": rule_index[f.code.name],
                "level": _SARIF_LEVEL[f.level], "message": {"text": f.message},
                "locations": [{"physicalLocation": loc}]}
            if f.pointer is not None:
                result["properties"] = {"jsonPointer": f.pointer, "archive": outcome.path}
            else:
                result["properties"] = {"archive": outcome.path}
            results.append(result)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "mlfcheck", "version": __version__,
                            "informationUri": INFO_URI, "rules": rules}},
        "artifacts": artifacts, "results": results, "properties": {"archives": judged},
        "invocations": [{"executionSuccessful": not notifications,
                         "toolExecutionNotifications": notifications}],
    }
    return json_text({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]})


def _uri(path: str) -> str:
    """A SARIF artifactLocation.uri: a relative URI reference with every byte outside the
    unreserved set and '/' percent-encoded (so '#', '?', '%', spaces and controls are data)."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")


def render_markdown(outcomes: Sequence[Validation]) -> str:
    """A summary table of archives, then a findings table per archive that has findings."""
    lines = ["| archive | verdict | version | errors | warnings | info |",
             "|---|---|---|---|---|---|"]
    for o in outcomes:
        if isinstance(o, Unreadable):
            lines.append(f"| {md_code(o.path, table=True)} | could not read: {md_text(o.error)} "
                         "| | | | |")
            continue
        verdict = "✅ valid" if o.ok else "❌ invalid"
        version = f"v{o.declared_version}" if o.declared_version else "?"
        lines.append(f"| {md_code(o.path, table=True)} | {verdict} | {version} "
                     f"| {o.count(Severity.ERROR)} | {o.count(Severity.WARNING)} "
                     f"| {o.count(Severity.INFO)} |")
    for o in outcomes:
        if isinstance(o, Unreadable) or not (o.findings or o.judged.asked):
            continue
        lines += ["", f"### {md_code(o.path)}", ""]
        lines += [f"- {md_text(line)}" for line in judged_lines(o)]
        if not o.findings:
            continue
        lines += [*([""] if o.judged.asked else []), "| code | severity | where | message |",
                  "|---|---|---|---|"]
        lines += [f"| {f.code.name} | {f.level} | {md_code(f.location(), table=True)} | "
                  f"{md_text(f.message)} |" for f in o.findings]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Sequence[Validation]], str]] = {
    "text": render_text, "json": render_json, "sarif": render_sarif, "markdown": render_markdown,
}
