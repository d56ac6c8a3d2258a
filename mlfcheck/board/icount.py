"""Instructions per inference: a QEMU TCG plugin that counts what a board run executes.

The plugin (`icount_plugin.c`, mlfcheck's own, built with the host C compiler when a run asks
for counts) counts the guest instructions QEMU executes between the program's calls to
`mlfcheck_count_begin()` and `mlfcheck_count_end()`, one count per such window: the count of
instructions that ran, not an estimate from cycles or time. Precision: a window holds what ran
between the markers plus the markers' own call and return, 4 or 5 instructions on a Cortex-M
(the one-instruction spread is where QEMU draws block boundaries), measured on a loop of known
length in tests/integration/test_icount.py. A program without the markers runs uncounted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlfcheck import children
from mlfcheck.board import elfsize
from mlfcheck.board.archivebuild import NoCompiler, host_compiler
from mlfcheck.board.containment import COMPILER_LIMITS, tool_error
from mlfcheck.errors import BoardError

SOURCE = Path(__file__).with_name("icount_plugin.c")
MARKERS = ("mlfcheck_count_begin", "mlfcheck_count_end")
"""The functions a counted program calls around what it measures."""
MARKER_SOURCE = """\
__attribute__((noinline)) void mlfcheck_count_begin(void) { __asm__ volatile(""); }
__attribute__((noinline)) void mlfcheck_count_end(void) { __asm__ volatile(""); }
"""
"""The two markers as C, for programs mlfcheck writes (the plugin finds them by symbol)."""
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_TRAMPOLINE = """
void* mlfcheck_count_return;
__asm__(
  "  .text\\n  .syntax unified\\n  .thumb\\n  .global __wrap_{f}\\n  .type __wrap_{f}, %function\\n"
  "  .thumb_func\\n__wrap_{f}:\\n"
  "  ldr r12, =mlfcheck_count_return\\n  str lr, [r12]\\n"
  "  push {{r0, r1, r2, r3}}\\n  bl mlfcheck_count_begin\\n  pop {{r0, r1, r2, r3}}\\n"
  "  bl __real_{f}\\n"
  "  push {{r0, r1}}\\n  bl mlfcheck_count_end\\n  pop {{r0, r1}}\\n"
  "  ldr r12, =mlfcheck_count_return\\n  ldr lr, [r12]\\n  bx lr\\n  .ltorg\\n");
"""


@dataclass(frozen=True)
class Wrap:
    """Counting every call of one function without touching the program that calls it: a
    Thumb-2 trampoline linked in its place (`ld --wrap`) that calls the markers around it.
    Arguments in registers and on the stack reach the function untouched; the return address
    waits in a variable (one call at a time, as an inference is)."""

    source: str
    """C of the markers and the trampoline, compiled with the program."""
    link_flags: tuple[str, ...]
_LINE = re.compile(r"^mlfcheck-icount total (\d+) windows((?: \d+)*)$", re.MULTILINE)


@dataclass(frozen=True)
class Plugin:
    """The counter plugin, built into a folder the caller owns."""

    path: Path


@dataclass(frozen=True)
class Counts:
    """What one counted run executed."""

    total: int
    """Every instruction of the run, startup and I/O included."""
    windows: tuple[int, ...]
    """Instructions between each mlfcheck_count_begin() and the mlfcheck_count_end() after it."""


def wrap(function: str) -> Wrap:
    """The trampoline that counts each call of `function` (a C identifier, defined in another
    object than its callers')."""
    if not _IDENTIFIER.fullmatch(function):
        raise ValueError(f"not a C identifier: {function!r}")
    return Wrap(MARKER_SOURCE + _TRAMPOLINE.format(f=function), (f"-Wl,--wrap={function}",))


def build(work: Path) -> Plugin:
    """Compile the plugin with the host C compiler into `work`; BoardError naming the package
    when there is none."""
    host = host_compiler()
    if isinstance(host, NoCompiler):
        raise BoardError(f"counting instructions needs a host C compiler: {host.reason}")
    path = work / "mlfcheck-icount.so"
    done = children.run([host.cc.path, "-shared", "-fPIC", "-O2", "-o", str(path),
                         str(SOURCE)], limits=COMPILER_LIMITS, cwd=work)
    if not done.ok:
        raise BoardError(f"the instruction counter does not build: {tool_error(done)}")
    return Plugin(path)


def qemu_args(plugin: Plugin, elf: Path) -> list[str]:
    """QEMU's arguments that load the plugin for `elf`: none when `elf` has no markers."""
    found = elfsize.symbol_values(elf, MARKERS)
    if set(found) != set(MARKERS):
        return []
    begin, end = (found[name] & ~1 for name in MARKERS)
    return ["-plugin", f"{plugin.path},begin={begin:#x},end={end:#x}", "-d", "plugin"]


def counts(output: str) -> Counts:
    """The counts the plugin wrote into QEMU's output; BoardError when it wrote none (QEMU
    built without TCG plugins, or the plugin did not load)."""
    found = _LINE.search(output)
    if found is None:
        raise BoardError("QEMU did not load the instruction counter (it needs TCG plugin "
                         "support: Debian's qemu-system-arm has it)")
    return Counts(int(found.group(1)), tuple(int(w) for w in found.group(2).split()))
