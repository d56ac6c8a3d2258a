"""Child processes with a time and an address-space limit: whatever a child does (return, raise,
abort, segfault, hang, run out of memory), the parent gets a `Finished` record and carries on.

Children come from a fork server that has already imported the heavy modules (TVM), so each
example pays for a fork, not for `import tvm`. A child runs in its own process group, so a
timeout also kills the compilers it started.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import resource
import signal
import time
import traceback
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

PRELOAD = ("tvm", "mlfcheck.export", "mlfcheck.validate", "mlfcheck.diff",
           "mlfcheck.reading.summary", "mlfcheck.reporters", "mlfcheck.fuzz.properties")
"""Modules the fork server imports once, when installed."""

_context: list[Any] = []


@dataclass(frozen=True)
class ChildLimits:
    """What one child may use."""

    seconds: float = 120.0
    """Wall-clock time before the child and its process group are killed."""
    memory_bytes: int = 4 * 1024**3
    """RLIMIT_AS of the child (and of the compilers it starts)."""


@dataclass(frozen=True)
class Finished:
    """How a child ended."""

    status: str
    """'returned', 'raised', 'signal', 'exit' or 'timeout'."""
    value: Any
    """What the function returned (JSON data) when status is 'returned'."""
    detail: str
    """The exception type and traceback, the signal name, or the exit code."""
    seconds: float


def _installed(name: str) -> bool:
    try:
        return find_spec(name.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def context() -> Any:
    """The multiprocessing context: a fork server preloading PRELOAD (spawn where it is not
    available)."""
    if not _context:
        if "forkserver" in multiprocessing.get_all_start_methods():
            server = multiprocessing.get_context("forkserver")
            server.set_forkserver_preload([m for m in PRELOAD if _installed(m)])
            _context.append(server)
        else:
            _context.append(multiprocessing.get_context("spawn"))
    return _context[0]


def _child(fn: Callable[[Any], Any], arg: Any, limits: ChildLimits, result: str) -> None:
    """Runs in the child: own process group, memory limit, result written to a file."""
    os.setpgid(0, 0)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)  # the sanitizer build lifts the soft one
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, hard))
    try:
        out = {"status": "returned", "value": fn(arg), "detail": ""}
    except BaseException as exc:  # the child reports everything, including SystemExit
        out = {"status": "raised", "value": type(exc).__name__,
               "detail": "".join(traceback.format_exception(exc))}
    data = json.dumps(out).encode()
    fd = os.open(result, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.close(fd)
    os._exit(0)  # skip interpreter teardown: TVM's destructors log on exit


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _finish(process: Any, result: Path, started: float, timed_out: bool) -> Finished:
    took = time.monotonic() - started
    if timed_out:
        return Finished("timeout", None, "killed after the time limit", took)
    if result.is_file():
        try:
            out = json.loads(result.read_text())
            return Finished(out["status"], out["value"], out["detail"], took)
        except (ValueError, KeyError):
            pass
    code = process.exitcode
    if code is not None and code < 0:
        return Finished("signal", None, signal.Signals(-code).name, took)
    return Finished("exit", None, f"exit code {code}", took)


@dataclass(frozen=True)
class Task:
    """One call to run in a child: fn(arg), with a scratch folder for its result file."""

    key: int
    fn: Callable[[Any], Any]
    arg: Any
    scratch: Path


def run_all(tasks: Sequence[Task], *, limits: ChildLimits,
            jobs: int = 1) -> Generator[tuple[Task, Finished], None, None]:
    """Run tasks in up to `jobs` children at once, yielding each as it finishes."""
    ctx = context()
    pending = list(reversed(tasks))
    running: dict[Any, tuple[Task, Any, float, Path]] = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                task = pending.pop()
                task.scratch.mkdir(parents=True, exist_ok=True)
                result = task.scratch / "finished.json"
                result.unlink(missing_ok=True)
                process = ctx.Process(target=_child,
                                      args=(task.fn, task.arg, limits, str(result)),
                                      daemon=True)
                process.start()
                running[process.sentinel] = (task, process, time.monotonic(), result)
            soonest = min(started + limits.seconds for _, _, started, _ in running.values())
            ready = wait(list(running), timeout=max(0.0, soonest - time.monotonic()))
            now = time.monotonic()
            for sentinel, (task, process, started, result) in list(running.items()):
                timed_out = sentinel not in ready and now >= started + limits.seconds
                if sentinel in ready or timed_out:
                    if timed_out:
                        _kill(process.pid)
                    process.join()
                    del running[sentinel]
                    yield task, _finish(process, result, started, timed_out)
    finally:
        for _, process, _, _ in running.values():
            _kill(process.pid)
            process.join()

