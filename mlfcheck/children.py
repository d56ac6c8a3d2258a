"""Every child process mlfcheck starts: external commands (`run`), Python calls in children
(`call_all`, `fork_map`), and how each is contained and cleaned up.

This module owns the rules all children follow: resource limits (wall clock, address space, file
size, CPU time; soft limits only), stdin from /dev/null, a process group of their own (so a
timeout also kills what a child started, such as cc1), and the removal of their temporary
folders, also when SIGTERM unwinds this process (`sigterm_unwinds`). It keeps no state between
calls: the multiprocessing context lives on a `Starter` the caller makes.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

if TYPE_CHECKING:
    from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
    from multiprocessing.process import BaseProcess
    from types import FrameType

T = TypeVar("T")
R = TypeVar("R")

TEMP_PREFIX = "mlfcheck-child-"
"""Name prefix of the temporary folders `call_all` makes (one per running call)."""
_RESULT = "result.pickle"
_CHUNK = 1 << 16
_POLL_SECONDS = 0.1
"""How often a wait on pipes also checks whether the command itself has ended."""


@dataclass(frozen=True)
class Limits:
    """What one child may use. None inherits this process's limit; a limit above the hard one
    (or `resource.RLIM_INFINITY`) sets the soft limit to the hard one."""

    seconds: float = 120.0
    """Wall clock; then the child's whole process group is SIGKILLed."""
    memory_bytes: int | None = 4 * 1024**3
    """RLIMIT_AS (address space)."""
    file_bytes: int | None = None
    """RLIMIT_FSIZE (largest file the child may write)."""
    cpu_seconds: int | None = None
    """RLIMIT_CPU (then SIGXCPU)."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"Limits.seconds must be a positive number, not {self.seconds!r}")
        for name in ("memory_bytes", "file_bytes", "cpu_seconds"):
            value = getattr(self, name)
            if value is not None and value < 0 and value != resource.RLIM_INFINITY:
                raise ValueError(f"Limits.{name} must not be negative, not {value!r}")


def _apply_limits(limits: Limits) -> None:
    """In the child: each given limit becomes the soft limit (at most the hard one, which is
    kept as it is, so the child could not be given more than this process may have)."""
    for which, value in ((resource.RLIMIT_AS, limits.memory_bytes),
                         (resource.RLIMIT_FSIZE, limits.file_bytes),
                         (resource.RLIMIT_CPU, limits.cpu_seconds)):
        if value is None:
            continue
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY and (value == resource.RLIM_INFINITY or value > hard):
            value = hard
        resource.setrlimit(which, (value, hard))


_PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal this process gets when the thread that started it ends."""


def _command_child(limits: Limits, parent: int) -> None:
    """In a command's child, before exec: the limits, and (on Linux) SIGKILL when the process
    that ran it dies, so a command started by a Python child that is killed for its time limit
    (in a session of its own, out of that child's group) does not outlive it."""
    _apply_limits(limits)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def contain(limits: Limits) -> None:
    """In a Python child (this process, freshly forked): own process group, the limits,
    SIGTERM's default action, stdin from /dev/null."""
    os.setpgid(0, 0)
    _apply_limits(limits)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    if null != 0:
        os.dup2(null, 0)
        os.close(null)


