"""The parts of schemas/diff-report.schema.json generated from the code, so they cannot drift:
the rule enum from `Rule` (in enum order) and the section enum from the comparator table (in
report order).

After adding a rule or a section, rewrite the shipped file with

    python -c "from mlfcheck.diff.report_schema import write; write()"

tests/unit/test_diff_schema.py fails, naming that command, while the file is out of date.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlfcheck.diff.rules import Rule
from mlfcheck.diff.table import COMPARATORS
from mlfcheck.reading import schemas

SCHEMA = "diff-report.schema.json"
REGENERATE = 'python -c "from mlfcheck.diff.report_schema import write; write()"'
"""The command that rewrites the shipped file (for messages)."""


def regenerate(text: str) -> str:
    """The schema file's `text` with both enums written from the code, in the file's own
    layout (2-space indented JSON, UTF-8 unescaped, a final newline)."""
    doc = json.loads(text)
    doc["$defs"]["change"]["properties"]["rule"]["enum"] = [r.name for r in Rule]
    doc["$defs"]["section"]["enum"] = [c.section for c in COMPARATORS]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write(path: Path | None = None) -> bool:
    """Regenerate the schema file at `path` (default: the shipped one); True when it changed."""
    target = path if path is not None else schemas.schema_dir() / SCHEMA
    text = target.read_text(encoding="utf-8")
    fresh = regenerate(text)
    if fresh != text:
        target.write_text(fresh, encoding="utf-8")
    return fresh != text
