"""Hostile generated C (issue: "the C reader reopened holes"): each row of the issue's table,
built here at test time, ends within 10 s and 512 MiB with a finding or one line.

Every input is small and within the archive limits; each is one C member added to the valid v7
AOT archive. `mlfcheck validate` runs on it in a child process under RLIMIT_AS 512 MiB
(`children.run`), which reports its wall time and its peak resident memory (its own and its
forked parsers'). The C limits (`--max-c-*`, `reading/csource/budget.py`) refuse what would cost
too much as X004, naming the file, the limit and the option that raises it; nesting costs
linear time. The rows:

| row | input | ends in |
|---|---|---|
| 1 | 16 MB numeric initializer, one element not a number, in a 17 KB .tar.gz | X004 --max-c-ratio |
| 2 | the same list at 4 MB, plain tar | X004 --max-c-parse-steps |
| 3 | 4 MB of C that does not parse | X004 --max-c-parse-steps |
| 4 | 520 KB of nested `#ifdef __cplusplus` | valid (linear preparation) |
| 5 | 200,000 tiny top-level items (2.5 MB) | X004 --max-c-steps |
| 6 | one 8 MB line of garbage C | X004 --max-c-parse-steps |
| 7 | 1,000 nested `#ifdef`, CLI and API | valid, no RecursionError |
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixture_writer import mf

from mlfcheck import api, children
from mlfcheck.errors import MlfcheckError
from mlfcheck.reading.archive import Limits

MiB = 1 << 20
SECONDS = 10.0
MEMORY = 512 * MiB
MEMBER = "codegen/host/src/add_lib2.c"

DRIVER = """
import resource, sys, time
from mlfcheck.cli import main
started = time.perf_counter()
code = 0
try:
    main(sys.argv[1:], prog_name="mlfcheck")
except SystemExit as exc:
    code = exc.code
finally:
    peak = max(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"@@ {time.perf_counter() - started:.3f} {peak * 1024}", file=sys.stderr)
sys.exit(code)
"""
"""Runs `mlfcheck ARGS` and adds one last stderr line: its seconds and peak memory in bytes."""


@dataclass(frozen=True)
class Outcome:
    """How one contained `mlfcheck` run ended."""

    code: int | None
    out: str
    err: str
    seconds: float
    """Wall time of the whole child process, start-up included."""
    peak: int
    """Peak resident bytes of the child or any process it forked."""


def run_cli(*args: str) -> Outcome:
    """`mlfcheck ARGS` in a child limited to 512 MiB of address space and 60 s."""
    ran = children.run([sys.executable, "-c", DRIVER, *args],
                       limits=children.Limits(seconds=60.0, memory_bytes=MEMORY))
    *err, stats = ran.stderr.rstrip("\n").split("\n") if ran.stderr else ["@@ 0 0"]
    assert stats.startswith("@@ "), ran.stderr[-3000:]
    _, _, peak = stats.split()
    return Outcome(ran.returncode, ran.stdout, "\n".join(err), ran.seconds, int(peak))


def with_c(c_source: bytes) -> dict[str, bytes]:
    """The valid v7 AOT archive with one more C file."""
    return {**mf.aot7(), MEMBER: c_source}


def write(path: Path, files: dict[str, bytes], *, gzip: bool = False) -> Path:
    data = mf.tar_bytes(mf.entries_of(files))
    path.write_bytes(mf.gzip_bytes(data) if gzip else data)
    return path


# -- the inputs --------------------------------------------------------------------------------


def numeric_list(size: int) -> bytes:
    """A `size`-byte weight array of zeros with one element in its middle that is not a
    number (`x`): valid C, but no longer a list the parser may skip."""
    elements = [b"0"] * (size // 3)
    elements[len(elements) // 2] = b"x"
    return b"static const int8_t w[] = {" + b", ".join(elements) + b"};\n"


def unparsable(size: int) -> bytes:
    """Functions whose bodies do not parse, one after another."""
    unit = b"int32_t f(int x) {\n  x = (x + ;\n  return x ]];\n}\n\n"
    return unit * (size // len(unit))


def nested_cplusplus(size: int) -> bytes:
    """`#ifdef __cplusplus` blocks nested as deep as `size` bytes allow."""
    depth = size // len(b"#ifdef __cplusplus\n#endif\n")
    return b"#ifdef __cplusplus\n" * depth + b"#endif\n" * depth


def tiny_items(count: int) -> bytes:
    return b"".join(b"int a%d;\n" % i for i in range(count))


def garbage_line(size: int) -> bytes:
    """Tokens that do not make C, on one line."""
    unit = b"( ] { ) x + ; } [ "
    return unit * (size // len(unit)) + b"\n"


def nested_ifdef(depth: int) -> bytes:
    return (b"".join(b"#ifdef A%d\n" % i for i in range(depth)) + b"int x;\n"
            + b"#endif\n" * depth)


@dataclass(frozen=True)
class Row:
    """One row of the issue's table: the input, and what validate must say about it."""

    id: str
    build: Callable[[Path], Path]
    says: str | None
    """Text of the X004 finding on MEMBER; None when the C is valid and read."""


