"""The shipped schemas' patterns mean the same under Python and ECMA-262 (issue 12 §7), and
each runs in linear time on hostile input, with a maxLength beside it.

JSON Schema says `pattern` is an ECMA-262 regular expression, but jsonschema evaluates it with
Python's `re`, where `$` also matches before a trailing newline and `\\d` matches any Unicode
digit. Every pattern in every shipped schema is run on the same probe strings by `re.search`
and by Node's RegExp, and must accept exactly the same ones. Node is skipped when absent,
except under CI (env CI set) where that is a failure (.ci/run installs it).

Both engines backtrack, so a pattern whose quantifiers can trade characters (`[^@]+/[^@]+` on
`a/a/a/…`) takes quadratic time or worse. Each shipped pattern, and each regex the code applies
to user input, is run on 1 MiB strings built from its own character classes (`shapes`) in a
child process per engine, and must finish each within `LIMIT`.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
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


# -- linear time ------------------------------------------------------------------------------

SIZE = 1 << 20
"""Characters in each hostile string."""
LIMIT = 1.0
"""Seconds one engine may take on one pattern and one string (a linear pattern takes ~10 ms)."""
HUNG = LIMIT + 0.5
"""Seconds without an answer after which the engine is killed: the pattern is not linear."""

SAMPLES = {
    "[^ \\t\\r\\n]": "x",
    "^(/.*)?$(?!\\n)": "/modules/*/executors",
    "^[0-9]+$(?!\\n)": "12",
    "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}Z$(?!\\n)": "2023-01-25 21:07:31Z",
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "2024-12-31",
    "^[A-Z][0-9]{3}$(?!\\n)": "S003",
    "^D[1-9][0-9]{2}$(?!\\n)": "D409",
    "^[A-Za-z_][A-Za-z0-9_]*$(?!\\n)": "input_1_int8",
    "^(@tvm-runtime|[A-Za-z0-9_./-]+)$(?!\\n)": "codegen/host/include",
    "^(host|[a-z0-9-]+)$(?!\\n)": "mps2-an386",
    "^[A-Za-z0-9_-]+\\.c$(?!\\n)": "zephyr_aot_demo_2023.c",
    "^[A-Za-z0-9_.*/-]+$(?!\\n)": "codegen/host/src/*.c",
    "^[A-Za-z_{][A-Za-z0-9_{}]*$(?!\\n)": "tvmgen_{module}_run",
    "^[^@\\s/]+/[^@\\s]+@[0-9a-f]{7,40}:[^:\\s]+:[1-9][0-9]*$(?!\\n)":
        "own/rep@8767469:pth/x.y:90",
    "^[a-z0-9][a-z0-9.-]*$(?!\\n)": "tvmc-0.8",
    "^[a-z0-9]+$(?!\\n)": "float32",
    "^[a-z_][a-z0-9_]*$(?!\\n)": "default_1",
    "^__tvm_ffi_tvmgen_[A-Za-z0-9_]+$(?!\\n)": "__tvm_ffi_tvmgen_default_add",
}
"""A string each shipped pattern accepts: its prefixes are the near misses `shapes` pumps. A
new pattern needs one here."""


def _code_patterns() -> dict[str, tuple[str, str, str]]:
    """The regexes the code applies to user input beside the schemas: name → (pattern, a
    string it accepts, the method the code calls)."""
    from mlfcheck.cli._common import SHARD_PATTERN as _SHARD
    from mlfcheck.consumers.profile import _EVIDENCE
    from mlfcheck.diff.config import _THRESHOLD

    return {"profile evidence": (_EVIDENCE.pattern, "own/rep@8767469:pth/x.y:90", "match"),
            "diff threshold": (_THRESHOLD.pattern, " 1.5 KiB ", "match"),
            "fuzz --shard": (_SHARD.pattern, "12/34", "fullmatch")}


CODE = _code_patterns()
OLD_EVIDENCE = "^[^@\\s]+/[^@\\s]+@[0-9a-f]{7,40}:[^:\\s]+:[1-9][0-9]*$(?!\\n)"
"""The evidence pattern before issue 14: quadratic on 'a/' repeated (12 s at 67 KB)."""

_ATOM = re.compile(r"\[(?:\\.|[^\]\\])+\]|\\.|\{[0-9,]+\}|[()?*+|^$]|.", re.S)
_STRUCTURE = re.compile(r"\{[0-9,]+\}|[()?*+|^$]")
_POOL = [chr(c) for c in range(0x20, 0x7F)] + ["\t", "\n", "\r", "\x0b", "\x0c", "\x00",
                                               "\u00e9", "\u00b2", "\u0663", "\u2028", "\u3000"]


def alphabet(pattern: str) -> dict[str, str]:
    """Each character of a small pool → the one standing for every character the pattern's
    classes and literals see the same way (the characters its engine tells apart); the
    character that no atom matches, if any, stands for itself under the key ''."""
    bare = re.sub(r"\(\?(?:P<\w+>|<?[!=]|:)", "(", pattern)  # (group syntax: no atoms)
    atoms = [a for a in _ATOM.findall(bare) if not _STRUCTURE.fullmatch(a)]
    first: dict[tuple[bool, ...], str] = {}
    out = {}
    for c in _POOL:
        out[c] = first.setdefault(tuple(re.fullmatch(a, c) is not None for a in atoms), c)
    out[""] = first.get((False,) * len(atoms), "\n")
    return out


def shapes(pattern: str, sample: str) -> list[tuple[str, str, str]]:
    """(prefix, unit, tail) of each hostile string: prefix + unit repeated to SIZE + tail.

    The near misses are the prefixes of `sample` that end a run of characters the pattern sees
    alike, or start one. Each is repeated, before nothing and before a tail no atom matches
    (else a newline), and pumped with its last character and with the next one of the sample,
    before that tail; each character class is also repeated alone, before nothing, a newline
    or that tail."""
    same = alphabet(pattern)
    fail = same[""]
    ends = [n for n in range(1, len(sample) + 1)
            if n == len(sample) or same.get(sample[n - 1]) != same.get(sample[n])]
    near = sorted({sample[:n] for n in ends} | {sample[:n + 1] for n in [0, *ends[:-1]]},
                  key=len)
    found = [("", p, t) for p in near for t in ("", fail)]
    found += [(p, c, fail) for p in near for c in (p[-1], sample[len(p):len(p) + 1]) if c]
    found += [("", c, t) for c in sorted(set(same.values())) for t in ("", "\n", fail)]
    return list(dict.fromkeys(found))


PYTHON = r"""
import json, re, sys, time
job = json.load(sys.stdin)
pattern = re.compile(job["pattern"])
run = getattr(pattern, job["method"])
for prefix, unit, tail in job["shapes"]:
    text = prefix + unit * ((job["size"] - len(prefix) - len(tail)) // len(unit)) + tail
    start = time.perf_counter()
    run(text)
    print(time.perf_counter() - start, flush=True)
"""
"""re.search, as jsonschema runs `pattern` (or the method the code calls)."""
NODE = r"""
const fs = require("fs");
const job = JSON.parse(fs.readFileSync(0, "utf8"));
const pattern = new RegExp(job.pattern, "u");
for (const [prefix, unit, tail] of job.shapes) {
  const n = Math.floor((job.size - prefix.length - tail.length) / unit.length);
  const text = prefix + unit.repeat(n) + tail;
  const start = process.hrtime.bigint();
  pattern.test(text);
  fs.writeSync(1, `${Number(process.hrtime.bigint() - start) / 1e9}\n`);
}
"""
"""RegExp.test with the u flag, as an ECMA-262 validator (ajv) runs `pattern`."""


def timings(argv: list[str], pattern: str, sample: str,
            method: str = "search") -> tuple[list[float], str]:
    """Seconds the engine took on each shape, in order, and why it stopped before the last
    ('' when it did not): killed after HUNG seconds without an answer, or its error."""
    todo = shapes(pattern, sample)
    job = json.dumps({"pattern": pattern, "shapes": todo, "size": SIZE,
                      "method": method}).encode()
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as child:
        assert child.stdin is not None and child.stdout is not None and child.stderr is not None
        try:
            child.stdin.write(job)
            child.stdin.close()
            return _read_times(child.stdout, child.stderr, todo)
        finally:
            child.kill()


def _read_times(out: Any, err: Any, todo: list[tuple[str, str, str]]) -> tuple[list[float], str]:
    times: list[float] = []
    pending, deadline = b"", time.monotonic() + 10 + HUNG  # (starting the engine too)
    while len(times) < len(todo):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([out], [], [], left)[0]:
            return times, f"no answer in {HUNG:g} s on {todo[len(times)]!r}"
        chunk = os.read(out.fileno(), 1 << 16)
        if not chunk:
            return times, err.read().decode(errors="replace")[-2000:]
        *lines, pending = (pending + chunk).split(b"\n")
        times += [float(line) for line in lines]
        deadline = time.monotonic() + HUNG
    return times, ""


def assert_linear(argv: list[str], pattern: str, sample: str, method: str = "search") -> None:
    times, stopped = timings(argv, pattern, sample, method)
    assert not stopped, f"{pattern!r}: {stopped}"
    todo = shapes(pattern, sample)
    slow = [(round(s, 3), todo[n]) for n, s in enumerate(times) if s > LIMIT]
    assert not slow, f"{pattern!r} over {LIMIT:g} s on a {SIZE}-character string: {slow}"


def test_every_shipped_pattern_has_a_sample_it_accepts_and_hostile_shapes() -> None:
    assert set(ALL) <= set(SAMPLES), f"add a sample for {set(ALL) - set(SAMPLES)}"
    for pattern, sample, method in [*((p, SAMPLES[p], "search") for p in ALL), *CODE.values()]:
        assert getattr(re.compile(pattern), method)(sample), (pattern, sample)
        assert len(shapes(pattern, sample)) >= 5


def test_every_shipped_pattern_has_a_max_length_beside_it() -> None:
    def nodes(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            yield node
            for value in node.values():
                yield from nodes(value)
        elif isinstance(node, list):
            for value in node:
                yield from nodes(value)

    bare = [(name, n["pattern"]) for name in schemas.schema_names()
            for n in nodes(schemas.load(name)) if "pattern" in n and "maxLength" not in n]
    assert not bare, bare


@pytest.mark.parametrize("pattern", ALL)
def test_each_shipped_pattern_is_linear_in_python(pattern: str) -> None:
    assert_linear([sys.executable, "-c", PYTHON], pattern, SAMPLES[pattern])


@pytest.mark.parametrize("pattern", ALL)
def test_each_shipped_pattern_is_linear_in_ecma_262(pattern: str) -> None:
    assert_linear([node(), "-e", NODE], pattern, SAMPLES[pattern])


@pytest.mark.parametrize("name", sorted(CODE))
def test_each_regex_on_user_input_is_linear(name: str) -> None:
    assert_linear([sys.executable, "-c", PYTHON], *CODE[name])


def test_the_shapes_catch_the_old_quadratic_evidence_pattern() -> None:
    """The check itself: the pattern before issue 14 does not finish (hours on 1 MiB)."""
    times, stopped = timings([sys.executable, "-c", PYTHON], OLD_EVIDENCE, SAMPLES[
        "^[^@\\s/]+/[^@\\s]+@[0-9a-f]{7,40}:[^:\\s]+:[1-9][0-9]*$(?!\\n)"])
    assert stopped.startswith("no answer") or max(times) > LIMIT, (stopped, times)


def test_the_profile_reader_agrees_with_the_schema_on_evidence() -> None:
    from mlfcheck.consumers import builtin_profiles
    from mlfcheck.consumers.profile import _EVIDENCE

    schema = SAMPLES and next(p for p in ALL if "@[0-9a-f]" in p)
    seen = [e.at for p in builtin_profiles() for r in p.reads for e in r.evidence]
    probes = [*seen, "a/b/c@0123abc:p:1", "a@0123abc:p:1", "/a@0123abc:p:1", "a/b@0123abc:p:1\n",
              "a/b@0123abc:p:0", "a/b@0123ABC:p:1", "a/b@0123abc:p:1:2", "a/b@012345:p:1"]
    assert len(seen) > 50
    assert [bool(_EVIDENCE.match(s)) for s in probes] == \
        [bool(re.search(schema, s)) for s in probes]
    assert all(_EVIDENCE.match(s) for s in seen)
