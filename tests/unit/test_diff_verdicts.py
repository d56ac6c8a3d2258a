"""Verdicts that held-out edit pairs found wrong (issue 20 §3), each on a real archive edited in
the test: an output added where the caller provides the outputs, metadata maps and v8's own size
macros, an unusable new archive, static symbols that share a name, numbers by value, a kernel
renamed everywhere, one-element arrays, and code counted without its layout."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import invoke
from jsonschema import Draft202012Validator
from test_diff_rules import (
    AOT,
    HANNAH,
    LIB1,
    Members,
    edit_meta,
    edit_text,
    load,
    main0,
    module_entry,
    write_tar,
)

from mlfcheck.cli.diff import diff
from mlfcheck.diff import diff_archives
from mlfcheck.diff.result import DiffResult, Symbol
from mlfcheck.diff.rules import Level, Rule
from mlfcheck.reading import schemas
from mlfcheck.reporters.diff import render_text

pytestmark = pytest.mark.shared

Edit = Callable[[Members], None]

AOT7 = "esp32s3-example-v7-aot"
LIB0 = "codegen/host/src/default_lib0.c"
HEADER = "codegen/host/include/tvmgen_default.h"
SOFTMAX = "tvmgen_default_fused_nn_softmax"


def pair(tmp_path: Path, base: str, *edits: Edit, prepare: Edit = lambda m: None
         ) -> tuple[Path, Path]:
    """The real archive (after `prepare`, on both sides) and a copy with `edits` applied."""
    members = load(base)
    prepare(members)
    old = write_tar(members, tmp_path / "old.tar")
    for edit in edits:
        edit(members)
    return old, write_tar(members, tmp_path / "new.tar")


def compare(tmp_path: Path, base: str, *edits: Edit, prepare: Edit = lambda m: None
            ) -> DiffResult:
    return diff_archives(*pair(tmp_path, base, *edits, prepare=prepare))


def rules(result: DiffResult) -> list[tuple[str, str, Level]]:
    return sorted((c.rule.name, c.subject, c.effective_level) for c in result.changes)


def _add_output(m: Members) -> None:
    edit_meta(m, lambda d: main0(d)["outputs"].__setitem__(
        "extra", {"dtype": "int8", "size": 4}))


# -- an output added -------------------------------------------------------------------------------


def test_an_output_added_where_the_caller_fills_the_outputs_is_breaking(tmp_path: Path) -> None:
    old, new = pair(tmp_path, AOT7, _add_output)
    result = diff_archives(old, new)
    assert [(r, lvl) for r, s, lvl in rules(result)
            if s == "output 'extra'"] == [("D306", Level.BREAKING)]
    assert not result.invalid and invoke(diff, str(old), str(new))[0] == 1  # the gate fails


def test_an_output_added_where_the_graph_runtime_allocates_it_is_a_warning(
        tmp_path: Path) -> None:
    old, new = pair(tmp_path, HANNAH, _add_output)
    result = diff_archives(old, new)
    assert [(r, lvl) for r, s, lvl in rules(result)
            if s == "output 'extra'"] == [("D311", Level.WARNING)]
    assert not result.invalid and invoke(diff, str(old), str(new))[0] == 0


# -- a re-export with the same interface -----------------------------------------------------------


def _lowering(kernels: dict[str, int], stayed: list[dict[str, str]]) -> Edit:
    def edit(m: Members) -> None:
        edit_meta(m, lambda d: module_entry(d).__setitem__("lowering", {
            "integer_kernels": kernels, "quantized": "integer" if kernels else "float",
            "stayed_float": stayed}))
    return edit


def test_entries_of_a_metadata_map_or_list_are_data_not_keys(tmp_path: Path) -> None:
    stayed = [{"operator": "tanh", "at": "lv3", "reason": "no integer kernel"}]
    result = compare(tmp_path, AOT7, _lowering({}, []),
                     prepare=_lowering({"dense": 3, "conv2d": 1}, stayed))
    assert not [c for c in result.changes if c.rule in (Rule.D105, Rule.D106)]
    back = compare(tmp_path, AOT7, _lowering({"dense": 3}, stayed), prepare=_lowering({}, []))
    assert not [c for c in back.changes if c.rule in (Rule.D105, Rule.D106)]
    # a key the format defines is still one: without a version bump, removing it breaks
    gone = compare(tmp_path, AOT7, lambda m: edit_meta(
        m, lambda d: module_entry(d)["lowering"].pop("stayed_float")), prepare=_lowering({}, []))
    assert [(r, s) for r, s, _ in rules(gone) if r == "D105"] == [("D105", "metadata key")]


def _as_version(version: int) -> Edit:
    """The v7 AOT archive declared as `version`, its header with a constants macro as v8's."""
    def edit(m: Members) -> None:
        edit_meta(m, lambda d: d.__setitem__("version", version))
        edit_text(m, HEADER, lambda s: s + "#define TVMGEN_DEFAULT_CONSTANTS_SIZE 7\n")
    return edit


