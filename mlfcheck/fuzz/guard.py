"""The write guard of reader fuzzing: an audit hook (PEP 578) that records, while a block runs, a
write outside a root folder and an open of the canary file that link members point at.

An audit hook cannot be removed, so a process has one guard at most, and the process's hook list
is what says whether it has one: `Guard.installed()` raises the custom audit event FIND_EVENT,
which only a guard's hook answers (by handing itself over), and installs a new guard only when
none answers. No module state remembers it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck.fuzz.reader import CANARY

FIND_EVENT = "mlfcheck.fuzz.guard.find"
"""The audit event `Guard.installed()` raises with a list; the installed guard appends itself."""
_WRITE_EVENTS = {"os.remove", "os.rename", "os.replace", "os.mkdir", "os.rmdir", "os.symlink",
                 "os.link", "os.truncate", "os.chmod", "os.chown", "os.utime",
                 "shutil.rmtree", "shutil.copyfile", "shutil.move"}
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000  # O_WRONLY | O_RDWR | O_CREAT | O_TRUNC


@dataclass
class Seen:
    """What a guarded block did: its first write outside the root, its first open of the
    canary (None when it did neither)."""

    wrote: str | None = None
    followed: str | None = None


class Guard:
    """This process's audit hook and what it is watching. Get it with `Guard.installed()`."""

    def __init__(self) -> None:
        self._root: str | None = None
        self._seen = Seen()

    @classmethod
    def installed(cls) -> Guard:
        """The process's guard, installed now when its hook list has none."""
        found: list[Guard] = []
        sys.audit(FIND_EVENT, found)
        if found:
            return found[0]
        guard = cls()
        sys.addaudithook(guard._hook)
        return guard

    @contextmanager
    def watching(self, root: Path) -> Iterator[Seen]:
        """Record writes outside `root` and opens of the canary while the block runs (one block
        at a time)."""
        self._root, self._seen = str(root.resolve()), Seen()
        try:
            yield self._seen
        finally:
            self._root = None

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event == FIND_EVENT:
            args[0].append(self)
            return
        root = self._root
        if root is None or not args:
            return
        target = args[0]
        if isinstance(target, bytes):
            target = target.decode("utf-8", "surrogateescape")
        if not isinstance(target, str):
            return
        if event == "open":
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            if target.endswith(CANARY):
                self._seen.followed = self._seen.followed or target
            if not (any(c in mode for c in "wax+") or flags & _WRITE_FLAGS):
                return
        elif event not in _WRITE_EVENTS:
            return
        resolved = str(Path(target).resolve()) if target else target
        if not (resolved + "/").startswith(root + "/"):
            self._seen.wrote = self._seen.wrote or f"{event} {target}"


def guarded(root: Path) -> AbstractContextManager[Seen]:
    """`Guard.installed().watching(root)`: a context manager yielding what the block did."""
    return Guard.installed().watching(root)
