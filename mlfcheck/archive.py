"""The archive reader: the only code that opens tar files or folders.

An `Archive` lists members without extracting anything, refuses unsafe members (reporting each
refusal as a finding), and reads a member's bytes only when a check asks, within limits.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

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
    max_metadata_size: int = 16 * MiB
    max_json_depth: int = 64


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
    """Raised from inside tarfile when an extended header is over MAX_EXTENDED_HEADER."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _GuardedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses oversized extended headers before tarfile reads them."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED_TYPES and self.size > MAX_EXTENDED_HEADER:
            raise _ExtendedHeaderTooLarge(self.size)
        return super()._proc_member(tar)  # type: ignore[misc,no-any-return]


KIND_OF_TAR_TYPE = {
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}


def normalise_name(raw: str) -> str:
    """POSIX path without leading './' or trailing '/'; '' for the root."""
    name = raw.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    return "" if name == "." else name


def name_problem(raw: str, limits: Limits) -> tuple[Code, str] | None:
    """Why a raw member name is refused, or None when it is acceptable."""
    if len(raw) > limits.max_name_length:
        return Code.A105, f"name is {len(raw)} characters long (limit {limits.max_name_length})"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        return Code.A105, "name contains control characters"
    if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in raw):
        return Code.A105, "name is not valid UTF-8"
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return Code.A101, "absolute path"
    if ".." in name.split("/"):
        return Code.A101, "path contains '..'"
    return None


class Archive:
    """An MLF archive opened for reading: a tar, a gzip'd tar, or an extracted folder."""

    def __init__(self, path: str | os.PathLike[str], *, limits: Limits | None = None) -> None:
        self.path = str(path)
        self.limits = limits or Limits()
        self.findings: list[Finding] = []
        self.members: dict[str, Member] = {}
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
            fileobj = gzip.GzipFile(fileobj=self._file, mode="rb")  # type: ignore[assignment]
        try:
            with tarfile.open(fileobj=fileobj, mode="r:", tarinfo=_GuardedTarInfo) as tar:
                self._scan_tar(tar, compressed_size=p.stat().st_size)
            self._data = fileobj
        except ArchiveError:
            self.close()
            raise
        except _ExtendedHeaderTooLarge as exc:
            self.close()
            after = f" after member {self._last!r}" if self._last else ""
            raise ArchiveError(self.path, f"extended (PAX or long-name) header of {exc.size} "
                               f"bytes{after}, over the {MAX_EXTENDED_HEADER}-byte limit") from None
        except (tarfile.TarError, EOFError, OSError, zlib.error, gzip.BadGzipFile) as exc:
            self.close()
            after = f" at or after member {self._last!r}" if self._last else ""
            raise ArchiveError(self.path, _tar_message(exc) + after) from None

    def _scan_tar(self, tar: tarfile.TarFile, *, compressed_size: int) -> None:
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
            if self.compressed and total > max(BOMB_FLOOR, BOMB_RATIO * compressed_size):
                raise ArchiveError(self.path, f"declares {total} bytes from {compressed_size} "
                                   f"compressed bytes (over {BOMB_RATIO}:1): a compression bomb")
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
        if kind is not None:
            code = Code.A102 if "link" in kind else Code.A103
            self.findings.append(Finding(code, f"{kind} member skipped, never followed",
                                         member=name))
            return
        if name == "":
            return
        if name in self.members:
            self.findings.append(Finding(Code.A104, "member appears more than once; readers "
                                         "disagree on which copy wins", member=name))
            return
        if not is_dir and size > self.limits.max_member_size:
            self.findings.append(Finding(Code.A106, f"member is {size} bytes, over the "
                                         f"{self.limits.max_member_size}-byte limit; not read",
                                         member=name))
        self.members[name] = Member(name, size, is_dir, mode, offset)

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
        return m is not None and not m.is_dir and m.size <= self.limits.max_member_size

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


class _Slice(io.RawIOBase):
    """One member's bytes inside the shared tar stream; read errors become ArchiveError."""

    def __init__(self, data: IO[bytes], start: int, size: int, path: str, member: str) -> None:
        self._data = data
        self._start = start
        self._size = size
        self._pos = 0
        self._path = path
        self._member = member

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

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
