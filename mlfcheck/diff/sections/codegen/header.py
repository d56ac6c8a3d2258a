"""The interface header codegen/host/include/tvmgen_<m>.h as a C API: its structs and their
members, *_SIZE macros (numbers by value; v8's workspace and constants macros as other items),
entry-point prototypes and other file-scope items."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlfcheck.diff.normalise import by_value
from mlfcheck.diff.result import Count, Size, Symbol
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.section import change
from mlfcheck.diff.sections.codegen.symbols import entry_point_changes, other_items
from mlfcheck.diff.sections.common import Item
from mlfcheck.reading.csource import SymbolTable

ARCHIVE_SIZED = re.compile(r"_(?:WORKSPACE|CONSTANTS)_SIZE$")
"""v8's size macros of what the archive defines itself, the workspace array and the constants
(docs/mlf-v8.md): no consumer sizes a buffer with them, so a new value is D412, not D415."""


def header(old: SymbolTable | None, new: SymbolTable | None, label: str, *,
           skip: frozenset[str], v8: bool) -> Iterator[Item]:
    """The C API of codegen/host/include/tvmgen_<m>.h: structs, *_SIZE macros, entry points
    (but those in `skip`, which broke in the generated C too); `v8` when both archives are
    v8, whose workspace and constants macros size arrays the archive defines."""
    if old is None and new is None:
        return
    if new is None:
        assert old is not None
        yield change(rule=Rule.D804, module=label, subject=old.path, old=Size(old.size),
                     new=None, reason="application code that includes it no longer compiles")
        return
    if old is None:
        yield change(rule=Rule.D414, module=label, subject=new.path, old=None,
                     new=Size(new.size), reason="only the new archive has an interface header")
        return
    if old.digest == new.digest:
        return
    yield from _structs(old, new, label)
    old_sizes, new_sizes = old.size_macros(), new.size_macros()
    for name in sorted(set(old_sizes) | set(new_sizes)):
        a, b = old_sizes.get(name), new_sizes.get(name)
        if a == b or (a is not None and b is not None and by_value(a) == by_value(b)):
            continue
        if a is None:
            yield change(rule=Rule.D412, module=label, subject=f"#define {name}", old=None, new=b,
                         reason="a new size macro")
        elif v8 and b is not None and ARCHIVE_SIZED.search(name):
            yield change(rule=Rule.D412, module=label, subject=f"#define {name}", old=a, new=b,
                         reason="it sizes an array the archive defines itself, not a buffer of "
                         "the application's; the memory section reports the size")
        else:
            yield change(rule=Rule.D415, module=label, subject=f"#define {name}", old=a, new=b,
                         reason="buffers sized with it no longer fit" if b is not None else
                         "code that sizes buffers with it no longer compiles")
    yield from entry_point_changes(old.entry_points(), new.entry_points(), None, label,
                                   "interface header", Rule.D414, skip=skip)
    yield from other_items([old], [new], label, "interface header", skip_sizes=True)


def _structs(old: SymbolTable, new: SymbolTable, label: str) -> Iterator[Item]:
    for s in old.structs:
        twin = new.struct(s.name)
        if twin is None:
            yield change(rule=Rule.D413, module=label, subject=f"struct {s.name}",
                         old=Count(len(s.members), "member"), new=None,
                         reason="the struct is gone from the interface header")
            continue
        a = {x.name: x.type for x in s.members}
        b = {x.name: x.type for x in twin.members}
        gone = [n for n in a if n not in b]
        added = [n for n in b if n not in a]
        for name in gone:
            same = [n for n in added if by_value(b[n]) == by_value(a[name])]
            to = same[0] if len(gone) == 1 and len(same) == 1 else None
            if to is not None:
                added.remove(to)
            yield change(rule=Rule.D413, module=label,
                         subject=f"struct {s.name} member {'renamed' if to else name}",
                         old=Symbol("member", name, a[name]),
                         new=Symbol("member", to, b[to]) if to else None,
                         reason=f"code that sets .{name} no longer compiles")
        for name in sorted(set(a) & set(b)):
            if by_value(a[name]) != by_value(b[name]):
                yield change(rule=Rule.D413, module=label,
                             subject=f"struct {s.name} member {name}",
                             old=Symbol("member", name, a[name]),
                             new=Symbol("member", name, b[name]),
                             reason="the member's type changed")
        for name in added:
            yield change(rule=Rule.D414, module=label, subject=f"struct {s.name} member {name}",
                         old=None, new=Symbol("member", name, b[name]),
                         reason="a member the old code never sets")
    known = {s.name for s in old.structs}
    for s in new.structs:
        if s.name not in known:
            yield change(rule=Rule.D414, module=label, subject=f"struct {s.name}", old=None,
                         new=Count(len(s.members), "member"),
                         reason="a struct only the new header has")
