"""A wall-clock limit on a block of code in this process: SIGALRM raises `TimeLimitReached` in
the main thread when the block runs too long.

For work that runs many examples inside one child process (reader fuzzing runs a batch per
child), where a child per example would cost more than the examples. Whole children are limited
by `mlfcheck.children` instead.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class TimeLimitReached(BaseException):
    """The block ran past its limit (a BaseException, so `except Exception` does not swallow
    it)."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeLimitReached


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise TimeLimitReached in this (main) thread after `seconds`; no limit when None or 0.
    Afterwards the timer is cleared and the previous SIGALRM handler restored."""
    if not seconds:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
