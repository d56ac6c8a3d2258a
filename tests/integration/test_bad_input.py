"""Hostile inputs through the CLI: each ends in exit 1 or 2 with one line naming the problem.

Every input is built in tmp_path at test time (nothing hostile is committed). For each one,
`validate` (text and JSON) and `show` must exit with the expected code, print no traceback, say
what is wrong in one line, write nothing to disk, and stay within time and memory bounds where
the input is a resource attack.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import tarfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fixture_writer import mf
from gzip_bombs import gzip_of_repeats

from mlfcheck.cli import main
from mlfcheck.reading.archive import Limits

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20


# ------------------------------------------------------------------------------------------
# Building hostile inputs
# ------------------------------------------------------------------------------------------


def base() -> dict[str, bytes]:
    """A small valid v7 archive (one AOT module 'add', no header): the thing we break."""
    return mf.aot7()  # type: ignore[no-any-return]


def write_tar(path: Path, files: dict[str, bytes], *extra: Any) -> Path:
    path.write_bytes(mf.tar_bytes(mf.entries_of(files, extra=extra)))
    return path


def with_metadata(text: bytes) -> dict[str, bytes]:
    return {**base(), "metadata.json": text}


def edited_metadata(old: bytes, new: bytes) -> dict[str, bytes]:
    files = base()
    assert old in files["metadata.json"]
    return with_metadata(files["metadata.json"].replace(old, new, 1))


def with_params(data: bytes) -> dict[str, bytes]:
    return {**base(), "parameters/add.params": data}


def tensor_header(*, ndim: int, shape: tuple[int, ...], nbytes: int, bits: int = 32) -> bytes:
    """A param dict with one tensor named p0 whose header says whatever we want."""
    return (struct.pack("<QQQ", mf.LIST_MAGIC, 0, 1) + struct.pack("<Q", 2) + b"p0"
            + struct.pack("<Q", 1)
            + struct.pack("<QQiiiBBH", mf.TENSOR_MAGIC, 0, 1, 0, ndim, 2, bits, 1)
            + struct.pack(f"<{len(shape)}q", *shape) + struct.pack("<q", nbytes))


def header(name: str, *, size: int = 0, kind: bytes = tarfile.REGTYPE) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.mtime = size, kind, mf.MTIME
    return ti.tobuf(tarfile.GNU_FORMAT)


def many_members(path: Path, count: int) -> Path:
    """`count` empty members, headers stamped from one template (fast: ~4 µs a member)."""
    template = bytearray(header("./f"))
    with open(path, "wb") as out:
        for i in range(count):
            block = bytearray(template)
            name = f"./f{i:07d}".encode()
            block[: len(name)] = name
            block[148:156] = b" " * 8
            block[148:156] = f"{sum(block):06o}".encode() + b"\0 "
            out.write(block)
        out.write(b"\0" * 1024)
    return path


def metadata_of_size(path: Path, size: int) -> Path:
    """A tar whose metadata.json really is `size` bytes (a JSON string padded with spaces),
    written in 1 MiB chunks."""
    with open(path, "wb") as out:
        out.write(header("./metadata.json", size=size))
        chunk = b" " * MiB
        left = size
        while left:
            out.write(chunk[: min(left, MiB)])
            left -= min(left, MiB)
        out.write(b"\0" * (-size % 512) + b"\0" * 1024)
    return path


# ------------------------------------------------------------------------------------------
# The cases
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A hostile input and what the CLI must make of it."""

    id: str
    build: Callable[[Path], Path]
    validate_exit: int
    """1: findings reported; 2: could not read; 0 only for a documented warning."""
    show_exit: int
    """0 when metadata is usable (show summarises), 2 when it is not."""
    says: str
    """Text the one-line message must contain."""
    code: str | None = None
    """The finding code validate must report (None when the archive is unreadable)."""
    member: str | None = None
    """The member the finding must name, when it names one."""
    args: tuple[str, ...] = ()
    bounded_memory: bool = False
    """Assert that validating it allocates less than MEMORY_BOUND."""


MEMORY_BOUND = 32 * MiB


