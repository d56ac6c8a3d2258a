"""diff --board: both archives' C compiled for one board, compared symbol by symbol, and run.

The per-symbol table (flash and RAM, old → new: `BoardDiff` of mlfcheck.diff.result) is a fact
for reporters; the totals of the archive's own symbols become memory-section changes under the
'flash' and 'ram' growth thresholds. Each archive's entry point is also called once on the board
and counted in QEMU (`mlfcheck size --run`): the instructions per inference, under the
'instructions' threshold, when both sides ran; a note says why when either did not.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlfcheck.board.boards import Board
from mlfcheck.board.containment import OverLimit, Refused
from mlfcheck.board.crossbuild import toolchain
from mlfcheck.board.footprint import Counted, Footprint, footprint
from mlfcheck.consumers.evaluate import count_on_board
from mlfcheck.diff.building import no_longer_builds
from mlfcheck.diff.config import BOARD_THRESHOLDS, Threshold
from mlfcheck.diff.result import BoardDiff, Change, Count, Note, Size, SymbolDelta
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections import memory
from mlfcheck.errors import MlfcheckError


def _failed(exc: MlfcheckError) -> str:
    return "was not built" if isinstance(exc, (Refused, OverLimit)) else "does not compile"


def _by_name(fp: Footprint) -> dict[str, tuple[str, int, int]]:
    out: dict[str, tuple[str, int, int]] = {}
    for s in fp.symbols:
        kind, flash, ram = out.get(s.name, (s.kind, 0, 0))
        out[s.name] = (kind, flash + s.flash, ram + s.ram)
    return out


def compare_on_board(old_path: str, new_path: str, board: Board,
                     thresholds: Mapping[str, Threshold],
                     ) -> tuple[BoardDiff | None, list[Change | Note]]:
    """Size both archives for `board`; the table and the D211-D214 changes. When the old
    archive's C does not build for the board (a compile error, files outside the archive, a
    limit), a note says so; when only the new one's does not, that is D417 (breaking). Raises
    BoardError when the toolchain is missing."""
    toolchain(run=False)
    try:
        old = footprint(old_path, board)
    except MlfcheckError as exc:
        return None, [memory.note(module="", kind="skipped", text=f"--board {board.name}: "
                                  f"the old archive's C {_failed(exc)}: {exc}")]
    try:
        new = footprint(new_path, board)
    except MlfcheckError as exc:  # it built before: breaking, never a note
        return None, list(no_longer_builds([], [f"{_failed(exc)}: {exc}"],
                                           where=f"for {board.name}"))
    a, b = _by_name(old), _by_name(new)
    rows = [SymbolDelta(name, (b.get(name) or a[name])[0], *_pair(a, b, name))
            for name in sorted(set(a) | set(b))]
    changed = sorted((r for r in rows if (r.old_flash, r.old_ram) != (r.new_flash, r.new_ram)),
                     key=lambda r: (-abs(r.new_flash + r.new_ram - r.old_flash - r.old_ram),
                                    r.name))
    table = BoardDiff(board, old.flash, new.flash, old.ram, new.ram, tuple(changed))
    limits = {**BOARD_THRESHOLDS, **thresholds}
    items: list[Change | Note] = []
    for metric, before, after, over_rule, rule in (
            ("flash", old.flash, new.flash, Rule.D211, Rule.D212),
            ("ram", old.ram, new.ram, Rule.D213, Rule.D214)):
        if before == after:
            continue
        over, why = limits[metric].judge(metric, before, after)
        items.append(memory.change(rule=over_rule if over else rule, module="",
                                   subject=f"{metric} on {board.name}", old=Size(before),
                                   new=Size(after), reason=why, threshold=str(limits[metric])))
    items += _instructions(count_on_board(old_path, board.name),
                           count_on_board(new_path, board.name), board, limits["instructions"])
    return table, items


def _instructions(old: Counted, new: Counted, board: Board,
                  threshold: Threshold) -> list[Change | Note]:
    """D215/D216 when both entry points ran and their counts differ; a note when one did not."""
    subject = f"instructions per inference on {board.name}"
    if old.instructions is None or new.instructions is None:
        which = "old" if old.instructions is None else "new"
        why = (old if which == "old" else new).not_run
        return [memory.note(module="", kind="skipped",
                            text=f"--board {board.name}: {subject} not compared: the {which} "
                                 f"archive's {old.entry} did not run ({why})")]
    if old.instructions == new.instructions:
        return []
    over, why = threshold.judge("instructions", old.instructions, new.instructions)
    return [memory.change(rule=Rule.D215 if over else Rule.D216, module="", subject=subject,
                          old=Count(old.instructions, "instruction"),
                          new=Count(new.instructions, "instruction"), reason=why,
                          threshold=str(threshold))]


def _pair(a: dict[str, tuple[str, int, int]], b: dict[str, tuple[str, int, int]],
          name: str) -> tuple[int, int, int, int]:
    _, old_flash, old_ram = a.get(name, ("", 0, 0))
    _, new_flash, new_ram = b.get(name, ("", 0, 0))
    return old_flash, new_flash, old_ram, new_ram