def _kill_group(pgid: int) -> None:
    """SIGKILL every process left in the group `pgid`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill(pid: int) -> None:
    """SIGKILL a running child's process group, or the child alone when it has not made its
    group yet."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# -- external commands -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """How an external command ended."""

    argv: tuple[str, ...]
    returncode: int | None
    """None when it was killed for the time limit; -N when signal N ended it."""
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float

    @property
    def ok(self) -> bool:
        """It exited with status 0 within the time limit."""
        return self.returncode == 0 and not self.timed_out

    @property
    def signal_name(self) -> str | None:
        """The signal that ended it ('SIGSEGV'), None when it exited or timed out."""
        if self.returncode is None or self.returncode >= 0:
            return None
        return _signal_name(-self.returncode)


def run(argv: Sequence[str], *, limits: Limits, cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None, max_output: int = 1 << 20) -> Ran:
    """Run an external command contained: stdin /dev/null, a new session (so its own process
    group), `limits` applied before exec, stdout and stderr read as UTF-8 text (undecodable
    bytes replaced, newlines translated as text-mode subprocess does) and each cut to
    `max_output` characters (only that much is kept in memory). After `limits.seconds` the
    whole group is SIGKILLed (timed_out, returncode None); once the command has ended, anything
    it left running in its group is killed too; if this process dies first, the command is
    killed with it. A missing executable raises FileNotFoundError."""
    command = tuple(argv)
    started = time.monotonic()
    deadline = started + limits.seconds
    with _sigterm_after():
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, cwd=cwd,
                                   env=None if env is None else dict(env),
                                   start_new_session=True,
                                   preexec_fn=partial(_command_child, limits, os.getpid()))
    try:  # (not `with process`: its __exit__ would wait for a command nobody killed)
        out, err, ended = _drain(process, deadline, 4 * max_output + 4)
        ended = ended and _await_exit(process, deadline)
    finally:
        if process.returncode is None:  # not reaped yet, so its group id is still its own
            kill(process.pid)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        code = process.wait()
    return Ran(command, code if ended else None, _text(out, max_output),
               _text(err, max_output), not ended, time.monotonic() - started)


def _drain(process: subprocess.Popen[bytes], deadline: float,
           cap: int) -> tuple[bytes, bytes, bool]:
    """Read stdout and stderr to their end, keeping the first `cap` bytes of each; False when
    the deadline came first. A command that has ended while something it started still holds
    the pipes has its group killed, so the pipes close."""
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.fileno(), process.stderr.fileno()
    kept = {out: bytearray(), err: bytearray()}
    with selectors.DefaultSelector() as selector:
        for fd in kept:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(kept[out]), bytes(kept[err]), False
            ready = selector.select(min(left, _POLL_SECONDS))
            for key, _ in ready:
                chunk = os.read(key.fd, _CHUNK)
                if chunk:
                    kept[key.fd] += chunk[:max(0, cap - len(kept[key.fd]))]
                else:
                    selector.unregister(key.fd)
            if not ready and _exited(process.pid):
                _kill_group(process.pid)
    return bytes(kept[out]), bytes(kept[err]), True


def _exited(pid: int) -> bool:
    """Whether this process's child `pid` has ended, without reaping it: until it is reaped its
    pid, which is also its group's id, cannot be reused, so the group may still be killed."""
    if not hasattr(os, "waitid"):  # macOS before Python 3.13
        return False
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _await_exit(process: subprocess.Popen[bytes], deadline: float) -> bool:
    """Wait (unreaped where possible) for the command to end; False at the deadline."""
    if not hasattr(os, "waitid"):
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        return True
    delay = 0.001
    while not _exited(process.pid):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        delay = min(2 * delay, _POLL_SECONDS)
    return True


def _text(data: bytes, limit: int) -> str:
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    return text[:max(0, limit)]


# -- Python calls in children ------------------------------------------------------------------


@dataclass(frozen=True)
class Ended:
    """How a Python call in a child ended."""

    status: str
    """'returned', 'raised', 'signal', 'exit' or 'timeout'."""
    value: Any
    """The return value when 'returned'; the exception type name when 'raised'; else None."""
    detail: str
    """The traceback, the signal name, 'exit code N' or 'killed after the time limit'."""
    seconds: float


@dataclass(frozen=True)
class Call:
    """One function call to run in a child: fn(arg). fn must be a module-level function and
    arg picklable (both are sent to the child)."""

    key: Any
    fn: Callable[[Any], Any]
    arg: Any


