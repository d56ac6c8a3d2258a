"""Isolation: whatever a child does, the parent gets an outcome and carries on."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlfcheck.fuzz.isolation import ChildLimits, Finished, Task, run_all

QUICK = ChildLimits(seconds=3.0, memory_bytes=1024**3)


def returns(x: int) -> int:
    return x * 2


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


def run_one(fn: Callable[[Any], Any], arg: Any, scratch: Path, *, limits: ChildLimits) -> Finished:
    """Run fn(arg) in one child and say how it ended."""
    done = list(run_all([Task(0, fn, arg, scratch)], limits=limits))
    assert len(done) == 1
    return done[0][1]


def test_a_returned_value_comes_back(tmp_path: Path) -> None:
    done = run_one(returns, 21, tmp_path, limits=QUICK)
    assert (done.status, done.value) == ("returned", 42)


def test_an_exception_is_reported_with_its_type_and_traceback(tmp_path: Path) -> None:
    done = run_one(raises, "boom", tmp_path, limits=QUICK)
    assert (done.status, done.value) == ("raised", "ValueError")
    assert "boom" in done.detail


def test_a_segfault_and_an_abort_become_signal_outcomes(tmp_path: Path) -> None:
    assert run_one(segfaults, None, tmp_path / "a", limits=QUICK).detail == "SIGSEGV"
    assert run_one(aborts, None, tmp_path / "b", limits=QUICK).detail == "SIGABRT"


def test_a_hang_is_killed_at_the_time_limit(tmp_path: Path) -> None:
    start = time.monotonic()
    done = run_one(hangs, None, tmp_path, limits=ChildLimits(seconds=1.0, memory_bytes=1024**3))
    assert done.status == "timeout"
    assert time.monotonic() - start < 10


def test_the_memory_limit_turns_a_huge_allocation_into_memory_error(tmp_path: Path) -> None:
    done = run_one(allocates, 2 * 1024**3, tmp_path, limits=QUICK)
    assert (done.status, done.value) == ("raised", "MemoryError")
    assert run_one(allocates, 1024, tmp_path, limits=QUICK).value == 1024


def test_tasks_run_in_parallel_and_all_finish(tmp_path: Path) -> None:
    tasks = [Task(i, returns, i, tmp_path / str(i)) for i in range(5)]
    done = {task.key: finished.value for task, finished in run_all(tasks, limits=QUICK, jobs=2)}
    assert done == {i: 2 * i for i in range(5)}