ROWS = (
    Row("16MB-list-one-bad-element-in-17KB-gzip", lambda p: write(
        p / "input.tar.gz", with_c(numeric_list(16_000_000)), gzip=True), "--max-c-ratio"),
    Row("4MB-list-one-bad-element", lambda p: write(
        p / "input.tar", with_c(numeric_list(4_000_000))), "--max-c-parse-steps"),
    Row("4MB-of-C-that-does-not-parse", lambda p: write(
        p / "input.tar", with_c(unparsable(4_000_000))), "--max-c-parse-steps"),
    Row("520KB-of-nested-ifdef-cplusplus", lambda p: write(
        p / "input.tar", with_c(nested_cplusplus(520_000))), None),
    Row("200000-tiny-items", lambda p: write(
        p / "input.tar", with_c(tiny_items(200_000))), "--max-c-steps"),
    Row("one-8MB-line-of-garbage", lambda p: write(
        p / "input.tar", with_c(garbage_line(8_000_000))), "--max-c-parse-steps"),
    Row("1000-nested-ifdef", lambda p: write(
        p / "input.tar", with_c(nested_ifdef(1000))), None),
)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_each_row_ends_within_10s_and_512MiB_with_a_finding(row: Row, tmp_path: Path) -> None:
    path = row.build(tmp_path)
    if row.id.startswith("16MB"):
        assert path.stat().st_size < 20_000  # the 17 KB of the issue
    done = run_cli("validate", "--format", "json", str(path))
    assert "Traceback" not in done.out + done.err, done.err[-3000:]
    assert done.seconds < SECONDS, f"{done.seconds:.1f} s"
    assert done.peak < MEMORY, f"peak {done.peak / MiB:.0f} MiB"
    report = json.loads(done.out)["archives"][0]
    found = [f for f in report["findings"] if f["code"] in ("X003", "X004")]
    if row.says is None:
        assert done.code == 0 and not found, report
        return
    assert done.code == 1, done.err
    assert [(f["code"], f["member"]) for f in found] == [("X004", MEMBER)], found
    assert row.says in found[0]["message"] and "\n" not in found[0]["message"]


def test_a_row_reads_as_text_in_one_line_too(tmp_path: Path) -> None:
    path = ROWS[2].build(tmp_path)
    done = run_cli("validate", str(path))
    assert done.code == 1 and not done.err
    lines = [line for line in done.out.splitlines() if "X004" in line]
    assert lines == [f"  {MEMBER}: X004 error: not read: parsing the whole file (its pieces "
                     "do not all parse) took more than 8192 steps (raise with "
                     "--max-c-parse-steps)"]


@pytest.fixture(scope="module")
def deep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("deep")
    return (write(folder / "deep.tar", with_c(nested_ifdef(1000))),
            write(folder / "good.tar", mf.aot7()))


def test_1000_nested_ifdef_through_the_api_is_read_not_a_recursion_error(
        deep: tuple[Path, Path]) -> None:
    path, good = deep
    calls: list[Callable[[], Any]] = [
        lambda: api.validate_archive(path), lambda: api.summarize_archive(path),
        lambda: api.compat(path, "tvmc-v7"), lambda: api.compat_all(path),
        lambda: api.diff_archives(good, path), lambda: api.diff_archives(path, good)]
    for call in calls:
        try:
            call()
        except MlfcheckError as exc:  # (typed is allowed; the C itself reads)
            pytest.fail(f"{exc}")
    report = api.validate_archive(path)
    assert not [f for f in report.findings if f.code.name.startswith("X")]
    summary = api.summarize_archive(path)
    assert {c.path: c.functions for c in summary.codegen}[MEMBER] == 0


@pytest.mark.parametrize("depth", [5000, 20000])
def test_deeper_nesting_costs_linear_time_and_ends_in_a_finding_or_a_table(
        depth: int, tmp_path: Path) -> None:
    path = write(tmp_path / "deep.tar", with_c(nested_ifdef(depth)))
    done = run_cli("validate", str(path))
    assert done.code in (0, 1) and "Traceback" not in done.out + done.err
    assert done.seconds < SECONDS


# -- the worst cases behind the limits ---------------------------------------------------------


