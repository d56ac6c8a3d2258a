"""The top-level data of the generated C: declarations added, removed or retyped (a scalar and a
one-element array told apart), linked constants with other values, other initializers (numbers
by value), and registries that only list names in another order."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from mlfcheck.diff.normalise import CodeUnit, by_value, declared_array
from mlfcheck.diff.result import Count, Symbol
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.matching import Matching
from mlfcheck.diff.sections.codegen.section import change, note
from mlfcheck.diff.sections.common import Item, value_diff
from mlfcheck.diff.sections.excerpts import unified
from mlfcheck.reading.csource import Data

_NAME = re.compile(r"^(?:\([A-Za-z_]\w*\*?\))?&?([A-Za-z_]\w*)$")


def _names(d: Data, substitute: Callable[[str], str]) -> list[str] | None:
    """The names a registry-like initializer lists (function pointers, a NUL-separated name
    string), sorted; None when it lists anything else."""
    if d.initializer is None or not d.initializer.startswith("{"):
        return None
    body = substitute(d.initializer[1:-1]).rstrip(",")
    out: list[str] = []
    for element in body.split(",") if body else []:
        found = _NAME.match(element)
        if found:
            out.append(found.group(1))
        elif element.startswith('"') and element.endswith('"') and "\\000" in element:
            text = re.sub(r'^"\\\d{3}', "", element)[:-1]
            out += [n for n in text.split("\\000") if n]
        else:
            return None
    return sorted(out)


def data(old: CodeUnit, new: CodeUnit, m: Matching, label: str) -> Iterator[Item]:
    """Every data symbol by name: added, removed, retyped, other values or initializer; a note
    counts those that only list the same names in another order."""
    reordered = 0
    for key in sorted(set(old.data) | set(new.data)):
        a, b = old.data.get(key), new.data.get(key)
        if a is None or b is None:
            d = a or b
            assert d is not None
            yield change(rule=Rule.D408, module=label, subject=f"data {key}",
                         old=_data_symbol(a, old) if a else None,
                         new=_data_symbol(b, new) if b else None,
                         reason=f"defined only in the {'old' if a else 'new'} code ({d.file})")
            continue
        if _shape(a, old) != _shape(b, new):
            yield change(rule=Rule.D408, module=label, subject=f"data {key}",
                         old=_data_symbol(a, old), new=_data_symbol(b, new),
                         reason="its type, element count or storage changed")
            continue
        if a.has_members or a.value_digest == b.value_digest:
            continue
        if a.initializer is not None and b.initializer is not None and \
                by_value(m.substitute(a.initializer)) == by_value(b.initializer):
            continue
        x, y = a.values(), b.values()
        if x is not None and y is not None and len(x) == len(y):
            yield change(rule=Rule.D411, module=label, subject=f"constant {key}",
                         old=Count(len(x), "element"), new=Count(len(y), "element"),
                         reason="the linked values differ, so the model computes something "
                         "different", values=value_diff(x, y))
            continue
        names_a, names_b = _names(a, m.substitute), _names(b, lambda t: t)
        if names_a is not None and names_a == names_b:
            reordered += 1
            continue
        yield change(rule=Rule.D408, module=label, subject=f"data {key}",
                     old=_data_symbol(a, old), new=_data_symbol(b, new),
                     reason="its initializer differs",
                     details=unified(m.substitute(a.initializer or ""), b.initializer or "", key)
                     if a.initializer and b.initializer else ())
    if reordered:
        yield note(module=label, kind="ordering", text=f"{reordered} declaration(s) list the "
                   "same names in a different order (ordering only, not a change)")


def _shape(d: Data, unit: CodeUnit) -> tuple[object, ...]:
    """What declares the data's type: element type, count, storage (numbers by value), and for
    one element whether it is an array."""
    return (d.type, d.count, tuple(by_value(s) for s in d.storage),
            d.count == 1 and declared_array(d, unit))


def _data_symbol(d: Data, unit: CodeUnit) -> Symbol:
    """The data as declared: storage, element type and, for an array, its element count (a
    one-element array is `T[1]`, not a scalar)."""
    array = d.count is not None and (d.count != 1 or declared_array(d, unit))
    return Symbol("data", d.name, " ".join((*d.storage, d.type + (f"[{d.count}]" if array
                                                                  else ""))))
