"""The instruction counter (board/icount.py) on programs whose instruction counts are known."""

from __future__ import annotations

from pathlib import Path

import pytest
from board_helpers import require_toolchain

from mlfcheck.board import boards, crossbuild, icount
from mlfcheck.errors import BoardError

pytestmark = pytest.mark.board

PROGRAM = icount.MARKER_SOURCE + """
__attribute__((noinline)) void spin(int n) {
  __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(n));
}
int main(void) {
  int n;
  for (n = 1000; n <= 3000; n += 1000) {
    mlfcheck_count_begin();
    spin(n);
    mlfcheck_count_end();
  }
  return 0;
}
"""


def _image(tmp_path: Path, source: str, board: str = "mps2-an386") -> Path:
    tools = require_toolchain()
    target = boards.board(board)
    (tmp_path / "app.c").write_text(source)
    objects = crossbuild.compile_objects(tools, target, [tmp_path / "app.c"], [], tmp_path)
    assert crossbuild.link(tools, target, objects, tmp_path / "app.elf") == ()
    return tmp_path / "app.elf"


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an505"])
def test_windows_count_the_instructions_that_ran(tmp_path: Path, board: str) -> None:
    """A loop of two instructions run n times (n = 1000, 2000, 3000): each window is 2n plus
    the call's and the markers' own few instructions, the same few in every window but for the
    block boundaries QEMU happens to draw (one instruction)."""
    elf = _image(tmp_path, PROGRAM, board)
    plugin = icount.build(tmp_path)
    ran = crossbuild.run(require_toolchain(), boards.board(board), elf, plugin=plugin)
    assert ran.exit_code == 0 and ran.counts is not None
    windows = ran.counts.windows
    assert len(windows) == 3
    overhead = [w - 2000 * n for n, w in enumerate(windows, 1)]
    assert all(2 <= o <= 8 for o in overhead), overhead
    assert max(overhead) - min(overhead) <= 1, overhead
    assert ran.counts.total > sum(windows)


CALLEE = """
__attribute__((noinline)) int work(int a, int b, int c, int d, int e, int f) {
  int n = a;
  __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(n));
  return b + c + d + e + f;
}
"""
CALLER = """
int work(int a, int b, int c, int d, int e, int f);
int main(void) {
  int n, sum = 0;
  for (n = 1000; n <= 3000; n += 1000) sum += work(n, 1, 2, 3, 4, 5);
  return sum == 45 ? 0 : 1;
}
"""


def test_a_wrapped_function_is_counted_with_its_arguments_intact(tmp_path: Path) -> None:
    """`wrap('work')` counts each call of a function of six arguments (two on the stack)
    without a change to its caller; the program's own check of the results passes."""
    tools = require_toolchain()
    board = boards.board("mps2-an386")
    counted = icount.wrap("work")
    for name, text in (("callee.c", CALLEE), ("caller.c", CALLER), ("wrap.c", counted.source)):
        (tmp_path / name).write_text(text)
    objects = crossbuild.compile_objects(
        tools, board, [tmp_path / n for n in ("callee.c", "caller.c", "wrap.c")], [], tmp_path)
    elf = tmp_path / "app.elf"
    assert crossbuild.link(tools, board, objects, elf, flags=counted.link_flags) == ()
    ran = crossbuild.run(tools, board, elf, plugin=icount.build(tmp_path))
    assert ran.exit_code == 0 and ran.counts is not None
    overhead = [w - 2000 * n for n, w in enumerate(ran.counts.windows, 1)]
    assert len(overhead) == 3 and all(0 < o <= 24 for o in overhead), overhead
    assert max(overhead) - min(overhead) <= 1, overhead


def test_only_identifiers_are_wrapped() -> None:
    with pytest.raises(ValueError, match="not a C identifier"):
        icount.wrap("run\\n  bx lr")


def test_a_program_without_markers_runs_uncounted(tmp_path: Path) -> None:
    elf = _image(tmp_path, "int main(void) { return 0; }\n")
    ran = crossbuild.run(require_toolchain(), boards.board("mps2-an386"), elf,
                         plugin=icount.build(tmp_path))
    assert ran.exit_code == 0 and ran.counts is None


def test_no_count_line_is_one_clear_error() -> None:
    with pytest.raises(BoardError, match="did not load the instruction counter"):
        icount.counts("qemu-system-arm: -plugin: unknown option\n")


USER_APP = """
#include <stdint.h>
#include "tvmgen_default.h"
static float in[3 * 16 * 16], out[10];
int main(void) {
  struct tvmgen_default_inputs inputs = {in};
  struct tvmgen_default_outputs outputs = {out};
  return tvmgen_default_run(&inputs, &outputs);
}
"""


@pytest.mark.tvm
def test_a_harness_on_a_board_counts_the_archive_entry_point(tmp_path: Path) -> None:
    """`compat --harness app.c --board B --run`: the user's own program, unchanged, is counted
    at the archive's tvmgen_default_run; the same count as the export's own board check."""
    pytest.importorskip("tvm")
    require_toolchain()
    from mlfcheck.api import compat_harness
    from mlfcheck.consumers.harness import UserHarness
    from mlfcheck.export import export_model

    result = export_model("default", tmp_path / "d.tar", epoch=1700000000, verify=True,
                          boards=[boards.board("mps2-an386")])
    app = tmp_path / "app.c"
    app.write_text(USER_APP)
    verdict = compat_harness(tmp_path / "d.tar", UserHarness((app,), board="mps2-an386",
                                                             run=True))
    assert verdict.proof is not None and verdict.level == "runs", verdict.proof
    (checked,) = result.board_runs
    assert checked.instructions is not None
    assert verdict.proof.instructions is not None
    # Both count the same entry point on the same board; inputs differ (the float model's
    # kernels have no data-dependent branches worth a 1% difference).
    assert abs(verdict.proof.instructions - checked.instructions) <= checked.instructions // 100
    from mlfcheck.reporters.compat import level_line

    assert level_line(verdict).endswith(
        f"in QEMU; {verdict.proof.instructions} instructions per inference)")
