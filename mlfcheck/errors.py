"""The exception tree: every error mlfcheck raises on purpose derives from MlfcheckError; and
`typed_reading`, the one place where failures no reader types (RecursionError, MemoryError, the
C parser's) become an ArchiveError."""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager


class MlfcheckError(Exception):
    """Base class: something mlfcheck could not do, explained in one line."""


class UsageError(MlfcheckError):
    """The caller asked for something that does not exist (unknown code, version, format)."""


class ArchiveError(MlfcheckError):
    """An input could not be read as an archive at all (not a tar, truncated, over a limit)."""

    def __init__(self, path: str, message: str, *, member: str | None = None) -> None:
        where = f"{path}:{member}" if member else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.member = member
        self.detail = f"{member}: {message}" if member else message
        """The message without the archive's path (for reports that already name it)."""


class ExportError(MlfcheckError):
    """Exporting a model failed at a named stage: import, compile, codegen, write or verify."""

    STAGES = ("import", "compile", "codegen", "write", "verify")

    def __init__(self, stage: str, message: str, *, operator: str | None = None) -> None:
        if stage not in self.STAGES:
            raise ValueError(f"unknown export stage {stage!r}")
        op = f" (operator {operator})" if operator else ""
        super().__init__(f"{stage} failed{op}: {message}")
        self.stage = stage
        self.operator = operator


class BoardError(MlfcheckError):
    """Building or running for a board could not be done: a missing cross toolchain or QEMU
    (the message names the Debian package), a compile error, a run that timed out."""


class UnsupportedModel(ExportError):
    """The model uses something the exporter refuses on purpose (a documented limitation, such
    as float16 arithmetic, which TVM's C backend writes with a `half` type C lacks)."""


C_READER = "mlfcheck.reading.csource"
"""The package that reads generated C with tree-sitter: whatever escapes it is a parser failure."""


def reading_failure(exc: BaseException) -> str | None:
    """Why an input could not be read, in one line, when `exc` is a failure no reader types
    itself: input nested deeper than Python's stack (RecursionError), needing more memory than
    is left (MemoryError), or anything else escaping the C reader (its tree-sitter parser's
    failures). None for every other exception: a bug, which must show as one."""
    if isinstance(exc, MlfcheckError) or not isinstance(exc, Exception):
        return None
    in_c = any(frame.f_globals.get("__name__", "").startswith(C_READER)
               for frame, _ in traceback.walk_tb(exc.__traceback__))
    what = "generated C" if in_c else "input"
    if isinstance(exc, RecursionError):
        return f"{what} nested too deeply to read (RecursionError)"
    if isinstance(exc, MemoryError):
        return f"{what} needs more memory to read than is left (MemoryError)"
    if not in_c:
        return None
    said = " ".join(str(exc).split())
    said = said if len(said) <= 120 else said[:117] + "..."
    return f"generated C could not be parsed ({type(exc).__name__}{': ' if said else ''}{said})"


def _culprit(exc: BaseException, paths: tuple[str, ...]) -> str:
    """Which of `paths` was being read when `exc` was raised: the innermost frame whose `self`
    holds an archive (a Loaded, a CodegenSymbols) says; the first path otherwise."""
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        try:
            path = frame.f_locals["self"].archive.path
        except Exception:  # (no self, or one without an archive)
            continue
        if path in paths:
            return str(path)
    return paths[0]


@contextmanager
def typed_reading(*paths: str | os.PathLike[str]) -> Iterator[None]:
    """Within it, an exception `reading_failure` recognises becomes an ArchiveError of the archive
    being read (one of `paths`), as an input that cannot be read at all; the public API and
    `audit` (for each item) read archives only within it. Other exceptions pass unchanged. A
    MemoryError's frames are cleared, so what they held is freed before anyone handles the
    ArchiveError."""
    try:
        yield
    except Exception as exc:
        why = reading_failure(exc)
        if why is None:
            raise
        failure = ArchiveError(_culprit(exc, tuple(map(str, paths))), why)
        if isinstance(exc, MemoryError):
            traceback.clear_frames(exc.__traceback__)
            raise failure from None
        raise failure from exc
