"""Issue 14: hostile input ends in a finding or one error line, through the CLI and the API.

Each row of the issue has a test here, in this process: a consumer profile whose `evidence.at`
is 67 KB (the quadratic pattern), `schema show ²` and `fuzz --shard ²/3` ('²'.isdigit()
holds but int('²') fails), and generated C with 1,000 or 5,000 nested `#ifdef` (RecursionError
in the C reader). Each ends within 10 s, with at most one line on stderr and no traceback;
tests/integration/test_untyped_failures_process.py runs the same rows in a fresh process and
measures its memory too.

The C reader may stop recursing (another change makes it iterative), so the boundary itself is
also tested with a C parser that raises RecursionError, MemoryError or a parser error on one
archive only: every API call raises ArchiveError for it, every command prints one line and
exits 2, and `audit` reports that archive and carries on with the other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke
from conftest import REPO
from fixture_writer import mf

from mlfcheck import api
from mlfcheck.audit import audit, discover
from mlfcheck.cli import main
from mlfcheck.errors import ArchiveError, MlfcheckError, reading_failure
from mlfcheck.reading.csource import CParser
from mlfcheck.reading.loaded import Loaded

SECONDS = 10.0
PROFILE = REPO / "mlfcheck" / "consumers" / "profiles" / "tvmc-v7.json"


def nested_c(depth: int) -> bytes:
    return (b"".join(b"#ifdef A%d\n" % i for i in range(depth)) + b"int x;\n"
            + b"#endif\n" * depth)


def archive(folder: Path, name: str, c_source: bytes | None = None) -> str:
    """The valid v7 AOT archive, with codegen/host/src/x.c when given."""
    files = dict(mf.aot7())
    if c_source is not None:
        files["codegen/host/src/x.c"] = c_source
    path = folder / name
    path.write_bytes(mf.tar_bytes(mf.entries_of(files)))
    return str(path)


def cli(*args: str) -> tuple[int, str, str]:
    """`mlfcheck ARGS`, which must end within 10 s: (exit code, stdout, stderr)."""
    start = time.monotonic()
    found = invoke(main, *args)
    assert time.monotonic() - start < SECONDS, args
    return found


def assert_one_line(err: str, command: str) -> None:
    assert "Traceback" not in err and "MemoryError" not in err, err
    assert len(err.splitlines()) <= 1, err
    assert not err or err.startswith(f"mlfcheck {command}: error: "), err


# -- a long evidence.at ------------------------------------------------------------------------


def long_evidence(folder: Path, size: int) -> Path:
    doc = json.loads(PROFILE.read_text(encoding="utf-8"))
    doc["name"] = "long-evidence"
    read = next(r for r in doc["reads"] if "evidence" in r)
    read["evidence"][0]["at"] = "a/" * (size // 2)
    path = folder / f"long-{size}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_long_evidence_at_is_refused_at_once(tmp_path: Path) -> None:
    """67 KB took 12 s (1 MB, in the child processes of test_schema_patterns.py and
    tests/integration, took most of an hour)."""
    profile = long_evidence(tmp_path, 67_000)
    good = archive(tmp_path, "a.tar")
    code, out, err = cli("compat", "--profile", str(profile), good)
    assert code == 2 and not out
    assert_one_line(err, "compat")
    assert "not a consumer profile: .reads[0].evidence[0].at fails" in err
    from mlfcheck.consumers import ProfileError, load_profile

    start = time.monotonic()
    with pytest.raises(ProfileError, match=r"evidence\[0\]\.at fails"):
        load_profile(profile)
    assert time.monotonic() - start < 2


# -- non-ASCII digits ------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "command"), [
    (["schema", "show", "²"], "schema show"),
    (["schema", "show", "9" * 5000], "schema show"),
    (["fuzz", "--shard", "²/3"], "fuzz"),
    (["fuzz", "--shard", "1/" + "9" * 5000], "fuzz"),
    (["fuzz", "--shard", "3/2"], "fuzz"),
])
def test_other_digits_are_one_line_and_exit_2(args: list[str], command: str) -> None:
    code, out, err = cli(*args)
    assert code == 2 and not out
    assert_one_line(err, command)


def test_shards_and_versions_in_ascii_digits_still_work() -> None:
    from mlfcheck.cli._common import SHARD_PATTERN as _SHARD

    assert [m.groups() if (m := _SHARD.fullmatch(s)) else None
            for s in ("2/3", "²/3", "2/3\n", " 2/3")] == [("2", "3"), None, None, None]
    code, out, _ = invoke(main, "schema", "show", "7")
    assert code == 0 and json.loads(out)["$id"].endswith("mlf-v7.schema.json")


def test_json_pointer_tokens_and_natural_sort_read_ascii_digits_only() -> None:
    from mlfcheck.consumers.evaluate import _children
    from mlfcheck.diff.normalise import _natural

    assert _children([10, 20], "1") == [("1", 20)]
    assert _children([10, 20], "²") is None
    assert _children([10, 20], "٣") is None
    assert _children([10, 20], "9" * 5000) is None
    paths = ["lib10.c", "lib2.c", "lib²0.c", "lib٣.c", "lib" + "9" * 5000 + ".c", "lib02.c"]
    assert sorted(paths, key=_natural)[:3] == ["lib2.c", "lib02.c", "lib10.c"]


def test_a_dtype_with_5000_digits_or_other_digits_is_no_type_and_no_crash(
        tmp_path: Path) -> None:
    from mlfcheck.reading.model import dtype_bytes

    assert (dtype_bytes("int32"), dtype_bytes("int8x4"), dtype_bytes("int\u0663\u0662"),
            dtype_bytes("int" + "1" * 5000)) == (4, 4, None, None)
    files = dict(mf.aot7())
    files["metadata.json"] = files["metadata.json"].replace(
        b'"dtype": "float32"', b'"dtype": "int' + b"1" * 5000 + b'"', 1)
    path = tmp_path / "wide.tar"
    path.write_bytes(mf.tar_bytes(mf.entries_of(files)))
    good = archive(tmp_path, "good.tar")
    for args in (["validate", str(path)], ["diff", good, str(path)], ["show", str(path)]):
        code, _, err = cli(*args)
        assert code in (0, 1) and not err, (args, code, err)


# -- 1,000 and 5,000 nested #ifdef -------------------------------------------------------------


@pytest.mark.parametrize("depth", [1000, 5000])
def test_nested_ifdef_ends_with_one_line_through_every_command(depth: int,
                                                               tmp_path: Path) -> None:
    deep = archive(tmp_path, "deep.tar", nested_c(depth))
    good = archive(tmp_path, "good.tar")
    for args in (["validate", deep], ["show", deep], ["compat", "--all", deep],
                 ["diff", good, deep], ["audit", "--jobs", "1", good, deep]):
        code, _, err = cli(*args)
        assert code in (0, 1, 2), (args, code, err)
        if args[0] == "validate":  # the text report on stdout says why, stderr stays empty
            assert not err, err
        elif args[0] == "audit":  # one line per unreadable archive: the good one is fine
            assert "good.tar" not in err
            assert_one_line(err, "audit")
        else:
            assert_one_line(err, args[0])


@pytest.mark.parametrize("depth", [1000, 5000])
def test_nested_ifdef_through_the_api_is_a_result_or_an_mlfcheck_error(
        depth: int, tmp_path: Path) -> None:
    deep = archive(tmp_path, "deep.tar", nested_c(depth))
    good = archive(tmp_path, "good.tar")
    calls: list[Callable[[], Any]] = [
        lambda: api.validate_archive(deep), lambda: api.summarize_archive(deep),
        lambda: api.compat_all(deep), lambda: api.diff_archives(good, deep),
        lambda: api.diff_archives(deep, good)]
    for call in calls:
        start = time.monotonic()
        try:
            call()
        except MlfcheckError as exc:
            assert "deep.tar" in str(exc) and "\n" not in str(exc)
        assert time.monotonic() - start < SECONDS


# -- the boundary itself -----------------------------------------------------------------------


FAILURES = {
    "recursion": (RecursionError("maximum recursion depth exceeded"),
                  "generated C nested too deeply to read (RecursionError)"),
    "memory": (MemoryError(), "generated C needs more memory to read than is left (MemoryError)"),
    "parser": (ValueError("Parsing failed"),
               "generated C could not be parsed (ValueError: Parsing failed)"),
}
POISON = b"/* poison */\nint poisoned;\n"


@pytest.fixture(params=sorted(FAILURES))
def poisoned_parser(request: pytest.FixtureRequest,
                    monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The CParser method an archive's C is read with raises the failure on any batch holding
    the poisoned C file, and reads every other batch as usual; (the name of the failure, the
    error it becomes). (`read_all` with C budgets, `parse_all` before them.)"""
    raised, why = FAILURES[request.param]
    name = "read_all" if hasattr(CParser, "read_all") else "parse_all"
    read = getattr(CParser, name)

    def poisoned(self: CParser, files: Sequence[tuple[str, bytes]], *args: Any) -> Any:
        if any(POISON in source for _, source in files):
            raise raised
        return read(self, files, *args)

    monkeypatch.setattr(CParser, name, poisoned)
    return request.param, why


