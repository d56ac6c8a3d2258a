"""The reader sees what a compiler sees: lines joined at backslash-newlines, directives only
where a compiler reads one (never in a comment, a literal or a comment's continuation line),
and every definition with the conditional it sits under; and what validate makes of it (X001,
X005, X006, X007).

What GCC does with each awkward input below was checked by hand with `gcc -c` and `nm` (GCC 12):
a `#` after a comment that spans lines starts a directive when nothing but that comment stands
before it on its line; after code it is a stray `#` (an error); a comment that holds a line
break inside a directive makes the rest of that line part of the directive.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import real_archives
from fixture_writer import mf

from mlfcheck import api
from mlfcheck.reading.archive import Archive
from mlfcheck.reading.csource import Condition, CParser, SymbolTable
from mlfcheck.reading.csource.lexing import directives, unsplice
from mlfcheck.reading.csource.preparation import prepare


def table(source: bytes) -> SymbolTable:
    return CParser().parse("f.c", source)


def names(source: bytes) -> list[str]:
    t = table(source)
    return [f.name for f in t.functions] + [d.name for d in t.data]


def directive_names(source: bytes) -> list[bytes]:
    return [d.name for d in directives(unsplice(source))]


# -- lexing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    b"abc\\\ndef\\\nghi rest\nX",
    b"a\\ \t\nb\nc\\\r\nd\n",
    b'const char* s = "x\\\n#endif";\n',
    b"// c \\\n#ifdef __cplusplus\n",
    b"\\\n",
    b"no splice \\ here\n",
])
def test_unsplice_keeps_length_and_line_breaks_and_joins_each_line_on_its_first(
        source: bytes) -> None:
    joined = unsplice(source)
    assert len(joined) == len(source) and joined.count(b"\n") == source.count(b"\n")
    logical = source.replace(b"\\\r\n", b"").replace(b"\\ \t\n", b"").replace(b"\\\n", b"")
    assert joined.split(b"\n")[0].rstrip() == logical.split(b"\n")[0].rstrip()


def test_a_name_split_by_a_splice_is_one_name() -> None:
    assert names(b"int32_t tvmgen_default_\\\nrun(void) { return 0; }\n") == ["tvmgen_default_run"]


@pytest.mark.parametrize(("source", "found"), [
    (b"// a comment \\\n#ifdef __cplusplus\nint a;\n", []),
    (b"/* #ifdef __cplusplus */\nint a;\n/*\n#endif\n*/\n", []),
    (b'const char* s = "x\\\n#endif";\nconst char* t = "#if 0";\n', []),
    (b"char c = '#';\n  # if X\n#endif // #else\n", [b"if", b"endif"]),
    (b"int a;\n/* x\n y */ #if 0\n#endif\n", [b"if", b"endif"]),  # GCC: a directive
    (b"int a; /* x\n y */ #if 0\n", []),  # GCC: a stray `#`
    (b"#/* c */ifdef X\n#e\\\nndif\n", [b"ifdef", b"endif"]),
    (b"#include <a.h>\n#pragma once\n#\n#define X 1\n", [b"define"]),
])
def test_directives_are_found_only_where_a_compiler_reads_them(source: bytes,
                                                               found: list[bytes]) -> None:
    assert directive_names(source) == found


def test_a_comment_spanning_lines_makes_the_rest_of_the_line_part_of_the_directive() -> None:
    source = b"#ifdef FOO /*\n*/ int hidden(void) { return 1; }\nint shown;\n#endif\n" \
        b"#include <x.h> /*\n */ int also_hidden;\n"
    assert names(source) == ["shown"]  # gcc -c defines neither of the others
    assert len(prepare(source).text) == len(source)


# -- what preparation drops, and what it leaves with its conditional ----------------------------


def test_tvms_cplusplus_guards_are_dropped_only_where_they_are_directives() -> None:
    guarded = b'#ifdef __cplusplus\nextern "C" {\n#endif\nint a;\n#ifdef __cplusplus\n}\n#endif\n'
    assert prepare(guarded).text.split() == [b"int", b"a;"]
    assert table(guarded).error is None and table(guarded).data[0].condition is None
    # the real run is in the branch a compiler drops, once the `#else` is a comment's
    hidden = (b"#ifdef __cplusplus\n// \\\n#else\nint32_t run(void) { return real(); }\n"
              b"#else\nint32_t run(void) { return 42; }\n#endif\n")
    assert [f.text for f in table(hidden).functions] == ["int32_t run(void) { return 42; }"]


def conditions_of(source: bytes) -> dict[str, Condition | None]:
    t = table(source)
    return {s.name: s.condition for s in (*t.functions, *t.data)}


def test_each_definition_knows_the_conditional_it_sits_under() -> None:
    source = (b"#ifndef GUARD_H_\n#define GUARD_H_\nint guarded;\n"
              b"#if 0\nint never;\n#ifdef X\nint never_either;\n#endif\n"
              b"#elif 1\nint always;\n#else\nint not_else;\n#endif\n"
              b"#ifdef FAST\nint fast(void) { return 1; }\n#else\nint slow;\n#endif\n"
              b"#ifndef __cplusplus\nint in_c;\n#endif\n#endif\n")
    assert conditions_of(source) == {
        "guarded": None, "never": Condition("#if 0", 4, True),
        "never_either": Condition("#if 0", 4, True), "always": None,
        "not_else": Condition("#else", 11, True),
        "fast": Condition("#ifdef FAST", 14, False), "slow": Condition("#else", 16, False),
        "in_c": None}
    assert [f.compiled for f in table(source).functions] == [True]


def test_pathological_directives_and_splices_cost_linear_time() -> None:
    started = time.process_time()
    for source in (b"#if 0\n" * 100_000, b"#\n" * 500_000, b"a\\\n" * 500_000,
                   b"/* x\n*/ #if 0\n" * 50_000, b'"#if"' * 200_000, b"#if X\n#endif\n" * 50_000,
                   b"#ifdef A /*\n*/ x\n" * 50_000):
        prepared = prepare(source)
        assert len(prepared.text) == len(source)
    assert time.process_time() - started < 5.0


# -- validate: X001, X005, X006, X007 -----------------------------------------------------------

LIB0 = "codegen/host/src/default_lib0.c"
LIB1 = "codegen/host/src/default_lib1.c"
HEADER = "codegen/host/include/tvmgen_default.h"
OPERATOR = b"TVM_DLL int32_t tvmgen_default_fused_cast_multiply_add("


def findings(tmp_path: Path, edit: dict[str, bytes]) -> list[tuple[str, str, str]]:
    """(code, member, message) of validate on the v7 AOT archive 'default' with `edit`."""
    path = tmp_path / "a.tar"
    path.write_bytes(mf.tar_bytes(mf.entries_of({**mf.v7({"default": "aot"}), **edit})))
    return [(f.code.name, f.member or "", f.message) for f in api.validate_archive(path).findings]


def base(member: str) -> bytes:
    return mf.v7({"default": "aot"})[member]


def around_operator(before: bytes, after: bytes = b"#endif\n") -> dict[str, bytes]:
    source = base(LIB0)
    start = source.index(OPERATOR)
    end = source.index(b"\n}\n", start) + 3
    return {LIB0: source[:start] + before + source[start:end] + after + source[end:]}


def test_the_base_archive_is_clean(tmp_path: Path) -> None:
    assert findings(tmp_path, {}) == []


def test_an_operator_only_under_if_0_is_x001_saying_where_it_hides(tmp_path: Path) -> None:
    [(code, member, message)] = findings(tmp_path, around_operator(b"#if 0\n"))
    assert (code, member) == ("X001", "metadata.json")
    assert message.endswith("a compiler skips its definition at codegen/host/src/default_lib0"
                            ".c:7, under `#if 0` (line 6)"), message


def test_an_operator_under_an_outside_macro_is_x007_not_x001(tmp_path: Path) -> None:
    assert findings(tmp_path, around_operator(b"#ifdef FAST\n")) == [(
        "X007", LIB0, "tvmgen_default_fused_cast_multiply_add is defined under `#ifdef FAST` "
        "(line 6), so whether a compiler builds it depends on macros from outside the archive")]
    assert findings(tmp_path, around_operator(b"#if 1\n")) == []  # compiled for certain


def test_an_entry_point_under_if_0_or_renamed_by_a_define_is_x007(tmp_path: Path) -> None:
    source = base(LIB1)
    at = source.index(b"int32_t tvmgen_default_run(")
    hidden = findings(tmp_path, {LIB1: source[:at] + b"#if 0\n" + source[at:] + b"#endif\n"})
    assert [(c, m) for c, m, _ in hidden] == [("X007", LIB1)]
    assert "which a compiler skips" in hidden[0][2]
    renamed = findings(tmp_path, {
        LIB1: b"#define tvmgen_default_run tvmgen_default_run_fake\n" + source})
    assert renamed == [("X007", LIB1, "`#define tvmgen_default_run tvmgen_default_run_fake` "
                        "renames tvmgen_default_run: a compiler reads the expansion wherever "
                        "the name is written")]


def test_an_entry_point_behind_a_comment_continuation_is_read_as_gcc_compiles_it(
        tmp_path: Path) -> None:
    source = base(LIB1).replace(b"int32_t tvmgen_default_run(",
                                b"// fast path \\\n#ifdef __cplusplus\nint32_t tvmgen_default_run(")
    assert findings(tmp_path, {LIB1: source}) == []  # the #ifdef is a comment's: nothing hides


def test_an_external_definition_twice_is_x005_and_static_ones_in_two_files_are_not(
        tmp_path: Path) -> None:
    operator = around_operator(b"")[LIB0]
    start = operator.index(OPERATOR)
    twice = {LIB1: base(LIB1) + operator[start:operator.index(b"\n}\n", start) + 3]}
    [(code, member, message)] = findings(tmp_path, twice)
    assert (code, member) == ("X005", LIB1) and "first at codegen/host/src/default_lib0.c:6" \
        in message
    statics = {LIB0: base(LIB0) + b"static int8_t w[4];\nint t;\nint t;\n",
               LIB1: base(LIB1) + b"static int8_t w[4];\n"}
    assert findings(tmp_path, statics) == []  # a tentative definition may repeat in a file
    assert [c for c, _, _ in findings(tmp_path, {LIB0: base(LIB0) + b"int t = 1;\n",
                                                 LIB1: base(LIB1) + b"int t;\n"})] == ["X005"]


def test_a_header_extern_longer_than_its_definition_is_x006(tmp_path: Path) -> None:
    header = base(HEADER).replace(b"int32_t tvmgen_default_run(",
                                  b"extern uint8_t tvmgen_default_workspace[64];\n"
                                  b"int32_t tvmgen_default_run(")
    found = findings(tmp_path, {HEADER: header,
                                LIB1: base(LIB1) + b"uint8_t tvmgen_default_workspace[32];\n"})
    assert found == [("X006", HEADER, "tvmgen_default_workspace is declared here as "
                      "`uint8_t[64]` but defined as `uint8_t[32]` at "
                      "codegen/host/src/default_lib1.c:11")]
    assert findings(tmp_path, {HEADER: header.replace(b"[64]", b"[]"), LIB1: base(LIB1)
                               + b"uint8_t tvmgen_default_workspace[32];\n"}) == []


def test_a_prototype_unlike_its_definition_is_x006_in_a_header_or_its_own_file(
        tmp_path: Path) -> None:
    header = base(HEADER).replace(b"outputs);", b"outputs, void* workspace);")
    [(code, member, message)] = findings(tmp_path, {HEADER: header})
    assert (code, member) == ("X006", HEADER) and "`int32_t (struct tvmgen_default_inputs*," \
        "struct tvmgen_default_outputs*,void*)` but defined as" in message
    own = b"int32_t helper(int8_t* a);\nint32_t helper(int8_t* b) { return b[0]; }\n" \
        b"int32_t later(float x);\nint32_t later(int8_t x) { return x; }\n" \
        b"int32_t loose();\nint32_t loose(int8_t x) { return x; }\n"
    line = base(LIB0).count(b"\n") + 4
    assert findings(tmp_path, {LIB0: base(LIB0) + own}) == [(
        "X006", LIB0, "later is declared here as `int32_t (float)` but defined as "
        f"`int32_t (int8_t)` at codegen/host/src/default_lib0.c:{line}")]


# -- diff reads what a compiler compiles -----------------------------------------------------

SINE = "sine-aot-v5-zephyr"
RUN_MODEL = b"TVM_DLL int32_t tvmgen_default_run_model(void* input, void* output) {"


@pytest.mark.shared
def test_an_entry_point_swapped_behind_a_comment_continuation_is_a_body_change(
        tmp_path: Path) -> None:
    """The new archive keeps the real entry point where a compiler drops it (in the
    `__cplusplus` branch, once the `#else` before it sits on a `//` comment's continuation
    line) and compiles one that writes a constant answer."""
    with Archive(real_archives()[SINE]) as archive:
        members = {m.name: archive.read(m.name) for m in archive.files()}
    source = members[LIB0]
    start = source.index(RUN_MODEL)
    end = source.index(b"\n}\n", start) + 3
    real = source[start:end]
    fake = RUN_MODEL + b"\n  ((float*)output)[0] = 0.5f;\n  return 0;\n}\n"
    swapped = source[:start] + b"#ifdef __cplusplus\n// \\\n#else\n" + real + b"#else\n" + \
        fake + b"#endif\n" + source[end:]
    old, new = tmp_path / "old.tar", tmp_path / "new.tar"
    old.write_bytes(mf.tar_bytes(mf.entries_of(members)))
    new.write_bytes(mf.tar_bytes(mf.entries_of({**members, LIB0: swapped})))
    changes = [(c.rule.name, c.subject) for c in api.diff_archives(old, new).changes]
    assert ("D410", "function tvmgen_default_run_model") in changes, changes  # body, same model
    [run] = [f for f in table(swapped).functions if f.name == "tvmgen_default_run_model"]
    assert "0.5f" in run.text
