"""Renderers for compat verdicts: text, json, markdown (one archive, one or more consumers)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from mlfcheck.consumers import Evidence, Failure, Profile, Read, Verdict
from mlfcheck.consumers.evaluate import BUILD, CONTAINER
from mlfcheck.reporters.present import json_report, json_text, md_code, md_text, text_lines


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
    lines += [f"    needed by {e}" for e in f.evidence]
    return lines


def level_line(v: Verdict) -> str:
    """'level: links (verified here: built on mps2-an385)' or 'level: reads (derived ...)'."""
    proof = v.proof
    if proof is not None and proof.skipped:
        why = proof.skipped.removeprefix("not built here: ")
        return f"level: {v.level or 'none'} (derived; harness not built: {why})"
    if v.level_certainty == "verified":
        where = "on the host" if proof is None or proof.where == "host" else \
            f"on {proof.where} in QEMU"
        stopped = f"; not run: {proof.stopped}" if proof is not None and proof.stopped else ""
        counted = f"; {proof.instructions} instructions per inference" \
            if proof is not None and proof.instructions is not None else ""
        return f"level: {v.level} (verified here: built {where}{stopped}{counted})"
    return f"level: {v.level or 'none'} (derived from the consumer's source)"


def _build_lines(v: Verdict) -> list[str]:
    proof = v.proof
    if proof is None or proof.failed is None:
        return []
    return [f"    suggested fix: {proof.fix}"] if proof.fix else []


def _detail(v: Verdict) -> list[str]:
    p = v.profile
    verdict = "can read it" if v.readable else "CANNOT read it"
    lines = [f"{p.name}: {verdict} — {p.title}", f"  {level_line(v)}"]
    for i, f in enumerate(v.failures):
        lines += _failure_lines(f, "fails first" if i == 0 else "also fails")
        lines += _build_lines(v) if f.read.startswith(BUILD) else []
    for f in v.misses:
        lines += _failure_lines(f, "optional, missing")
    lines += [f"  note: {n}" for n in v.notes]
    lines += [f"  source: {s}" for s in p.sources]
    lines.append(f"  certainty: {p.certainty}" + ("" if p.origin == "built-in"
                                                  else f"; profile from {p.origin}"))
    return lines


def _level_suffix(v: Verdict) -> str:
    """' [links, verified]' beside a matrix line when a harness was built."""
    return "" if v.proof is None else f" [{v.level or 'none'}, {v.level_certainty}]"


def render_text(verdicts: Sequence[Verdict]) -> str:
    """One consumer: the verdict with every failing read. Several: a matrix, then details."""
    lines = [_heading(verdicts)]
    if len(verdicts) > 1:
        width = max(len(v.profile.name) for v in verdicts)
        readable = sum(v.readable for v in verdicts)
        lines.append(f"readable by {readable} of {len(verdicts)} consumers")
        lines += [f"  {v.profile.name:<{width}}  {cell(v)}" + _level_suffix(v) for v in verdicts]
        unreadable = [v for v in verdicts if not v.readable or v.proof is not None]
        for v in unreadable:
            lines += ["", *_detail(v)]
        return text_lines(lines)
    lines += _detail(verdicts[0])
    return text_lines(lines)


def _evidence_json(evidence: tuple[Evidence, ...]) -> list[dict[str, str | None]]:
    return [{"at": e.at, "code": e.code} for e in evidence]


def failure_json(f: Failure) -> dict[str, Any]:
    """One failing read as JSON (shared with the audit report)."""
    return {"read": f.read, "message": f.message, "why": f.why, "error": f.error,
            "module": f.module, "member": f.member, "pointer": f.pointer, "line": f.line,
            "column": f.column, "evidence": _evidence_json(f.evidence)}


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
        "verdicts": [{**verdict_json(x), **_level_json(x)} for x in verdicts]})


def _level_json(v: Verdict) -> dict[str, Any]:
    """The level a compat verdict proves, and its harness build (compat's own keys)."""
    proof = v.proof
    build = None if proof is None else {
        "where": proof.where, "proved": proof.proved, "failed": proof.failed,
        "error": proof.error, "member": proof.member, "line": proof.line,
        "cause": _evidence_json(proof.cause), "fix": proof.fix, "skipped": proof.skipped,
        "stopped": proof.stopped, "instructions": proof.instructions}
    return {"level": v.level, "level_certainty": v.level_certainty, "build": build}


def _link(e: Evidence) -> str:
    """A Markdown link to the evidence line on GitHub."""
    p = {k: quote(str(v), safe="/") for k, v in e.parts.items()}
    url = f"https://github.com/{p['repo']}/blob/{p['commit']}/{p['path']}#L{p['line']}"
    return f"[{md_code(e.at, table=True)}]({url})"


def render_markdown(verdicts: Sequence[Verdict]) -> str:
    """A table of consumers: verdict, the read that fails first, why, and the consumer line."""
    lines = [f"**mlfcheck compat** {md_code(_heading(verdicts))}", "",
             "| consumer | readable | level | fails first | because | consumer source |",
             "|---|---|---|---|---|---|"]
    for v in verdicts:
        first = v.first
        mark = "✅ yes" if v.readable else "❌ no"
        level = f"{v.level or 'none'} ({v.level_certainty})"
        failing = md_code(first.read, table=True) if first else ""
        fix = v.proof.fix if v.proof is not None and first and first.read.startswith(BUILD) \
            else None
        because = md_text(f"{first.message} → {first.error or 'fails'}"
                          + (f"; fix: {fix}" if fix else "")) if first else ""
        source = "<br>".join(_link(e) for e in first.evidence if e.parts) if first else ""
        lines.append(f"| {md_code(v.profile.name, table=True)} | {mark} | {level} | {failing} "
                     f"| {because} | {source} |")
    return "\n".join(lines) + "\n"


def _matrix_cell(v: Verdict) -> str:
    if v.readable:
        return "✅"
    if v.container_only:
        return "📦"
    first = next(f for f in v.failures if f.read != CONTAINER)
    return f"❌ {md_code(first.read, table=True)}"


def render_matrix_markdown(columns: Sequence[tuple[str, Sequence[Verdict]]]) -> str:
    """Consumers × archives: ✅ readable, 📦 only the container is refused (an extracted folder),
    ❌ and the requirement that fails first. Each column is (label, verdicts in one order)."""
    names = [v.profile.name for v in columns[0][1]]
    lines = ["| consumer | " + " | ".join(md_text(label) for label, _ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for i, name in enumerate(names):
        lines.append(f"| {md_code(name, table=True)} | "
                     + " | ".join(_matrix_cell(v[i]) for _, v in columns) + " |")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Sequence[Verdict]], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown,
}


# -- compat --why PROFILE: every requirement and the consumer line behind it --------------------


def _condition(read: Read) -> str:
    cond = read.when
    if cond is None:
        return ""
    if cond.kind == "json":
        test = cond.test
        value = (f"contains {json.dumps(test.contains[0])}" if test.contains is not None
                 else f"equals {json.dumps(test.equals[0])}" if test.equals is not None
                 else "exists")
        return f" (only when metadata.json {' or '.join(cond.pointers)} {value})"
    if cond.kind == "struct":
        return f" (only when struct {cond.pointers[0]} has the member {cond.value})"
    return f" (only when the module's {cond.kind.replace('_', ' ')} is {cond.value})"


def _requirement(read: Read) -> str:
    return read.describe() + _condition(read) + (" [optional]" if read.optional else "")


def render_why_text(profile: Profile) -> str:
    """Each requirement of a profile in the order the consumer meets it, with its evidence."""
    p = profile
    formats = ", ".join(p.formats)
    lines = [f"{p.name}: {p.title}", f"  container: {formats}"
             + (f", opened with {p.opened_with}" if p.opened_with else "")]
    lines += [f"    needed by {e}" for e in p.container_evidence]
    lines.append("requirements, in the order the consumer meets them:")
    for i, read in enumerate(p.reads, 1):
        lines.append(f"  {i}. {_requirement(read)}")
        lines.append(f"     the consumer {read.why}" + (f" → {read.error}" if read.error else ""))
        lines += [f"     needed by {e}" for e in read.evidence]
        if not read.evidence:
            lines.append("     (no evidence given)")
    lines += _why_harness(p)
    lines += [f"source: {s}" for s in p.sources]
    lines.append(f"certainty: {p.certainty}" + ("" if p.origin == "built-in"
                                                 else f"; profile from {p.origin}"))
    return text_lines(lines)


def _why_harness(p: Profile) -> list[str]:
    """What `compat --build` builds for the profile: files, include folders, app, where."""
    h = p.harness
    if h is None:
        return ["harness: none (compat --build proves nothing more than reads for it)"]
    lines = [f"harness (compat --build): compiles {', '.join(h.compiles)}",
             f"  include folders: {', '.join(h.includes) or 'none'}",
             f"  application: {', '.join(h.app)} (mlfcheck's, from the consumer's lines)",
             f"  runs on: {h.runs_on}"]
    return lines + [f"    needed by {e}" for e in h.evidence]


def render_why_markdown(profile: Profile) -> str:
    """The requirements, and the harness, as a Markdown table with links to the consumer
    lines."""
    p = profile
    lines = [f"**{md_text(p.name)}**: {md_text(p.title)}", "",
             "| # | requirement | the consumer | consumer source |", "|---|---|---|---|"]
    rows = [("container", f"{', '.join(p.formats)}", p.opened_with or "", p.container_evidence)]
    rows += [(str(i), _requirement(r), r.why + (f" → {r.error}" if r.error else ""), r.evidence)
             for i, r in enumerate(p.reads, 1)]
    h = p.harness
    if h is not None:
        rows.append(("harness", f"compiles {', '.join(h.compiles)}; includes "
                     f"{', '.join(h.includes) or 'none'}; runs on {h.runs_on}",
                     f"mlfcheck's {', '.join(h.app)}, from the consumer's lines", h.evidence))
    for number, what, does, evidence in rows:
        links = "<br>".join(_link(e) for e in evidence)
        lines.append(f"| {number} | {md_code(what, table=True)} | {md_text(does)} | {links} |")
    if h is None:
        lines += ["", "No harness: `compat --build` proves nothing more than reads for it."]
    return "\n".join(lines) + "\n"


def render_why_json(profile: Profile) -> str:
    """The requirements as JSON: {consumer, container, requirements: [...], harness}."""
    doc = {"consumer": profile.name, "title": profile.title,
           "container": {"formats": list(profile.formats),
                         "evidence": _evidence_json(profile.container_evidence)},
           "requirements": [{"requirement": _requirement(r), "why": r.why, "error": r.error,
                             "optional": r.optional, "evidence": _evidence_json(r.evidence)}
                            for r in profile.reads],
           "harness": None if (h := profile.harness) is None else {
               "compiles": list(h.compiles), "includes": list(h.includes), "app": list(h.app),
               "runs_on": h.runs_on, "evidence": _evidence_json(h.evidence)}}
    return json_text(doc)


WHY_RENDERERS: dict[str, Callable[[Profile], str]] = {
    "text": render_why_text, "json": render_why_json, "markdown": render_why_markdown,
}