def test_every_api_call_turns_a_reader_failure_into_an_archive_error(
        poisoned_parser: tuple[str, str], tmp_path: Path) -> None:
    _, why = poisoned_parser
    bad = archive(tmp_path, "bad.tar", POISON)
    good = archive(tmp_path, "good.tar")
    api.validate_archive(good)  # (the good archive is read as usual)
    calls: list[Callable[[], Any]] = [
        lambda: api.validate_archive(bad), lambda: api.summarize_archive(bad),
        lambda: api.compat_all(bad), lambda: api.compat(bad, "zephyr-aot-demo-2023"),
        lambda: api.diff_archives(good, bad), lambda: api.diff_archives(bad, good)]
    for call in calls:
        with pytest.raises(ArchiveError) as caught:
            call()
        assert str(caught.value) == f"{bad}: {why}"
        assert caught.value.path == bad and caught.value.detail == why


@pytest.mark.parametrize("command", ["validate", "show", "compat", "diff"])
def test_every_command_turns_a_reader_failure_into_one_line_and_exit_2(
        command: str, poisoned_parser: tuple[str, str], tmp_path: Path) -> None:
    _, why = poisoned_parser
    bad = archive(tmp_path, "bad.tar", POISON)
    good = archive(tmp_path, "good.tar")
    args = {"validate": ["validate", "--format", "json", bad], "show": ["show", bad],
            "compat": ["compat", "--all", bad], "diff": ["diff", good, bad]}[command]
    code, _, err = invoke(main, *args)
    assert (code, err) == (2, f"mlfcheck {command}: error: {bad}: {why}\n")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_audit_reports_the_poisoned_archive_and_carries_on(
        jobs: str, poisoned_parser: tuple[str, str], tmp_path: Path) -> None:
    _, why = poisoned_parser
    bad = archive(tmp_path, "bad.tar", POISON)
    archive(tmp_path, "good.tar")
    code, out, err = invoke(main, "audit", "--jobs", jobs, "--format", "json", str(tmp_path))
    assert code == 2
    by_name = {Path(a["path"]).name: a for a in json.loads(out)["archives"]}
    assert by_name["bad.tar"]["status"] == "unreadable"
    assert by_name["good.tar"]["status"] == "valid"
    assert err == f"mlfcheck audit: error: {bad}: {why}\n", err
    result = audit(discover([str(tmp_path)]), jobs=1)
    assert [(Path(a.item.path).name, a.error, a.report is not None)
            for a in result.archives] == [("bad.tar", why, False), ("good.tar", None, True)]


