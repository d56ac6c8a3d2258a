"""The pre-merge gate on real archives edited in the test: what must be caught, what must not
be, invalid input, report size, and the hostile cases where a diff could compare less than it
says (issue 12 §3)."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from pathlib import Path

import pytest
from cli_helpers import invoke
from conftest import real_archives
from parse_spy import parsed_files
from test_diff_rules import AOT, LIB1, SINE, Members, edit_params, edit_text, load, write_tar

from mlfcheck.cli.diff import diff
from mlfcheck.diff import diff_archives
from mlfcheck.diff.result import Count, DiffResult
from mlfcheck.diff.rules import Level, Rule
from mlfcheck.reading.csource import CParser
from mlfcheck.reporters.diff import MARKDOWN_BUDGET, render_markdown

pytestmark = pytest.mark.shared

ESP = "esp32s3-example-v7-aot"
HANNAH = "hannah-m3-v7-graph"
GRAPH5 = "gubprof-microspeech-v5-graph"
HEADER = "codegen/host/include/tvmgen_default.h"
P7 = "static const int16_t __tvm_param__p7[16000] = {\n"


def pair(tmp_path: Path, base: str, *edits: object) -> tuple[Path, Path]:
    """The real archive as a tar and a copy with `edits` applied (callables on the members)."""
    members = load(base)
    old = write_tar(members, tmp_path / "old.tar")
    for edit in edits:
        edit(members)  # type: ignore[operator]
    return old, write_tar(members, tmp_path / "new.tar")


def compare(tmp_path: Path, base: str, *edits: object) -> DiffResult:
    return diff_archives(*pair(tmp_path, base, *edits))


def only(result: DiffResult, rule: Rule) -> list[tuple[str, Level]]:
    return [(c.subject, c.effective_level) for c in result.changes if c.rule is rule]


def _replace(path: str, old: str, new: str) -> object:
    def edit(m: Members) -> None:
        assert old in m[path].decode(), (path, old[:40])
        edit_text(m, path, lambda s: s.replace(old, new, 1))
    return edit


# -- what the gate must catch ---------------------------------------------------------------------


def test_one_value_in_a_linked_constant_array_is_a_warning_with_its_value_delta(
        tmp_path: Path) -> None:
    result = compare(tmp_path, AOT, _replace(LIB1, P7 + "    -0x0001,", P7 + "    -0x0003,"))
    (change,) = [c for c in result.changes if c.rule is Rule.D411]
    assert (change.subject, change.effective_level) == ("constant __tvm_param__p7", Level.WARNING)
    assert change.values is not None
    assert (change.values.changed, change.values.total, change.values.max_abs) == (1, 16000, 2)
    assert result.fails(Level.WARNING) and not result.fails(Level.BREAKING)


def test_one_value_in_the_v7_constant_pool_is_a_warning(tmp_path: Path) -> None:
    lib0 = "codegen/host/src/default_lib0.c"
    result = compare(tmp_path, ESP, _replace(lib0, ".constant_1_let = {\n    +0x",
                                             ".constant_1_let = {\n    -0x"))
    assert only(result, Rule.D411) == [("constant global_const_workspace.constant_1_let",
                                        Level.WARNING)]


def test_one_value_in_a_params_tensor_is_a_warning(tmp_path: Path) -> None:
    def bump(items: list[list[object]]) -> None:
        data = bytearray(items[0][3])  # type: ignore[arg-type]
        data[0] = (data[0] + 1) % 256
        items[0][3] = bytes(data)
    result = compare(tmp_path, AOT, lambda m: edit_params(m, bump))
    assert [level for _, level in only(result, Rule.D505)] == [Level.WARNING]


def test_an_output_member_renamed_in_the_header_is_breaking(tmp_path: Path) -> None:
    result = compare(tmp_path, SINE, _replace(HEADER, "void* output;", "void* result;"))
    assert only(result, Rule.D413) == [("struct tvmgen_default_outputs member renamed",
                                        Level.BREAKING)]
    (change,) = [c for c in result.changes if c.rule is Rule.D413]
    assert (change.old.name, change.new.name) == ("output", "result")  # type: ignore[union-attr]


def test_the_aot_entry_point_renamed_in_the_c_is_breaking(tmp_path: Path) -> None:
    def rename(m: Members) -> None:
        for path in ("codegen/host/src/default_lib0.c", LIB1):
            edit_text(m, path, lambda s: s.replace("tvmgen_default_run_model",
                                                   "tvmgen_default_run_model_v2"))
    result = compare(tmp_path, AOT, rename)
    assert only(result, Rule.D409) == [("entry point tvmgen_default_run_model", Level.BREAKING)]
    assert not only(result, Rule.D404)  # not also an innocent rename
    assert invoke(diff, *map(str, pair(tmp_path, AOT, rename)))[0] == 1


def test_an_entry_point_broken_in_header_and_c_alike_is_one_change(tmp_path: Path) -> None:
    def rename(m: Members) -> None:
        for path in (HEADER, "codegen/host/src/default_lib0.c"):
            edit_text(m, path, lambda s: s.replace("tvmgen_default_run(", "tvmgen_default_go("))
    result = compare(tmp_path, ESP, rename)
    (change,) = [c for c in result.changes if c.rule is Rule.D409]
    assert change.subject == "entry point tvmgen_default_run"
    assert change.reason.startswith("no longer in the interface header and the generated C")
    header_only = compare(tmp_path, ESP, _replace(HEADER, "tvmgen_default_run(",
                                                  "tvmgen_default_go("))
    assert [c.reason.split(";")[0] for c in header_only.changes if c.rule is Rule.D409] == [
        "no longer in the interface header"]


def test_a_calling_convention_change_is_one_change_following_d111() -> None:
    result = diff_archives(real_archives()[GRAPH5], real_archives()[AOT])
    (change,) = [c for c in result.changes if c.rule is Rule.D416]
    assert (change.old, change.new) == (Count(6, "packed function"),
                                        Count(6, "unpacked function"))
    assert change.reason.startswith("follows the executor change (D111)")
    assert change.effective_level is Level.INFO and len(change.details) == 6
    bodies = {c.subject.removeprefix("function ") for c in result.changes
              if c.rule in (Rule.D405, Rule.D410)}
    assert not bodies & set(change.details)
    assert {c.rule for c in result.changes if c.rule.level is Level.BREAKING} == {
        Rule.D111, Rule.D409}


@pytest.mark.parametrize("member", ["parameters/default.params", LIB1])
def test_a_truncated_member_in_the_new_archive_fails_the_gate(tmp_path: Path,
                                                              member: str) -> None:
    def cut(m: Members) -> None:
        m[member] = m[member][:len(m[member]) // 2]
    old, new = pair(tmp_path, AOT, cut)
    code, out, _ = invoke(diff, str(old), str(new), "--fail-on", "never")
    assert code == 1, out
    assert re.search(r"the new archive has \d+ validation errors?;", out) and member in out
    assert ("X003" in out) == member.endswith(".c")
    code, _, _ = invoke(diff, str(old), str(new), "--fail-on", "never", "--allow-invalid")
    assert code == 0


def test_a_truncated_params_file_is_not_listed_as_unchanged(tmp_path: Path) -> None:
    result = compare(tmp_path, AOT, lambda m: m.update(
        {"parameters/default.params": m["parameters/default.params"][:100]}))
    assert result.invalid and "parameters" not in result.unchanged
    assert any(n.section == "parameters" and n.kind == "skipped" for n in result.not_compared)


# -- what the gate must not report -----------------------------------------------------------------


def test_reordered_members_other_owners_and_mtimes_and_gzip_are_no_changes(
        tmp_path: Path) -> None:
    members = load(AOT)
    old = write_tar(members, tmp_path / "old.tar")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for i, name in enumerate(sorted(members, reverse=True)):
            info = tarfile.TarInfo("./" + name)
            info.size, info.mtime, info.uid, info.uname = len(members[name]), 10**9 + i, 1000, "x"
            tar.addfile(info, io.BytesIO(members[name]))
    new = tmp_path / "new.tar.gz"
    new.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    code, out, _ = invoke(diff, str(old), str(new), "--fail-on", "info")
    assert code == 0 and out.splitlines()[1] == "no changes", out


def test_one_inserted_graph_node_is_one_difference(tmp_path: Path) -> None:
    graph = "executor-config/graph/graph.json"

    def insert(m: Members) -> None:
        doc = json.loads(m[graph])
        doc["nodes"].insert(3, {"op": "null", "name": "extra", "inputs": []})
        m[graph] = json.dumps(doc).encode()
    result = compare(tmp_path, GRAPH5, insert)
    (change,) = [c for c in result.changes if c.rule is Rule.D601]
    assert list(change.details) == ['/nodes/3: (absent) → {"inputs":[],"name":"extra",'
                                    '"op":"null"}']


# -- reports that fit a PR comment -----------------------------------------------------------------


@pytest.mark.parametrize("other", ["edit", HANNAH])
def test_the_v7_diffs_fit_in_a_pr_comment(tmp_path: Path, other: str) -> None:
    if other == "edit":
        old, new = pair(tmp_path, ESP, _replace(
            "codegen/host/src/default_lib0.c", ".constant_16_let = {\n    -0x27",
            ".constant_16_let = {\n    -0x26"), _replace(
            "codegen/host/src/default_lib1.c", "return 0;", "return 1;"))
    else:
        old, new = real_archives()[ESP], real_archives()[other]
    result = diff_archives(old, new)
    text = render_markdown(result)
    assert len(text) < MARKDOWN_BUDGET
    assert max(map(len, text.splitlines())) < 1000
    first_breaking = next((i for i, line in enumerate(text.splitlines())
                           if line.startswith("| breaking")), None)
    assert first_breaking is None or first_breaking < 20


def test_no_report_line_prints_a_whole_initializer(tmp_path: Path) -> None:
    result = diff_archives(real_archives()[ESP], real_archives()[HANNAH])
    for line in render_markdown(result).splitlines():
        assert "…" in line or len(line) <= 400, line[:100]


# -- never compare less than it says (issue 12 §3) -------------------------------------------------


def test_a_top_level_define_or_include_is_a_change(tmp_path: Path) -> None:
    result = compare(tmp_path, AOT, _replace(LIB1, "#include <math.h>\n",
                                             "#include <math.h>\n#define float double\n"
                                             "#include <stdlib.h>\n"))
    assert sorted(s for s, _ in only(result, Rule.D412)) == ["#define float", "#include"]


def test_a_string_holding_two_slashes_hides_nothing_after_it(tmp_path: Path) -> None:
    before = "int32_t probe(void) { const char* s = \"//\"; return 1; }\n"
    result = compare(tmp_path, AOT, lambda m: edit_text(m, LIB1, lambda s: s + before))
    assert only(result, Rule.D401)
    base = load(AOT)
    edit_text(base, LIB1, lambda s: s + before)
    changed = dict(base)
    edit_text(changed, LIB1, lambda s: s.replace('"//"; return 1;', '"//"; return 2;'))
    result = diff_archives(write_tar(base, tmp_path / "a.tar"), write_tar(changed,
                                                                          tmp_path / "b.tar"))
    assert only(result, Rule.D410) == [("function probe", Level.WARNING)]


def test_reversing_16000_linked_weights_is_a_change_of_their_values(tmp_path: Path) -> None:
    def reverse(m: Members) -> None:
        text = m[LIB1].decode()
        start = text.index(P7) + len(P7)
        end = text.index("};", start)
        values = re.findall(r"[-+]0x[0-9a-f]+", text[start:end])
        body = "    " + ", ".join(reversed(values)) + "\n"
        m[LIB1] = (text[:start] + body + text[end:]).encode()
    result = compare(tmp_path, AOT, reverse)
    (change,) = [c for c in result.changes if c.rule is Rule.D411]
    assert change.values is not None and change.values.total == 16000
    assert change.values.changed > 15000


def test_different_invalid_utf8_bytes_are_different() -> None:
    parse = CParser().parse
    a = parse("a.c", b'const char* s = "\xff";\nint f(void) { return "\xfe"[0]; }\n')
    b = parse("b.c", b'const char* s = "\xfe";\nint f(void) { return "\xff"[0]; }\n')
    assert a.error is None and b.error is None
    assert a.data[0].value_digest != b.data[0].value_digest
    assert a.functions[0].body_digest != b.functions[0].body_digest


def test_a_duplicate_tensor_name_is_p003_and_compared_as_tvm_loads_it(tmp_path: Path) -> None:
    def duplicate_first(items: list[list[object]]) -> None:
        items.append(list(items[0]))
    old_members = load(AOT)
    edit_params(old_members, duplicate_first)
    new_members = dict(old_members)

    def bump_last(items: list[list[object]]) -> None:
        data = bytearray(items[-1][3])  # type: ignore[arg-type]
        data[0] = (data[0] + 1) % 256
        items[-1][3] = bytes(data)
    edit_params(new_members, bump_last)
    old = write_tar(old_members, tmp_path / "old.tar")
    new = write_tar(new_members, tmp_path / "new.tar")
    result = diff_archives(old, new)
    assert any(e.code.name == "P003" for e in result.new.errors)
    assert [level for _, level in only(result, Rule.D505)] == [Level.WARNING]  # the last copy
    assert invoke(diff, str(old), str(new), "--fail-on", "never")[0] == 1


def test_a_diff_parses_each_c_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = parsed_files(monkeypatch)
    old, new = real_archives()[AOT], real_archives()["gubprof-microspeech-v5-aot-b"]
    diff_archives(old, new)
    assert sorted(parsed) == sorted(2 * ["codegen/host/src/default_lib0.c", LIB1])


def test_sizes_and_max_report_bytes_shape_the_text_report() -> None:
    old, new = str(real_archives()[ESP]), str(real_archives()[HANNAH])
    _, short, _ = invoke(diff, old, new)
    _, full, _ = invoke(diff, old, new, "--sizes")
    assert "more rows (--sizes shows all)" in short and "more rows" not in full
    assert len(full.splitlines()) > len(short.splitlines())
    code, cut, _ = invoke(diff, old, new, "--max-report-bytes", "600")
    assert code == 1 and len(cut.encode()) < 700
    assert cut.endswith("… report cut at 600 bytes (--max-report-bytes); --format json is "
                        "complete\n")
