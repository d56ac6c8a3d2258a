"""The archive reader: the only code that opens archives it did not write (tar files or folders).

Other uses of `tarfile` handle archives mlfcheck made itself: the exporter's writer, its verify
steps (which unpack the archive just written into a temporary folder to build it) and the reader
fuzzer's mutator.

An `Archive` lists members without extracting anything, refuses unsafe members (reporting each
refusal as a finding), and reads a member's bytes only when a check asks, within limits.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, cast

from mlfcheck.errors import ArchiveError
from mlfcheck.findings import Code, Finding

MiB = 1024 * 1024
BOMB_RATIO = 200
"""Largest believable decompressed:compressed ratio; above it (and BOMB_FLOOR) is a bomb."""
BOMB_FLOOR = 64 * MiB


@dataclass(frozen=True)
class Limits:
    """Resource limits for reading one archive; every one is a CLI flag."""

    max_members: int = 50_000
    max_member_size: int = 1024 * MiB
    max_total_size: int = 4096 * MiB
    max_name_length: int = 1024
    """Longest member name, in characters, and longest tensor name, in bytes."""
    max_metadata_size: int = 16 * MiB
    max_json_depth: int = 64
    max_header_bytes: int = 8 * MiB
    """Most bytes all PAX and GNU long-name headers of one archive may hold together."""
    max_tensors: int = 100_000
    """Most tensors one .params file may hold (its names are read before anything else)."""
    max_c_size: int = 16 * MiB
    """Largest generated C file or header that is parsed (the real ones: 0.6 MB at most)."""
    max_c_total: int = 64 * MiB
    """Most bytes of generated C and headers one archive may have parsed in all."""
    max_c_ratio: int = 100
    """Most bytes of C given to the parser (numeric lists left out) per byte of a compressed
    archive, beyond 8 MiB: what a small .tar.gz may make the parser do."""
    max_c_parse_steps: int = 8192
    """Most steps (100 parser operations, or one symbol) of one parse: one top-level item, or
    a whole file read again; bounds the memory one parse takes (about 27 KB a step at worst)."""
    max_c_steps: int = 1_000_000
    """Most steps all the C of one archive may take, each step of a parse that found a syntax
    error counted 64 times; bounds the time reading C takes."""


@dataclass(frozen=True)
class Member:
    """One regular file or directory in an archive, by normalised POSIX path."""

    name: str
    size: int
    is_dir: bool
    mode: int = 0o644
    offset: int = -1
    """Where the member's data starts in the (decompressed) tar stream; -1 in a folder."""


MAX_EXTENDED_HEADER = 1 * MiB
"""Largest PAX or GNU long-name record read; tarfile would otherwise read any size whole."""
_EXTENDED_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                   tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class _ExtendedHeaderTooLarge(Exception):
    """Raised from inside tarfile when extended headers pass a limit; the text says which."""


class _GuardedTarFile(tarfile.TarFile):
    """A TarFile that counts the bytes of extended headers it has read (`header_limit` is set
    on a subclass per archive, since opening already reads the first member)."""

    header_bytes = 0
    header_limit = 8 * MiB


class _GuardedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses an extended header over MAX_EXTENDED_HEADER, or one that takes
    all extended headers past the archive's limit, before tarfile reads it."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED_TYPES and isinstance(tar, _GuardedTarFile):
            if self.size > MAX_EXTENDED_HEADER:
                raise _ExtendedHeaderTooLarge(
                    f"extended (PAX or long-name) header of {self.size} bytes, over the "
                    f"{MAX_EXTENDED_HEADER}-byte limit")
            tar.header_bytes += max(self.size, 0)
            if tar.header_bytes > tar.header_limit:
                raise _ExtendedHeaderTooLarge(
                    f"extended (PAX or long-name) headers total more than {tar.header_limit} "
                    "bytes (raise with --max-header-bytes)")
        return super()._proc_member(tar)  # type: ignore[misc,no-any-return]


KIND_OF_TAR_TYPE = {
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}


_UNSAFE_NAME = re.compile("([\x00-\x1f\x7f-\x9f])|([\u061c\u200e\u200f\u202a-\u202e"
                          "\u2066-\u2069])|[\ud800-\udfff]")
"""What a member name may not hold: (1) C0 controls, DEL and C1 controls (0x9B is CSI on some
terminals); (2) bidirectional marks, embeddings, overrides and isolates, which make a name
read other than it is ('evil.c' displayed as 'c.live'); else a lone surrogate (the name was
not UTF-8)."""