def unclosed_calls(size: int) -> bytes:
    """`f(f(f(...` never closed, on one line: tree-sitter's stack grows about 27 KB a step, the
    most memory per step of any input measured."""
    return b"int x = " + b"f(" * (size // 2) + b"\n"


def many_broken_files(count: int, size: int) -> dict[str, bytes]:
    """`count` C files of about `size` bytes each, none of which parses: each costs tree-sitter's
    error recovery, the most time per step."""
    unit = b"`x"
    return {**mf.aot7(), **{f"codegen/host/src/add_lib{n + 2}.c": unit * (size // 2)
                             for n in range(count)}}


def test_input_nested_without_closing_stays_within_the_memory_cap(tmp_path: Path) -> None:
    path = write(tmp_path / "input.tar", with_c(unclosed_calls(4 * MiB)))
    done = run_cli("validate", str(path))
    assert done.code == 1 and "Traceback" not in done.out + done.err, done.err
    assert "--max-c-parse-steps" in done.out
    assert done.peak < MEMORY and done.seconds < SECONDS


def test_many_files_of_broken_c_stop_at_the_archive_budget(tmp_path: Path) -> None:
    path = write(tmp_path / "input.tar", many_broken_files(2000, 16 * 1024))
    done = run_cli("validate", "--format", "json", str(path))
    assert done.code == 1 and "Traceback" not in done.out + done.err, done.err
    codes = {f["code"] for f in json.loads(done.out)["archives"][0]["findings"]}
    assert codes == {"X003", "X004"}, codes
    assert done.peak < MEMORY and done.seconds < SECONDS


# -- each limit: a finding naming its flag; the flag moves it; the rest is still checked -------


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--max-c-size", "600", "769 bytes of C, over the 600-byte limit of one file"),
    ("--max-c-total", "700", "the archive's C passes 700 bytes with this file"),
    ("--max-c-parse-steps", "20", "took more than 20 steps"),
    ("--max-c-steps", "50", "took more than its 50 steps by this file"),
])
def test_each_c_limit_is_an_x004_naming_its_flag(flag: str, value: str, says: str,
                                                  tmp_path: Path) -> None:
    files = mf.aot7()  # add_lib0.c: 769 bytes; add_lib1.c, small and cut short: X003
    files["codegen/host/src/add_lib1.c"] = b"int f(void) {\n"
    path = write(tmp_path / "input.tar", files)
    done = run_cli("validate", "--format", "json", flag, value, str(path))
    findings = json.loads(done.out)["archives"][0]["findings"]
    refused = [f for f in findings if f["code"] == "X004"]
    assert refused and all(f"raise with {flag})" in f["message"] for f in refused), findings
    assert says in refused[0]["message"], refused
    assert refused[0]["member"] == "codegen/host/src/add_lib0.c"
    if flag != "--max-c-steps":  # the other file is still read: its syntax error is reported
        assert [f["member"] for f in findings if f["code"] == "X003"] == [
            "codegen/host/src/add_lib1.c"], findings
    done = run_cli("validate", "--format", "json", str(path))
    assert {f["code"] for f in json.loads(done.out)["archives"][0]["findings"]} == {"X003"}


def test_the_ratio_counts_what_the_parser_is_given_not_the_bytes(tmp_path: Path) -> None:
    clean = numeric_list(16_000_000).replace(b"x", b"0")  # a weight array the parser skips
    path = write(tmp_path / "weights.tar.gz", with_c(clean), gzip=True)
    done = run_cli("validate", "--format", "json", str(path))
    assert done.code == 0, done.out[-2000:]
    path = write(tmp_path / "bad.tar.gz", with_c(numeric_list(16_000_000)), gzip=True)
    done = run_cli("validate", "--format", "json", "--max-c-ratio", "100000", str(path))
    assert "--max-c-ratio" not in done.out and "--max-c-parse-steps" in done.out


def test_an_archive_within_the_limits_is_judged_the_same_by_every_parser(tmp_path: Path) -> None:
    """What the budget refuses depends on the archive, not on what the parser read before."""
    from mlfcheck.reading.csource import CParser

    path = write(tmp_path / "input.tar", with_c(tiny_items(200_000)))
    parser = CParser()
    first = api.validate_archive(path, parser=parser)
    again = api.validate_archive(path, parser=parser)  # every piece now comes from the cache
    fresh = api.validate_archive(path, limits=Limits())
    assert [f.message for f in first.findings] == [f.message for f in again.findings] == \
        [f.message for f in fresh.findings]
    assert [f.code.name for f in first.findings] == ["X004"]


def test_the_benchmark_archive_of_4000_c_files_validates_at_the_defaults(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        import bench_validate
    finally:
        sys.path.pop(0)
    path = tmp_path / "bench.tar"
    bench_validate.write_archive(path, tensors=0, n_sources=4000)
    done = run_cli("validate", str(path))
    assert done.code == 0, done.out[-2000:]
