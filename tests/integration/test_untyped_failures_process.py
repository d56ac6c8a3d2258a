"""Issue 14's rows in a fresh process each, through the CLI and the API: under 10 s a call, under
512 MiB of peak memory, and each ends in a report or one error line, never a traceback.

The rows: a consumer profile whose `evidence.at` is 67 KB or 1 MB (the quadratic pattern),
`schema show ²` and `fuzz --shard ²/3` (non-ASCII digits), and generated C with 1,000 or 5,000
nested `#ifdef` (RecursionError in the C reader). tests/unit/test_untyped_failures.py runs the
same rows in the test process, and tests the boundary with a parser made to fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fixture_writer import mf

from mlfcheck.reading.archive import MiB

SECONDS = 10.0
MEMORY = 512 * MiB
PROFILE = Path(__file__).resolve().parents[2] / "mlfcheck" / "consumers" / "profiles" / \
    "tvmc-v7.json"

DRIVER = """
import json, resource, sys, time
from click.testing import CliRunner
from mlfcheck import api
from mlfcheck.cli import main
from mlfcheck.errors import MlfcheckError
for call in json.loads(sys.argv[1]):
    started = time.perf_counter()
    if call[0] == "api":
        name, args = call[1], call[2:]
        try:
            getattr(api, name)(*args)
            found = {"code": 0, "out": "", "err": "", "crash": None}
        except MlfcheckError as exc:
            found = {"code": 2, "out": "", "err": str(exc) + "\\n", "crash": None}
        except BaseException as exc:
            found = {"code": None, "out": "", "err": "", "crash": repr(exc)}
    else:
        r = CliRunner().invoke(main, call)
        crash = None if r.exception is None or isinstance(r.exception, SystemExit) else repr(
            r.exception)
        found = {"code": r.exit_code, "out": r.stdout[-3000:], "err": r.stderr, "crash": crash}
    found.update(call=call, seconds=time.perf_counter() - started)
    print(json.dumps(found), flush=True)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(int(hwm[0].split()[1]) * 1024 if hwm else
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""
"""Runs CLI commands (`[args...]`) and API calls (`["api", name, args...]`) in one fresh
process: one JSON line each, then the process's peak resident memory (VmHWM: Linux keeps
ru_maxrss across fork and exec, so it would report the test process's own size)."""


def run_all(calls: list[list[str]], cwd: Path) -> tuple[list[dict[str, Any]], int]:
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(calls)], cwd=cwd,
                          capture_output=True, text=True, timeout=SECONDS * len(calls) + 30,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    *lines, peak = proc.stdout.splitlines()
    return [json.loads(line) for line in lines], int(peak)


def assert_each_ends_in_one_line(calls: list[list[str]], cwd: Path) -> list[dict[str, Any]]:
    results, peak = run_all(calls, cwd)
    assert [r["call"] for r in results] == calls
    for r in results:
        assert r["crash"] is None, r
        assert "Traceback" not in r["out"] + r["err"], r
        assert r["code"] in (0, 1, 2), r
        assert len(r["err"].splitlines()) <= 1, r
        assert r["seconds"] < SECONDS, r
    assert peak < MEMORY, f"peak {peak / MiB:.0f} MiB"
    return results


def archive(path: Path, c_source: bytes | None = None) -> str:
    files = dict(mf.aot7())
    if c_source is not None:
        files["codegen/host/src/x.c"] = c_source
    path.write_bytes(mf.tar_bytes(mf.entries_of(files)))
    return str(path)


@pytest.mark.parametrize("size", [67_000, 1_000_000], ids=["67KB", "1MB"])
def test_a_profile_with_a_long_evidence_at(size: int, tmp_path: Path) -> None:
    doc = json.loads(PROFILE.read_text(encoding="utf-8"))
    doc["name"] = "long-evidence"
    next(r for r in doc["reads"] if "evidence" in r)["evidence"][0]["at"] = "a/" * (size // 2)
    profile = tmp_path / "long.json"
    profile.write_text(json.dumps(doc), encoding="utf-8")
    good = archive(tmp_path / "good.tar")
    [cli, api] = assert_each_ends_in_one_line(
        [["compat", "--profile", str(profile), good], ["api", "compat_all", good]], tmp_path)
    assert cli["code"] == 2 and "evidence[0].at fails" in cli["err"]
    assert api["code"] == 0


def test_non_ascii_digits(tmp_path: Path) -> None:
    results = assert_each_ends_in_one_line(
        [["schema", "show", "²"], ["fuzz", "--shard", "²/3"]], tmp_path)
    assert [(r["code"], r["err"].split(":")[0]) for r in results] == [
        (2, "mlfcheck schema show"), (2, "mlfcheck fuzz")]


@pytest.mark.parametrize("depth", [1000, 5000])
def test_nested_ifdef(depth: int, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    deep = archive(folder / "deep.tar", (b"".join(b"#ifdef A%d\n" % i for i in range(depth))
                                         + b"int x;\n" + b"#endif\n" * depth))
    good = archive(tmp_path / "good.tar")
    results = assert_each_ends_in_one_line(
        [["validate", deep], ["show", deep], ["diff", good, deep], ["compat", "--all", deep],
         ["audit", str(folder), "--jobs", "1"], ["api", "validate_archive", deep],
         ["api", "summarize_archive", deep], ["api", "diff_archives", good, deep],
         ["api", "compat_all", deep]], tmp_path)
    for r in results:
        if r["code"] == 2:  # (a reader that no longer recurses reads it: exit 0 or 1)
            assert "deep.tar" in r["out"] + r["err"], r