def normalise_name(raw: str) -> str:
    """The path a POSIX extraction writes: '/'-separated, without empty or '.' segments (so
    './a', 'a//b', 'a/./b' and 'a/' are 'a' and 'a/b'); '' for the root. A backslash is a
    character of the name, as it is to GNU tar on Linux."""
    return "/".join(part for part in raw.split("/") if part not in ("", "."))


def name_problem(raw: str, limits: Limits) -> tuple[Code, str] | None:
    """Why a raw member name is refused, or None when it is acceptable."""
    if len(raw) > limits.max_name_length:
        return Code.A105, f"name is {len(raw)} characters long (limit {limits.max_name_length})"
    unsafe = _UNSAFE_NAME.search(raw)
    if unsafe is not None:
        return Code.A105, ("name contains control characters" if unsafe.group(1) else
                           "name contains bidirectional-text controls" if unsafe.group(2) else
                           "name is not valid UTF-8")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        return Code.A101, "absolute path"
    if ".." in raw.split("/") or ".." in raw.split("\\"):
        return Code.A101, "path contains '..'"
    return None


class Archive:
    """An MLF archive opened for reading: a tar, a gzip'd tar, or an extracted folder."""

    def __init__(self, path: str | os.PathLike[str], *, limits: Limits | None = None) -> None:
        self.path = str(path)
        self.limits = limits or Limits()
        self.findings: list[Finding] = []
        self.members: dict[str, Member] = {}
        self._folded: dict[str, str] = {}
        """Case-folded member name -> the first member of that spelling (for A110)."""
        self.compressed = False
        self.rooted_at_dot = False
        self._data: IO[bytes] | None = None
        self._file: IO[bytes] | None = None
        self._folder: Path | None = None
        self._last = ""
        self._open()

    # -- opening -----------------------------------------------------------------------------

    def _open(self) -> None:
        p = Path(self.path)
        if p.is_symlink():
            raise ArchiveError(self.path, "is a symbolic link; pass the real path")
        if p.is_dir():
            self._folder = p
            self._scan_folder(p)
            return
        if not p.exists():
            raise ArchiveError(self.path, "no such file or directory")
        if not p.is_file():
            raise ArchiveError(self.path, "not a regular file or directory")
        self._open_tar(p)

    def _open_tar(self, p: Path) -> None:
        self._file = open(p, "rb")  # noqa: SIM115 - held until close()
        head = self._file.read(512)
        if not head:
            self.close()
            raise ArchiveError(self.path, "empty file, not a tar archive")
        self._file.seek(0)
        fileobj: IO[bytes] = self._file
        if head[:2] == b"\x1f\x8b":
            self.compressed = True
            self.findings.append(Finding(Code.A107, "archive is gzip-compressed; TVM and its "
                                         "project templates use uncompressed tar"))
            fileobj = cast(IO[bytes], _Spool(gzip.GzipFile(fileobj=self._file, mode="rb")))
        try:
            # the limit must be in place before open() reads the first member
            tar_class: type[_GuardedTarFile] = type(
                "_LimitedTarFile", (_GuardedTarFile,),
                {"header_limit": self.limits.max_header_bytes})
            with tar_class.open(fileobj=fileobj, mode="r:", tarinfo=_GuardedTarInfo) as tar:
                self._scan_tar(tar, compressed_size=p.stat().st_size)
            self._data = fileobj
        except ArchiveError:
            self.close()
            raise
        except _ExtendedHeaderTooLarge as exc:
            self.close()
            after = f" after member {self._last!r}" if self._last else ""
            raise ArchiveError(self.path, f"{exc}{after}") from None
        except (tarfile.TarError, EOFError, OSError, zlib.error, gzip.BadGzipFile,
                ValueError) as exc:  # ValueError: tarfile on a bad PAX sparse map or number
            self.close()
            after = f" at or after member {self._last!r}" if self._last else ""
            raise ArchiveError(self.path, _tar_message(exc) + after) from None

    def _scan_tar(self, tar: _GuardedTarFile, *, compressed_size: int) -> None:
        total = 0
        count = 0
        end = 0
        last_data = ""
        saw_dot = False
        while True:
            info = tar.next()
            if info is None:
                break
            count += 1
            if count > self.limits.max_members:
                raise ArchiveError(self.path, f"more than {self.limits.max_members} members "
                                   "(raise with --max-members)")
            total += max(info.size, 0)
            if total > self.limits.max_total_size:
                raise ArchiveError(self.path, "members total more than "
                                   f"{self.limits.max_total_size} bytes (raise with "
                                   "--max-total-size)")
            declared = total + tar.header_bytes
            if self.compressed and declared > max(BOMB_FLOOR, BOMB_RATIO * compressed_size):
                raise ArchiveError(self.path, f"declares {declared} bytes from "
                                   f"{compressed_size} compressed bytes (over {BOMB_RATIO}:1): "
                                   "a compression bomb")
            raw = info.name
            self._last = _printable(raw)
            if not info.issparse() and info.offset_data + max(info.size, 0) > end:
                end, last_data = info.offset_data + max(info.size, 0), self._last
            saw_dot = saw_dot or raw.startswith("./") or raw == "."
            kind = KIND_OF_TAR_TYPE.get(info.type)
            if kind is None and info.issparse():
                kind = "sparse file"
            elif kind is None and not (info.isfile() or info.isdir()):
                kind = "special file"
            self._add(raw, info.size, info.isdir(), kind, info.mode, info.offset_data)
        if not self.compressed and end > compressed_size:
            raise ArchiveError(self.path, f"truncated: member {last_data!r} needs {end} bytes, "
                               f"the file has {compressed_size}")
        self.rooted_at_dot = saw_dot
        if self.members and not saw_dot:
            self.findings.append(Finding(Code.A108, "member names do not start with './' as "
                                         "TVM writes them"))

    def _scan_folder(self, root: Path) -> None:
        count = 0
        total = 0
        self.rooted_at_dot = True
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            for entry in sorted(dirnames) + sorted(filenames):
                full = Path(dirpath) / entry
                rel = full.relative_to(root).as_posix()
                count += 1
                if count > self.limits.max_members:
                    raise ArchiveError(self.path, f"more than {self.limits.max_members} members "
                                       "(raise with --max-members)")
                st = full.lstat()
                if stat.S_ISLNK(st.st_mode):
                    kind: str | None = "symlink"
                elif stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    kind = None
                else:
                    kind = "special file"
                size = st.st_size if stat.S_ISREG(st.st_mode) else 0
                total += size
                if total > self.limits.max_total_size:
                    raise ArchiveError(self.path, "files total more than "
                                       f"{self.limits.max_total_size} bytes (raise with "
                                       "--max-total-size)")
                self._add(rel, size, stat.S_ISDIR(st.st_mode), kind, st.st_mode & 0o7777, -1)

    def _add(self, raw: str, size: int, is_dir: bool, kind: str | None, mode: int,
             offset: int) -> None:
        problem = name_problem(raw, self.limits)
        shown = _printable(raw)
        if problem is not None:
            code, why = problem
            self.findings.append(Finding(code, f"member skipped: {why}: {shown}"))
            return
        name = normalise_name(raw)
        if kind is None and not is_dir and raw.endswith("/"):
            self.findings.append(Finding(Code.A105, "member skipped: a regular file whose name "
                                         f"ends in '/' (GNU tar skips it): {shown}"))
            return
        if kind is not None:
            code = Code.A102 if "link" in kind else Code.A103
            self.findings.append(Finding(code, f"{kind} member skipped, never followed",
                                         member=name))
            return
        if name == "":
            return
        earlier = self.members.get(name)
        if earlier is not None:
            if is_dir and earlier.is_dir:  # a folder listed twice: harmless
                return
            self.findings.append(Finding(Code.A104, f"member appears more than once (this copy "
                                         f"named {shown}); tar extracts the last copy over the "
                                         "earlier ones, so mlfcheck reads the last",
                                         member=name))
        else:
            self._new_name(name)
        if not is_dir and size > self.limits.max_member_size:
            self.findings.append(Finding(Code.A106, f"member is {size} bytes, over the "
                                         f"{self.limits.max_member_size}-byte limit; not read",
                                         member=name))
        self.members[name] = Member(name, size, is_dir, mode, offset)

    def _new_name(self, name: str) -> None:
        """Warn about a name that extracts differently on other systems (A109, A110)."""
        if "\\" in name:
            self.findings.append(Finding(Code.A109, "name holds a backslash: extracted on Linux "
                                         "it is one file of that name, on Windows a folder path",
                                         member=name))
        other = self._folded.setdefault(name.casefold(), name)
        if other != name:
            self.findings.append(Finding(Code.A110, f"differs from member {_printable(other)!r} "
                                         "only in case: one overwrites the other on a "
                                         "case-insensitive file system", member=name))

    # -- reading -----------------------------------------------------------------------------

    def files(self, prefix: str = "") -> list[Member]:
        """Regular-file members under `prefix` (a folder path, '' for all), sorted by name."""
        pre = prefix.rstrip("/") + "/" if prefix else ""
        return sorted((m for m in self.members.values()
                       if not m.is_dir and m.name.startswith(pre)), key=lambda m: m.name)

    def has_dir(self, name: str) -> bool:
        """True when `name` is a directory member or a prefix of any member."""
        pre = name.rstrip("/") + "/"
        member = self.members.get(name.rstrip("/"))
        return (member is not None and member.is_dir) or any(
            m.startswith(pre) for m in self.members)

    def readable(self, name: str) -> bool:
        """True when `name` is a regular file within the member size limit."""
        m = self.members.get(name)
        return m is not None and not m.is_dir and 0 <= m.size <= self.limits.max_member_size

    def open(self, name: str) -> IO[bytes]:
        """A binary stream over one regular member (never a link); the caller closes it."""
        m = self.members.get(name)
        if m is None or m.is_dir:
            raise ArchiveError(self.path, "no such file in the archive", member=name)
        if m.size > self.limits.max_member_size:
            raise ArchiveError(self.path, f"member is over the {self.limits.max_member_size}"
                               "-byte limit", member=name)
        if self._folder is not None:
            fd = os.open(self._folder / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            return os.fdopen(fd, "rb")
        assert self._data is not None
        return io.BufferedReader(_Slice(self._data, m.offset, m.size, self.path, name))

    def read(self, name: str, *, limit: int | None = None) -> bytes:
        """All bytes of one member, refusing members larger than `limit` (default: member limit)."""
        m = self.members.get(name)
        cap = self.limits.max_member_size if limit is None else limit
        if m is not None and m.size > cap:
            raise ArchiveError(self.path, f"member is {m.size} bytes, over the {cap}-byte "
                               "limit", member=name)
        with self.open(name) as stream:
            data = stream.read(min(cap, m.size if m else cap) + 1)
        if len(data) > cap:
            raise ArchiveError(self.path, f"member grew past the {cap}-byte limit", member=name)
        return data

    def close(self) -> None:
        """Release the file handle."""
        if self._data is not None and self._data is not self._file:
            self._data.close()
        self._data = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> Iterator[Member]:
        return iter(sorted(self.members.values(), key=lambda m: m.name))


class _Positioned(io.RawIOBase):
    """A readable, seekable raw stream that keeps its own position."""

    _pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos


class _Slice(_Positioned):
    """One member's bytes inside the shared tar stream; read errors become ArchiveError."""

    def __init__(self, data: IO[bytes], start: int, size: int, path: str, member: str) -> None:
        self._data = data
        self._start = start
        self._size = size
        self._pos = 0
        self._path = path
        self._member = member

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        try:
            self._data.seek(self._start + self._pos)
            data = self._data.read(want)
        except (OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(self._path, _tar_message(exc), member=self._member) from None
        if len(data) < want:
            raise ArchiveError(self._path, f"member is truncated: header says {self._size} "
                               f"bytes, the archive ends after {self._pos + len(data)}",
                               member=self._member)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


SPOOL_IN_MEMORY = 8 * MiB
"""A gzip'd archive's tar stream is kept in memory up to this size, then in a temporary file."""


class _Spool(_Positioned):
    """A seekable view of a gzip stream that inflates each byte once.

    GzipFile seeks backwards by inflating again from the start, so reading members out of
    archive order costs the whole stream per seek. The spool copies what it inflates into a
    temporary file (in memory while small) and serves every read from there; it inflates only
    as far as a read needs, so the scan's limits stop a bomb before it is spooled."""

    def __init__(self, source: gzip.GzipFile) -> None:
        self._source = source
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY,  # noqa: SIM115
                                                    prefix="mlfcheck-")
        self._end = 0
        self._pos = 0
        self._eof = False

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            self._fill(-1)
            offset += self._end
        elif whence == io.SEEK_CUR:
            offset += self._pos
        self._pos = max(0, offset)
        return self._pos

    def _fill(self, upto: int) -> None:
        """Inflate until `upto` bytes are spooled (-1: all) or the stream ends."""
        self._spool.seek(self._end)
        while not self._eof and (upto < 0 or self._end < upto):
            chunk = self._source.read(MiB if upto < 0 else min(MiB, upto - self._end))
            if not chunk:
                self._eof = True
                break
            self._spool.write(chunk)
            self._end += len(chunk)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._fill(self._pos + len(buffer))
        self._spool.seek(self._pos)
        data = self._spool.read(len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._spool.close()
        self._source.close()
        super().close()


def _printable(raw: str) -> str:
    shown = raw.encode("unicode_escape", "backslashreplace").decode("ascii")
    return shown if len(shown) <= 120 else shown[:117] + "..."


def _tar_message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (EOFError, zlib.error)) or "unexpected end" in text.lower():
        return f"truncated or corrupt archive ({text})"
    if isinstance(exc, tarfile.ReadError):
        return f"not a tar archive ({text})"
    return text
