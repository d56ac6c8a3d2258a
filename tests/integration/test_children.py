"""mlfcheck.children: every child is contained (limits, stdin, process group), ends as a record
whatever it does, and leaves no process or temporary folder behind."""

from __future__ import annotations

import functools
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlfcheck.children import (
    TEMP_PREFIX,
    Call,
    Ended,
    Limits,
    Starter,
    Terminated,
    available_cores,
    call_all,
    fork_map,
    run,
    sigterm_unwinds,
)

QUICK = Limits(seconds=10.0, memory_bytes=1024**3)
MiB = 1024**2

# -- helpers (module level: forkserver children import this module to find them) --------------


@dataclass(frozen=True)
class Point:
    x: int
    label: str


def make_point(n: int) -> Point:
    return Point(n, f"p{n}")


def raise_value_error(message: str) -> None:
    raise ValueError(message)


def exit_code(code: int) -> None:
    sys.exit(code)


def exit_three(_: object) -> None:
    os._exit(3)


def kill_self(_: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def return_lock(_: object) -> object:
    return threading.Lock()


def sleep_for(seconds: float) -> tuple[float, float]:
    start = time.time()
    time.sleep(seconds)
    return start, time.time()


def containment(_: object) -> tuple[bool, bool, int]:
    """Whether stdin is /dev/null, whether this process leads its own group, its RLIMIT_AS."""
    return (os.path.samestat(os.fstat(0), os.stat(os.devnull)), os.getpgid(0) == os.getpid(),
            resource.getrlimit(resource.RLIMIT_AS)[0])


def list_temp_folders(folder: str) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(TEMP_PREFIX)]


def write_pids_and_hang(path: str) -> None:
    """Start a grandchild, report both pids (atomically), then hang."""
    grandchild = subprocess.Popen(["sleep", "30"])
    Path(path + ".tmp").write_text(f"{os.getpid()} {grandchild.pid}")
    os.replace(path + ".tmp", path)
    time.sleep(30)


def pid_of(part: int) -> tuple[int, int]:
    return part, os.getpid()


def odd_parts_fail_in_a_child(parent: int, part: int) -> int:
    if part % 2 and os.getpid() != parent:
        os._exit(1)
    return part


def odd_parts_raise_in_a_child(parent: int, part: int) -> int:
    if part % 2 and os.getpid() != parent:
        raise RuntimeError("child part fails")
    return part


def slow_here_large_in_a_child(parent: int, part: int) -> bytes:
    """Here: slower than the time limit. In a child: at once, more than a pipe holds."""
    if os.getpid() == parent:
        time.sleep(1.0)
        return b""
    return bytes([part]) * (4 * MiB)


def odd_parts_hang_in_a_child(parent: int, part: int) -> int:
    if part % 2 and os.getpid() != parent:
        time.sleep(30)
    return part


def first_part_raises_once_children_run(parent: int, folder: str, part: int) -> int:
    """In the parent: wait until every child has written its pid, then raise. In a child:
    write the pid, then hang."""
    if os.getpid() != parent:
        Path(folder, f"{os.getpid()}.tmp").write_text("")
        os.replace(Path(folder, f"{os.getpid()}.tmp"), Path(folder, str(os.getpid())))
        time.sleep(30)
        return part
    assert wait_until(lambda: len([p for p in os.listdir(folder) if p.isdigit()]) == 2)
    raise KeyError("the first part failed")


# -- test utilities ----------------------------------------------------------------------------


def wait_until(condition: Any, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def is_gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting for whoever reaps it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def gone(pid: int) -> bool:
    return wait_until(lambda: is_gone(pid), within=3.0)


@contextmanager
def stdin_is_an_open_pipe() -> Iterator[None]:
    """fd 0 of this process is a pipe nobody writes to (a child inheriting it would block)."""
    saved = os.dup(0)
    reading, writing = os.pipe()
    os.dup2(reading, 0)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        for fd in (saved, reading, writing):
            os.close(fd)


def python(code: str, limits: Limits = QUICK, **kwargs: Any) -> Any:
    return run([sys.executable, "-c", code], limits=limits, **kwargs)


def one(fn: Any, arg: Any, limits: Limits = QUICK) -> Ended:
    done = list(call_all([Call("only", fn, arg)], limits=limits, starter=Starter()))
    assert [call.key for call, _ in done] == ["only"]
    return done[0][1]


# -- Limits ------------------------------------------------------------------------------------


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="seconds"):
        Limits(seconds=0)
    with pytest.raises(ValueError, match="seconds"):
        Limits(seconds=float("inf"))
    with pytest.raises(ValueError, match="memory_bytes"):
        Limits(memory_bytes=-5)
    assert Limits(memory_bytes=resource.RLIM_INFINITY).memory_bytes == resource.RLIM_INFINITY


