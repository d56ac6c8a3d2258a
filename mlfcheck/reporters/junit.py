"""JUnit XML for CI test reports: one test case per archive (validate) or per check (audit)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mlfcheck.findings import Severity
from mlfcheck.reporters import validate as validate_reporters
from mlfcheck.reporters.present import term, xml_text
from mlfcheck.validate import Unreadable, Validation

if TYPE_CHECKING:  # the audit and diff machinery loads only when an audit is rendered
    from mlfcheck.audit import ArchiveAudit, AuditResult


@dataclass(frozen=True)
class Case:
    """One test case: passed, failed (the check found a problem) or errored (could not run)."""

    classname: str
    name: str
    failure: str | None = None
    """Short message of a failure."""
    error: str | None = None
    """Short message of an error."""
    text: str = ""
    """The full report, as the failure/error body or as system-out when it passed."""
    properties: tuple[tuple[str, str], ...] = ()
    """(name, value) of the case's <properties>."""


def _validate_case(outcome: Validation, classname: str = "mlfcheck.validate",
                   name: str | None = None) -> Case:
    text = validate_reporters.render_text([outcome])
    if isinstance(outcome, Unreadable):
        return Case(classname, name or outcome.path, error=f"could not read: {outcome.error}",
                    text=text)
    errors = outcome.count(Severity.ERROR)
    failure = f"{errors} error{'s' if errors != 1 else ''}" if errors else None
    return Case(classname, name or outcome.path, failure=failure, text=text)


def _audit_cases(a: ArchiveAudit, result: AuditResult) -> list[Case]:
    from mlfcheck.reporters import diff as diff_reporters
    from mlfcheck.reporters import judged

    name = a.item.key
    if a.report is None:
        return [Case("mlfcheck.audit.validate", name, error=f"could not audit: {a.error}",
                     text=a.error or "")]
    cases = [replace(_validate_case(a.report, "mlfcheck.audit.validate", name),
                     properties=(("mlfcheck.judged_by", judged.cell(a.report.judged)),))]
    if a.comparison is not None:
        diff = a.comparison.result
        if diff is None:
            cases.append(Case("mlfcheck.audit.baseline", name,
                              error=f"could not compare: {a.comparison.error}",
                              text=a.comparison.error or ""))
        else:
            failed = diff.fails(result.fail_on)
            cases.append(Case("mlfcheck.audit.baseline", name,
                              failure=diff_reporters.headline(diff) if failed else None,
                              text=diff_reporters.render_text(diff)))
    return cases


def _xml(suite_name: str, cases: Sequence[Case],
         properties: Sequence[tuple[str, str]] = ()) -> str:
    counts = {"tests": str(len(cases)),
              "failures": str(sum(c.failure is not None for c in cases)),
              "errors": str(sum(c.error is not None for c in cases)), "skipped": "0"}
    root = ET.Element("testsuites", {"name": suite_name, **counts})
    suite = ET.SubElement(root, "testsuite", {"name": suite_name, **counts})
    _properties(suite, properties)
    for c in cases:
        case = ET.SubElement(suite, "testcase", {"classname": c.classname, "name": term(c.name)})
        _properties(case, c.properties)
        body = xml_text(c.text)
        if c.error is not None:
            ET.SubElement(case, "error", {"message": term(c.error), "type": "error"}).text = body
        elif c.failure is not None:
            ET.SubElement(case, "failure", {"message": term(c.failure),
                                            "type": "failure"}).text = body
        elif c.text:
            ET.SubElement(case, "system-out").text = body
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _properties(parent: ET.Element, properties: Sequence[tuple[str, str]]) -> None:
    if properties:
        listed = ET.SubElement(parent, "properties")
        for name, value in properties:
            ET.SubElement(listed, "property", {"name": name, "value": term(value)})


def render_junit(outcomes: Sequence[Validation]) -> str:
    """validate --format junit: a test case per archive; errors fail it, unreadable errors it."""
    return _xml("mlfcheck validate", [_validate_case(o) for o in outcomes])


def render_audit_junit(result: AuditResult) -> str:
    """audit --format junit: per archive a validate case (its layers a property), and a
    baseline case when compared; the suite's properties name the config and what judged."""
    from mlfcheck.reporters import diff as diff_reporters
    from mlfcheck.reporters import judged

    where, what = diff_reporters.config_heading(result.config_source, result.config_overrides)
    properties = [("mlfcheck.config", f"{where} ({what})"),
                  *(("mlfcheck.config.override", line)
                    for line in diff_reporters.config_overrides(result.config_overrides)),
                  ("mlfcheck.judged_by", judged.heading(result.build))]
    return _xml("mlfcheck audit", [c for a in result.archives for c in _audit_cases(a, result)],
                properties)
