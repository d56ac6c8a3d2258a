"""--verify --board: build the archive for a Cortex-M board, run it in QEMU, compare, measure.

The same driver as the host --verify (seeded inputs read from in.bin, outputs written to
out.bin, now through semihosting) is compiled with the archive's own files for the board, linked
with mlfcheck's startup code and linker script, and run in QEMU. The outputs are compared with
TVM's reference under the host verify's rules (a stateful model over the same consecutive calls
from its reset state); the image's flash and static RAM (whole, and the
archive's own symbols) come from the ELF, the peak stack from the painted stack.
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck.board import containment, crossbuild, elfsize, icount
from mlfcheck.board.boards import Board
from mlfcheck.board.containment import Tree
from mlfcheck.board.crossbuild import Fault, Overflow, Toolchain
from mlfcheck.board.elfsize import ImageSize
from mlfcheck.errors import BoardError, ExportError
from mlfcheck.export.frontends import Imported
from mlfcheck.export.plan import Plan
from mlfcheck.export.reference import joined
from mlfcheck.export.stages import stage
from mlfcheck.export.verify import (
    calls_of,
    decode_calls,
    driver_source,
    max_abs_errors,
    random_inputs,
    reference_calls,
)

STRICT = ("-std=c11", "-Wall", "-Werror")
"""The archive builds for the board under the same warnings policy as on the host."""


@dataclass(frozen=True)
class BoardVerification:
    """How the archive built, fitted and ran on one board."""

    board: Board
    overflows: tuple[Overflow, ...]
    """Regions the image does not fit; then nothing ran and the fields below are empty."""
    size: ImageSize | None
    fault: Fault | None
    max_abs_error: dict[str, float]
    tolerance: float
    stack_peak: int
    """Bytes of stack the run used (the painted high-water mark, startup included)."""
    stack_room: int
    """Bytes between the top of the heap and the end of RAM, all the stack there is."""
    build_seconds: float
    run_seconds: float
    instructions: int | None = None
    """Instructions one call of the entry point executed (the larger of the driver's two
    runs), counted in QEMU; None when nothing ran."""

    @property
    def ok(self) -> bool:
        """Fits, ran without a fault or stack overflow, every output within the tolerance."""
        return (not self.overflows and self.fault is None and self.stack_peak < self.stack_room
                and all(err <= self.tolerance for err in self.max_abs_error.values()))


def archive_sources(root: Path) -> tuple[list[Path], list[Path]]:
    """(C sources, include folders) of an unpacked archive: codegen/host and runtime/."""
    sources = sorted((root / "codegen/host/src").glob("*.c"))
    sources += sorted((root / "runtime/src").glob("*.c"))
    includes = [d for d in (root / "codegen/host/include", root / "runtime/include") if d.is_dir()]
    return sources, includes


def verify_on_boards(archive: Path, imported: Imported, plan: Plan, name: str,
                     targets: Sequence[Board], *, link_params: bool, tolerance: float,
                     timeout: float = crossbuild.RUN_TIMEOUT) -> tuple[BoardVerification, ...]:
    """Build, run and compare one archive on each board, against one reference run of TVM."""
    tools = toolchain()
    inputs = [random_inputs(plan.inputs, k) for k in range(calls_of(plan))]
    with stage("verify"):
        want = reference_calls(imported, plan, inputs)
    with tempfile.TemporaryDirectory(prefix="mlfcheck-board-") as tmp:
        root = Path(tmp)
        with tarfile.open(archive) as tar:
            tar.extractall(root / "archive", filter="data")
        sources, includes = archive_sources(root / "archive")
        driver = root / "mlfcheck_driver.c"
        driver.write_text(driver_source(plan, name, link_params=link_params,
                                        calls=len(inputs)))
        tree = Tree(root / "archive", own=root)
        try:
            plugin = icount.build(root)
        except BoardError as exc:
            raise ExportError("verify", str(exc)) from None
        counting = _Counting(root / "mlfcheck_count.c", icount.wrap(f"tvmgen_{name}_run"),
                             plugin)
        counting.source.write_text(counting.wrap.source)
        return tuple(_on_board(tools, b, tree, sources, includes, driver, counting, plan,
                               inputs, want, tolerance, timeout) for b in targets)


@dataclass(frozen=True)
class _Counting:
    """How a board run counts the entry point's instructions: the trampoline's source file,
    its link flags and the QEMU plugin."""

    source: Path
    wrap: icount.Wrap
    plugin: icount.Plugin


def toolchain() -> Toolchain:
    """The cross toolchain and QEMU, or ExportError at the verify stage naming the package."""
    try:
        return crossbuild.toolchain(run=True)
    except BoardError as exc:
        raise ExportError("verify", str(exc)) from None


def _on_board(tools: Toolchain, board: Board, tree: Tree, sources: list[Path],
              includes: list[Path], driver: Path, counting: _Counting, plan: Plan,
              inputs: list[list[Any]], want: list[list[Any]], tolerance: float,
              timeout: float) -> BoardVerification:
    """Build (contained: the archive's files, the driver and its counting trampoline, and the
    compiler's own headers only), link, run (counted) and compare on one board, in a folder of
    its own under the tree's."""
    assert tree.own is not None
    work = tree.own / board.name
    work.mkdir()
    start = time.perf_counter()
    elf = work / "model.elf"
    try:
        own = crossbuild.compile_objects(tools, board, sources, includes, work, extra=STRICT,
                                         tree=tree)
        drv = crossbuild.compile_objects(tools, board, [driver], includes, work, extra=STRICT,
                                         tree=tree)
        drv += crossbuild.compile_objects(tools, board, [counting.source], [], work, tree=tree)
        overflows = crossbuild.link(tools, board, [*own, *drv], elf, tree=tree,
                                    flags=counting.wrap.link_flags)
        build_seconds = time.perf_counter() - start
        if overflows:
            return BoardVerification(board, overflows, None, None, {}, tolerance, 0, 0,
                                     build_seconds, 0.0)
        (work / "in.bin").write_bytes(b"".join(x.tobytes() for call in inputs for x in call))
        ran = crossbuild.run(tools, board, elf, timeout=timeout, plugin=counting.plugin)
    except BoardError as exc:
        raise ExportError("verify", f"{board.name}: {exc}") from None
    size = elfsize.image_size(elf, own)
    marks = elfsize.symbol_values(elf, ("__stack_bottom", "__stack_top"))
    room = marks["__stack_top"] - marks["__stack_bottom"]
    if ran.fault is not None:
        return BoardVerification(board, (), size, ran.fault, {}, tolerance, 0, room,
                                 build_seconds, ran.seconds)
    if ran.exit_code != 0:
        raise ExportError("verify", f"{board.name}: the built model failed (exit "
                          f"{ran.exit_code}): {containment.first_error(ran.stdout)}")
    got = decode_calls(plan, (work / "out.bin").read_bytes(), len(inputs))
    return BoardVerification(board, (), size, None,
                             max_abs_errors(plan, joined(got), joined(want)), tolerance,
                             ran.stack_peak, room, build_seconds, ran.seconds,
                             max(ran.counts.windows, default=None) if ran.counts else None)
