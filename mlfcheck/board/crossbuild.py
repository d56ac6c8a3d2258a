"""Cross builds for a board: find the Arm toolchain and QEMU, compile, link, run with semihosting.

Everything runs in a folder the caller owns (a temporary one); nothing is written elsewhere. A
missing tool is a BoardError naming the Debian package; a compile error or a run that does not
finish in time is a BoardError too. A link that overflows a region, and a fault in the run, are
results: they say something about the model, not about the machine.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlfcheck import children
from mlfcheck.board import boards
from mlfcheck.board.boards import Board, Region
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
COMPILER_LIMITS = children.Limits(seconds=600.0, memory_bytes=2 * 1024**3,
                                  file_bytes=256 * 1024**2, cpu_seconds=600)
"""What one compiler or linker run may use (the C it compiles may be untrusted): ten minutes
(of wall clock and of CPU, so a compiler whose caller was killed still ends), 2 GiB of address
space, files up to 256 MiB."""
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
    """Paths of the cross compiler and (when a run is wanted) of QEMU."""

    gcc: str
    qemu: str | None


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
    return Toolchain(gcc, qemu)


def compile_objects(tools: Toolchain, board: Board, sources: Sequence[Path],
                    includes: Sequence[Path], out: Path, *,
                    extra: Sequence[str] = ()) -> list[Path]:
    """Compile each source for `board` into `out`, one object per source, in order."""
    flags = [*board.cpu_flags, *SIZE_FLAGS, *extra, *_include_flags(includes)]
    objects = []
    for i, source in enumerate(sources):
        obj = out / f"{i:03d}-{source.stem}.o"
        done = children.run([tools.gcc, *flags, "-c", str(source), "-o", str(obj)],
                            limits=COMPILER_LIMITS)
        if not done.ok:
            missing = [] if done.timed_out else missing_headers(tools, board, sources, includes)
            if missing:
                raise BoardError("headers not found in the archive or the include paths: "
                                 + ", ".join(missing))
            raise BoardError(f"{source.name} does not compile for {board.name}: "
                             + tool_error(done))
        objects.append(obj)
    return objects


def missing_headers(tools: Toolchain, board: Board, sources: Sequence[Path],
                    includes: Sequence[Path]) -> list[str]:
    """Headers the sources include that no include path provides, sorted."""
    flags = [*board.cpu_flags, *_include_flags(includes), "-M", "-MG"]
    missing: set[str] = set()
    for source in sources:
        done = children.run([tools.gcc, *flags, str(source)], limits=COMPILER_LIMITS,
                            cwd=source.parent)
        deps = done.stdout.replace("\\\n", " ").partition(":")[2].split()
        missing.update(d for d in deps[1:] if not (source.parent / d).exists())
    return sorted(missing)


def _include_flags(includes: Sequence[Path]) -> list[str]:
    """-I flags with absolute paths (dependency lists then name found headers absolutely)."""
    return [f"-I{d.resolve()}" for d in includes]


def link(tools: Toolchain, board: Board, objects: Sequence[Path], elf: Path,
         ) -> tuple[Overflow, ...]:
    """Link the objects with the board's startup code and linker script into `elf`.

    Returns the regions the image overflows (then there is no image); BoardError for any
    other link failure."""
    work = elf.parent
    startup = work / "mlfcheck_startup.c"
    script = work / "mlfcheck.ld"
    startup.write_text(boards.startup_source(board))
    script.write_text(boards.linker_script(board))
    cmd = [tools.gcc, *board.cpu_flags, *SIZE_FLAGS, *LINK_FLAGS, f"-T{script}",
           *map(str, objects), str(startup), "-o", str(elf), "-lm"]
    done = children.run(cmd, limits=COMPILER_LIMITS)
    if done.ok:
        return ()
    regions = {r.name: r for r in board.regions}
    found = {m.group(1): int(m.group(2)) for m in _OVERFLOW.finditer(done.stderr)}
    if found and set(found) <= set(regions) and not done.timed_out:
        return tuple(Overflow(regions[name], by) for name, by in sorted(found.items()))
    raise BoardError(f"the image for {board.name} does not link: {tool_error(done)}")


def run(tools: Toolchain, board: Board, elf: Path, *, timeout: float = RUN_TIMEOUT) -> Ran:
    """Run `elf` on `board` in QEMU with semihosting (files relative to the ELF's folder)."""
    from mlfcheck.board.elfsize import function_at

    assert tools.qemu is not None, "toolchain(run=True) finds QEMU"
    cmd = [tools.qemu, "-M", board.name, "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
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
               seconds)


def first_error(text: str) -> str:
    """The first line of tool output that says 'error', else its first line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return next((ln for ln in lines if "error" in ln), lines[0] if lines else "no output")


def tool_error(done: children.Ran) -> str:
    """Why a compiler or linker run failed, in one line: it ran past its time limit, or the
    first line of its stderr that says 'error' (else its first line)."""
    if done.timed_out:
        return f"{Path(done.argv[0]).name} did not finish within {done.seconds:.0f} s (stopped)"
    return first_error(done.stderr)
