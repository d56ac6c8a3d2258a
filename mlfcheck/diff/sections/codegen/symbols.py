"""Entry points and the other file-scope items (#define, #include, typedefs), compared wherever
they are declared: the generated C or the interface header (numeric literals by value)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mlfcheck.diff.normalise import by_value
from mlfcheck.diff.result import Symbol
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.matching import Matching
from mlfcheck.diff.sections.codegen.section import change
from mlfcheck.diff.sections.common import Item
from mlfcheck.reading.csource import SymbolTable


def entry_points(tables: Sequence[SymbolTable]) -> dict[str, str]:
    """Entry points defined or declared in `tables`: name → folded signature."""
    out: dict[str, str] = {}
    for t in tables:
        out.update(t.entry_points())
    return out


def _broken(old: dict[str, str], new: dict[str, str], name: str) -> str | None:
    """How an entry point broke: 'removed', 'changed' (its signature), or None."""
    if name not in old:
        return None
    return "removed" if name not in new else \
        "changed" if by_value(old[name]) != by_value(new[name]) else None


def broken_in_both(old_h: SymbolTable | None, new_h: SymbolTable | None,
                   old_c: dict[str, str], new_c: dict[str, str]) -> frozenset[str]:
    """Entry points that broke the same way in the interface header and the generated C:
    one break, reported once."""
    if old_h is None or new_h is None or old_h.digest == new_h.digest:
        return frozenset()
    a, b = old_h.entry_points(), new_h.entry_points()
    return frozenset(n for n in a if n in old_c and _broken(a, b, n) is not None
                     and _broken(a, b, n) == _broken(old_c, new_c, n))


def entry_point_changes(old: dict[str, str], new: dict[str, str], m: Matching | None,
                        label: str, where: str, added: Rule, *,
                        skip: frozenset[str] = frozenset()) -> Iterator[Item]:
    """Entry points added (`added`), removed or changed (D409) in one place; those in `skip`
    are reported elsewhere."""
    came_from = {to: name for name, to in m.renames.items()} if m is not None else {}
    for name in sorted(set(new) - set(old)):
        was = came_from.get(name)
        yield change(rule=added, module=label, subject=f"entry point {name}", old=None,
                     new=Symbol("function", name, new[name]), reason=f"only in the new {where}"
                     + (f"; the same body was named {was}" if was else ""))
    for name in sorted(set(old) - skip):
        broken = _broken(old, new, name)
        if broken == "removed":
            to = m.renames.get(name) if m is not None else None
            yield change(rule=Rule.D409, module=label, subject=f"entry point {name}",
                         old=Symbol("function", name, old[name]), new=None,
                         reason=f"no longer in the {where}"
                         + (f"; the same body is now named {to}" if to else "")
                         + "; an application calling it no longer links")
        elif broken == "changed":
            yield change(rule=Rule.D409, module=label, subject=f"entry point {name}",
                         old=Symbol("function", name, old[name]),
                         new=Symbol("function", name, new[name]),
                         reason=f"its signature changed in the {where}; callers pass the old "
                         "arguments")


def other_items(old: Sequence[SymbolTable], new: Sequence[SymbolTable], label: str, where: str,
                *, skip_sizes: bool = False) -> Iterator[Item]:
    """#define, #include, typedefs and other file-scope items, compared as multisets (numbers by
    value; a change shows an item as one side spells it)."""
    spelled: dict[tuple[str, str], str] = {}

    def items(tables: Sequence[SymbolTable]) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for t in tables:
            keys = [(f"#define {x.name}", x.value) for x in t.macros
                    if not (skip_sizes and x.name.endswith("_SIZE"))]
            keys += [(o.kind.replace("preproc_", "#"), o.folded) for o in t.others]
            for subject, text in keys:
                key = (subject, by_value(text))
                spelled.setdefault(key, text)
                out[key] = out.get(key, 0) + 1
        return out
    a, b = items(old), items(new)
    for key in sorted(set(a) | set(b)):
        extra = b.get(key, 0) - a.get(key, 0)
        if extra:
            subject, text = key[0], spelled[key]
            yield change(rule=Rule.D412, module=label, subject=subject,
                         old=text if extra < 0 else None, new=text if extra > 0 else None,
                         reason=f"{'only in the old' if extra < 0 else 'only in the new'} {where}"
                         + (f" ({abs(extra)} times)" if abs(extra) > 1 else ""))