def test_a_baseline_the_reader_fails_on_is_the_comparison_error(
        poisoned_parser: tuple[str, str], tmp_path: Path) -> None:
    _, why = poisoned_parser
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    archive(tmp_path / "old", "a.tar", POISON)
    archive(tmp_path / "new", "a.tar")
    [found] = audit(discover([str(tmp_path / "new")]),
                    baseline=discover([str(tmp_path / "old")]), jobs=1).archives
    assert found.error is None and found.comparison is not None
    assert found.comparison.result is None and found.comparison.error is not None
    assert found.comparison.error.endswith(f"a.tar: {why}")


def test_a_recursion_error_outside_the_c_reader_is_typed_and_any_other_bug_is_not(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = archive(tmp_path, "good.tar")

    def raising(error: BaseException) -> Any:
        def metadata(self: Loaded) -> Any:
            raise error
        return property(metadata)

    monkeypatch.setattr(Loaded, "metadata", raising(RecursionError("deep")))
    with pytest.raises(ArchiveError, match=r"good\.tar: input nested too deeply to read"):
        api.validate_archive(good)
    code, _, err = invoke(main, "show", good)
    assert (code, err) == (2, f"mlfcheck show: error: {good}: input nested too deeply to read "
                              "(RecursionError)\n")
    monkeypatch.setattr(Loaded, "metadata", raising(KeyError("a bug")))
    with pytest.raises(KeyError, match="a bug"):
        api.validate_archive(good)
    assert reading_failure(KeyError("a bug")) is None


def test_the_cli_types_what_escaped_every_layer_below(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """The last resort, in the command group: a RecursionError no layer typed (here, raised
    by a reporter) is still one line and exit 2."""
    from mlfcheck.reporters import show as show_reporters

    def deep(summary: Any) -> str:
        raise RecursionError("deep")

    monkeypatch.setitem(show_reporters.RENDERERS, "text", deep)
    code, _, err = invoke(main, "show", archive(tmp_path, "good.tar"))
    assert (code, err) == (2, "mlfcheck show: error: input nested too deeply to read "
                              "(RecursionError)\n")
