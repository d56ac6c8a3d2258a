"""The inputs/outputs section: inputs and outputs by name (renames paired by dtype and shape),
added, removed, renamed, retyped or resized; an added output judged by who provides the output
buffers (the caller: D306, the graph runtime: D311)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from mlfcheck.diff.result import Change, Note, TensorType
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.common import Comparator, Item, Pair
from mlfcheck.reading.model import TensorSpec

SECTION = "io"
change = partial(Change, section=SECTION)
note = partial(Note, section=SECTION)

_IO_RULES = {"input": (Rule.D301, Rule.D302, Rule.D303, Rule.D304, Rule.D309),
             "output": (Rule.D305, Rule.D306, Rule.D307, Rule.D308, Rule.D310)}
"""(removed, added, retyped, resized, renamed) of each kind."""
_RUNTIME_OUTPUTS = ("graph",)
"""The executors whose runtime allocates the outputs itself (code that does not know an output
never touches it): an output added on both sides of this is D311, not D306."""
_ADDED_REASON = {
    Rule.D306: "code written for the old header leaves its buffer NULL and run() writes "
               "through it",
    Rule.D311: "the graph runtime allocates it; code written for the old archive never reads "
               "it (unless it shifts the indices of the old outputs)",
}
"""Why an added output matters, by rule (an added input: the consumer never sets it)."""


def _tensor(t: TensorSpec) -> TensorType:
    return TensorType(t.dtype, t.shape, t.size)


def compare_io(p: Pair) -> Iterator[Item]:
    """Inputs and outputs by name (renames paired by dtype and shape): added, removed, renamed,
    dtype, size or shape."""
    for old_m, new_m, label in p.both():
        old_io, new_io = p.old.io(old_m), p.new.io(new_m)
        if old_io is None or new_io is None:
            sides = [s for s, io in (("old", old_io), ("new", new_io)) if io is None]
            yield note(module=label, kind="undescribed", text="not described by this version: "
                       f"{' and '.join(sides)} metadata lists no inputs/outputs and there is "
                       "no graph config")
            continue
        allocated = old_m.executors == new_m.executors == _RUNTIME_OUTPUTS
        for kind, old_specs, new_specs in (("input", old_io[0], new_io[0]),
                                           ("output", old_io[1], new_io[1])):
            yield from _kind(kind, {t.name: t for t in old_specs},
                             {t.name: t for t in new_specs}, label,
                             runtime_allocates=allocated and kind == "output")


def _kind(kind: str, a: dict[str, TensorSpec], b: dict[str, TensorSpec], label: str, *,
          runtime_allocates: bool) -> Iterator[Item]:
    """The inputs (or outputs) of one module: renamed first, then removed, added, changed;
    an added output is D311 when the runtime allocates the outputs."""
    removed, added, retyped, resized, renamed = _IO_RULES[kind]
    if runtime_allocates:
        added = Rule.D311
    gone = [n for n in a if n not in b]
    new_names = [n for n in b if n not in a]
    for name in sorted(gone):
        t = _tensor(a[name])
        twins = [n for n in new_names if _tensor(b[n]) == t]
        if len(twins) == 1 and [_tensor(a[g]) for g in gone].count(t) == 1:
            gone.remove(name)
            new_names.remove(twins[0])
            yield change(rule=renamed, module=label, subject=f"{kind} renamed", old=name,
                         new=twins[0], reason="same dtype and shape under a new name; code that "
                         f"uses the {kind} by name breaks")
    for name in sorted(set(gone) | set(new_names) | (set(a) & set(b))):
        subject = f"{kind} {name!r}"
        if name not in b:
            yield change(rule=removed, module=label, subject=subject, old=_tensor(a[name]),
                         new=None, reason=f"a consumer of the old archive uses this {kind}")
        elif name not in a:
            yield change(rule=added, module=label, subject=subject, old=None,
                         new=_tensor(b[name]), reason=_ADDED_REASON.get(
                             added, f"a consumer of the old archive does not know this {kind}"))
        else:
            yield from _retyped(a[name], b[name], label, subject, retyped, resized)


def _retyped(a: TensorSpec, b: TensorSpec, label: str, subject: str, retyped: Rule,
             resized: Rule) -> Iterator[Item]:
    if a.dtype != b.dtype:
        yield change(rule=retyped, module=label, subject=subject, old=_tensor(a), new=_tensor(b),
                     reason="the consumer reads or writes it with the old dtype")
    shape_differs = a.shape is not None and b.shape is not None and a.shape != b.shape
    if a.size != b.size or shape_differs:
        yield change(rule=resized, module=label, subject=subject, old=_tensor(a), new=_tensor(b),
                     reason="the consumer's buffer has the old size or shape")


COMPARATOR = Comparator(
    section=SECTION,
    rules=(Rule.D301, Rule.D302, Rule.D303, Rule.D304, Rule.D305, Rule.D306, Rule.D307,
           Rule.D308, Rule.D309, Rule.D310, Rule.D311),
    fn=compare_io)
