"""The containment layer's text functions, without a compiler: diagnostics rewritten so they
never quote outside text nor print temporary paths, #include directives found as the
preprocessor sees them, dependency lists read, places named."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import pytest

from mlfcheck import children
from mlfcheck.board.containment import (
    DEPENDENCY_LIMITS,
    OUTSIDE,
    Directive,
    OverLimit,
    Places,
    Refusal,
    Refused,
    Tree,
    dependency_list,
    directives,
    rewrite,
    search_list,
    stopped,
)


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Places:
    """An archive folder (under the temporary folder), a user -I folder the user spelt
    'vendor' (relative to where mlfcheck runs), and a system include folder."""
    archive = tmp_path / "mlfcheck-size-abc"
    (archive / "codegen/host/src").mkdir(parents=True)
    (archive / "obj").mkdir()
    (tmp_path / "vendor").mkdir()
    (tmp_path / "sys").mkdir()
    monkeypatch.chdir(tmp_path)
    return Places.of(Tree(archive, (Path("vendor"),)), [tmp_path / "sys"])


def _at(tmp_path: Path, rel: str) -> str:
    return str(tmp_path / rel)


def test_archive_paths_become_member_paths_and_nothing_names_the_temporary_folder(
        places: Places, tmp_path: Path) -> None:
    src = _at(tmp_path, "mlfcheck-size-abc/codegen/host/src/a.c")
    text = (f"In file included from {src}:3,\n"
            f"                 from {_at(tmp_path, 'mlfcheck-size-abc/codegen/host/src')}"
            "/../src/b.c:1:\n"
            f"{src}: In function 'f':\n"
            f"{src}:9:12: error: expected ';' before 'return'\n")
    assert rewrite(text, places) == (
        "In file included from codegen/host/src/a.c:3,\n"
        "                 from codegen/host/src/b.c:1:\n"
        "codegen/host/src/a.c: In function 'f':\n"
        "codegen/host/src/a.c:9:12: error: expected ';' before 'return'\n")
    assert str(tmp_path) not in rewrite(text, places)


def test_lines_about_files_outside_become_one_line_that_says_so(places: Places,
                                                                 tmp_path: Path) -> None:
    src = _at(tmp_path, "mlfcheck-size-abc/codegen/host/src/a.c")
    text = ("/etc/passwd:1:5: error: expected '=', ',', ';', 'asm' or '__attribute__' before "
            "':' token\n"
            "/etc/passwd:2:4: error: unknown type name 'daemon'\n"
            "root:x:0:0:root:/root:/bin/bash\n"
            "daemon: x\n"
            f"{src}/../../../../../../../../etc/passwd:1:1: error: 'root' undeclared\n"
            f"{src}:2:1: note: in expansion of macro 'P'\n"
            "/etc/passwd: Assembler messages:\n"
            "/etc/passwd:1: Error: no such instruction: `root:x:0:0:root:/root:/bin/bash'\n")
    out = rewrite(text, places)
    assert out == (f"{OUTSIDE}\ncodegen/host/src/a.c:2:1: note: in expansion of macro 'P'\n"
                   f"{OUTSIDE}\n")
    assert "root" not in out and "daemon" not in out and "passwd" not in out


def test_quoted_source_lines_carets_and_unknown_lines_are_dropped(places: Places,
                                                                  tmp_path: Path) -> None:
    src = _at(tmp_path, "mlfcheck-size-abc/codegen/host/src/a.c")
    text = (f"{src}:1:10: error: 'x' undeclared\n"
            "    1 | root:x:0:0:root:/root:/bin/bash\n"
            "      |     ^\n"
            "root:x:0:0:root:/root:/bin/bash\n"
            "compilation terminated.\n")
    assert rewrite(text, places) == ("codegen/host/src/a.c:1:10: error: 'x' undeclared\n"
                                     "compilation terminated.\n")


def test_system_headers_user_folders_and_the_toolchain_keep_readable_names(
        places: Places, tmp_path: Path) -> None:
    text = (f"In file included from {_at(tmp_path, 'sys')}/stdio.h:27,\n"
            f"{_at(tmp_path, 'vendor')}/tvm/runtime/c_runtime_api.h:4:1: warning: x\n"
            "/usr/lib/gcc/arm-none-eabi/12.2.1/../../../arm-none-eabi/bin/ld: "
            f"{_at(tmp_path, 'mlfcheck-size-abc/obj')}/000-a.o: in function `f':\n"
            "/usr/lib/gcc/arm-none-eabi/12.2.1/../../../arm-none-eabi/bin/ld: "
            "/usr/lib/arm-none-eabi/newlib/thumb/libc_nano.a(libc_a-closer.o): in function "
            "`_close_r':\n"
            "/usr/lib/gcc/arm-none-eabi/12.2.1/../../../arm-none-eabi/bin/ld: region `RAM' "
            "overflowed by 1200 bytes\n"
            "collect2: error: ld returned 1 exit status\n"
            "cc1: out of memory allocating 536870928 bytes after a total of 602112 bytes\n"
            "a.c:(.text.f+0x8): undefined reference to `g'\n"
            "<command-line>: error: x\n")
    assert rewrite(text, places) == (
        "In file included from <stdio.h>:27,\n"
        "vendor/tvm/runtime/c_runtime_api.h:4:1: warning: x\n"
        "ld: obj/000-a.o: in function `f':\n"
        "ld: libc_nano.a(libc_a-closer.o): in function `_close_r':\n"
        "ld: region `RAM' overflowed by 1200 bytes\n"
        "collect2: error: ld returned 1 exit status\n"
        "cc1: out of memory allocating 536870928 bytes after a total of 602112 bytes\n"
        "a.c:(.text.f+0x8): undefined reference to `g'\n"
        "<command-line>: error: x\n")


def test_paths_inside_a_message_are_named_or_replaced(places: Places, tmp_path: Path) -> None:
    src = _at(tmp_path, "mlfcheck-size-abc/codegen/host/src/a.c")
    assembler = Path(tempfile.gettempdir()) / "ccAbC123.s"
    text = (f"{src}:1:10: fatal error: /home/someone/secret.h: No such file or directory\n"
            f"{src}:1:10: fatal error: {src}x: No such file or directory\n"
            f"{assembler}: Assembler messages:\n"
            f"{assembler}:12: Error: bad instruction `foo r0'\n")
    assert rewrite(text, places) == (
        f"codegen/host/src/a.c:1:10: fatal error: {OUTSIDE}: No such file or directory\n"
        "codegen/host/src/a.c:1:10: fatal error: codegen/host/src/a.cx: No such file or "
        "directory\n"
        "(assembler input): Assembler messages:\n"
        "(assembler input):12: Error: bad instruction `foo r0'\n")


def test_a_symlink_out_of_the_archive_is_outside(places: Places, tmp_path: Path) -> None:
    link = tmp_path / "mlfcheck-size-abc/codegen/host/src/evil.h"
    link.symlink_to("/etc/passwd")
    assert places.name(link) is None
    assert places.name(tmp_path / "mlfcheck-size-abc/codegen/host/src/../src/a.c") == \
        "codegen/host/src/a.c"
    assert places.name(tmp_path / "mlfcheck-size-abc/../vendor/x.h") == "vendor/x.h"
    assert rewrite(f"{link}:1:5: error: x\n", places) == f"{OUTSIDE}\n"


def test_directives_are_found_as_the_preprocessor_sees_them() -> None:
    text = ('#include "a.h"\n'
            "  #  include <b/c.h> // comment\n"
            "#inc\\\nlude \"/et\\\nc/passwd\"\n"
            "/* a comment\n */ # /**/ include_next <d.h>\n"
            "%:include \"/dev/zero\"\n"
            "??=import \"e.h\"\n"
            "#define P \"/dev/stdin\"\n"
            "#include P\n"
            "const char *s = \"#include \\\"/etc/shadow\\\"\";\n"
            "// #include \"/etc/group\"\n"
            "#includes \"no.h\"\n"
            "#if __has_include(\"/etc/shadow\") && __has_include_next(<f.h>)\n"
            "#embed </dev/urandom>\n")
    assert directives(text) == [
        Directive(1, "include", '"a.h"'), Directive(2, "include", "<b/c.h>"),
        Directive(3, "include", '"/etc/passwd"'), Directive(7, "include_next", "<d.h>"),
        Directive(8, "include", '"/dev/zero"'), Directive(9, "import", '"e.h"'),
        Directive(11, "include", "P"), Directive(15, "__has_include", '"/etc/shadow"'),
        Directive(15, "__has_include_next", "<f.h>"), Directive(16, "embed", "</dev/urandom>")]
    assert [d.literal for d in directives(text)] == [
        "a.h", "b/c.h", "/etc/passwd", "d.h", "/dev/zero", "e.h", None, "/etc/shadow", "f.h",
        "/dev/urandom"]
    assert [d.shown() for d in directives(text)][-3:] == [
        '__has_include("/etc/shadow")', "__has_include_next(<f.h>)", "#embed </dev/urandom>"]
    assert directives("int x;\n" * 1000) == []


def test_a_shown_directive_is_printable_and_short() -> None:
    assert Directive(1, "include", '"a\x1bb.h"').shown() == '#include "a?b.h"'
    assert len(Directive(1, "include", "P" * 500).shown()) == len("#include ") + 160


def test_dependency_lists_are_read_with_gccs_escapes() -> None:
    text = ("mlfcheck-dependencies: /a/b.c /a/with\\ space.h \\\n /a/hash\\#.h /a/dollar$$.h "
            "missing.h\n")
    assert dependency_list(text) == ["/a/b.c", "/a/with space.h", "/a/hash#.h",
                                     "/a/dollar$.h", "missing.h"]


def test_the_compilers_search_list_is_read_resolved() -> None:
    text = ("ignoring nonexistent directory \"/x\"\n"
            "#include \"...\" search starts here:\n"
            "#include <...> search starts here:\n"
            " /usr/lib/gcc/arm-none-eabi/12.2.1/include\n"
            " /usr/lib/gcc/arm-none-eabi/12.2.1/../../../arm-none-eabi/include\n"
            "End of search list.\n")
    assert search_list(text) == (
        Path(os.path.realpath("/usr/lib/gcc/arm-none-eabi/12.2.1/include")),
        Path(os.path.realpath("/usr/lib/arm-none-eabi/include")))


def test_refusals_and_limits_say_where_and_survive_pickling() -> None:
    refused = Refused([Refusal("codegen/host/src/a.c", 3, '#include "/etc/passwd"'),
                       Refusal("codegen/host/src/a.c", 0, "inline assembly uses .incbin")])
    assert str(refused).startswith('codegen/host/src/a.c:3: #include "/etc/passwd"; '
                                   "codegen/host/src/a.c: inline assembly uses .incbin "
                                   "(refused before compiling: ")
    assert pickle.loads(pickle.dumps(refused)).refusals == refused.refusals
    stopped = OverLimit("preprocessing a.c", "did not finish within 15 s")
    assert str(stopped) == "preprocessing a.c did not finish within 15 s (stopped)"
    assert str(pickle.loads(pickle.dumps(stopped))) == str(stopped)


def _ran(stderr: str, *, code: int | None = 1, timed_out: bool = False) -> children.Ran:
    return children.Ran(("cc",), code, "", stderr, timed_out, 1.0)


def test_which_limit_stopped_a_run_is_read_from_the_tools_own_lines() -> None:
    assert stopped(_ran("", code=None, timed_out=True), DEPENDENCY_LIMITS) == \
        "did not finish within 15 s"
    assert stopped(_ran("cc1: out of memory allocating 536870928 bytes after a total of 6 "
                        "bytes\n"), DEPENDENCY_LIMITS) == "needed more than 1 GiB of memory"
    assert stopped(_ran("arm-none-eabi-gcc: fatal error: CPU time limit exceeded signal "
                        "terminated program cc1\n"), DEPENDENCY_LIMITS) == \
        "used more than 15 s of CPU"
    assert stopped(_ran("gcc: fatal error: File size limit exceeded signal terminated program "
                        "cc1\n"), DEPENDENCY_LIMITS) == "wrote a file over 256 MiB"
    # The archive's own words are not the tool's.
    assert stopped(_ran("codegen/host/src/a.c:1:2: error: #error out of memory\n"),
                   DEPENDENCY_LIMITS) is None
    assert stopped(_ran("", code=0), DEPENDENCY_LIMITS) is None
