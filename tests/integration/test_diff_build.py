"""`diff` judges the C the compiler builds (issue 20 §2): with the real host compiler (gcc) and
abidiff (abigail-tools), a new archive whose C no longer compiles or links fails the gate
(D417, breaking even with --allow-invalid), an added entry-point parameter and an output added
to the outputs struct are reported from abidiff with its own lines as evidence, every report
says which layers judged, and a file the same on both sides compiles once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fixture_writer import mf

from mlfcheck import api
from mlfcheck.board.archivebuild import BuildCache, Builder
from mlfcheck.cli import main
from mlfcheck.diff.rules import Level, Rule

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                                reason="no host C compiler (apt-get install gcc)")
HEADER = "codegen/host/include/tvmgen_add.h"
LIB1 = "codegen/host/src/add_lib1.c"


@pytest.fixture
def abidiff() -> None:
    if shutil.which("abidiff") is None:
        if os.environ.get("CI"):
            pytest.fail("abidiff is required under CI (apt-get install abigail-tools)")
        pytest.skip("abidiff missing (apt-get install abigail-tools)")


def write(tmp_path: Path, name: str, files: mf.Files) -> Path:
    path = tmp_path / name
    path.write_bytes(mf.tar_bytes(mf.entries_of(files)))
    return path


def edited(base: mf.Files, edits: dict[str, tuple[bytes, bytes]]) -> mf.Files:
    out = dict(base)
    for member, (old, new) in edits.items():
        assert old in out[member], member
        out[member] = out[member].replace(old, new, 1)
    return out


def run(old: Path, new: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["diff", "--format", "json", str(old), str(new), *args])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout)


def rules(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for c in report["changes"]:
        found.setdefault(c["rule"], []).append(c)
    return found


def test_a_new_archive_whose_c_no_longer_compiles_fails_the_gate_even_when_invalid_is_allowed(
        tmp_path: Path) -> None:
    base = write(tmp_path, "base.tar", mf.crt7())
    files = edited(mf.crt7(), {HEADER: (b"struct tvmgen_add_inputs",
                                        b"extern uint8_t tvmgen_add_workspace[64];\n"
                                        b"struct tvmgen_add_inputs")})
    files[LIB1] += b"uint8_t tvmgen_add_workspace[32];\n"
    broken = write(tmp_path, "broken.tar", files)
    code, report = run(base, broken, "--allow-invalid")
    assert code == 1
    [d417] = rules(report)["D417"]
    assert d417["level"] == "breaking"
    assert any("conflicting types for 'tvmgen_add_workspace'" in d and f"{LIB1}:" in d
               for d in d417["details"])
    assert report["judged_by"]["compiler"].startswith(("gcc", "cc"))
    code, report = run(broken, base, "--allow-invalid")  # fixing it is no breaking change
    assert "D417" not in rules(report)


def test_abidiff_compares_only_whole_builds(tmp_path: Path, abidiff: None) -> None:
    files = mf.crt7()
    files[LIB1] += b"#error this file does not compile\n"
    code, report = run(write(tmp_path, "base.tar", mf.crt7()), write(tmp_path, "half.tar", files),
                       "--allow-invalid")
    assert code == 1 and "D417" in rules(report)
    # the new shared object lacks add_lib1.c: its entry points are not "removed"
    assert not [c for c in report["changes"] if any("abidiff" in d or ("function" in d and
                                                    "removed" in d) for d in c["details"])]
    assert report["judged_by"]["abi"] is None
    assert report["judged_by"]["not_run"] == [
        "abidiff: 1 of the new archive's 2 C files were not built, so its shared object lacks "
        "their symbols"]


def test_two_external_definitions_of_one_kernel_are_a_build_that_no_longer_links(
        tmp_path: Path) -> None:
    files = mf.crt7()
    lib0 = "codegen/host/src/add_lib0.c"
    files[LIB1] += files[lib0].split(b"#include <math.h>\n", 1)[1]
    code, report = run(write(tmp_path, "base.tar", mf.crt7()),
                       write(tmp_path, "twice.tar", files), "--allow-invalid")
    [d417] = rules(report)["D417"]
    assert any("B002" in d and "tvmgen_add_fused_cast_multiply_add" in d
               for d in d417["details"])
    assert code == 1


def test_without_the_build_layer_the_report_says_the_reader_judged_alone(tmp_path: Path) -> None:
    base = write(tmp_path, "base.tar", mf.crt7())
    code, report = run(base, base, "--no-build")
    assert code == 0
    assert report["judged_by"] == {"reader": True, "compiler": None, "abi": None,
                                   "not_run": ["the compiler: not asked for (--no-build)"]}
    text = CliRunner().invoke(main, ["diff", str(base), str(base), "--no-build"]).stdout
    assert "judged by: the C reader; not by the compiler: not asked for (--no-build)" in text


def test_without_a_host_compiler_the_reader_judges_and_the_report_says_why(
        tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    base = write(tmp_path, "base.tar", mf.crt7())
    done = subprocess.run([sys.executable, "-m", "mlfcheck", "diff", str(base), str(base),
                           "--format", "json"], env={**os.environ, "PATH": str(empty)},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    why = "no host C compiler (gcc or cc) on PATH: apt-get install gcc"
    assert json.loads(done.stdout)["judged_by"] == {
        "reader": True, "compiler": None, "abi": None, "not_run": [f"the compiler: {why}"]}


def test_an_added_entry_point_parameter_is_reported_from_abidiff(tmp_path: Path,
                                                                 abidiff: None) -> None:
    files = edited(mf.crt7(), {
        HEADER: (b"struct tvmgen_add_outputs* outputs);",
                 b"struct tvmgen_add_outputs* outputs, void* extra);"),
        LIB1: (b"struct tvmgen_add_outputs* outputs) {",
               b"struct tvmgen_add_outputs* outputs, void* extra) {")})
    code, report = run(write(tmp_path, "base.tar", mf.crt7()),
                       write(tmp_path, "param.tar", files))
    assert code == 1
    assert report["judged_by"]["abi"].startswith("abidiff ")
    evidence = [d for c in rules(report)["D409"] for d in c["details"]]
    assert "parameter 3 of type 'void*' was added" in evidence
    assert all(c["level"] == "breaking" for c in rules(report)["D409"])


def test_an_output_added_to_the_outputs_struct_is_breaking_from_abidiff(tmp_path: Path,
                                                                        abidiff: None) -> None:
    files = edited(mf.crt7(), {HEADER: (b"  void* output;\n", b"  void* output;\n"
                                        b"  void* output1;\n")})
    code, report = run(write(tmp_path, "base.tar", mf.crt7()),
                       write(tmp_path, "output.tar", files))
    assert code == 1
    [member] = [c for c in report["changes"]
                if c["subject"] == "struct tvmgen_add_outputs member output1"]
    assert member["rule"] == "D409" and member["level"] == "breaking"
    assert "type size changed from 64 to 128 (in bits)" in member["details"]
    code, report = run(write(tmp_path, "base.tar", mf.crt7()),
                       write(tmp_path, "output.tar", files), "--no-build")
    [member] = [c for c in report["changes"]
                if c["subject"] == "struct tvmgen_add_outputs member output1"]
    assert member["rule"] == "D414"  # the reader alone sees a member added to a header


def test_a_file_the_same_on_both_sides_compiles_once(tmp_path: Path) -> None:
    files = edited(mf.crt7(), {LIB1: (b"return tvmgen_add___tvm_main__(inputs->a",
                                      b"return  tvmgen_add___tvm_main__(inputs->a")})
    old, new = write(tmp_path, "old.tar", mf.crt7()), write(tmp_path, "new.tar", files)
    with BuildCache() as cache:
        result = api.diff_archives(old, new, build=Builder(cache))
        objects = sorted(p.name for p in cache.folder.glob("*.o"))
    assert result.layers.compiler is not None
    assert not [c for c in result.changes if c.effective_level >= Level.WARNING
                and c.rule is not Rule.D410]
    # add_lib0.c twice (once), add_lib1.c on each side, the interface header once
    assert len(objects) == 4
