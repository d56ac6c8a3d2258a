"""Small files the user names: configuration, consumer profiles, audit manifests.

They are read whole, so only regular files are accepted (never /dev/zero, a FIFO or a
folder) and only up to a size cap; errors say what is wrong with the file and where, and never
quote its content (a manifest naming /proc/self/environ must not put the environment in a log).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mlfcheck.errors import UsageError

MAX_USER_FILE = 1024 * 1024
"""Largest configuration, profile or manifest file read (real ones are a few kilobytes)."""


def read_bytes(path: str | Path, what: str, *, limit: int = MAX_USER_FILE) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; UsageError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path}: cannot read {what}: not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{path}: {what} is larger than {limit} bytes")
    return data


def read_text(path: str | Path, what: str, *, limit: int = MAX_USER_FILE) -> str:
    """A regular file of at most `limit` bytes decoded as UTF-8; UsageError otherwise (naming
    the byte offset, never the bytes)."""
    data = read_bytes(path, what, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: {what} is not UTF-8 (invalid byte at offset "
                         f"{exc.start})") from None
