"""The memory section: main's sizes per device, operator workspaces by function name (a function
the codegen section finds renamed keeps its workspace under the new name), the graph storage ids
and operator buffers (and, built by mlfcheck.diff.board, sizes on a board)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from mlfcheck.diff.result import Change, Count, Note, Size
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.matching import matching
from mlfcheck.diff.sections.common import Comparator, Item, Pair
from mlfcheck.reading.model import Module

SECTION = "memory"
change = partial(Change, section=SECTION)
note = partial(Note, section=SECTION)

_MAIN_METRICS = (("workspace", "workspace_size_bytes", Rule.D201, Rule.D202),
                 ("constants", "constants_size_bytes", Rule.D203, Rule.D204),
                 ("io", "io_size_bytes", None, Rule.D205))


def compare_memory(p: Pair) -> Iterator[Item]:
    """main per device, operator workspaces by function name, storage ids, operator buffers."""
    for old_m, new_m, label in p.both():
        yield from _main(p, old_m, new_m, label)
        yield from _operators(p, old_m, new_m, label)
        if old_m.sids != new_m.sids and old_m.sids is not None and new_m.sids is not None:
            details = [f"storage_id {s.storage_id}: {s.size_bytes} B"
                       f"{' ' + s.input_binding if s.input_binding else ''}"
                       for s in set(old_m.sids) ^ set(new_m.sids)]
            yield change(rule=Rule.D209, module=label, subject="graph storage (sids)",
                         old=Size(sum(s.size_bytes for s in old_m.sids)),
                         new=Size(sum(s.size_bytes for s in new_m.sids)),
                         reason="the graph executor allocates these storage entries",
                         details=tuple(sorted(details)))
        if set(old_m.buffers) != set(new_m.buffers):
            details = [f"{'-' if b in old_m.buffers else '+'} {b.function}: {b.dtype} "
                       f"{list(b.shape)} {b.size_bytes} B"
                       for b in set(old_m.buffers) ^ set(new_m.buffers)]
            yield change(rule=Rule.D210, module=label, subject="operator buffers",
                         old=Count(len(old_m.buffers), "buffer"),
                         new=Count(len(new_m.buffers), "buffer"),
                         reason="the operator's arguments differ", details=tuple(sorted(details)))


def _main(p: Pair, old_m: Module, new_m: Module, label: str) -> Iterator[Item]:
    """main's workspace, constants and io sizes, device by device."""
    old_main = {e.device: e for e in old_m.main}
    new_main = {e.device: e for e in new_m.main}
    for device in sorted(set(old_main) | set(new_main)):
        for metric, attr, over_rule, rule in _MAIN_METRICS:
            a = getattr(old_main[device], attr) if device in old_main else 0
            b = getattr(new_main[device], attr) if device in new_main else 0
            if a == b:
                continue
            over, why = (p.thresholds[metric].judge(metric, a, b) if over_rule
                         else (False, "consumers size the buffers the D3 rules list"))
            yield change(rule=over_rule if over and over_rule else rule, module=label,
                         subject=f"main {metric} (device {device})", old=Size(a), new=Size(b),
                         reason=why,
                         threshold=str(p.thresholds[metric]) if over_rule else None)


def _operators(p: Pair, old_m: Module, new_m: Module, label: str) -> Iterator[Item]:
    """Operators listed on one side only (D208), but not a function renamed (D404 says so: its
    workspace is compared under the new name), and operator workspaces (D206/D207)."""
    old_ops = {o.name: dict(o.workspace) for o in old_m.operator_functions}
    new_ops = {o.name: dict(o.workspace) for o in new_m.operator_functions}
    if set(old_ops) != set(new_ops):
        renames = {a: b for a, b in matching(p, old_m, new_m).renames.items()
                   if a in old_ops and a not in new_ops and b in new_ops and b not in old_ops}
        old_ops = {renames.get(n, n): w for n, w in old_ops.items()}
    for name in sorted(set(old_ops) | set(new_ops)):
        if name not in old_ops or name not in new_ops:
            yield change(rule=Rule.D208, module=label, subject=f"operator {name}",
                         old="listed" if name in old_ops else None,
                         new="listed" if name in new_ops else None,
                         reason="memory.functions.operator_functions lists it on one side only")
            continue
        for device in sorted(set(old_ops[name]) | set(new_ops[name])):
            a, b = old_ops[name].get(device, 0), new_ops[name].get(device, 0)
            if a != b:
                over, why = p.thresholds["workspace"].judge("workspace", a, b)
                yield change(rule=Rule.D206 if over else Rule.D207, module=label,
                             subject=f"workspace of {name} (device {device})", old=Size(a),
                             new=Size(b), reason=why, threshold=str(p.thresholds["workspace"]))


COMPARATOR = Comparator(
    section=SECTION,
    rules=(Rule.D201, Rule.D202, Rule.D203, Rule.D204, Rule.D205, Rule.D206, Rule.D207,
           Rule.D208, Rule.D209, Rule.D210),
    fn=compare_memory)