def _truncated_tar(p: Path) -> Path:
    data = mf.tar_bytes(mf.entries_of(base()))
    p.write_bytes(data[: len(data) // 2 + 100])
    return p


def _truncated_gzip(p: Path) -> Path:
    data = mf.gzip_bytes(mf.tar_bytes(mf.entries_of(base())))
    p.write_bytes(data[: len(data) // 2])
    return p


def _gzip_bomb(p: Path) -> Path:
    """1 GiB of zeros as './src/add.relay' inside a ~1 MB .tar.gz."""
    return gzip_of_repeats(p, [(header("./src/add.relay", size=1 << 30), 1),
                               (bytes(MiB), 1024), (bytes(1024), 1)])


def _lying_header(p: Path) -> Path:
    """A 1 KB .tar.gz whose only member header declares 8 GiB (no data follows)."""
    p.write_bytes(mf.gzip_bytes(header("./metadata.json", size=8 << 30)))
    return p


def _deep(p: Path) -> Path:
    return write_tar(p, edited_metadata(b'"version": 7', b'"version": 7, "x": '
                                        + b"[" * 100_000 + b"]" * 100_000))


def _c_line(p: Path) -> Path:
    files = base()
    files["codegen/host/src/add_lib1.c"] += (b"static const uint8_t w[] = {"
                                             + b"0, " * ((4 * MiB) // 3) + b"0};\n")
    return write_tar(p, files)


CASES: tuple[Case, ...] = (
    Case("not-a-tar", lambda p: (p.write_bytes(b"hello, not an archive\n" * 40), p)[1],
         2, 2, "not a tar"),
    Case("empty-file", lambda p: (p.write_bytes(b""), p)[1], 2, 2, "empty"),
    Case("truncated-tar", _truncated_tar, 2, 2, "truncated"),
    Case("truncated-gzip", _truncated_gzip, 2, 2, "truncated"),
    Case("gzip-bomb-1GiB-of-zeros", _gzip_bomb, 2, 2, "compression bomb", bounded_memory=True),
    Case("gzip-header-declaring-8GiB", _lying_header, 2, 2, "members total more than",
         bounded_memory=True),
    Case("tar-header-declaring-2GiB", lambda p: (p.write_bytes(
        header("./metadata.json", size=2 << 30) + bytes(1024)), p)[1], 2, 2, "truncated",
         bounded_memory=True),
    Case("member-with-dotdot", lambda p: write_tar(
        p, base(), mf.Entry("", b"x", raw_name="./../../etc/cron.d/evil")), 1, 0, "'..'",
         code="A101"),
    Case("absolute-member", lambda p: write_tar(
        p, base(), mf.Entry("", b"x", raw_name="/etc/passwd")), 1, 0, "absolute", code="A101"),
    Case("symlink-member", lambda p: write_tar(
        p, base(), mf.Entry("passwd", kind="symlink", target="/etc/passwd")), 1, 0, "symlink",
         code="A102", member="passwd"),
    Case("hardlink-member", lambda p: write_tar(
        p, base(), mf.Entry("shadow", kind="hardlink", target="/etc/shadow")), 1, 0, "hardlink",
         code="A102", member="shadow"),
    Case("char-device-member", lambda p: write_tar(
        p, base(), mf.Entry("null", kind="chardev")), 1, 0, "character device", code="A103",
         member="null"),
    Case("fifo-member", lambda p: write_tar(p, base(), mf.Entry("pipe", kind="fifo")), 1, 0,
         "FIFO", code="A103", member="pipe"),
    Case("duplicate-member-names", lambda p: write_tar(
        p, base(), mf.Entry("metadata.json", b"{}")), 1, 2, "more than once", code="A104",
         member="metadata.json"),
    Case("metadata-missing", lambda p: write_tar(
        p, {k: v for k, v in base().items() if k != "metadata.json"}), 1, 2, "missing",
         code="M001"),
    Case("metadata-is-a-directory", lambda p: write_tar(
        p, {k: v for k, v in base().items() if k != "metadata.json"},
        mf.Entry("metadata.json", kind="dir")), 1, 2, "directory", code="M002",
         member="metadata.json"),
    Case("metadata-invalid-utf8", lambda p: write_tar(
        p, edited_metadata(b'"add"', b'"\xc3\x28"')), 1, 2, "UTF-8", code="M003",
         member="metadata.json"),
    Case("metadata-truncated", lambda p: write_tar(
        p, with_metadata(base()["metadata.json"].rstrip()[:-1])), 1, 2, "expected ',' or '}'",
         code="M004",
         member="metadata.json"),
    Case("metadata-duplicate-keys", lambda p: write_tar(
        p, edited_metadata(b'"version": 7', b'"version": 7, "version": 7')), 1, 2,
         "duplicate key", code="M005", member="metadata.json"),
    Case("metadata-nan", lambda p: write_tar(
        p, edited_metadata(b'"io_size_bytes": 18', b'"io_size_bytes": NaN')), 1, 2, "NaN",
         code="M006", member="metadata.json"),
    Case("metadata-nested-100k-deep", _deep, 1, 2, "nesting deeper", code="M007",
         member="metadata.json", bounded_memory=True),
    Case("metadata-64MiB-long", lambda p: metadata_of_size(p, 64 * MiB), 1, 2,
         "over the", code="M008", member="metadata.json", bounded_memory=True),
    Case("version-a-string", lambda p: write_tar(
        p, edited_metadata(b'"version": 7', b'"version": "7"')), 1, 2, "string", code="S001",
         member="metadata.json"),
    Case("version-a-float", lambda p: write_tar(
        p, edited_metadata(b'"version": 7', b'"version": 7.0')), 1, 2, "number", code="S001",
         member="metadata.json"),
    Case("version-a-bool", lambda p: write_tar(
        p, edited_metadata(b'"version": 7', b'"version": true')), 1, 2, "boolean", code="S001",
         member="metadata.json"),
    Case("version-unknown", lambda p: write_tar(
        p, edited_metadata(b'"version": 7', b'"version": 1000000')), 1, 2, "is unknown",
         code="S002", member="metadata.json"),
    Case("params-impossible-name-count", lambda p: write_tar(
        p, with_params(struct.pack("<QQQ", mf.LIST_MAGIC, 0, 1 << 62))), 1, 0, "impossible",
         code="P001", member="parameters/add.params"),
    Case("params-impossible-ndim", lambda p: write_tar(
        p, with_params(tensor_header(ndim=1 << 30, shape=(), nbytes=0))), 1, 0, "ndim",
         code="P001", member="parameters/add.params"),
    Case("params-impossible-shape", lambda p: write_tar(
        p, with_params(tensor_header(ndim=2, shape=(1 << 40, 1 << 40), nbytes=8))), 1, 0,
         "differs from shape", code="P001", member="parameters/add.params"),
    Case("params-negative-dimension", lambda p: write_tar(
        p, with_params(tensor_header(ndim=1, shape=(-2,), nbytes=8))), 1, 0, "negative",
         code="P001", member="parameters/add.params"),
    Case("params-size-beyond-the-file", lambda p: write_tar(
        p, with_params(tensor_header(ndim=1, shape=(1 << 40,), nbytes=4 << 40))), 1, 0,
         "truncated", code="P001", member="parameters/add.params"),
    Case("member-name-20k-characters", lambda p: write_tar(
        p, base(), mf.Entry("", b"x", raw_name="./" + "n" * 20_000)), 1, 0,
         "20002 characters long", code="A105"),
    Case("control-characters-in-name", lambda p: write_tar(
        p, base(), mf.Entry("", b"x", raw_name="./\x1b]0;pwned\x07\x1b[2J\r\n")), 1, 0,
         "control characters", code="A105"),
    Case("external-dependency-without-runtime", lambda p: write_tar(
        p, {k: v for k, v in mf.crt7().items() if not k.startswith("runtime/")}), 0, 0,
         "./runtime", code="C001", member="metadata.json"),
)


# ------------------------------------------------------------------------------------------
# Running the CLI and checking what it says
# ------------------------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def snapshot(*roots: Path) -> set[tuple[str, int]]:
    """Every path (and size) under the roots: to prove nothing was written or extracted."""
    seen = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                full = Path(dirpath) / name
                seen.add((str(full), full.lstat().st_size))
    return seen


def assert_clean_exit(result: Result, expected: int) -> None:
    """The expected exit code, by sys.exit, with no exception and no traceback anywhere."""
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    assert result.exit_code == expected, text[-2000:]
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)


def one_line_with(text: str, says: str) -> str:
    """The single line of `text` that contains `says`; fails unless there is exactly one."""
    lines = [line for line in text.splitlines() if says in line]
    assert len(lines) == 1, f"expected one line containing {says!r} in:\n{text[-2000:]}"
    assert len(lines[0]) < 400, lines[0]
    assert not any(ch in lines[0] for ch in "\x1b\x07\r"), repr(lines[0])
    return lines[0]


@pytest.fixture
def inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory; on exit, nothing new exists in it, in tmp_path or the repo."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    yield tmp_path
    assert not list(work.iterdir()), "the CLI wrote into the working directory"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_gives_a_clean_exit_and_a_one_line_message(case: Case,
                                                                  inside: Path) -> None:
    path = case.build(inside / ("input.tar.gz" if "gzip" in case.id else "input.tar"))
    before = snapshot(inside, REPO / "fixtures")

    # text report
    result = invoke("validate", *case.args, str(path))
    assert_clean_exit(result, case.validate_exit)
    line = one_line_with(result.stdout, case.says)
    if case.code is not None:
        assert case.code in line
    else:
        assert line.startswith(f"{path}: could not read: ")

    # JSON report: the finding (or the error) says the same, and names the member
    result = invoke("validate", "--format", "json", *case.args, str(path))
    assert_clean_exit(result, case.validate_exit)
    report = json.loads(result.stdout)["archives"][0]
    if case.code is None:
        assert case.says in report["error"]
        one_line_with(result.stderr, case.says)
    else:
        hits = [f for f in report["findings"] if f["code"] == case.code]
        assert hits, report
        assert any(case.says in f["message"] and "\n" not in f["message"] for f in hits), hits
        if case.member is not None:
            assert any(f["member"] == case.member for f in hits), hits

    # show: a summary, or one line on stderr saying why not
    result = invoke("show", *case.args, str(path))
    assert_clean_exit(result, case.show_exit)
    if case.show_exit == 2:
        assert result.stdout == ""
        one_line_with(result.stderr, "mlfcheck show: error:")
        assert len(result.stderr.splitlines()) == 1, result.stderr

    after = snapshot(inside, REPO / "fixtures")
    assert after == before, sorted(after ^ before)


@pytest.mark.parametrize("case", [c for c in CASES if c.bounded_memory],
                         ids=[c.id for c in CASES if c.bounded_memory])
def test_resource_attacks_are_refused_within_bounded_memory_and_time(case: Case,
                                                                     inside: Path) -> None:
    path = case.build(inside / ("input.tar.gz" if "gzip" in case.id else "input.tar"))
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = invoke("validate", *case.args, str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_clean_exit(result, case.validate_exit)
    assert peak < MEMORY_BOUND, f"peak {peak / MiB:.0f} MiB"
    assert time.perf_counter() - started < 20.0


def test_validate_on_a_missing_path_exits_2_with_one_line(inside: Path) -> None:
    missing = inside / "no-such.tar"
    result = invoke("validate", str(missing))
    assert_clean_exit(result, 2)
    assert result.stdout.splitlines() == [f"{missing}: could not read: no such file or directory"]
    result = invoke("validate", "--format", "json", str(missing))
    assert_clean_exit(result, 2)
    assert result.stderr.splitlines() == [
        f"mlfcheck validate: error: {missing}: no such file or directory"]
    result = invoke("show", str(missing))
    assert_clean_exit(result, 2)
    assert len(result.stderr.splitlines()) == 1 and "no such file" in result.stderr


# ------------------------------------------------------------------------------------------
# Member counts: the default limit holds without any flag
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hundred_thousand_members(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return many_members(tmp_path_factory.mktemp("many") / "many.tar", 100_000)


def test_the_default_member_limit_stops_a_100k_member_archive_quickly(
        hundred_thousand_members: Path, inside: Path) -> None:
    assert Limits().max_members == 50_000
    started = time.perf_counter()
    result = invoke("validate", str(hundred_thousand_members))
    elapsed = time.perf_counter() - started
    assert_clean_exit(result, 2)
    one_line_with(result.stdout, "more than 50000 members (raise with --max-members)")
    assert elapsed < 20.0  # the limit holds at once; speed itself is measured in bench/


def test_show_honours_a_lower_member_limit(hundred_thousand_members: Path,
                                           inside: Path) -> None:
    result = invoke("show", "--max-members", "1000", str(hundred_thousand_members))
    assert_clean_exit(result, 2)
    assert result.stderr.splitlines() == [
        f"mlfcheck show: error: {hundred_thousand_members}: more than 1000 members "
        "(raise with --max-members)"]


# ------------------------------------------------------------------------------------------
# Generated C: long lines must cost linear time
# ------------------------------------------------------------------------------------------


def test_a_c_file_with_one_4MiB_line_validates_and_shows_quickly(inside: Path) -> None:
    path = _c_line(inside / "input.tar")
    for command in ("validate", "show"):
        started = time.process_time()  # CPU time: the machine may be shared
        result = invoke(command, str(path))
        assert_clean_exit(result, 0)
        assert time.process_time() - started < 2.0, command


class _TooSlow(Exception):
    pass


def _within(seconds: float, fn: Callable[[], Result]) -> Result:
    """Run fn, raising _TooSlow after `seconds` (regex matching checks signals as it goes)."""
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise _TooSlow(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _identifier_line(p: Path) -> Path:
    """A C file holding one 1 MiB identifier: `int aaaa…a x(void) { return 0; }`."""
    files = base()
    files["codegen/host/src/add_lib1.c"] += b"int " + b"a" * MiB + b" x(void) { return 0; }\n"
    return write_tar(p, files)


def test_validate_of_a_c_file_with_a_1MiB_identifier_takes_linear_time(inside: Path) -> None:
    path = _identifier_line(inside / "input.tar")
    result = _within(2.0, lambda: invoke("validate", str(path)))
    assert not isinstance(result.exception, _TooSlow), result.exception
    assert_clean_exit(result, 1)  # `int aaa…a x(void)` is not C: X003 at the second name
    assert "add_lib1.c:9:1048581: X003" in result.output


def test_show_of_a_c_file_with_a_1MiB_identifier_takes_linear_time(inside: Path) -> None:
    path = _identifier_line(inside / "input.tar")
    result = _within(2.0, lambda: invoke("show", str(path)))
    assert not isinstance(result.exception, _TooSlow), result.exception
    assert_clean_exit(result, 0)


# ------------------------------------------------------------------------------------------
# Extended tar headers: tarfile reads them whole before mlfcheck sees a member
# ------------------------------------------------------------------------------------------


def _extended_header_bomb(p: Path, kind: bytes) -> Path:
    """A .tar.gz whose first header is a PAX ('x') or GNU long-name ('L') record of 64 MiB."""
    return gzip_of_repeats(p, [(header("././@LongLink", size=64 * MiB, kind=kind), 1),
                               (bytes(MiB), 64), (header("./metadata.json"), 1),
                               (bytes(1024), 1)])


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME],
                         ids=["pax-header", "gnu-long-name"])
def test_a_64MiB_extended_header_is_refused_within_bounded_memory(kind: bytes,
                                                                  inside: Path) -> None:
    path = _extended_header_bomb(inside / "input.tar.gz", kind)
    assert path.stat().st_size < MiB
    tracemalloc.start()
    try:
        result = invoke("validate", str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "Traceback" not in result.stdout + result.stderr
    assert peak < 16 * MiB, f"peak {peak / MiB:.0f} MiB for a {path.stat().st_size}-byte file"
    assert result.exit_code == 2, result.stdout


def test_a_sparse_member_in_an_uncompressed_tar_is_reported_a103(inside: Path) -> None:
    path = write_tar(inside / "input.tar", base(),
                     mf.Entry("holes.bin", kind="sparse", size=1 << 20))
    result = invoke("validate", "--format", "json", str(path))
    assert_clean_exit(result, 1)
    report = json.loads(result.stdout)["archives"][0]
    assert [f["code"] for f in report["findings"]] == ["A103"]
