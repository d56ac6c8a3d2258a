"""Cross builds for a board: find the Arm toolchain and QEMU, compile, link, run with semihosting.

Everything runs in a folder the caller owns (a temporary one); nothing is written elsewhere.
Compiles and links go through the containment layer (`mlfcheck.board.containment`): the C they
build may be an archive's, untrusted. A missing tool is a BoardError naming the Debian package;
a compile error, a refused include, a build or run stopped by its limits are BoardErrors too. A
link that overflows a region, and a fault in the run, are results: they say something about
the model, not about the machine.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlfcheck import children
from mlfcheck.board import boards, containment
from mlfcheck.board.boards import Board, Region
from mlfcheck.board.containment import (
    COMPILER_LIMITS,
    Build,
    Compiler,
    Tree,
    first_error,
    tool_error,
)
from mlfcheck.board.icount import Counts, Plugin, counts, qemu_args
from mlfcheck.errors import BoardError

GCC = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"
APT_INSTALL = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
"""The one line that installs everything the board options need (Debian, Ubuntu)."""
SIZE_FLAGS = ("-Os", "-ffunction-sections", "-fdata-sections")
"""Compiler flags of every board build: small code, one section per symbol for --gc-sections."""
LINK_FLAGS = ("--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles", "-Wl,--gc-sections")
RUN_TIMEOUT = 60.0
"""Seconds a QEMU run may take before it counts as hung."""
RUN_FILE_BYTES = 256 * 1024**2
"""Largest file a QEMU run may write (through semihosting, beside the ELF)."""

_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")
_STATUS = re.compile(re.escape(boards.STATUS_PREFIX) + r" exit (-?\d+) stack (\d+)")
_FAULT = re.compile(re.escape(boards.FAULT_PREFIX) + r" exception 0x([0-9a-f]+) pc 0x([0-9a-f]+)"
                    r" cfsr 0x([0-9a-f]+) hfsr 0x([0-9a-f]+)")
EXCEPTIONS = {2: "NMI", 3: "hard fault", 4: "memory management fault", 5: "bus fault",
              6: "usage fault", 11: "SVC", 12: "debug monitor", 14: "PendSV", 15: "SysTick"}
CFSR_BITS = {0: "instruction access violation", 1: "data access violation",
             8: "instruction bus error", 9: "precise data bus error",
             10: "imprecise data bus error", 16: "undefined instruction", 17: "invalid state",
             18: "invalid PC load", 19: "no coprocessor", 24: "unaligned access",
             25: "divide by zero"}
"""Configurable Fault Status Register bits worth naming (Armv7-M/Armv8-M)."""


@dataclass(frozen=True)
class Toolchain:
    """Paths of the cross compiler and (when a run is wanted) of QEMU, and what the compiler
    said of its own headers (asked once, when the toolchain was found)."""

    gcc: str
    qemu: str | None
    cc: Compiler


@dataclass(frozen=True)
class Overflow:
    """A memory region the linked image does not fit, and by how many bytes."""

    region: Region
    by: int


@dataclass(frozen=True)
class Fault:
    """A fault the run stopped on: exception number, faulting PC and the fault registers."""

    exception: int
    pc: int
    cfsr: int
    hfsr: int
    function: str | None
    """The function holding the PC, when the image's symbols say."""

    def describe(self) -> str:
        """One line: which fault, where, and what the status register says."""
        kind = EXCEPTIONS.get(self.exception, f"exception {self.exception}")
        where = f" in {self.function}" if self.function else ""
        causes = [text for bit, text in CFSR_BITS.items() if self.cfsr >> bit & 1]
        why = f": {', '.join(causes)}" if causes else ""
        return f"{kind}{where} at pc {self.pc:#010x} (CFSR {self.cfsr:#010x}{why})"


@dataclass(frozen=True)
class Ran:
    """What one QEMU run printed, how main exited, the stack high-water mark, or the fault."""

    stdout: str
    exit_code: int | None
    stack_peak: int
    fault: Fault | None
    seconds: float
    counts: Counts | None = None
    """Instructions executed, when the run was counted (`plugin`) and the image has the
    markers."""


def toolchain(*, run: bool) -> Toolchain:
    """The installed cross compiler (with newlib), and QEMU when `run`; BoardError naming the
    missing Debian package otherwise."""
    gcc = shutil.which(GCC)
    if gcc is None:
        raise BoardError(f"{GCC} not found: apt-get install gcc-arm-none-eabi")
    specs = children.run([gcc, "-print-file-name=rdimon.specs"],
                         limits=COMPILER_LIMITS).stdout.strip()
    if not Path(specs).is_absolute() or not Path(specs).is_file():
        raise BoardError("newlib for arm-none-eabi not found (rdimon.specs): "
                         "apt-get install libnewlib-arm-none-eabi")
    qemu = shutil.which(QEMU) if run else None
    if run and qemu is None:
        raise BoardError(f"{QEMU} not found: apt-get install qemu-system-arm")
    return Toolchain(gcc, qemu, containment.compiler(gcc))


