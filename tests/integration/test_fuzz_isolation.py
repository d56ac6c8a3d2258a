"""Isolation of fuzz examples: whatever an example's child does (return, raise, segfault, abort,
hang, run out of memory), the campaign gets an outcome in the bucket that says so, and carries
on. Children start as a campaign starts them: `children.call_all` with a Starter of PRELOAD."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlfcheck.children import Call, Ended, Limits, Starter, call_all
from mlfcheck.fuzz.campaign import PRELOAD, Outcome, outcome_of
from mlfcheck.fuzz.outcomes import Bucket

QUICK = Limits(seconds=3.0, memory_bytes=1024**3)


def reports(bucket: str) -> dict[str, Any]:
    return {"bucket": bucket, "signature": "a signature", "detail": "a detail", "archive": None}


def raises(message: str) -> None:
    raise ValueError(message)


def segfaults(_: None) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def aborts(_: None) -> None:
    os.abort()


def hangs(_: None) -> None:
    time.sleep(60)


def allocates(n: int) -> int:
    return len(bytearray(n))


def doubles(x: int) -> int:
    return x * 2


@pytest.fixture(scope="module")
def starter() -> Iterator[Starter]:
    yield Starter(PRELOAD)


def run_one(fn: Callable[[Any], Any], arg: Any, starter: Starter, *,
            limits: Limits = QUICK) -> Ended:
    """Run fn(arg) in one child and say how it ended."""
    done = list(call_all([Call(0, fn, arg)], limits=limits, starter=starter))
    assert len(done) == 1
    return done[0][1]


def test_the_outcome_an_example_returns_is_the_campaigns(starter: Starter) -> None:
    assert outcome_of(run_one(reports, "INVALID_ARCHIVE", starter)) == Outcome(
        Bucket.INVALID_ARCHIVE, "a signature", "a detail")


def test_an_exception_outside_the_properties_is_a_crash_with_its_traceback(
        starter: Starter) -> None:
    outcome = outcome_of(run_one(raises, "boom", starter))
    assert (outcome.bucket, outcome.signature) == (Bucket.CRASH,
                                                   "ValueError outside the properties")
    assert "boom" in outcome.detail and "Traceback" in outcome.detail


def test_a_segfault_and_an_abort_are_crashes_naming_the_signal(starter: Starter) -> None:
    for fn, name in ((segfaults, "SIGSEGV"), (aborts, "SIGABRT")):
        outcome = outcome_of(run_one(fn, None, starter))
        assert (outcome.bucket, outcome.signature) == (Bucket.CRASH, f"process died: {name}")


def test_a_hang_is_killed_at_the_time_limit(starter: Starter) -> None:
    start = time.monotonic()
    outcome = outcome_of(run_one(hangs, None, starter,
                                 limits=Limits(seconds=1.0, memory_bytes=1024**3)))
    assert (outcome.bucket, outcome.signature) == (Bucket.TIMEOUT, "over the time limit")
    assert time.monotonic() - start < 10


def test_the_memory_limit_turns_a_huge_allocation_into_the_memory_limit_bucket(
        starter: Starter) -> None:
    assert outcome_of(run_one(allocates, 2 * 1024**3, starter)).bucket is Bucket.MEMORY_LIMIT
    small = run_one(allocates, 1024, starter)
    assert (small.status, small.value) == ("returned", 1024)


def test_examples_run_in_parallel_and_all_finish(starter: Starter) -> None:
    calls = [Call(i, doubles, i) for i in range(5)]
    done = {call.key: ended.value for call, ended in call_all(calls, limits=QUICK,
                                                               starter=starter, jobs=2)}
    assert done == {i: 2 * i for i in range(5)}
