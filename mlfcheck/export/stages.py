"""Stage classification: turn any exception raised inside a stage into a one-line ExportError."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mlfcheck.errors import ExportError

_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|NotImplemented)):\s*(.+)$")
_UNSUPPORTED = re.compile(r"not supported for frontend \w+:\s*([\w, ]+)")


def first_line(exc: BaseException) -> str:
    """The first line of what TVM (or Python) said, without traceback noise."""
    text = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].startswith("Traceback"):
        for ln in lines:
            m = _ERROR_LINE.match(ln)
            if m:
                return m.group(2)
    return lines[0] if lines else type(exc).__name__


def operator_named(message: str) -> str | None:
    """The operator a frontend message names as unsupported, when it names one."""
    m = _UNSUPPORTED.search(message)
    return m.group(1).strip() if m else None


@contextmanager
def stage(name: str, *, operator: Callable[[], str | None] = lambda: None) -> Iterator[None]:
    """Run a block as stage `name`: any exception becomes ExportError(name, first line).

    `operator` is asked, only on failure, which operator was being handled.
    """
    try:
        yield
    except ExportError:
        raise
    except Exception as exc:
        message = first_line(exc)
        raise ExportError(name, message,
                          operator=operator() or operator_named(message)) from exc
