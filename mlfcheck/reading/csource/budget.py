"""What reading C may cost, counted in steps so the count is the same on every machine.

A step is 100 operations of the tree-sitter parser (it calls the progress callback once per
100); each symbol the reader keeps counts `SYMBOL_STEPS`. One parse (a piece, or a file read
whole) may take at most `Budget.parse_steps`: the memory a parse takes grows with its steps (at
worst about 27 KB a step, for input nested deeply without closing), so that cap bounds memory.
All the C of one archive may take at most `Budget.steps`, where a parse that found a syntax
error counts each of its steps `ERROR_WEIGHT` times (tree-sitter's error recovery takes up to
15 times as long a step as a clean parse), so that budget bounds time, and the symbols kept for
the rest of the run. Real TVM C takes 5-18 steps a KiB and at most a few hundred a parse; the
4,000-file benchmark about 650,000 in all.

A `Meter` holds what one archive has spent, so each archive is counted on its own even when one
parser (and its piece cache) serves several.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR_WEIGHT = 64
"""How many times a step counts in a parse that found a syntax error."""
PARSE_STEP = 2
"""What starting one parse counts (its fixed cost: a parser, a reader, a table)."""
SYMBOL_STEPS = 16
"""What each symbol (a function, a variable, a macro, any other top-level item) counts: the
reader's work on it, and the memory it keeps (about 1 KB) until the run ends."""


@dataclass(frozen=True)
class Budget:
    """The most steps reading C may take: one parse, and all of one archive's C."""

    parse_steps: int = 8192
    """Most steps of one parse (one top-level item, or a whole file read again)."""
    steps: int = 1_000_000
    """Most steps of all the C of one archive, a parse with a syntax error counting each of
    its steps `ERROR_WEIGHT` times."""

    @classmethod
    def unlimited(cls) -> Budget:
        """No limit that any input could reach."""
        return cls(parse_steps=1 << 62, steps=1 << 62)


def cost(steps: int, broken: bool) -> int:
    """What a parse of `steps` steps counts against the archive's budget."""
    return steps * ERROR_WEIGHT if broken else steps


class Meter:
    """The steps one archive's C has counted so far against its budget."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.spent = 0
        """Steps counted so far (the file that passed the budget included)."""
        self.exhausted = False
        """True once a file passed the budget: no later file is read."""

    @property
    def left(self) -> int:
        """Steps still allowed."""
        return max(0, self.budget.steps - self.spent)

    def cap(self) -> int:
        """The most steps the next parse may take: its own cap, or what is left if less."""
        return max(1, min(self.budget.parse_steps, self.left))


@dataclass(frozen=True)
class Unread:
    """Why a C file was not read: a limit it would pass, said in one line that names the
    option that raises it."""

    reason: str
