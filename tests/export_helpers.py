"""Helpers for the exporter tests: run the export CLI in a subprocess, unpack, build C."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = "from mlfcheck.cli.export import export; export()"
CFLAGS = ["-std=c11", "-Wall", "-Werror"]


def run_cli(*args: str, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`mlfcheck export ARGS` in a fresh interpreter (the error path silences its stderr)."""
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=300)


def unpack(archive: Path, into: Path) -> Path:
    """Extract an archive into a folder and return it."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def pack(root: Path, out: Path) -> Path:
    """The folder `root` as a tar at `out` whose members start './', as TVM wrote them."""
    with tarfile.open(out, "w") as tar:
        tar.add(root, arcname=".")
    return out


def build(sources: list[Path], includes: list[Path], exe: Path) -> None:
    """Compile and link with the system C compiler; fail the test with its output."""
    cmd = ["cc", *CFLAGS, *(f"-I{i}" for i in includes), *map(str, sources), "-o", str(exe),
           "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def c_block_after(markdown: str, heading: str) -> str:
    """The first ```c block after a heading in a markdown document."""
    tail = markdown.split(heading, 1)[1]
    match = re.search(r"```c\n(.*?)```", tail, re.S)
    assert match, f"no C block after {heading!r}"
    return match.group(1)
