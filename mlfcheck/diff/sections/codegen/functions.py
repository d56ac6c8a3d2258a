"""The functions of the generated C: renamed, removed or added (entry points aside), calling
conventions flipped, bodies changed, the code size (bytes of code, not layout); per-symbol size
rows and ordering notes."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from mlfcheck.diff.normalise import CodeUnit, Snapshot, code_bytes
from mlfcheck.diff.result import Change, Count, Size, SizeRow
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.matching import Matching, ir_texts
from mlfcheck.diff.sections.codegen.section import change, note
from mlfcheck.diff.sections.common import Item, Pair
from mlfcheck.diff.sections.excerpts import unified
from mlfcheck.reading.model import Module
from mlfcheck.reading.params import ParamsError


def function_changes(p: Pair, old_m: Module, new_m: Module, m: Matching, label: str, *,
                     entries: set[str]) -> Iterator[Item]:
    """Every function that is not one of the `entries` (entry points) and was renamed, removed,
    added or changed, and the module's code size when more than names changed."""
    old, new = p.old.code(old_m), p.new.code(new_m)
    graph = p.old.graph(old_m)
    yield from _renamed_removed_added(old, new, m, label, entries=entries,
                                      called=graph.calls if graph is not None else frozenset())
    flipped = [n for n in m.changed if old.functions[n].packed != new.functions[n].packed]
    if flipped:
        yield _convention(flipped, old, old_m, new_m, label)
    same_model = _same_model(p, old_m, new_m)
    for name in m.changed:
        a, b = old.functions[name], new.functions[name]
        if a.packed != b.packed:
            continue
        yield change(rule=Rule.D410 if same_model else Rule.D405, module=label,
                     subject=f"function {name}", old=Size(a.size), new=Size(b.size),
                     reason="body differs while IR text, parameters and target are unchanged"
                     if same_model else "body differs",
                     details=unified(m.substitute(a.text), b.text, name))
    if not (m.changed or m.added or m.removed):  # renames alone change no size
        return
    sizes: dict[bytes, int] = {}
    old_size = code_bytes(old.functions.values(), sizes)
    new_size = code_bytes(new.functions.values(), sizes)
    if old_size != new_size:
        over, why = p.thresholds["code"].judge("code", old_size, new_size)
        yield change(rule=Rule.D406 if over else Rule.D407, module=label,
                     subject="generated code size", old=Size(old_size), new=Size(new_size),
                     reason=f"{why} ({len(new.functions)} functions, bytes of code)",
                     threshold=str(p.thresholds["code"]))


def _renamed_removed_added(old: CodeUnit, new: CodeUnit, m: Matching, label: str, *,
                           entries: set[str], called: frozenset[str]) -> Iterator[Item]:
    """Functions renamed (D404, or D403 when the old graph config `called` them), removed (D402,
    D403) and added (D401)."""
    for name, to in sorted(m.renames.items()):
        if name in entries or to in entries:
            continue  # the entry point's change names the rename
        yield change(rule=Rule.D403 if name in called else Rule.D404, module=label,
                     subject="function renamed", old=name, new=to,
                     reason=f"the old graph config calls {name}" if name in called
                     else "same body under a new name")
    for name in m.removed:
        f = old.functions[name]
        if name in entries:
            continue
        if name in called:
            yield change(rule=Rule.D403, module=label, subject=f"function {name}",
                         old=Size(f.size), new=None, reason="the old graph config calls it; a "
                         "runtime holding that config cannot find it")
        else:
            yield change(rule=Rule.D402, module=label, subject=f"function {name}",
                         old=Size(f.size), new=None,
                         reason=f"defined only in the old code ({f.file})")
    for name in m.added:
        f = new.functions[name]
        if name in entries:
            continue
        yield change(rule=Rule.D401, module=label, subject=f"function {name}", old=None,
                     new=Size(f.size), reason=f"defined only in the new code ({f.file})")


def _convention(names: list[str], old: CodeUnit, old_m: Module, new_m: Module,
                label: str) -> Change:
    """One change for every function whose calling convention flipped (D416), naming what it
    follows."""
    def kind(packed: bool) -> str:
        return "packed function" if packed else "unpacked function"
    was = sum(old.functions[n].packed for n in names)
    cause = ("follows the executor change (D111)" if (old_m.executors, old_m.style) != (
        new_m.executors, new_m.style) else "follows the target change (D112)"
        if old_m.targets != new_m.targets else "the metadata does not say why")
    return change(rule=Rule.D416, module=label, subject="calling convention",
                  old=Count(len(names), kind(was == len(names))),
                  new=Count(len(names), kind(was != len(names))),
                  reason=f"{cause}; their bodies change with it and are not listed one by one",
                  details=tuple(sorted(names)))


def _same_model(p: Pair, old_m: Module, new_m: Module) -> bool:
    """True when IR text (renamed functions aside), parameters and target are all unchanged (so
    code should be too)."""
    def params(s: Snapshot, module: Module) -> Any:
        found = s.params(module)
        if isinstance(found, ParamsError) or found is None:
            return found is None
        return {t.name: (t.dtype, t.shape, t.sha256) for t in found.tensors}
    old_ir, new_ir = ir_texts(p, old_m, new_m)
    return (old_m.targets == new_m.targets and old_ir == new_ir
            and params(p.old, old_m) == params(p.new, new_m))


def size_rows(old: CodeUnit, new: CodeUnit, m: Matching, label: str) -> Iterator[Item]:
    """A size row per function and data symbol that was added, removed or changed."""
    for name in sorted(set(old.functions) | set(new.functions)):
        a, b = old.functions.get(name), new.functions.get(name)
        if a is None or b is None or a.size != b.size:
            if a is not None and b is None and name in m.renames:
                continue
            yield SizeRow(label, "function", name, a.size if a else None, b.size if b else None)
    for name in sorted(set(old.data) | set(new.data)):
        x, y = old.data.get(name), new.data.get(name)
        if x is None or y is None or x.size != y.size or x.storage_bytes != y.storage_bytes:
            yield SizeRow(label, "data", name, x.size if x else None, y.size if y else None,
                          x.storage_bytes if x else None, y.storage_bytes if y else None)


def order(old: CodeUnit, new: CodeUnit, m: Matching, label: str) -> Iterator[Item]:
    """Notes on functions that appear in another order or moved to another codegen file."""
    kept = set(new.functions)
    old_seq = [m.renames.get(n, n) for n in old.order if m.renames.get(n, n) in kept]
    mapped = set(old_seq)
    new_seq = [n for n in new.order if n in mapped]
    if old_seq != new_seq:
        matcher = difflib.SequenceMatcher(None, old_seq, new_seq, autojunk=False)
        moved = len(new_seq) - sum(b.size for b in matcher.get_matching_blocks())
        yield note(module=label, kind="ordering", text=f"{moved} of {len(new_seq)} functions "
                   "appear in a different order (ordering only, not a change)")
    files = sum(_lib_index(old.functions[o].file) != _lib_index(new.functions[n].file)
                for o, n in ((o, m.renames.get(o, o)) for o in old.order) if n in kept)
    if files:
        yield note(module=label, kind="ordering", text=f"{files} functions moved to another "
                   "codegen file (placement only, not a change)")


def _lib_index(path: str) -> str:
    found = re.search(r"lib(\d+)\.\w+$", path)
    return found.group(1) if found else path
