"""The deterministic tar writer: sorted members, fixed mtime, owners 0/0, atomic replace."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from mlfcheck.errors import ExportError


def _directories(paths: Iterator[str] | list[str]) -> set[str]:
    return {str(parent) for p in paths for parent in PurePosixPath(p).parents
            if str(parent) != "."}


def _info(name: str, mtime: int, *, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def tar_bytes(files: Mapping[str, bytes], mtime: int) -> bytes:
    """An uncompressed tar of `files` (archive path → bytes), rooted at `.` like TVM's archives.

    Members are `.`, then every directory and file as `./<path>`, sorted by path.
    """
    buf = io.BytesIO()
    entries = [(p, True) for p in _directories(list(files))] + [(p, False) for p in files]
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_info(".", mtime, directory=True))
        for path, is_dir in sorted(entries):
            if is_dir:
                tar.addfile(_info(f"./{path}", mtime, directory=True))
            else:
                data = files[path]
                tar.addfile(_info(f"./{path}", mtime, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    directory = path.resolve().parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ExportError("write", f"cannot write to {directory}: {exc.strerror}") from exc
    os.close(fd)
    temp = Path(tmp)
    try:
        yield temp
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        raise ExportError("write", f"cannot write {path}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)
