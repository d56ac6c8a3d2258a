"""The shipped schemas' patterns mean the same under Python and ECMA-262 (issue 12 §7).

JSON Schema says `pattern` is an ECMA-262 regular expression, but jsonschema evaluates it with
Python's `re`, where `$` also matches before a trailing newline and `\\d` matches any Unicode
digit. Every pattern in every shipped schema is run on the same probe strings by `re.search`
and by Node's RegExp, and must accept exactly the same ones. Node is skipped when absent,
except under CI (env CI set) where that is a failure (.ci/run installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from fixture_writer import mf

from mlfcheck.cli import main
from mlfcheck.reading import schemas

PROBES = ["", "\n", "0", "123", "123\n", "12a", "١٢٣", "٢٠٢٣-٠١-٢٥ ٢١:٠٧:٣١Z",
          "2023-01-25 21:07:31Z", "2023-01-25 21:07:31Z\n", "2023-01-25T21:07:31Z",
          "A123", "A123\n", "a-b.c", "a-b.c\n", "abc_1", "abc_1\n", "/x", "/x\n", "x\ny",
          "__tvm_ffi_tvmgen_x", "__tvm_ffi_tvmgen_x\n", "\u0663"]
"""Strings each pattern is tried on: trailing newlines and non-ASCII digits among them."""


def patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from patterns(value)


ALL = sorted({p for name in schemas.schema_names() for p in patterns(schemas.load(name))})


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Node is required under CI: .ci/run installs Debian's nodejs")
        pytest.skip("Node is not installed (apt-get install nodejs); CI runs this test")
    return found


ECMA = """
const [patterns, probes] = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(patterns.map(p => probes.map(s => new RegExp(p, "u").test(s)))));
"""


def test_the_schemas_have_patterns_to_check() -> None:
    assert len(ALL) >= 5
    assert any("[0-9]{4}-" in p for p in ALL)


def test_every_pattern_accepts_the_same_strings_in_python_and_ecma_262() -> None:
    ecma = json.loads(subprocess.run([node(), "-e", ECMA], input=json.dumps([ALL, PROBES]),
                                     capture_output=True, text=True, check=True).stdout)
    python = [[re.search(p, s) is not None for s in PROBES] for p in ALL]
    differ = [(p, s, py, js) for p, row_py, row_js in zip(ALL, python, ecma, strict=True)
              for s, py, js in zip(PROBES, row_py, row_js, strict=True) if py != js]
    assert not differ, differ
    assert any(any(row) for row in python), "no probe matched any pattern: the probes are wrong"


def test_no_anchored_pattern_accepts_a_trailing_newline_or_non_ascii_digits() -> None:
    anchored = [p for p in ALL if p.startswith("^") and "$" in p]
    assert len(anchored) >= 5
    tried = set()  # probes one step from a string the pattern accepts: what could slip through
    for p in anchored:
        for s in PROBES:
            if re.search(p, s) is not None:
                assert not s.endswith("\n") and not re.search(r"[^\x00-\x7f]", s), (p, s)
            elif s.endswith("\n") and re.search(p, s[:-1]):
                tried.add("trailing newline")
            elif re.search(p, re.sub(r"\d", lambda d: str(int(d.group())), s)):
                tried.add("non-ASCII digits")
    assert tried == {"trailing newline", "non-ASCII digits"}, tried


@pytest.mark.parametrize("when", ["2023-01-25 21:07:31Z\n", "٢٠٢٣-٠١-٢٥ ٢١:٠٧:٣١Z"],
                         ids=["trailing-newline", "arabic-indic-digits"])
def test_export_datetime_with_a_newline_or_other_digits_is_s003(when: str, tmp_path: Any) -> None:
    from click.testing import CliRunner

    def edit(meta: dict[str, Any]) -> None:
        meta["modules"]["add"]["export_datetime"] = when

    path = tmp_path / "a.tar"
    path.write_bytes(mf.tar_bytes(mf.entries_of(mf._with_meta(mf.aot7(), edit))))
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["archives"][0]["findings"]
    assert [f["code"] for f in findings] == ["S003"], findings
    assert findings[0]["pointer"] == "/modules/add/export_datetime"
