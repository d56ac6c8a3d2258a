"""How the functions of two code units correspond: by name, then renamed functions paired by
body, to a fixed point."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mlfcheck.diff.normalise import CodeUnit


def _substituter(renames: dict[str, str]) -> Callable[[str], str]:
    if not renames:
        return lambda text: text
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(renames, key=len,
                                                                     reverse=True))) + r")\b")
    return lambda text: pattern.sub(lambda m: renames[m.group(1)], text)


@dataclass(frozen=True)
class Matching:
    """How the functions of two code units correspond."""

    renames: dict[str, str]
    """Old name → new name, for functions whose bodies match."""
    changed: tuple[str, ...]
    """Names on both sides whose bodies differ (after substituting renamed callees)."""
    removed: tuple[str, ...]
    added: tuple[str, ...]
    substitute: Callable[[str], str]
    """Rewrites old text with the new names of renamed functions."""


def match_functions(old: CodeUnit, new: CodeUnit) -> Matching:
    """Compare by name, then pair removed with added functions by body, to a fixed point.

    Each round substitutes the renames found so far into the old bodies, so a caller whose
    only difference is a renamed callee is unchanged and a chain of renames is found.
    """
    differ = [n for n in old.functions if n in new.functions
              and old.functions[n].raw != new.functions[n].raw
              and old.functions[n].folded != new.functions[n].folded]
    removed = [n for n in old.functions if n not in new.functions]
    added = {n for n in new.functions if n not in old.functions}
    # byte-identical functions are unchanged: fold only the rest (most of a re-export is equal)
    new_canon = {n: new.functions[n].canonical for n in (*differ, *added)}
    old_canon = {n: old.functions[n].canonical for n in (*differ, *removed)}
    renames: dict[str, str] = {}
    current = old_canon
    substitute = _substituter(renames)
    while True:
        pool: dict[str, list[str]] = {}
        for n in sorted(added - set(renames.values())):
            pool.setdefault(new_canon[n], []).append(n)
        found = False
        for n in sorted(r for r in removed if r not in renames):
            candidates = pool.get(current[n])
            if candidates:
                renames[n] = candidates.pop(0)
                found = True
        if not found:
            break
        substitute = _substituter(renames)
        current = {n: substitute(c) for n, c in old_canon.items()}
    taken = set(renames.values())
    return Matching(
        renames,
        tuple(sorted(n for n in differ if current[n] != new_canon[n])),
        tuple(sorted(n for n in removed if n not in renames)),
        tuple(sorted(added - taken)),
        substitute)
