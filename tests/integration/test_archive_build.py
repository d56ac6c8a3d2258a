"""`validate --build` with the real host compiler (gcc): every real archive and valid fixture
builds against mlfcheck's TVM runtime declarations with no false finding; C that does not
compile or link fails the gate with file:line; a consumer library's header is "not built
here", not invalid; hostile C is refused or stopped in bounded time with no host text in any
report; the cache compiles a file seen twice once; a missing compiler is one line, not a crash.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fixture_writer import mf
from shared_paths import real_archives

from mlfcheck.board.archivebuild import ArchiveBuilt, BuildCache, Builder, Compiled, Options
from mlfcheck.cli import main
from mlfcheck.reading.archive import Archive

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                                reason="no host C compiler (apt-get install gcc)")

REPO = Path(__file__).resolve().parents[2]
VALID = sorted((REPO / "fixtures").glob("*.tar*"))
ESP = "esp32s3-example-v7-aot"
ESP_LIB0 = "codegen/host/src/default_lib0.c"
"""The one real file that does not compile: upstream replaced its workspace array by a
file-scope statement, `global_workspace = heap_caps_aligned_alloc(...)` (line 9796), which no
C compiler accepts (the name is redeclared as an int)."""
SECONDS = 30.0


def run_json(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["validate", "--build", "--format", "json", *args,
                                       str(path)])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout)["archives"][0]


def codes(report: dict[str, Any]) -> set[str]:
    return {f["code"] for f in report["findings"]}


def write(tmp_path: Path, name: str, files: mf.Files) -> Path:
    path = tmp_path / name
    path.write_bytes(mf.tar_bytes(mf.entries_of(files)))
    return path


def edited(base: mf.Files, member: str, old: bytes, new: bytes) -> mf.Files:
    assert old in base[member], member
    return {**base, member: base[member].replace(old, new, 1)}


# -- no false finding --------------------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_every_valid_fixture_builds_and_links_clean(path: Path) -> None:
    exit_code, report = run_json(path)
    assert exit_code == 0
    assert not {c for c in codes(report) if c.startswith("B")}
    assert report["judged_by"].startswith("reader + ")
    build = report["build"]
    assert build["not_built"] == [] and build["linked"] is True
    assert build["runtime_headers"].startswith("mlfcheck's TVM runtime declarations")


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(set(real_archives()) - {ESP}))
def test_every_real_archive_builds_and_links_clean(name: str) -> None:
    exit_code, report = run_json(real_archives()[name])
    assert exit_code == 0, report["findings"]
    assert not {c for c in codes(report) if c.startswith("B")}
    assert report["build"]["not_built"] == [] and report["build"]["linked"] is True
    assert len(report["build"]["built"]) >= 1


@pytest.mark.shared
def test_the_esp_dl_archive_lists_the_files_that_need_esp_dl_as_not_built_here() -> None:
    exit_code, report = run_json(real_archives()[ESP])
    needs = {f["member"] for f in report["findings"] if f["code"] == "B004"}
    assert needs == {f"codegen/host/src/default_lib{i}.c" for i in range(2, 11)}
    assert all(f["severity"] == "info" for f in report["findings"] if f["code"] == "B004")
    assert all("esp_kernel.h (ESP-DL)" in f["message"] for f in report["findings"]
               if f["code"] == "B004")
    assert report["build"]["built"] == ["codegen/host/src/default_lib1.c"]
    assert {n["member"] for n in report["build"]["not_built"]} == needs | {ESP_LIB0}
    errors = [(f["code"], f["member"], f["line"]) for f in report["findings"]
              if f["severity"] == "error"]
    assert errors == [("B001", ESP_LIB0, 9796)]  # the hand-edited file; see ESP_LIB0
    assert exit_code == 1


# -- C that does not compile or link -----------------------------------------------------------


def test_a_workspace_defined_shorter_than_the_headers_extern_is_b001_at_its_line(
        tmp_path: Path) -> None:
    files = edited(mf.crt7(), "codegen/host/include/tvmgen_add.h", b"struct tvmgen_add_inputs",
                   b"extern uint8_t tvmgen_add_workspace[64];\nstruct tvmgen_add_inputs")
    lib1 = "codegen/host/src/add_lib1.c"
    files[lib1] += b"uint8_t tvmgen_add_workspace[32];\n"
    line = files[lib1].count(b"\n")
    path = write(tmp_path, "short-workspace.tar", files)
    exit_code, report = run_json(path)
    found = [f for f in report["findings"] if f["code"] == "B001"]
    assert [(f["member"], f["line"]) for f in found] == [(lib1, line)]
    assert "conflicting types for 'tvmgen_add_workspace'" in found[0]["message"]
    assert exit_code == 1


def test_two_non_static_definitions_of_one_kernel_in_two_files_are_b002(tmp_path: Path) -> None:
    files = mf.graph7()
    lib0, lib1 = "codegen/host/src/add_lib0.c", "codegen/host/src/add_lib1.c"
    body = files[lib0].split(b'#include <math.h>\n', 1)[1]
    files[lib1] += body
    exit_code, report = run_json(write(tmp_path, "twice.tar", files))
    found = [f for f in report["findings"] if f["code"] == "B002"]
    assert len(found) == 1 and "`tvmgen_add_fused_cast_multiply_add`" in found[0]["message"]
    assert found[0]["member"] == lib1 and found[0]["line"] is not None
    assert report["build"]["linked"] is False
    assert exit_code == 1


INVALID = REPO / "fixtures" / "invalid"
HIDDEN = ["X001-operator-under-if-0.tar", "X007-run-under-ifdef.tar",
          "X007-define-renames-run.tar"]
"""Definitions the reader knows a compiler may not build: an operator only under #if 0 (the
object lacks it), an entry point under #ifdef (not built), run #defined to another name (the
object has the other). The reconcile (B003) leaves them to X001 and X007."""


def reader_findings(path: Path) -> tuple[int, list[dict[str, Any]]]:
    """`validate` without --build: its exit code and findings."""
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(path)])
    return result.exit_code, json.loads(result.stdout)["archives"][0]["findings"]


@pytest.mark.parametrize("name", HIDDEN)
def test_a_hidden_definition_is_one_finding_with_the_build_too(name: str) -> None:
    exit_code, report = run_json(INVALID / name)
    assert [f["code"] for f in report["findings"]] == [name[:4]]
    assert (exit_code, report["findings"]) == reader_findings(INVALID / name)
    assert report["judged_by"].startswith("reader + ") and report["build"]["linked"] is True


def test_a_duplicate_the_reader_sees_is_x005_and_the_link_b002_at_one_line() -> None:
    # Both are right: X005 is the reader's (found without a compiler), B002 the build's
    # verdict that the C does not link, which a diff turns into D417 (breaking, also with
    # --allow-invalid). No B003: the reader read both definitions.
    path = INVALID / "X005-operator-defined-twice.tar"
    exit_code, report = run_json(path)
    found = {f["code"]: f for f in report["findings"]}
    assert len(report["findings"]) == 2 and sorted(found) == ["B002", "X005"]
    assert (found["B002"]["member"], found["B002"]["line"]) == \
        (found["X005"]["member"], found["X005"]["line"])
    assert "`tvmgen_add_fused_cast_multiply_add`" in found["B002"]["message"]
    assert report["build"]["linked"] is False
    assert exit_code == 1 == reader_findings(path)[0]


# -- hostile C ---------------------------------------------------------------------------------


def test_an_include_of_etc_passwd_is_refused_and_no_report_shows_the_file(tmp_path: Path
                                                                          ) -> None:
    path = write(tmp_path, "passwd.tar", edited(mf.graph7(), "codegen/host/src/add_lib0.c",
                                                b"#include <math.h>",
                                                b'#include <math.h>\n#include "/etc/passwd"'))
    host = Path("/etc/passwd").read_text(encoding="utf-8", errors="replace").splitlines()
    secrets = [line for line in host if line.strip()][:5]
    for fmt in ("text", "json", "markdown", "sarif", "junit"):
        result = CliRunner().invoke(main, ["validate", "--build", "--format", fmt, str(path)])
        assert result.exit_code == 1, result.output
        assert not any(s in result.output for s in secrets), fmt
        assert "B005" in result.output, fmt
    _, report = run_json(path)
    assert [(f["code"], f["line"]) for f in report["findings"]] == [("B005", 6)]


@pytest.mark.parametrize("tail", [
    b'#include "/dev/zero"\n',
    b"#define A0 (1+1+1+1+1+1+1+1+1+1)\n" + b"".join(
        b"#define A%d (A%d+A%d+A%d+A%d+A%d+A%d+A%d+A%d+A%d+A%d)\n" % (i, *[i - 1] * 10)
        for i in range(1, 12)) + b"int bomb = A11;\n",
], ids=["dev-zero", "macro-bomb"])
def test_a_device_include_or_a_macro_bomb_ends_bounded(tmp_path: Path, tail: bytes) -> None:
    files = mf.graph7()
    files["codegen/host/src/add_lib0.c"] += tail
    path = write(tmp_path, "hostile.tar", files)
    start = time.monotonic()
    exit_code, report = run_json(path)
    assert time.monotonic() - start < SECONDS
    assert codes(report) & {"B005", "B006"}
    assert exit_code == 1
    assert "/tmp" not in json.dumps([report["findings"], report["build"]])


# -- the cache, the shared object, no compiler -------------------------------------------------


def test_a_file_the_same_in_two_archives_compiles_once(tmp_path: Path) -> None:
    base = mf.graph7()
    old = write(tmp_path, "old.tar", base)
    new = write(tmp_path, "new.tar", edited(base, "codegen/host/src/add_lib0.c",
                                            b"ax1 < 2", b"ax1 < 2 && 1"))
    with BuildCache() as cache:
        builder = Builder(cache, Options(jobs=2))
        with Archive(old) as a:
            first = builder.build(a, 7)
        objects = set(cache.folder.glob("*.o"))
        with Archive(new) as a:
            second = builder.build(a, 7)
        added = set(cache.folder.glob("*.o")) - objects
        assert len(objects) == 2 and len(added) == 1
        assert isinstance(first, ArchiveBuilt) and isinstance(second, ArchiveBuilt)
        assert first.shared_object is not None and second.shared_object is not None
        assert first.shared_object != second.shared_object


def test_the_shared_object_carries_dwarf_and_the_archives_functions() -> None:
    from elftools.elf.elffile import ELFFile

    with BuildCache() as cache, Archive(REPO / "fixtures" / "v7-multi-module.tar") as a:
        built = Builder(cache).build(a, 7)
        assert isinstance(built, ArchiveBuilt)
        assert all(isinstance(f, Compiled) for f in built.files)
        so = built.shared_object
        assert so is not None and so.is_file()
        with so.open("rb") as stream:
            elf = ELFFile(stream)
            assert elf.get_section_by_name(".debug_info") is not None
            names = {s.name for s in elf.get_section_by_name(".symtab").iter_symbols()}
    assert {"tvmgen_mod1_run", "tvmgen_mod2_fused_cast_multiply_add"} <= names


def test_without_a_host_compiler_the_build_is_one_line_and_the_reader_judges(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no gcc, no cc
    result = CliRunner().invoke(main, ["validate", "--build", str(VALID[0])])
    assert result.exit_code == 0, result.output
    assert "judged by the reader only: no host C compiler (gcc or cc) on PATH: " \
           "apt-get install gcc" in result.output
    assert "Traceback" not in result.output


def test_validate_without_build_judges_by_the_reader_and_builds_nothing() -> None:
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(VALID[0])])
    report = json.loads(result.stdout)["archives"][0]
    assert report["judged_by"] == "reader" and report["build"] is None


def test_an_include_folder_with_the_library_header_builds_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "cmsis.tar", edited(mf.graph7(), "codegen/host/src/add_lib0.c",
                                               b"#include <math.h>",
                                               b"#include <math.h>\n#include <arm_nnfunctions.h>"))
    _, without = run_json(path)
    assert codes(without) == {"B004"} and "arm_nnfunctions.h (CMSIS-NN)" in \
        without["findings"][0]["message"]
    library = tmp_path / "cmsis-nn" / "Include"
    library.mkdir(parents=True)
    (library / "arm_nnfunctions.h").write_text("#pragma once\n", encoding="utf-8")
    exit_code, report = run_json(path, "-I", str(library))
    assert exit_code == 0 and codes(report) == set()
    assert report["build"]["not_built"] == []


def test_the_exporting_versions_runtime_headers_are_used_when_given(tmp_path: Path) -> None:
    from mlfcheck.board.archivebuild import RUNTIME_ABI

    headers = tmp_path / "tvm-0.11-include"
    shutil.copytree(RUNTIME_ABI, headers)
    exit_code, report = run_json(VALID[-1], "--runtime-include", str(headers))
    assert exit_code == 0 and report["build"]["linked"] is True
    assert report["build"]["runtime_headers"] == f"--runtime-include {headers}"
