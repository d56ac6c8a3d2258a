"""The words every fuzz module shares: the outcome buckets, `PropertyFailure` (a property that
does not hold, with its bucket and a deduplicating signature), and how a message or an exception
becomes a signature.

A property returns quietly when it holds and raises `PropertyFailure` (an AssertionError, so
pytest and hypothesis treat it as a failed test).
"""

from __future__ import annotations

import re
import traceback
from enum import Enum
from pathlib import Path


class Bucket(Enum):
    """Outcome buckets; the value is the label, `meaning` says what it is."""

    OK = "ok"
    REFUSED = "refused"
    CRASH = "crash"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory limit"
    EXPORT_ERROR = "export error"
    INVALID_ARCHIVE = "invalid archive"
    DOES_NOT_COMPILE = "does not compile"
    ARCHIVE_MODEL = "archive contradicts model"
    NONDETERMINISTIC = "nondeterministic"
    NUMERIC_MISMATCH = "numeric mismatch"
    MEMORY_SAFETY = "memory safety"
    METAMORPHIC = "unexpected diff"
    MEMORY_MAP = "memory-map inconsistency"
    WROTE_OUTSIDE = "wrote outside temp dir"
    FOLLOWED_LINK = "followed a link"

    @property
    def meaning(self) -> str:
        """One line saying what landing in this bucket means."""
        return _MEANINGS[self]


_MEANINGS = {
    Bucket.OK: "every property held",
    Bucket.REFUSED: "the exporter refused the model with a documented limitation "
                    "(UnsupportedModel); not a counterexample",
    Bucket.CRASH: "an exception other than the documented one escaped, or the process died "
                  "from a signal",
    Bucket.TIMEOUT: "the example ran past its time limit and was killed",
    Bucket.MEMORY_LIMIT: "the example ran out of its address-space limit",
    Bucket.EXPORT_ERROR: "a valid model failed to export with mlfcheck's documented ExportError",
    Bucket.INVALID_ARCHIVE: "the exported archive has validation errors",
    Bucket.DOES_NOT_COMPILE: "the archive exported, but its C does not compile",
    Bucket.ARCHIVE_MODEL: "the archive's parameters or header contradict the model or the "
                          "metadata",
    Bucket.NONDETERMINISTIC: "two exports of one model differ in bytes or in `diff`",
    Bucket.NUMERIC_MISMATCH: "--verify: the archive's C build differs from TVM beyond the "
                             "tolerance",
    Bucket.MEMORY_SAFETY: "the C build with sanitizers and canary bytes touched memory outside "
                          "its blocks, inputs or outputs",
    Bucket.METAMORPHIC: "a model changed in a known way (input renamed, independent layers "
                        "swapped, identity layer added) exported to a diff with other rules",
    Bucket.MEMORY_MAP: "the metadata's memory map contradicts the model or the C run",
    Bucket.WROTE_OUTSIDE: "a reader command wrote a file outside its temporary directory",
    Bucket.FOLLOWED_LINK: "a reader command opened the file a link member points at",
}


class PropertyFailure(AssertionError):
    """A property does not hold: which bucket, a deduplicating signature, and the details."""

    def __init__(self, bucket: Bucket, signature: str, detail: str) -> None:
        super().__init__(f"{bucket.value}: {signature}\n{detail}".rstrip())
        self.bucket = bucket
        self.signature = signature
        self.detail = detail


def normalise(message: str) -> str:
    """A message with the parts that vary between examples blanked: numbers, quotes, paths."""
    text = re.sub(r"/\S*/", "…/", message)
    text = re.sub(r"'[^']*'|\"[^\"]*\"|‘[^’]*’", "'…'", text)
    return re.sub(r"\d+", "N", text)[:200]


def crash_signature(exc: BaseException) -> str:
    """Exception type and the innermost frame inside mlfcheck (else the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/mlfcheck/" in f.filename and "/fuzz/" not in f.filename]
    place = ""
    if ours or frames:
        where = (ours or frames)[-1]
        path = where.filename.split("/mlfcheck/", 1)[-1] if "/mlfcheck/" in where.filename \
            else Path(where.filename).name
        place = f" in {path}:{where.name}"
    return f"{type(exc).__name__}{place}"


def describe_exception(exc: BaseException) -> str:
    """The traceback as text, for reproducer notes."""
    return "".join(traceback.format_exception(exc)).strip()