# -- run ---------------------------------------------------------------------------------------


def test_run_reports_exit_status_and_both_outputs() -> None:
    ran = python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
    assert (ran.returncode, ran.stdout, ran.stderr) == (3, "out\n", "err\n")
    assert not ran.ok and not ran.timed_out and ran.signal_name is None
    assert ran.argv[0] == sys.executable
    assert python("pass").ok


def test_run_passes_cwd_and_env(tmp_path: Path) -> None:
    ran = python("import os; print(os.getcwd(), os.environ['MLFCHECK_PROBE'])", cwd=tmp_path,
                 env={**os.environ, "MLFCHECK_PROBE": "yes"})
    assert ran.stdout.split() == [str(tmp_path.resolve()), "yes"]


def test_run_gives_the_command_an_empty_stdin_even_when_ours_is_an_open_pipe() -> None:
    start = time.monotonic()
    with stdin_is_an_open_pipe():
        ran = python("import os, sys; print(repr(sys.stdin.read()));"
                     "print(os.path.samestat(os.fstat(0), os.stat(os.devnull)))",
                     limits=Limits(seconds=5))
    assert (ran.timed_out, ran.stdout) == (False, "''\nTrue\n")
    assert time.monotonic() - start < 2


def test_run_kills_the_whole_group_at_the_time_limit() -> None:
    start = time.monotonic()
    ran = run(["sh", "-c", "sleep 30 & echo $!; wait"], limits=Limits(seconds=0.5))
    assert ran.timed_out and ran.returncode is None and not ran.ok
    assert time.monotonic() - start < 2
    assert ran.seconds >= 0.5
    assert gone(int(ran.stdout))


def test_run_kills_what_a_command_left_running_when_it_ends() -> None:
    start = time.monotonic()
    ran = run(["sh", "-c", "sleep 30 & echo $!"], limits=Limits(seconds=10))
    assert ran.ok and not ran.timed_out
    assert time.monotonic() - start < 2
    assert gone(int(ran.stdout))