def _installed(name: str) -> bool:
    try:
        return find_spec(name.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


class Starter:
    """How Python children are started: a multiprocessing fork server whose server process
    imports the `preload` modules once (those whose top-level package is installed), or 'spawn'
    where there is no fork server. Made by the caller and passed to `call_all`.

    multiprocessing runs one fork server per process: the preload that counts is the one set
    when it starts (on the first child any Starter starts).

    With `fork=True` each child is a fork of this process instead (no server to start, nothing
    imported again: for callers that hold what their children need, such as an audit), as long
    as this process runs no other thread when the child starts (a fork copies only the calling
    thread, whatever locks the others hold); otherwise the fork server as above."""

    def __init__(self, preload: Sequence[str] = (), *, fork: bool = False) -> None:
        self.preload = tuple(preload)
        self.fork = fork
        self._context: ForkServerContext | SpawnContext | None = None

    def context(self) -> ForkContext | ForkServerContext | SpawnContext:
        """The multiprocessing context a child starts with now (the server's is made on first
        use and kept)."""
        import multiprocessing  # (here: the readers never start Python children)

        if self.fork and threading.active_count() == 1 and \
                "fork" in multiprocessing.get_all_start_methods():
            return multiprocessing.get_context("fork")
        if self._context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                server = multiprocessing.get_context("forkserver")
                installed = [name for name in self.preload if _installed(name)]
                if installed:
                    server.set_forkserver_preload(installed)
                self._context = server
            else:
                self._context = multiprocessing.get_context("spawn")
        return self._context


@dataclass
class _Child:
    """A call running in a child process."""

    call: Call
    process: BaseProcess
    pid: int
    folder: str
    started: float
    deadline: float
    exitcode: int | None = None
    stopped: bool = False


def call_all(calls: Sequence[Call], *, limits: Limits, starter: Starter,
             jobs: int = 1) -> Generator[tuple[Call, Ended], None, None]:
    """Run the calls in up to `jobs` children at once, yielding each as it ends (any order).

    Each child has its own process group, `limits`, stdin /dev/null, and pickles its outcome
    into a temporary folder made for it (removed as soon as the call has ended). Whatever the
    child does, the call ends as an `Ended`: 'returned' (the value), 'raised' (any
    BaseException, or a value that cannot be pickled: PicklingError), 'signal', 'exit' (it
    ended without an outcome) or 'timeout' (its group SIGKILLed after `limits.seconds`). When
    the generator is closed or this process raises, every running child's group is killed and
    joined, and every temporary folder removed."""
    from multiprocessing import connection

    pending = list(reversed(calls))
    running: dict[int, _Child] = {}
    folders: set[str] = set()
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                child = _start(starter, pending.pop(), limits, folders)
                running[child.process.sentinel] = child
            soonest = min(c.deadline for c in running.values())
            ready = connection.wait(list(running),
                                    timeout=max(0.0, soonest - time.monotonic()))
            now = time.monotonic()
            for sentinel, child in list(running.items()):
                if sentinel in ready or now >= child.deadline:
                    ended = _end(child, sentinel not in ready)
                    del running[sentinel]
                    shutil.rmtree(child.folder, ignore_errors=True)
                    folders.discard(child.folder)
                    yield child.call, ended
    finally:
        for child in running.values():
            _stop(child, running=True)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _sigterm_held() -> Iterator[None]:
    """SIGTERM stays pending in this thread meanwhile (nothing may cut between making a folder
    and recording it); the previous signal mask is restored after."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def _sigterm_after() -> Iterator[None]:
    """In the main thread, a SIGTERM that comes meanwhile is only noted, then handled after:
    while this thread forks, Python runs at-fork callbacks (logging's lock release) in which
    an exception the handler raises is printed and dropped, and the process, its handler now
    ignoring SIGTERM, would go on. The child gets SIGTERM's default action back."""
    handler = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or not callable(handler):
        yield
        return
    came: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: came.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, handler)
        if came:
            handler(came[0], None)


def _start(starter: Starter, call: Call, limits: Limits, folders: set[str]) -> _Child:
    with _sigterm_held():
        folder = tempfile.mkdtemp(prefix=TEMP_PREFIX)
        folders.add(folder)
    process = starter.context().Process(target=_child, args=(call.fn, call.arg, limits, folder),
                                        daemon=True)
    with _sigterm_after():
        process.start()
    started = time.monotonic()
    if process.pid is None:  # pragma: no cover - start() sets it or raises
        raise RuntimeError("the child process has no pid")
    return _Child(call, process, process.pid, folder, started, started + limits.seconds)


def _stop(child: _Child, *, running: bool) -> None:
    """Kill what is left of the child's group (the child too when it may still run), join it."""
    if child.stopped:
        return
    if running:
        kill(child.pid)
    else:  # it has ended: only stragglers it left in its group
        _kill_group(child.pid)
    child.process.join()
    child.exitcode = child.process.exitcode
    child.stopped = True
    child.process.close()


def _end(child: _Child, timed_out: bool) -> Ended:
    """Stop the child and read how its call ended."""
    _stop(child, running=timed_out)
    if timed_out:
        return Ended("timeout", None, "killed after the time limit",
                     time.monotonic() - child.started)
    took = time.monotonic() - child.started
    try:
        with open(os.path.join(child.folder, _RESULT), "rb") as result:
            status, value, detail = pickle.load(result)
    except FileNotFoundError:
        pass
    except Exception as exc:  # a result this process cannot load (its type is not importable)
        return Ended("raised", type(exc).__name__,
                     f"the child's result could not be read: {exc!r}", took)
    else:
        return Ended(str(status), value, str(detail), took)
    code = child.exitcode
    if code is not None and code < 0:
        return Ended("signal", None, _signal_name(-code), took)
    return Ended("exit", None, f"exit code {code}", took)


def _child(fn: Callable[[Any], Any], arg: Any, limits: Limits, folder: str) -> NoReturn:
    """The child's whole life: contain itself, call, record the outcome, and exit without
    interpreter teardown (TVM's destructors log at exit)."""
    code = 1
    try:
        _record(folder, _outcome(fn, arg, limits))
        code = 0
    finally:
        os._exit(code)


def _outcome(fn: Callable[[Any], Any], arg: Any, limits: Limits) -> bytes:
    """The pickled (status, value, detail) of fn(arg) run contained."""
    try:
        contain(limits)
        outcome: tuple[str, Any, str] = ("returned", fn(arg), "")
    except BaseException as exc:  # the child reports everything, SystemExit included
        outcome = ("raised", type(exc).__name__, "".join(traceback.format_exception(exc)))
    try:
        return pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:
        why = "".join(traceback.format_exception(exc))
        return pickle.dumps(("raised", "PicklingError",
                             f"the return value cannot be pickled:\n{why}"),
                            pickle.HIGHEST_PROTOCOL)


def _record(folder: str, data: bytes) -> None:
    """Write the outcome whole or not at all (renamed into place once written)."""
    part = os.path.join(folder, _RESULT + ".part")
    try:
        _write_file(part, data)
    except OSError as exc:  # over the file size limit, or the disk is full
        _write_file(part, pickle.dumps(
            ("raised", type(exc).__name__,
             f"the outcome ({len(data)} bytes pickled) could not be written: {exc}"),
            pickle.HIGHEST_PROTOCOL))
    os.replace(part, os.path.join(folder, _RESULT))


def _write_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# -- forked helpers ----------------------------------------------------------------------------


@dataclass
class _Forked:
    """A forked child computing one part."""

    index: int
    pid: int
    fd: int
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    failed: bool = False
    reaped: bool = False


def fork_map(fn: Callable[[T], R], parts: Sequence[T], *, limits: Limits) -> list[R | None]:
    """fn applied to each part, in order: the first part in this process, each other part in a
    forked child at the same time (when os.fork exists and this process runs one thread only,
    since a fork copies only the calling thread; otherwise every part here). A child has its
    own process group, `limits` and stdin /dev/null, and sends its result pickled over a pipe.
    A part whose child failed (no fork, it died or raised, sent nothing or a cut pickle, or had
    sent nothing after `limits.seconds` and was killed) comes back as None: the caller does
    that part itself. Every child is reaped before this returns or raises."""
    if not parts:
        return []
    if not (hasattr(os, "fork") and threading.active_count() == 1):
        return [fn(part) for part in parts]
    results: list[R | None] = [None] * len(parts)
    children: list[_Forked] = []
    try:
        for index in range(1, len(parts)):
            forked = _fork(fn, parts[index], limits, [c.fd for c in children])
            if forked is not None:
                pid, fd = forked
                children.append(_Forked(index, pid, fd, time.monotonic() + limits.seconds))
        results[0] = fn(parts[0])
        _collect(children, limits.seconds)
        for child in children:
            if not child.failed:
                results[child.index] = _loaded(child.data)  # (no copy: loads reads a buffer)
            del child.data[:]
    finally:
        for child in children:
            _reap(child)
    return results


def _fork(fn: Callable[[T], R], part: T, limits: Limits,
          inherited: Sequence[int]) -> tuple[int, int] | None:
    """Fork a child computing fn(part): its pid and the pipe its result comes through, or None
    when the system refuses the fork."""
    reading, writing = os.pipe()
    try:
        with _sigterm_after():
            pid = os.fork()
    except OSError:  # out of processes or memory
        os.close(reading)
        os.close(writing)
        return None
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        _forked_child(fn, part, limits, writing, [reading, *inherited])
    os.close(writing)
    return pid, reading


def _forked_child(fn: Callable[[T], R], part: T, limits: Limits, writing: int,
                  unused: Sequence[int]) -> NoReturn:  # pragma: no cover - runs in the child
    """The forked child's whole life; it never returns into the caller's code."""
    code = 1
    try:
        for fd in unused:
            os.close(fd)
        contain(limits)
        _write_all(writing, pickle.dumps(fn(part), pickle.HIGHEST_PROTOCOL))
        code = 0
    finally:
        os._exit(code)


def _collect(children: Sequence[_Forked], seconds: float) -> None:
    """Read every child's result to its end. A child that has sent nothing by its deadline is
    killed (failed); one that has started sending has `seconds` more to finish."""
    live = {child.fd: child for child in children}
    with selectors.DefaultSelector() as selector:
        for fd in live:
            selector.register(fd, selectors.EVENT_READ)
        while live:
            soonest = min(child.deadline for child in live.values())
            for key, _ in selector.select(max(0.0, soonest - time.monotonic())):
                child = live[key.fd]
                chunk = os.read(key.fd, _CHUNK)
                if chunk:
                    if not child.data:
                        child.deadline = max(child.deadline, time.monotonic() + seconds)
                    child.data += chunk
                else:
                    selector.unregister(key.fd)
                    del live[key.fd]
                    _reap(child)
            now = time.monotonic()
            for child in [c for c in live.values() if now >= c.deadline]:
                selector.unregister(child.fd)
                del live[child.fd]
                child.failed = True
                _reap(child)


def _reap(child: _Forked) -> None:
    """Kill the child's group (whatever is left of it) and reap the child, once."""
    if child.reaped:
        return
    kill(child.pid)  # it is not reaped yet, so its pid still names it and its group
    os.waitpid(child.pid, 0)
    os.close(child.fd)
    child.reaped = True


def _loaded(data: bytes | bytearray) -> Any:
    """The unpickled result, None when it is empty or cut."""
    try:
        return pickle.loads(data)
    except Exception:
        return None


# -- signals and cores -------------------------------------------------------------------------


class Terminated(SystemExit):
    """SIGTERM arrived inside `sigterm_unwinds`; the exit code is 128 + the signal number."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the unwinding
    raise Terminated(128 + signum)


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` in the main thread, so `finally` blocks run
    (children killed, temporary folders removed); a second SIGTERM meanwhile is ignored.
    Outside the main thread it does nothing. The previous handler is restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def available_cores() -> int:
    """CPUs this process may run on (its affinity where the system has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
