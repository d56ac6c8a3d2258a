"""The ABI diff with libabigail: C built into shared objects with DWARF by the real gcc (through
containment), compared by the real abidiff, its report read into facts (board.abidiff) and
those mapped onto the D4xx rules (diff.abi).

The small libraries mimic an AOT archive's interface: codegen/host/include/tvmgen_default.h
with the inputs and outputs structs and tvmgen_default_run, an operator kernel and an exported
array in codegen/host/src.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from shared_paths import real_archives

from mlfcheck.board import containment
from mlfcheck.board.abidiff import AbiKind, AbiReport, compare, shared_object
from mlfcheck.board.containment import Compiler, Refused, Tree
from mlfcheck.diff.abi import abi_changes
from mlfcheck.diff.result import Symbol
from mlfcheck.diff.rules import Level, Rule
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


@pytest.fixture(scope="module")
def cc() -> Compiler:
    """The host gcc, with abidiff beside it; skip without them, except under CI."""
    gcc, abidiff = shutil.which("gcc"), shutil.which("abidiff")
    if gcc is None or abidiff is None:
        if os.environ.get("CI"):
            pytest.fail("gcc and abidiff (apt-get install gcc abigail-tools) are required "
                        "under CI")
        pytest.skip("gcc or abidiff missing (apt-get install gcc abigail-tools)")
    return containment.compiler(gcc)


def library(cc: Compiler, root: Path, *, inputs: str = "void* input;",
            outputs: str = "void* output;", extra: str = "", ret: str = "int32_t",
            outputs_type: str = "struct tvmgen_default_outputs*", count: int = 16,
            lib0: str = LIB0) -> tuple[Path, Path]:
    """An archive-like folder at `root` (its interface, an entry point, a kernel, an exported
    array) built into a shared object beside it: (shared object, header folder)."""
    run = RUN.format(ret=ret, outputs_type=outputs_type, extra=extra)
    (root / INCLUDE).mkdir(parents=True)
    (root / SOURCES).mkdir(parents=True)
    (root / INCLUDE / "tvmgen_default.h").write_text(
        HEADER.format(inputs=inputs, outputs=outputs, run=run))
    (root / SOURCES / "default_lib0.c").write_text(lib0.format(run=run))
    (root / SOURCES / "default_lib1.c").write_text(LIB1.format(count=count))
    out = root.parent / f"{root.name}-build"
    out.mkdir()
    so = shared_object(cc, sorted((root / SOURCES).glob("*.c")), [root / INCLUDE],
                       out / "libmodel.so", tree=Tree(root))
    return so, root / INCLUDE


def diff(cc: Compiler, tmp: Path, **new: str | int) -> AbiReport:
    """abidiff's report on the default library and one built with `new`'s changes."""
    old_so, old_h = library(cc, tmp / "old")
    new_so, new_h = library(cc, tmp / "new", **new)  # type: ignore[arg-type]
    return compare(old_so, new_so, old_headers=[old_h], new_headers=[new_h])


def no_paths(report: AbiReport, tmp: Path) -> bool:
    """No line of the report names a folder of the machine."""
    lines = [line for c in report.changes for line in (c.evidence, *c.lines)]
    return not any(str(tmp) in line or os.path.realpath(tmp) in line or "/" in line
                   for line in lines)


def test_an_added_void_pointer_parameter_of_run_is_reported_and_breaks_the_entry_point(
        cc: Compiler, tmp_path: Path) -> None:
    report = diff(cc, tmp_path, extra=", void* resource_handle")
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
        cc: Compiler, tmp_path: Path) -> None:
    report = diff(cc, tmp_path, outputs="void* output; void* output1;")
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


def test_identical_sources_have_the_same_abi_every_time(cc: Compiler, tmp_path: Path) -> None:
    old_so, old_h = library(cc, tmp_path / "old")
    new_so, new_h = library(cc, tmp_path / "new")
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
        cc: Compiler, tmp_path: Path, new: dict[str, str | int], kind: AbiKind, rule: Rule,
        subject: str) -> None:
    report = diff(cc, tmp_path, **new)
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
        cc: Compiler, tmp_path: Path) -> None:
    report = diff(cc, tmp_path, lib0=RUN_MODEL_ONLY)
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
        cc: Compiler, tmp_path: Path) -> None:
    def stripped(side: str, text: str) -> Path:
        (tmp_path / side / SOURCES).mkdir(parents=True)
        source = tmp_path / side / SOURCES / "default_lib0.c"
        source.write_text(text)
        return shared_object(cc, [source], [], tmp_path / f"lib{side}.so",
                             tree=Tree(tmp_path / side), flags=["-g0"])

    kernel = "int tvmgen_default_fused_add(void) { return 0; }\n"
    old_so = stripped("old", kernel + "int tvmgen_default_run(void) { return 0; }\n")
    report = compare(old_so, stripped("new", kernel))
    assert [(c.kind, c.symbol, c.evidence) for c in report.changes] == [
        (AbiKind.FUNCTION_REMOVED, "tvmgen_default_run", "[D] tvmgen_default_run")]
    [change] = abi_changes(report, "default")
    assert (change.rule, change.subject) == (Rule.D409, "entry point tvmgen_default_run")


def test_abidiff_missing_names_the_package(cc: Compiler, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    old_so, _ = library(cc, tmp_path / "old")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(BoardError, match=r"^abidiff not found: apt-get install abigail-tools$"):
        compare(old_so, old_so)


def test_abidiff_failing_is_one_line_without_folders(cc: Compiler, tmp_path: Path) -> None:
    old_so, _ = library(cc, tmp_path / "old")
    junk = tmp_path / "junk.so"
    junk.write_text("not an ELF file\n")
    with pytest.raises(BoardError, match=r"could not compare libmodel\.so and junk\.so "
                                         r"\(exit 1\)") as failed:
        compare(old_so, junk)
    message = str(failed.value)
    assert "\n" not in message and str(tmp_path) not in message


def test_a_source_that_does_not_compile_or_reads_outside_is_not_built(
        cc: Compiler, tmp_path: Path) -> None:
    with pytest.raises(BoardError, match=r"^codegen/host/src/default_lib0\.c does not "
                                         r"compile: .*error"):
        library(cc, tmp_path / "broken", lib0="{run} {{ return undeclared; }}\n")
    with pytest.raises(Refused, match=r'default_lib0\.c:1: #include "/etc/passwd"'):
        library(cc, tmp_path / "outside", lib0='#include "/etc/passwd"\n')
    assert not list(tmp_path.rglob("*.o")), "objects are removed"


# -- a real archive --------------------------------------------------------------------------

REAL = "sine-aot-v5-zephyr"
STAND_IN = {
    "tvm/runtime/c_runtime_api.h": "#include <stdint.h>\n#include <stddef.h>\n"
                                   '#define TVM_DLL __attribute__((visibility("default")))\n',
    "tvm/runtime/c_backend_api.h": '#include "tvm/runtime/c_runtime_api.h"\n'
                                   "TVM_DLL void* TVMBackendAllocWorkspace(int device_type, "
                                   "int device_id, uint64_t nbytes, int dtype_code_hint, "
                                   "int dtype_bits_hint);\n"
                                   "TVM_DLL int TVMBackendFreeWorkspace(int device_type, "
                                   "int device_id, void* ptr);\n",
}
"""A STAND-IN for the two TVM runtime headers this 2021 archive includes (TVM_DLL and the
workspace calls, as TVM declares them), until mlfcheck ships its own declarations of the TVM C
runtime ABI (issue 20 §2); then this test builds with those instead."""
CONSUMER = '#include "tvmgen_default.h"\n'
"""A consumer's file: it includes the interface header, so the header's structs are in the
DWARF (this v5 archive's C never includes its own header)."""


def real_side(cc: Compiler, root: Path, edit: Callable[[str, str], str]) -> tuple[Path, Path]:
    """The real archive's codegen written under `root` (each member through `edit`), built with
    the stand-in runtime headers and a consumer's file: (shared object, header folder)."""
    with Archive(str(real_archives()[REAL])) as archive:
        for member in archive.files("codegen/"):
            target = root / "archive" / PurePosixPath(member.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(edit(member.name, archive.read(member.name).decode()))
    runtime, own = root / "runtime", root / "own"
    for name, text in STAND_IN.items():
        (runtime / name).parent.mkdir(parents=True, exist_ok=True)
        (runtime / name).write_text(text)
    own.mkdir()
    (own / "consumer.c").write_text(CONSUMER)
    headers = root / "archive" / INCLUDE
    sources = [*sorted((root / "archive" / SOURCES).glob("*.c")), own / "consumer.c"]
    so = shared_object(cc, sources, [headers, runtime], root / "libmodel.so",
                       tree=Tree(root / "archive", (runtime,), own))
    return so, headers


@pytest.mark.shared
def test_a_real_v5_archive_against_itself_and_with_its_interface_changed(
        cc: Compiler, tmp_path: Path) -> None:
    def unchanged(name: str, text: str) -> str:
        return text

    def changed(name: str, text: str) -> str:
        text = text.replace("  void* output;\n", "  void* output;\n  void* output1;\n")
        return text.replace("tvmgen_default_run_model(void* input, void* output)",
                            "tvmgen_default_run_model(void* input, void* output, void* extra)")

    old_so, old_h = real_side(cc, tmp_path / "old", unchanged)
    same_so, same_h = real_side(cc, tmp_path / "same", unchanged)
    new_so, new_h = real_side(cc, tmp_path / "new", changed)
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