def compile_objects(tools: Toolchain, board: Board, sources: Sequence[Path],
                    includes: Sequence[Path], out: Path, *, extra: Sequence[str] = (),
                    tree: Tree | None = None) -> list[Path]:
    """Compile each source for `board` into `out`, one object per source, in order, contained:
    `tree` says what the build may read (default: the folder holding the sources, and the
    include folders, as the caller's own files). Raises Refused, OverLimit or BoardError (the
    headers missing, the first source that does not compile)."""
    flags = [*board.cpu_flags, *SIZE_FLAGS, *extra]
    folders = [d.resolve() for d in includes]
    build = Build(tools.cc, tree or Tree.around([*sources, out], includes), out)
    failed = build.check(sources, flags, folders)
    if failed:
        source, done = failed[0]
        raise BoardError(f"{source.name} does not compile for {board.name}: {tool_error(done)}")
    objects = []
    for i, source in enumerate(sources):
        obj = out / f"{i:03d}-{source.stem}.o"
        done = build.compile(source, obj, flags, folders)
        if not done.ok:
            raise BoardError(f"{source.name} does not compile for {board.name}: "
                             + tool_error(done))
        objects.append(obj)
    return objects


def link(tools: Toolchain, board: Board, objects: Sequence[Path], elf: Path, *,
         tree: Tree | None = None, flags: Sequence[str] = ()) -> tuple[Overflow, ...]:
    """Link the objects with the board's startup code and linker script into `elf`, contained
    (`tree` as for `compile_objects`; default: the folder holding the objects and `elf`), with
    the extra linker `flags` (e.g. a counted function's --wrap).

    Returns the regions the image overflows (then there is no image); OverLimit or BoardError
    for any other link failure."""
    work = elf.parent
    startup = work / "mlfcheck_startup.c"
    script = work / "mlfcheck.ld"
    startup.write_text(boards.startup_source(board))
    script.write_text(boards.linker_script(board))
    cmd = [tools.gcc, *tools.cc.flags, *board.cpu_flags, *SIZE_FLAGS, *LINK_FLAGS,
           *flags, f"-T{script}", *map(str, objects), str(startup), "-o", str(elf), "-lm"]
    build = Build(tools.cc, tree or Tree.around([*objects, elf]), work)
    done = build.command(cmd, what=f"linking the image for {board.name}")
    if done.ok:
        return ()
    regions = {r.name: r for r in board.regions}
    found = {m.group(1): int(m.group(2)) for m in _OVERFLOW.finditer(done.stderr)}
    if found and set(found) <= set(regions):
        return tuple(Overflow(regions[name], by) for name, by in sorted(found.items()))
    raise BoardError(f"the image for {board.name} does not link: {tool_error(done)}")


def run(tools: Toolchain, board: Board, elf: Path, *, timeout: float = RUN_TIMEOUT,
        plugin: Plugin | None = None) -> Ran:
    """Run `elf` on `board` in QEMU with semihosting (files relative to the ELF's folder);
    with `plugin`, count the instructions between the image's markers (`board.icount`)."""
    from mlfcheck.board.elfsize import function_at

    assert tools.qemu is not None, "toolchain(run=True) finds QEMU"
    counted = qemu_args(plugin, elf) if plugin is not None else []
    cmd = [tools.qemu, "-M", board.name, "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf), *counted]
    start = time.perf_counter()
    done = children.run(cmd, limits=children.Limits(seconds=timeout, memory_bytes=None,
                                                    file_bytes=RUN_FILE_BYTES), cwd=elf.parent)
    if done.timed_out:
        raise BoardError(f"the run on {board.name} did not finish within {timeout:g} s "
                         "(stopped QEMU)")
    seconds = time.perf_counter() - start
    output = done.stdout + done.stderr
    fault = _FAULT.search(output)
    if fault:
        exception, pc, cfsr, hfsr = (int(g, 16) for g in fault.groups())
        return Ran(done.stdout, None, 0,
                   Fault(exception, pc, cfsr, hfsr, function_at(elf, pc)), seconds)
    status = _STATUS.search(done.stdout)
    if status is None:
        raise BoardError(f"QEMU ({board.name}) stopped without the status line "
                         f"(exit {done.returncode}): " + first_error(output))
    return Ran(done.stdout[:status.start()], int(status.group(1)), int(status.group(2)), None,
               seconds, counts(done.stderr) if counted else None)
