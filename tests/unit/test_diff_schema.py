"""The generated enums of schemas/diff-report.schema.json match the code, and the generator
rewrites a stale copy."""

from __future__ import annotations

import json
from pathlib import Path

from mlfcheck.diff.report_schema import REGENERATE, SCHEMA, regenerate, write
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.table import COMPARATORS
from mlfcheck.reading import schemas

SHIPPED = schemas.schema_dir() / SCHEMA


def test_the_schema_lists_every_rule_in_enum_order() -> None:
    enum = schemas.load(SCHEMA)["$defs"]["change"]["properties"]["rule"]["enum"]
    assert enum == [r.name for r in Rule], (
        f"schemas/{SCHEMA}: the rule enum differs from mlfcheck.diff.rules.Rule; "
        f"regenerate it with: {REGENERATE}")


def test_the_schema_lists_every_section_in_report_order() -> None:
    enum = schemas.load(SCHEMA)["$defs"]["section"]["enum"]
    assert enum == [c.section for c in COMPARATORS], (
        f"schemas/{SCHEMA}: the section enum differs from the comparator table; "
        f"regenerate it with: {REGENERATE}")


def test_the_shipped_schema_is_what_the_generator_writes() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    assert regenerate(text) == text, f"schemas/{SCHEMA} is stale; regenerate it with: {REGENERATE}"


def test_the_generator_rewrites_a_stale_copy_and_leaves_a_fresh_one(tmp_path: Path) -> None:
    doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
    doc["$defs"]["change"]["properties"]["rule"]["enum"].remove("D901")
    stale = tmp_path / SCHEMA
    stale.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert write(stale) is True
    assert stale.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")
    assert write(stale) is False
