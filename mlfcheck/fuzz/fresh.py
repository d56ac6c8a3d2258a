"""Exports in a fresh process, for oracles.exports_agree_across_processes: with another
PYTHONHASHSEED than the campaign's examples, in a process that has never exported.

Started anew, `python -m mlfcheck export` costs about 1.7 s, nearly all of it `import tvm`. A
campaign instead runs one `FreshExporter`: a server started with FRESH_HASH_SEED that imports
the exporter once, never exports itself, and answers each request from a fork of itself that
runs the `mlfcheck export` command line (own process group, FRESH_EXPORT_LIMITS). Each export is
still the CLI's, in a process with the other hash seed and no export behind it, for the price
of a fork. Without a server (tests, replays) `export` starts the process as before.

`python -m mlfcheck.fuzz.fresh SOCKET` runs the server.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from mlfcheck import children
from mlfcheck.board.containment import tool_error
from mlfcheck.fuzz.exports import EPOCH

FRESH_HASH_SEED = "4242"
"""PYTHONHASHSEED of the fresh process (the campaign's own children hash with a random seed)."""
FRESH_EXPORT_LIMITS = children.Limits(seconds=600.0, memory_bytes=None, cpu_seconds=600)
"""The fresh process's export: ten minutes of wall clock and of CPU (so it ends even when the
example's child was killed first), the example's address-space limit."""
START_SECONDS = 30.0
"""How long a campaign waits for the server's socket before it goes without one."""
PRELOAD = ("tvm", "mlfcheck.cli", "mlfcheck.export")
"""What the server imports before it forks: most of an export's start (TVM above all)."""
STDERR_CHARACTERS = 20_000
"""The end of a served export's stderr that comes back with its exit code."""


class FreshExporter:
    """The server's process, from `with FreshExporter(folder) as server:` to the end of the
    block; `server` is the socket examples reach it at (None when it did not start: then every
    fresh export starts its own process)."""

    def __init__(self, folder: Path) -> None:
        self.socket = folder / "fresh.sock"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Path | None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mlfcheck.fuzz.fresh", str(self.socket)], env=_fresh_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while not self.socket.exists():  # it binds before it imports anything heavy
            if self._process.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        return self.socket

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._process is not None:
            children.kill(self._process.pid)
            self._process.wait()


def export(model: Path, output: Path, server: Path | None) -> str | None:
    """Export `model` to `output` as `mlfcheck export` does, in a fresh process (through
    `server` when there is one): None when it exported, else why not."""
    argv = ["export", str(model), "-o", str(output), "--source-date-epoch", str(EPOCH)]
    if server is not None:
        try:
            return _served(server, argv)
        except OSError:  # the server is gone: start the process instead
            pass
    done = children.run([sys.executable, "-m", "mlfcheck", *argv], limits=FRESH_EXPORT_LIMITS,
                        env=_fresh_env())
    return None if done.ok else (done.stderr or tool_error(done))


def _fresh_env() -> dict[str, str]:
    """The environment of a fresh process (the server's, or one started for one export): this
    one's, with FRESH_HASH_SEED and no working directory on the module path."""
    return dict(os.environ, PYTHONHASHSEED=FRESH_HASH_SEED, PYTHONSAFEPATH="1")


def _served(server: Path, argv: list[str]) -> str | None:
    """One request to the server: None when the export exited 0, else its stderr."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(FRESH_EXPORT_LIMITS.seconds + START_SECONDS)
        conn.connect(str(server))
        conn.sendall(json.dumps({"argv": argv}).encode())
        conn.shutdown(socket.SHUT_WR)
        reply = _read_all(conn)
    if not reply:
        return "the fresh process ended without an answer (stopped by its limits)"
    answer = json.loads(reply)
    return None if answer["code"] == 0 else (answer["stderr"] or f"exit {answer['code']}")


def _read_all(conn: socket.socket) -> bytes:
    data = bytearray()
    while chunk := conn.recv(1 << 16):
        data += chunk
    return bytes(data)


def serve(path: Path) -> None:
    """The server's life: bind `path`, import the CLI and the exporter, then answer each
    connection from a fork, until the process that started it has ended."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    for name in PRELOAD:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the forks are reaped by the system
    parent = os.getppid()
    listener.settimeout(1.0)
    while os.getppid() == parent:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        if os.fork() == 0:  # pragma: no cover - runs in the fork, which never returns
            code = 1
            try:
                listener.close()
                _answer(conn)
                code = 0
            finally:
                os._exit(code)
        conn.close()


def _answer(conn: socket.socket) -> None:  # pragma: no cover - in the fork
    """Run the request's command line contained, send back its exit code and stderr."""
    from mlfcheck.cli import main  # (imported by the server before it forked)

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    argv = json.loads(_read_all(conn))["argv"]
    children.contain(FRESH_EXPORT_LIMITS)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            main.main(args=argv, prog_name="mlfcheck", standalone_mode=True)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")[-STDERR_CHARACTERS:]
    conn.sendall(json.dumps({"code": code, "stderr": stderr}).encode())
    conn.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
