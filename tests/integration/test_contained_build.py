"""Contained builds of hostile archives: `size`, `diff` and `audit` with --board end in bounded
time and memory, exit as they document, and print no host text (no file from outside the
archive, no temporary folder), whatever the archive's C includes: a device, the caller's
stdin, a host file, a ../ escape, a macro bomb, or assembly that reads files.

Each command runs as a child process (`python -m mlfcheck`) in a folder of its own, on archive
names relative to it, with its own TMPDIR and a stdin that stays open (so nothing may read
it); its wall-clock time and its peak resident memory (the largest of it and its children,
from wait4) are measured.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from board_helpers import require_toolchain

from mlfcheck.board import crossbuild

pytestmark = pytest.mark.board

SECONDS = 30.0
"""Every run below ends within this."""
PEAK_BYTES = 1536 * 1024**2
"""Peak resident memory of any process of a run: the dependency pass may use 1 GiB."""
ENTRY = "codegen/host/src/default_lib1.c"
BOMB = "\n".join(["#define A0 1+"] + [f"#define A{i} A{i - 1} A{i - 1}" for i in range(1, 31)]
                 + ["int bomb = A30 0;"]) + "\n"
"""A 604-byte macro bomb: 2**30 tokens once expanded."""
STOPPED = (rf"preprocessing {ENTRY} (needed more than 1 GiB of memory|did not finish within "
           r"15 s) \(stopped\)")
CASES = {
    "dev-zero": ('#include "/dev/zero"\n', rf'{ENTRY}:1: #include "/dev/zero" \(refused'),
    "dev-stdin": ('#include "/dev/stdin"\n', rf'{ENTRY}:1: #include "/dev/stdin" \(refused'),
    "etc-passwd": ('#include "/etc/passwd"\n', rf'{ENTRY}:1: #include "/etc/passwd" \(refused'),
    "escape": ('#include "' + "../" * 12 + 'etc/passwd"\n',
               rf'{ENTRY}:1: #include "(\.\./){{12}}etc/passwd" \(refused'),
    "macro-bomb": (BOMB, STOPPED),
    "computed-zero": ("#define F </dev/zero>\n#include F\n", STOPPED),
    "computed-stdin": ('#define F "/dev/stdin"\n#include F\n',
                       rf"{ENTRY}:2: #include F \(refused"),
    "computed-passwd": ('#define F "/etc/passwd"\n#include F\n',
                        rf"{ENTRY}:2: #include F \(refused"),
    "asm-include": ('__asm__(".include \\"/etc/passwd\\"");\n',
                    rf"{ENTRY}: inline assembly uses \.include \(refused"),
    "has-include": ('#if __has_include("/etc/passwd")\nint there;\n#endif\n',
                    rf'{ENTRY}:1: __has_include\("/etc/passwd"\) \(refused'),
}
"""Archive name → (C put before the default model's entry file, what the error says)."""


@dataclass(frozen=True)
class Run:
    """How one command ended."""

    code: int
    out: str
    err: str
    seconds: float
    peak_bytes: int


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the commands run in, holding the default model's archive and the hostile
    ones (the default model with C put before its entry file)."""
    require_toolchain()
    pytest.importorskip("tvm")
    from mlfcheck.export import export_model

    folder = tmp_path_factory.mktemp("contained")
    export_model("default", folder / "default.tar", epoch=0)
    for name, (head, _) in CASES.items():
        _prepended(folder / "default.tar", folder / f"{name}.tar", head)
    return folder


def _prepended(source: Path, out: Path, head: str) -> None:
    with tarfile.open(source) as old, tarfile.open(out, "w") as new:
        for member in old.getmembers():
            stream = old.extractfile(member) if member.isfile() else None
            data = stream.read() if stream is not None else None
            if member.name.endswith(ENTRY):
                data = head.encode() + (data or b"")
                member.size = len(data)
            new.addfile(member, None if data is None else io.BytesIO(data))


def _run(work: Path, *args: str) -> Run:
    """`python -m mlfcheck ARGS` in `work`, contained by nothing but what mlfcheck does."""
    scratch = work / "tmp"
    scratch.mkdir(exist_ok=True)
    out, err = work / "stdout.txt", work / "stderr.txt"
    env = {**os.environ, "TMPDIR": str(scratch)}
    reading, writing = os.pipe()  # a stdin that never ends: whatever reads it hangs
    start = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "mlfcheck", *args], cwd=work,
                                   stdin=reading, stdout=stdout, stderr=stderr, env=env)
    os.close(reading)
    try:
        status, usage = _wait(process.pid, start + 4 * SECONDS)
    finally:
        os.close(writing)
    seconds = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # (reaped by wait4)
    assert list(scratch.iterdir()) == [], "a temporary file was left behind"
    return Run(process.returncode, out.read_text(), err.read_text(), seconds,
               usage.ru_maxrss * 1024)


def _wait(pid: int, deadline: float) -> tuple[int, os.struct_rusage]:
    """wait4 the command, killing it at the deadline (the test then fails on its time)."""
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            _, status, usage = os.wait4(pid, 0)
            return status, usage
        time.sleep(0.05)


def _no_host_text(run: Run, work: Path) -> None:
    """Nothing of /etc/passwd, no temporary folder, no absolute path of this machine."""
    text = run.out + run.err
    passwd = [ln for ln in Path("/etc/passwd").read_text().splitlines() if ln.strip()]
    assert not [ln for ln in passwd if ln in text]
    assert not re.search(r"\broot:x?:|:/bin/(ba)?sh\b|nologin", text)
    assert "/tmp" not in text and str(work) not in text and "mlfcheck-" not in text
    assert tempfile.gettempdir() + "/" not in text


def _bounded(run: Run) -> None:
    assert run.seconds < SECONDS, f"took {run.seconds:.1f} s"
    assert run.peak_bytes < PEAK_BYTES, f"peaked at {run.peak_bytes / 1024**2:.0f} MiB"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_size_refuses_or_stops_a_hostile_build_and_says_where(work: Path, case: str,
                                                              fmt: str) -> None:
    run = _run(work, "size", f"{case}.tar", "--board", "mps2-an386", "--format", fmt)
    _bounded(run)
    _no_host_text(run, work)
    assert (run.code, run.out) == (2, ""), run.err  # "2 could not compile"
    assert run.err.count("\n") == 1 and run.err.startswith("mlfcheck size: error: ")
    assert re.search(CASES[case][1], run.err), run.err


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_diff_with_a_board_judges_a_new_hostile_side_breaking(work: Path, case: str,
                                                            fmt: str) -> None:
    run = _run(work, "diff", "default.tar", f"{case}.tar", "--board", "mps2-an386",
               "--format", fmt)
    _bounded(run)
    _no_host_text(run, work)
    assert run.code == 1, run.err  # the old archive built for the board: D417, never a note
    assert "D417" in run.out, run.out
    said = re.search(r"was not built: (.*)", run.out)
    assert said, run.out
    reason = said.group(1).replace("\\", "")  # (Markdown escapes # and _)
    assert re.search(CASES[case][1], reason), reason


def test_audit_with_a_board_keeps_each_hostile_archives_reason(work: Path) -> None:
    folder = work / "release"
    folder.mkdir(exist_ok=True)
    for case in ("etc-passwd", "computed-zero", "macro-bomb", "asm-include"):
        (folder / f"{case}.tar").write_bytes((work / f"{case}.tar").read_bytes())
    run = _run(work, "audit", "release", "--board", "mps2-an386", "--jobs", "1", "--format",
               "markdown")
    _bounded(run)
    _no_host_text(run, work)
    plain = _run(work, "audit", "release", "--jobs", "1", "--format", "markdown")
    assert run.code == plain.code and run.code in (0, 1), run.err  # the board column informs
    rows = {m.group(1): m.group(2) for m in
            re.finditer(r"^\| \d+ \| `([\w-]+)\.tar` \|.*? \| not compiled: (.*?) \|", run.out,
                        re.M)}
    assert set(rows) == {"etc-passwd", "computed-zero", "macro-bomb", "asm-include"}
    for case, reason in rows.items():
        assert re.search(CASES[case][1], reason.replace("\\", "")), reason


def test_a_normal_archive_sizes_as_an_uncontained_compile_does(work: Path,
                                                               tmp_path: Path) -> None:
    from mlfcheck.api import size_archive
    from mlfcheck.board.boards import board
    from mlfcheck.board.elfsize import by_size, object_symbols
    from mlfcheck.board.footprint import FLAGS

    contained = size_archive(work / "default.tar", "mps2-an386")
    with tarfile.open(work / "default.tar") as tar:
        tar.extractall(tmp_path, filter="data")
    target = board("mps2-an386")
    flags = [*target.cpu_flags, *crossbuild.SIZE_FLAGS, *FLAGS,
             f"-I{tmp_path / 'codegen/host/include'}", f"-I{tmp_path / 'runtime/include'}"]
    symbols = []
    for source in sorted((tmp_path / "codegen/host/src").glob("*.c")):
        obj = tmp_path / f"{source.stem}.o"
        subprocess.run([crossbuild.GCC, *flags, "-c", str(source), "-o", str(obj)],
                       check=True, stdin=subprocess.DEVNULL, timeout=120)
        symbols += object_symbols(obj)
    assert contained.symbols == by_size(symbols)
    assert contained.flash > 0 and contained.ram > 0


def test_the_refusal_is_structured(work: Path) -> None:
    from mlfcheck.api import size_archive
    from mlfcheck.board.containment import Refusal, Refused

    with pytest.raises(Refused) as refused:
        size_archive(work / "computed-passwd.tar", "mps2-an386")
    assert refused.value.refusals == (Refusal(ENTRY, 2, "#include F"),)


def test_include_folders_the_user_gives_are_read_but_not_what_they_link_to(
        work: Path, tmp_path: Path) -> None:
    from mlfcheck.api import size_archive
    from mlfcheck.board.containment import Refusal, Refused

    _prepended(work / "default.tar", tmp_path / "vendor.tar", '#include "vendor.h"\n')
    given = tmp_path / "given"
    given.mkdir()
    (given / "vendor.h").write_text("int vendor_table[3] = {1, 2, 3};\n")
    sized = size_archive(tmp_path / "vendor.tar", "mps2-an386", includes=[given])
    assert next(s for s in sized.symbols if s.name == "vendor_table").ram == 12
    (given / "vendor.h").unlink()
    (given / "vendor.h").symlink_to("/etc/passwd")
    with pytest.raises(Refused) as refused:
        size_archive(tmp_path / "vendor.tar", "mps2-an386", includes=[given])
    assert refused.value.refusals == (Refusal(ENTRY, 1, '#include "vendor.h"'),)


def test_nothing_compiles_unchecked(tmp_path: Path) -> None:
    from mlfcheck.board.containment import Build, Tree

    tools = require_toolchain()
    source = tmp_path / "a.c"
    source.write_text("int a;\n")
    build = Build(tools.cc, Tree(tmp_path), tmp_path)
    with pytest.raises(ValueError, match="was not checked"):
        build.compile(source, tmp_path / "a.o", [], [])
    assert build.check([source], [], []) == []
    assert build.compile(source, tmp_path / "a.o", [], []).ok