@pytest.mark.parametrize("version, rule", [(7, Rule.D415), (8, Rule.D412)])
def test_v8_workspace_and_constants_macros_size_the_archives_own_arrays(
        tmp_path: Path, version: int, rule: Rule) -> None:
    def grow(m: Members) -> None:
        edit_text(m, HEADER, lambda s: s.replace("WORKSPACE_SIZE 49152", "WORKSPACE_SIZE 50000")
                  .replace("CONSTANTS_SIZE 7", "CONSTANTS_SIZE 9"))
    result = compare(tmp_path, AOT7, grow, prepare=_as_version(version))
    assert [(c.rule, c.subject) for c in result.changes if "_SIZE" in c.subject] == [
        (rule, "#define TVMGEN_DEFAULT_CONSTANTS_SIZE"),
        (rule, "#define TVMGEN_DEFAULT_WORKSPACE_SIZE")]
    output = compare(tmp_path, AOT7, lambda m: edit_text(
        m, HEADER, lambda s: s.replace("OUTPUT_SIZE 40", "OUTPUT_SIZE 44")),
        prepare=_as_version(version))
    assert [c.rule for c in output.changes if "_SIZE" in c.subject] == [Rule.D415]


# -- an unusable archive ---------------------------------------------------------------------------


def _unusable(m: Members) -> None:
    m["metadata.json"] = b'{"version": 5, '


def test_a_new_archive_with_unusable_metadata_is_a_breaking_verdict_with_a_report(
        tmp_path: Path) -> None:
    old, new = pair(tmp_path, AOT, _unusable)
    code, out, err = invoke(diff, str(old), str(new))
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0].endswith("new.tar (MLF version unknown)")
    assert lines[1].startswith("1 breaking · INVALID input")
    assert "D114  metadata.json: reads into a model → M004: expected a quoted key" in out
    assert "the new archive's metadata is unusable (M004 at metadata.json:1:16" in out
    assert invoke(diff, str(old), str(new), "--allow-invalid")[0] == 1  # it is a change
    code, out, _ = invoke(diff, str(old), str(new), "--format", "json")
    doc = json.loads(out)
    Draft202012Validator(schemas.load("diff-report.schema.json")).validate(doc)
    assert (code, doc["new"]["version"], doc["summary"]["breaking"]) == (1, None, 1)
    assert doc["unchanged"] == [] and doc["new"]["errors"][0]["code"] == "M004"


def test_an_old_archive_with_unusable_metadata_is_invalid_input_but_no_change(
        tmp_path: Path) -> None:
    broken, good = pair(tmp_path, AOT, _unusable)
    code, out, _ = invoke(diff, str(good), str(broken), "--fail-on", "info")
    assert code == 1 and "the old archive has 1 validation error" in out
    assert out.splitlines()[1].startswith("no changes · INVALID input")
    assert "not compared: archive: metadata: the old archive's metadata is unusable" in out
    assert invoke(diff, str(good), str(broken), "--allow-invalid", "--fail-on", "info")[0] == 0


# -- static symbols that share a name --------------------------------------------------------------

HELPER = "static int32_t helper(void) {{ return {}; }}\n"


def test_static_functions_of_one_name_in_two_files_are_numbered_and_the_report_says_so(
        tmp_path: Path) -> None:
    def helpers(m: Members) -> None:
        edit_text(m, LIB0, lambda s: s + HELPER.format(1))
        edit_text(m, LIB1, lambda s: s + HELPER.format(2))
    result = compare(tmp_path, AOT, lambda m: edit_text(
        m, LIB1, lambda s: s.replace(HELPER.format(2), HELPER.format(3))), prepare=helpers)
    assert [(c.rule, c.subject) for c in result.changes] == [(Rule.D410, "function helper#2")]
    (naming,) = [n for n in result.notes if n.kind == "naming"]
    assert naming.text.startswith("function helper#2 is function helper number 2 in file order "
                                  f"(old: {LIB1}; new: {LIB1}): each file may have its own "
                                  "static function")
    assert "function helper#2 is function helper number 2" in render_text(result)


