"""How the functions of two code units correspond: by name, then renamed functions paired by
body (numeric literals by value, a TVM-FFI wrapper's own name wherever its body spells it), to a
fixed point; made once per module pair. The IR text follows the renames too."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mlfcheck.diff.normalise import CodeUnit, by_value
from mlfcheck.diff.sections.common import Pair
from mlfcheck.reading.csource import Function
from mlfcheck.reading.model import Module

FFI_PREFIX = "__tvm_ffi_"
"""TVM-FFI's symbol prefix: `__tvm_ffi_<name>` wraps the function TVM calls <name>, and its
body spells <name> in error strings and in local names (`<name>_x_shape`)."""


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


def canonical(fn: Function) -> tuple[str, ...]:
    """The forms renamed copies of one body share, numeric literals spelled by value: the
    folded definition with its own name as `@self`; for a TVM-FFI wrapper also with the name it
    wraps as `@self` wherever it starts a token or a word of a string (a kernel renamed
    everywhere). The first form alone decides whether a function kept its body."""
    plain = by_value(fn.canonical)  # names keep their digits: by_value reads numbers only
    stem = fn.name.removeprefix(FFI_PREFIX)
    if stem == fn.name or not stem:
        return (plain,)
    return plain, re.sub(rf"(?<!\w){re.escape(stem)}", "@self", plain)


def matching(p: Pair, old_m: Module, new_m: Module) -> Matching:
    """The functions of one module pair matched (`match_functions`), once per pair: the codegen
    section reports them, the memory section follows their renames."""
    key = ("functions", old_m.name, new_m.name)
    found = p.memo.get(key)
    if not isinstance(found, Matching):
        found = p.memo[key] = match_functions(p.old.code(old_m), p.new.code(new_m))
    return found


def ir_texts(p: Pair, old_m: Module, new_m: Module) -> tuple[str | None, str | None]:
    """Both modules' IR texts (normalised), the old one with the functions the generated C
    renamed renamed too: TVM calls a kernel <name> in the IR and tvmgen_<m>_<name> (or
    __tvm_ffi_tvmgen_<m>_<name>) in C."""
    a, b = p.old.ir_text(old_m), p.new.ir_text(new_m)
    if a is None or b is None or a == b:
        return a, b
    def ir_name(symbol: str, module: str) -> str:
        return symbol.removeprefix(FFI_PREFIX).removeprefix(f"tvmgen_{module}_")
    renames = {ir_name(x, old_m.name): ir_name(y, new_m.name)
               for x, y in matching(p, old_m, new_m).renames.items()}
    return _substituter({x: y for x, y in renames.items() if x and y})(a), b


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
    new_canon = {n: canonical(new.functions[n]) for n in (*differ, *added)}
    old_canon = {n: canonical(old.functions[n]) for n in (*differ, *removed)}
    renames: dict[str, str] = {}
    current = old_canon
    substitute = _substituter(renames)
    while True:
        pool: dict[str, list[str]] = {}
        for n in sorted(added - set(renames.values())):
            for form in dict.fromkeys(new_canon[n]):
                pool.setdefault(form, []).append(n)
        taken, before = set(renames.values()), len(renames)
        for n in sorted(r for r in removed if r not in renames):
            to = next((c for form in current[n] for c in pool.get(form, ()) if c not in taken),
                      None)
            if to is not None:
                renames[n] = to
                taken.add(to)
        if len(renames) == before:
            break
        substitute = _substituter(renames)
        current = {n: tuple(substitute(f) for f in forms) for n, forms in old_canon.items()}
    taken = set(renames.values())
    return Matching(
        renames,
        tuple(sorted(n for n in differ if current[n][0] != new_canon[n][0])),
        tuple(sorted(n for n in removed if n not in renames)),
        tuple(sorted(added - taken)),
        substitute)
