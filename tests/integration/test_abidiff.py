"""The ABI diff with libabigail: archives built into shared objects with DWARF by the real gcc
(archivebuild's Builder, through containment, against mlfcheck's TVM runtime declarations),
compared by the real abidiff, its report read into facts (board.abidiff) and those mapped onto
the D4xx rules (the codegen section's ABI layer).

The small archives are folders that mimic an AOT archive's interface:
codegen/host/include/tvmgen_default.h with the inputs and outputs structs and
tvmgen_default_run, an operator kernel and an exported array in codegen/host/src. Each side is
built by a Builder with a cache of its own, so the two sides are independent builds.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path, PurePosixPath

import pytest
from shared_paths import real_archives

from mlfcheck import children
from mlfcheck.board.abidiff import AbiKind, AbiReport, compare
from mlfcheck.board.archivebuild import ArchiveBuilt, BuildCache, Builder, Compiled
from mlfcheck.diff.result import Symbol
from mlfcheck.diff.rules import Level, Rule
from mlfcheck.diff.sections.codegen.abi import abi_changes
from mlfcheck.errors import BoardError
from mlfcheck.reading.archive import Archive

INCLUDE = "codegen/host/include"
SOURCES = "codegen/host/src"
RUN = "{ret} tvmgen_default_run(struct tvmgen_default_inputs* inputs, " \
      "{outputs_type} outputs{extra})"
HEADER = """#ifndef TVMGEN_DEFAULT_H_
#define TVMGEN_DEFAULT_H_
#include <stdint.h>
struct tvmgen_default_inputs {{ {inputs} }};
struct tvmgen_default_outputs {{ {outputs} }};
{run};
#endif
"""
LIB0 = """#include "tvmgen_default.h"
int32_t tvmgen_default_fused_add(float* a, float* b, float* out);
{run} {{
  return tvmgen_default_fused_add(inputs->input, inputs->input, outputs->output);
}}
"""
LIB1 = """#include <stdint.h>
float tvmgen_default_constants[{count}];
int32_t tvmgen_default_fused_add(float* a, float* b, float* out) {{
  for (int i = 0; i < 4; ++i) out[i] = a[i] + b[i] + tvmgen_default_constants[i];
  return 0;
}}
"""


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    """The host gcc and abidiff; skip without them, except under CI."""
    if shutil.which("gcc") is None or shutil.which("abidiff") is None:
        if os.environ.get("CI"):
            pytest.fail("gcc and abidiff (apt-get install gcc abigail-tools) are required "
                        "under CI")
        pytest.skip("gcc or abidiff missing (apt-get install gcc abigail-tools)")


Build = Callable[..., Path]
"""Builds an archive (a folder or a tar) at an MLF version (7 unless given) and gives its
shared object."""


@pytest.fixture
def build() -> Iterator[Build]:
    """Each archive built by a Builder with a cache of its own (open until the test ends);
    every file must compile and the objects link."""
    with ExitStack() as stack:
        def built(path: Path, version: int = 7) -> Path:
            cache = stack.enter_context(BuildCache())
            with Archive(path) as archive:
                outcome = Builder(cache).build(archive, version)
            assert isinstance(outcome, ArchiveBuilt), outcome
            assert all(isinstance(f, Compiled) for f in outcome.files), outcome.files
            assert outcome.shared_object is not None, outcome.link
            return outcome.shared_object

        yield built


def library(build: Build, root: Path, *, inputs: str = "void* input;",
            outputs: str = "void* output;", extra: str = "", ret: str = "int32_t",
            outputs_type: str = "struct tvmgen_default_outputs*", count: int = 16,
            lib0: str = LIB0) -> tuple[Path, Path]:
    """An archive-like folder at `root` (its interface, an entry point, a kernel, an exported
    array) and its build: (shared object, header folder)."""
    run = RUN.format(ret=ret, outputs_type=outputs_type, extra=extra)
    (root / INCLUDE).mkdir(parents=True)
    (root / SOURCES).mkdir(parents=True)
    (root / INCLUDE / "tvmgen_default.h").write_text(
        HEADER.format(inputs=inputs, outputs=outputs, run=run))
    (root / SOURCES / "default_lib0.c").write_text(lib0.format(run=run))
    (root / SOURCES / "default_lib1.c").write_text(LIB1.format(count=count))
    return build(root), root / INCLUDE


def diff(build: Build, tmp: Path, **new: str | int) -> AbiReport:
    """abidiff's report on the default library and one built with `new`'s changes."""
    old_so, old_h = library(build, tmp / "old")
    new_so, new_h = library(build, tmp / "new", **new)  # type: ignore[arg-type]
    return compare(old_so, new_so, old_headers=[old_h], new_headers=[new_h])


def no_paths(report: AbiReport, tmp: Path) -> bool:
    """No line of the report names a folder of the machine."""
    lines = [line for c in report.changes for line in (c.evidence, *c.lines)]
    return not any(str(tmp) in line or os.path.realpath(tmp) in line or "/" in line
                   for line in lines)


def test_an_added_void_pointer_parameter_of_run_is_reported_and_breaks_the_entry_point(
        build: Build, tmp_path: Path) -> None:
    report = diff(build, tmp_path, extra=", void* resource_handle")
    assert report.changed and not report.incompatible
    [added] = report.changes
    assert (added.kind, added.symbol, added.detail, added.new) == \
        (AbiKind.PARAMETER_ADDED, "tvmgen_default_run", "parameter 3", "void*")
    assert "parameter 3 of type 'void*' was added" in added.evidence
    assert no_paths(report, tmp_path)
    [change] = abi_changes(report, "default")
    assert (change.rule, change.effective_level, change.subject) == \
        (Rule.D409, Level.BREAKING, "entry point tvmgen_default_run parameter 3")
    assert (change.old, change.new, change.section, change.module) == \
        (None, "void*", "codegen", "default")
    assert change.details == ("parameter 3 of type 'void*' was added",)


def test_an_output_added_to_the_outputs_struct_is_a_size_change_and_breaking(
        build: Build, tmp_path: Path) -> None:
    report = diff(build, tmp_path, outputs="void* output; void* output1;")
    facts = {(c.kind, c.symbol, c.detail): c for c in report.changes}
    size = facts[AbiKind.TYPE_SIZE_CHANGED, "struct tvmgen_default_outputs", ""]
    assert size.evidence == "type size changed from 64 to 128 (in bits)"
    assert (size.old, size.new) == (64, 128)
    member = facts[AbiKind.MEMBER_ADDED, "struct tvmgen_default_outputs", "output1"]
    assert member.new == "void*"
    assert set(facts) == {(AbiKind.TYPE_SIZE_CHANGED, "struct tvmgen_default_outputs", ""),
                          (AbiKind.MEMBER_ADDED, "struct tvmgen_default_outputs", "output1")}
    [change] = abi_changes(report, "default")
    assert (change.rule, change.effective_level, change.subject) == \
        (Rule.D409, Level.BREAKING, "struct tvmgen_default_outputs member output1")
    assert "type size changed from 64 to 128 (in bits)" in change.details
    assert "NULL" in change.reason


def test_identical_sources_have_the_same_abi_every_time(build: Build, tmp_path: Path) -> None:
    old_so, old_h = library(build, tmp_path / "old")
    new_so, new_h = library(build, tmp_path / "new")
    first = compare(old_so, new_so, old_headers=[old_h], new_headers=[new_h])
    assert first == AbiReport((), changed=False, incompatible=False)
    assert compare(old_so, new_so, old_headers=[old_h], new_headers=[new_h]) == first
    assert abi_changes(first, "default") == []


MAPPED: list[tuple[str, dict[str, str | int], AbiKind, Rule, str]] = [
    ("input member added", {"inputs": "void* input; void* input2;"},
     AbiKind.MEMBER_ADDED, Rule.D409, "struct tvmgen_default_inputs member input2"),
    ("output member removed", {"outputs": "", "lib0": LIB0.replace("outputs->output", "0")},
     AbiKind.MEMBER_REMOVED, Rule.D413, "struct tvmgen_default_outputs member output"),
    ("output member retyped", {"outputs": "float* output;"},
     AbiKind.MEMBER_TYPE_CHANGED, Rule.D413, "struct tvmgen_default_outputs member output"),
    ("output member renamed", {"outputs": "void* result;",
                               "lib0": LIB0.replace("outputs->output", "outputs->result")},
     AbiKind.MEMBER_RENAMED, Rule.D413, "struct tvmgen_default_outputs member renamed"),
    ("exported array resized", {"count": 32},
     AbiKind.VARIABLE_SIZE_CHANGED, Rule.D408, "data tvmgen_default_constants"),
    ("run returns another type", {"ret": "int64_t"},
     AbiKind.RETURN_TYPE_CHANGED, Rule.D409, "entry point tvmgen_default_run return type"),
    ("run's parameter retyped", {"outputs_type": "void*", "lib0": LIB0.replace(
        "outputs->output", "((struct tvmgen_default_outputs*)outputs)->output")},
     AbiKind.PARAMETER_TYPE_CHANGED, Rule.D409, "entry point tvmgen_default_run parameter 2"),
]
"""(what, the new side's change, a fact abidiff must report, its rule, its subject)."""


@pytest.mark.parametrize(("new", "kind", "rule", "subject"), [m[1:] for m in MAPPED],
                         ids=[m[0] for m in MAPPED])
def test_each_kind_of_interface_change_maps_to_its_rule(
        build: Build, tmp_path: Path, new: dict[str, str | int], kind: AbiKind, rule: Rule,
        subject: str) -> None:
    report = diff(build, tmp_path, **new)
    assert kind in {c.kind for c in report.changes}, report
    assert no_paths(report, tmp_path)
    changes = abi_changes(report, "default")
    assert [(c.rule, c.subject) for c in changes] == [(rule, subject)], changes
    assert changes[0].details and all(changes[0].details)


RUN_MODEL_ONLY = """#include "tvmgen_default.h"
int32_t tvmgen_default_run_model(void* input, void* output) {{ return input == output; }}
"""
"""An entry point of 2021 (run_model), the header's run declared but not defined."""


def test_a_removed_entry_point_is_breaking_and_structs_it_no_longer_reaches_are_not_new(
        build: Build, tmp_path: Path) -> None:
    report = diff(build, tmp_path, lib0=RUN_MODEL_ONLY)
    assert report.incompatible  # a symbol removed: abidiff's ABI_INCOMPATIBLE_CHANGE bit
    # abidiff lists the structs run() reached as "added types unreachable from any public
    # interface": a fact of reachability, not a struct only the new header has
    assert {(c.kind, c.symbol) for c in report.changes if c.kind is AbiKind.TYPE_ADDED} == {
        (AbiKind.TYPE_ADDED, "struct tvmgen_default_inputs"),
        (AbiKind.TYPE_ADDED, "struct tvmgen_default_outputs")}
    changes = {(c.rule, c.subject): c for c in abi_changes(report, "default")}
    assert set(changes) == {(Rule.D409, "entry point tvmgen_default_run"),
                            (Rule.D401, "entry point tvmgen_default_run_model")}, changes
    removed = changes[Rule.D409, "entry point tvmgen_default_run"]
    assert removed.old == Symbol("function", "tvmgen_default_run", "int32_t tvmgen_default_run("
                                 "tvmgen_default_inputs*, tvmgen_default_outputs*)")
    assert removed.new is None


def test_without_dwarf_a_removed_entry_point_is_still_seen_in_the_symbol_table(
        build: Build, tmp_path: Path) -> None:
    def stripped(side: str, text: str) -> Path:
        (tmp_path / side / SOURCES).mkdir(parents=True)
        (tmp_path / side / SOURCES / "default_lib0.c").write_text(text)
        out = tmp_path / f"lib{side}.so"
        done = children.run(["objcopy", "--strip-debug", str(build(tmp_path / side)),
                             str(out)], limits=children.Limits(seconds=60.0))
        assert done.ok, done.stderr
        return out

    kernel = "int tvmgen_default_fused_add(void) { return 0; }\n"
    old_so = stripped("old", kernel + "int tvmgen_default_run(void) { return 0; }\n")
    report = compare(old_so, stripped("new", kernel))
    assert [(c.kind, c.symbol, c.evidence) for c in report.changes] == [
        (AbiKind.FUNCTION_REMOVED, "tvmgen_default_run", "[D] tvmgen_default_run")]
    [change] = abi_changes(report, "default")
    assert (change.rule, change.subject) == (Rule.D409, "entry point tvmgen_default_run")


def test_abidiff_missing_names_the_package(build: Build, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    old_so, _ = library(build, tmp_path / "old")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(BoardError, match=r"^abidiff not found: apt-get install abigail-tools$"):
        compare(old_so, old_so)


def test_abidiff_failing_is_one_line_without_folders(build: Build, tmp_path: Path) -> None:
    old_so, _ = library(build, tmp_path / "old")
    junk = tmp_path / "junk.so"
    junk.write_text("not an ELF file\n")
    with pytest.raises(BoardError, match=rf"could not compare {old_so.name} and junk\.so "
                                         r"\(exit 1\)") as failed:
        compare(old_so, junk)
    message = str(failed.value)
    assert "\n" not in message and str(tmp_path) not in message


# -- a real archive --------------------------------------------------------------------------

REAL = "sine-aot-v5-zephyr"
"""A 2021 AOT archive (MLF v5) without runtime/, whose C never includes its own header: built
against mlfcheck's TVM runtime declarations of its era, the header's structs in the DWARF
through the interface object the Builder links in."""


def real_side(build: Build, root: Path, edit: Callable[[str, str], str]) -> tuple[Path, Path]:
    """The real archive written as a folder at `root` (each codegen member through `edit`)
    and built at its own MLF version: (shared object, header folder)."""
    with Archive(str(real_archives()[REAL])) as archive:
        version = json.loads(archive.read("metadata.json"))["version"]
        for member in archive.files():
            target = root.joinpath(*PurePosixPath(member.name).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = archive.read(member.name)
            target.write_bytes(edit(member.name, data.decode()).encode()
                               if member.name.startswith("codegen/") else data)
    return build(root, version), root / INCLUDE


@pytest.mark.shared
def test_a_real_v5_archive_against_itself_and_with_its_interface_changed(
        build: Build, tmp_path: Path) -> None:
    def unchanged(name: str, text: str) -> str:
        return text

    def changed(name: str, text: str) -> str:
        text = text.replace("  void* output;\n", "  void* output;\n  void* output1;\n")
        return text.replace("tvmgen_default_run_model(void* input, void* output)",
                            "tvmgen_default_run_model(void* input, void* output, void* extra)")

    old_so, old_h = real_side(build, tmp_path / "old", unchanged)
    same_so, same_h = real_side(build, tmp_path / "same", unchanged)
    new_so, new_h = real_side(build, tmp_path / "new", changed)
    assert compare(old_so, same_so, old_headers=[old_h], new_headers=[same_h]) == \
        AbiReport((), changed=False, incompatible=False)
    report = compare(old_so, new_so, old_headers=[old_h], new_headers=[new_h])
    assert no_paths(report, tmp_path)
    evidence = {c.evidence for c in report.changes}
    assert "parameter 3 of type 'void*' was added" in evidence
    assert "type size changed from 64 to 128 (in bits)" in evidence
    assert {(c.rule, c.subject) for c in abi_changes(report, "default")} == {
        (Rule.D409, "entry point tvmgen_default_run_model parameter 3"),
        (Rule.D409, "struct tvmgen_default_outputs member output1")}