@pytest.mark.parametrize("where", ["two files", "one file"])
def test_a_redefinition_is_not_numbered_but_left_uncompared_with_a_note(
        tmp_path: Path, where: str) -> None:
    first = (LIB0, "int32_t helper(void) { return 1; }\n") if where == "two files" else \
        (LIB1, "static int32_t helper(void) { return 1; }\n")

    def twice(m: Members) -> None:
        edit_text(m, first[0], lambda s: s + first[1])
        edit_text(m, LIB1, lambda s: s + first[1].replace("1;", "2;"))
    result = compare(tmp_path, AOT, twice)
    assert not [c for c in result.changes if "#" in c.subject]
    assert [(c.rule, c.subject) for c in result.changes if "helper" in c.subject] == [
        (Rule.D401, "function helper")]
    (skipped,) = [n for n in result.not_compared if "helper" in n.text]
    assert skipped.text.startswith("function helper is defined 2 times in the new code (")
    assert "codegen" not in result.unchanged


# -- numbers by value, renames, arrays, code size --------------------------------------------------


def test_numeric_literals_are_compared_by_value(tmp_path: Path) -> None:
    def respell(m: Members) -> None:
        edit_text(m, LIB1, lambda s: s.replace("i2 < 46;", "i2 < 0x2e;", 1)
                  .replace("2.560000e+02f", "256.0f").replace("0.000000e+00f", "0.f"))
    result = compare(tmp_path, AOT, respell)
    assert rules(result) == []
    changed = compare(tmp_path, AOT, lambda m: edit_text(
        m, LIB1, lambda s: s.replace("i2 < 46;", "i2 < 0x2f;", 1)))
    assert "D410" in [r for r, _, _ in rules(changed)]
    header = compare(tmp_path, AOT7, lambda m: edit_text(
        m, HEADER, lambda s: s.replace("OUTPUT_SIZE 40", "OUTPUT_SIZE 0x28")))
    assert rules(header) == []


def _ffi_wrapper(m: Members) -> None:
    """Make the softmax kernel look like a TVM-FFI wrapper: `__tvm_ffi_<name>`, whose body spells
    <name> in a string and in a local name."""
    def wrap(text: str) -> str:
        text = re.sub(rf"\b{SOFTMAX}\b", f"__tvm_ffi_{SOFTMAX}", text)
        return text.replace(f"__tvm_ffi_{SOFTMAX}(void* arg0, void* arg1) {{\n",
                            f"__tvm_ffi_{SOFTMAX}(void* arg0, void* arg1) {{\n"
                            f'  const char* {SOFTMAX}_where = "{SOFTMAX}(x)";\n'
                            f"  (void){SOFTMAX}_where;\n")
    for path in (LIB0, LIB1):
        edit_text(m, path, wrap)
    edit_text(m, "metadata.json", lambda s: s.replace(f'"{SOFTMAX}"', f'"__tvm_ffi_{SOFTMAX}"'))


def test_a_kernel_renamed_everywhere_is_one_rename(tmp_path: Path) -> None:
    def everywhere(m: Members) -> None:
        for path in (LIB0, LIB1, "metadata.json"):
            edit_text(m, path, lambda s: s.replace("fused_nn_softmax", "fused_nn_softmax_3"))
    result = compare(tmp_path, AOT, everywhere, prepare=_ffi_wrapper)
    assert [(c.rule, c.old, c.new) for c in result.changes] == [
        (Rule.D404, f"__tvm_ffi_{SOFTMAX}", f"__tvm_ffi_{SOFTMAX}_3")]


def test_a_one_element_array_is_shown_and_compared_as_an_array(tmp_path: Path) -> None:
    added = compare(tmp_path, AOT, lambda m: edit_text(
        m, LIB1, lambda s: s + "static const int8_t one[1] = {3};\n"))
    (change,) = [c for c in added.changes if c.rule is Rule.D408]
    assert change.new == Symbol("data", "one", "static const int8_t[1]")
    retyped = compare(tmp_path, AOT, lambda m: edit_text(
        m, LIB1, lambda s: s.replace("int8_t one = 3;", "int8_t one[1] = {3};")),
        prepare=lambda m: edit_text(m, LIB1, lambda s: s + "static const int8_t one = 3;\n"))
    (change,) = [c for c in retyped.changes if c.rule is Rule.D408]
    assert (change.old, change.new) == (Symbol("data", "one", "static const int8_t"),
                                        Symbol("data", "one", "static const int8_t[1]"))


def test_the_code_size_counts_code_not_comments_and_layout(tmp_path: Path) -> None:
    def reformat(m: Members) -> None:
        edit_text(m, LIB1, lambda s: s.replace("  void* placeholder = arg0;\n",
                                               "  /* the input */\n\n    void*   placeholder =\n"
                                               "        arg0;   // as TVM passes it\n", 1))
    result = compare(tmp_path, AOT, reformat)
    assert rules(result) == []
    assert [m for m in result.metrics if m.old != m.new] == []
    changed = compare(tmp_path, AOT, reformat, lambda m: edit_text(
        m, LIB1, lambda s: s.replace("2.560000e+02f", "2.550000e+02f")))
    assert [r for r, _, _ in rules(changed)] == ["D410"]  # no code size change: same code
