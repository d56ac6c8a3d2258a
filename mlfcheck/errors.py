"""The exception tree: every error mlfcheck raises on purpose derives from MlfcheckError."""

from __future__ import annotations


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