def run_a_long_command(pidfile: str) -> None:
    """A Python child that runs a command for longer than its own time limit."""
    run(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"], limits=Limits(seconds=60))


def test_a_command_dies_with_the_python_child_that_ran_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    ended = one(run_a_long_command, str(pidfile), limits=Limits(seconds=1.5))
    assert ended.status == "timeout"
    assert wait_until(lambda: pidfile.is_file() and pidfile.read_text().strip() != "")
    assert gone(int(pidfile.read_text()))


def test_run_puts_the_command_in_a_new_session() -> None:
    ran = python("import os; print(os.getsid(0) == os.getpid() == os.getpgid(0))")
    assert ran.stdout == "True\n"


def test_run_memory_limit_stops_a_large_allocation() -> None:
    small = Limits(seconds=10, memory_bytes=256 * MiB)
    ran = python("bytearray(1 << 30)", limits=small)
    assert ran.returncode not in (0, None)
    assert "MemoryError" in ran.stderr
    assert python("bytearray(16 << 20)", limits=small).ok


def test_run_file_size_limit_stops_a_large_write(tmp_path: Path) -> None:
    limits = Limits(seconds=10, file_bytes=MiB)
    big = tmp_path / "big"
    ran = python(f"open({str(big)!r}, 'wb').write(b'x' * (2 << 20))", limits=limits)
    assert ran.returncode not in (0, None)
    assert big.stat().st_size <= MiB
    assert python(f"open({str(tmp_path / 'small')!r}, 'wb').write(b'x' * 1000)", limits=limits).ok


def test_run_cpu_limit_stops_a_busy_loop() -> None:
    start = time.monotonic()
    ran = python("while True: pass", limits=Limits(seconds=30, cpu_seconds=1))
    assert ran.signal_name in ("SIGXCPU", "SIGKILL")
    assert not ran.timed_out
    assert time.monotonic() - start < 20  # 1 s of CPU, however busy the machine is


def test_run_keeps_at_most_max_output_characters() -> None:
    ran = python("import sys; print('x' * 100000); print('\\u00e9' * 5000, file=sys.stderr)",
                 max_output=100)
    assert ran.stdout == "x" * 100
    assert ran.stderr == "\u00e9" * 100


def test_run_names_the_signal_that_ended_the_command() -> None:
    ran = python("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert (ran.returncode, ran.signal_name, ran.ok) == (-signal.SIGSEGV, "SIGSEGV", False)


def test_run_raises_file_not_found_for_a_missing_executable(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run([str(tmp_path / "no-such-compiler")], limits=QUICK)


# -- call_all ----------------------------------------------------------------------------------


def test_call_all_returns_values_pickled_back() -> None:
    done = one(make_point, 7)
    assert (done.status, done.value, done.detail) == ("returned", Point(7, "p7"), "")


def test_call_all_reports_an_exception_with_its_traceback() -> None:
    done = one(raise_value_error, "boom")
    assert (done.status, done.value) == ("raised", "ValueError")
    assert "Traceback" in done.detail and "boom" in done.detail
    exited = one(exit_code, 5)
    assert (exited.status, exited.value) == ("raised", "SystemExit")


def test_call_all_reports_a_value_that_cannot_be_pickled() -> None:
    done = one(return_lock, None)
    assert (done.status, done.value) == ("raised", "PicklingError")
    assert "lock" in done.detail


def test_call_all_reports_an_exit_without_a_result_and_a_signal() -> None:
    exited = one(exit_three, None)
    assert (exited.status, exited.detail) == ("exit", "exit code 3")
    killed = one(kill_self, None)
    assert (killed.status, killed.detail) == ("signal", "SIGKILL")


def test_call_all_contains_the_child() -> None:
    with stdin_is_an_open_pipe():
        done = one(containment, None, limits=Limits(seconds=10, memory_bytes=3 * 1024**3))
    assert (done.status, done.value) == ("returned", (True, True, 3 * 1024**3))


def test_call_all_kills_a_child_at_the_time_limit() -> None:
    start = time.monotonic()
    done = one(sleep_for, 30, limits=Limits(seconds=0.5))
    assert (done.status, done.detail) == ("timeout", "killed after the time limit")
    assert 0.5 <= done.seconds < 3
    assert time.monotonic() - start < 3


def parent_pid(_: object) -> int:
    return os.getppid()


def test_a_forking_starter_forks_this_process_unless_a_thread_runs() -> None:
    def parent(starter: Starter) -> Any:
        [(_, ended)] = list(call_all([Call("p", parent_pid, None)], limits=QUICK,
                                     starter=starter))
        return ended.value

    assert parent(Starter(fork=True)) == os.getpid()
    assert parent(Starter()) != os.getpid()  # a child of the fork server
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parent(Starter(fork=True)) != os.getpid()  # the server, not a fork
    finally:
        stop.set()
        thread.join()


def test_call_all_runs_jobs_children_at_once() -> None:
    calls = [Call(n, sleep_for, 1.0) for n in range(2)]
    start = time.monotonic()
    done = dict(call_all(calls, limits=QUICK, starter=Starter(), jobs=2))
    took = time.monotonic() - start
    assert set(done) == set(calls)
    (start0, end0), (start1, end1) = (done[c].value for c in calls)
    assert max(start0, start1) < min(end0, end1)  # the two sleeps overlapped
    assert took < sum(done[c].seconds for c in calls)  # one after the other could not be


def test_call_all_removes_every_temporary_folder_when_exhausted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    calls = [Call(n, list_temp_folders, str(tmp_path)) for n in range(3)]
    done = list(call_all(calls, limits=QUICK, starter=Starter(), jobs=2))
    assert all(ended.status == "returned" and ended.value for _, ended in done)  # they existed
    assert list_temp_folders(str(tmp_path)) == []


def test_call_all_closed_early_kills_its_children_and_removes_their_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    pids = tmp_path / "pids"
    calls = [Call("quick", make_point, 1), Call("hang", write_pids_and_hang, str(pids))]
    started = call_all(calls, limits=QUICK, starter=Starter(), jobs=2)
    call, ended = next(started)
    assert (call.key, ended.status) == ("quick", "returned")
    assert wait_until(pids.exists)
    child, grandchild = map(int, pids.read_text().split())
    assert list_temp_folders(str(scratch)) != []
    started.close()
    assert list_temp_folders(str(scratch)) == []
    assert gone(child) and gone(grandchild)


def test_call_all_kills_running_children_when_the_consumer_raises(
        tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    calls = [Call("quick", make_point, 1), Call("hang", write_pids_and_hang, str(pids))]
    with pytest.raises(KeyError):
        for _ in call_all(calls, limits=QUICK, starter=Starter(), jobs=2):
            assert wait_until(pids.exists)
            raise KeyError("consumer failed")
    child, grandchild = map(int, pids.read_text().split())
    assert gone(child) and gone(grandchild)


def test_call_all_removes_the_folder_of_a_call_it_could_not_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(TypeError, match="pickle"):
        list(call_all([Call(1, make_point, threading.Lock())], limits=QUICK, starter=Starter()))
    assert list_temp_folders(str(tmp_path)) == []


def test_starter_skips_preload_modules_that_are_not_installed() -> None:
    starter = Starter(preload=("no_such_package_for_mlfcheck.sub", "json"))
    assert starter.context() is starter.context()
    done = list(call_all([Call(1, make_point, 1)], limits=QUICK, starter=starter))
    assert done[0][1].value == Point(1, "p1")


# -- fork_map ----------------------------------------------------------------------------------


def test_fork_map_runs_the_first_part_here_and_the_others_in_children() -> None:
    done = [pair for pair in fork_map(pid_of, [10, 11, 12], limits=QUICK) if pair is not None]
    assert [part for part, _ in done] == [10, 11, 12]
    pids = [pid for _, pid in done]
    assert pids[0] == os.getpid()
    assert len({*pids}) == 3
    for pid in pids[1:]:  # every child has been reaped
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_fork_map_contains_its_children() -> None:
    with stdin_is_an_open_pipe():
        done = fork_map(containment, [0, 1], limits=Limits(seconds=10, memory_bytes=3 * 1024**3))
    assert done[1] == (True, True, 3 * 1024**3)


def test_fork_map_gives_none_for_a_child_that_dies_or_raises() -> None:
    died = functools.partial(odd_parts_fail_in_a_child, os.getpid())
    assert fork_map(died, [0, 1, 2], limits=QUICK) == [0, None, 2]
    raised = functools.partial(odd_parts_raise_in_a_child, os.getpid())
    assert fork_map(raised, [0, 1, 2, 3], limits=QUICK) == [0, None, 2, None]


def test_fork_map_does_not_fork_while_another_thread_runs() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        done = fork_map(pid_of, [0, 1, 2], limits=QUICK)
    finally:
        stop.set()
        other.join()
    assert done == [(0, os.getpid()), (1, os.getpid()), (2, os.getpid())]


def test_fork_map_kills_a_child_past_the_time_limit() -> None:
    start = time.monotonic()
    hangs = functools.partial(odd_parts_hang_in_a_child, os.getpid())
    assert fork_map(hangs, [0, 1, 2], limits=Limits(seconds=0.5)) == [0, None, 2]
    assert time.monotonic() - start < 3


def test_fork_map_keeps_a_result_sent_on_time_while_this_process_was_busy() -> None:
    fn = functools.partial(slow_here_large_in_a_child, os.getpid())
    assert fork_map(fn, [0, 1], limits=Limits(seconds=0.5)) == [b"", b"\x01" * (4 * MiB)]


def test_fork_map_kills_and_reaps_its_children_when_the_first_part_raises(
        tmp_path: Path) -> None:
    fn = functools.partial(first_part_raises_once_children_run, os.getpid(), str(tmp_path))
    start = time.monotonic()
    with pytest.raises(KeyError):
        fork_map(fn, [0, 1, 2], limits=QUICK)
    assert time.monotonic() - start < 5
    for name in os.listdir(tmp_path):
        if name.isdigit():
            assert is_gone(int(name))
            with pytest.raises(ChildProcessError):
                os.waitpid(int(name), os.WNOHANG)


def test_fork_map_of_nothing_or_one_part_forks_nothing() -> None:
    assert fork_map(pid_of, [], limits=QUICK) == []
    assert fork_map(pid_of, [5], limits=QUICK) == [(5, os.getpid())]


# -- sigterm_unwinds, available_cores -----------------------------------------------------------


def test_sigterm_unwinds_raises_terminated_runs_finally_and_ignores_a_second_sigterm() -> None:
    before = signal.getsignal(signal.SIGTERM)
    unwound = []
    with pytest.raises(Terminated) as raised, sigterm_unwinds():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            unwound.append("not interrupted")
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # ignored while unwinding
            time.sleep(0.05)
            unwound.append("finally")
    assert unwound == ["finally"]
    assert raised.value.code == 128 + signal.SIGTERM
    assert isinstance(raised.value, SystemExit)
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_unwinds_does_nothing_outside_the_main_thread() -> None:
    seen: list[object] = []

    def inside() -> None:
        with sigterm_unwinds():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGTERM)]


def test_available_cores() -> None:
    assert 1 <= available_cores() <= (os.cpu_count() or 1)
