"""The ordered table of comparators, most specific first; each yields Changes and Notes."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import itertools
import json
import math
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from mlfcheck.diff.config import Threshold
from mlfcheck.diff.normalise import CodeUnit, Snapshot
from mlfcheck.diff.result import Change, Count, Note, Size, SizeRow, Symbol, TensorType, ValueDiff
from mlfcheck.diff.rules import Rule
from mlfcheck.errors import ArchiveError
from mlfcheck.reading.csource import Data, SymbolTable
from mlfcheck.reading.jsondoc import JSONDocError, escape_token, parse_bytes
from mlfcheck.reading.model import Module, TensorSpec
from mlfcheck.reading.params import ParamsError, ParamTensor

Item = Change | Note | SizeRow
MAX_DETAIL_LINES = 24
"""Longest unified diff or pointer list kept per change (the rest is counted)."""
MAX_LINE = 200
"""Longest excerpt line kept; longer ones are cut around their first difference."""
MAX_VALUE_BYTES = 64 * 1024 * 1024
"""Largest tensor whose values are decoded for a max-abs-difference."""


@dataclass(frozen=True)
class ModulePair:
    """A module of the old archive matched with one of the new (either may be missing)."""

    old: Module | None
    new: Module | None

    @property
    def label(self) -> str:
        """The module name, or 'old → new' when the only module was renamed."""
        names = [m.name for m in (self.old, self.new) if m is not None]
        return names[0] if len(set(names)) == 1 else " → ".join(names)


@dataclass(frozen=True)
class Pair:
    """What every comparator sees: both snapshots, matched modules, thresholds."""

    old: Snapshot
    new: Snapshot
    thresholds: dict[str, Threshold]

    @cached_property
    def modules(self) -> tuple[ModulePair, ...]:
        """Modules matched by name; a lone module on each side is matched even if renamed."""
        old, new = self.old.modules, self.new.modules
        if len(old) == len(new) == 1 and set(old) != set(new):
            return (ModulePair(*old.values(), *new.values()),)
        return tuple(ModulePair(old.get(n), new.get(n)) for n in sorted(set(old) | set(new)))

    def both(self) -> Iterator[tuple[Module, Module, str]]:
        """(old module, new module, label) for modules present on both sides."""
        for mp in self.modules:
            if mp.old is not None and mp.new is not None:
                yield mp.old, mp.new, mp.label


@dataclass(frozen=True)
class Comparator:
    """One entry of the table: its section, the rules it may report, and the function."""

    section: str
    rules: tuple[Rule, ...]
    fn: Callable[[Pair], Iterator[Item]]


# -- shared helpers -------------------------------------------------------------------------------


def _growth(metric: str, old: int, new: int, threshold: Threshold) -> tuple[bool, str]:
    """(over the threshold?, reason) for a size that changed."""
    over = threshold.exceeded(old, new)
    if new <= old:
        return False, f"the {metric} shrank"
    return over, f"{'over' if over else 'within'} the {metric} threshold"


def _clip(lines: list[str]) -> tuple[str, ...]:
    if len(lines) <= MAX_DETAIL_LINES:
        return tuple(lines)
    return (*lines[:MAX_DETAIL_LINES], f"... {len(lines) - MAX_DETAIL_LINES} more lines")


def _first_difference(a: str, b: str) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _cut(line: str, at: int) -> str:
    """`line` cut to MAX_LINE characters around position `at`, with what was cut counted; in
    a line that long, the token at `at` (the first difference) is marked «thus»."""
    if len(line) <= MAX_LINE:
        return line
    begin, end = at, at
    while begin > 1 and (line[begin - 1].isalnum() or line[begin - 1] in "_."):
        begin -= 1
    while end < len(line) and (line[end].isalnum() or line[end] in "_."):
        end += 1
    if end > begin:
        line = f"{line[:begin]}«{line[begin:end]}»{line[end:]}"
    start = max(1, min(at - MAX_LINE // 3, len(line) - MAX_LINE))
    end = start + MAX_LINE
    head = line[0] + ("…" if start > 1 else "")
    tail = f"…(+{len(line) - end} chars)" if end < len(line) else ""
    return head + line[start:end] + tail


def _unified(old: str, new: str, name: str) -> tuple[str, ...]:
    """A unified diff excerpt: at most MAX_DETAIL_LINES lines of at most ~MAX_LINE chars, each
    long changed line cut around its first difference from its counterpart."""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), f"old/{name}",
                                      f"new/{name}", n=1, lineterm=""))
    out = []
    for i, line in enumerate(lines[:MAX_DETAIL_LINES + 1]):
        twin = next((other for other in lines[i + 1:i + 2] + lines[max(i - 1, 0):i]
                     if other[:1] in "+-" and other[:1] != line[:1]), "")
        out.append(_cut(line, _first_difference(line[1:], twin[1:]) + 1))
    return _clip(out + lines[len(out):])


# -- metadata -------------------------------------------------------------------------------------

KEY_RENAMES: tuple[tuple[int, str, str, str, str], ...] = (
    (5, "runtimes", "executors", "runtimes", "executors"),
    (6, "target/*", "target/[]", 'target {"<device>": string}', "target [string]"),
)
"""(version that made it, old key path, new key path, old shown, new shown), mlf-spec.md §3.1."""


def _key_paths(value: Any, prefix: str, style: str) -> set[str]:
    """Every key path of a JSON value; list items are '[]', data-named keys are '*'."""
    out: set[str] = set()
    if isinstance(value, dict):
        parent = prefix.rsplit("/", 1)[-1]
        wild = (parent in ("inputs", "outputs") or (style == "operator" and prefix == "memory")
                or (value and all(k.isdigit() for k in value)))
        for k, v in value.items():
            path = f"{prefix}/{'*' if wild else k}" if prefix else k
            out.add(path)
            out |= _key_paths(v, path, style)
    elif isinstance(value, list):
        if value:
            out.add(f"{prefix}/[]")
        for v in value:
            out |= _key_paths(v, f"{prefix}/[]", style)
    return out


def _top(paths: set[str]) -> list[str]:
    """Paths whose parent is not in the set (report a removed subtree once)."""
    return sorted(p for p in paths if p.rsplit("/", 1)[0] not in paths or "/" not in p)


def compare_metadata(p: Pair) -> Iterator[Item]:
    """Version, modules, metadata keys (renames by version) and values."""
    ov, nv = p.old.version, p.new.version
    if nv < ov:
        yield Change(Rule.D101, "metadata", "", "MLF version", str(ov), str(nv),
                     f"the new archive declares an older format; consumers of v{ov} read keys "
                     f"and paths that v{nv} spells differently")
    elif nv > ov:
        yield Change(Rule.D102, "metadata", "", "MLF version", str(ov), str(nv),
                     "newer format; consumers that check the version see it, renamed keys "
                     "and paths are listed")
    for mp in p.modules:
        if mp.old is None or mp.new is None:
            rule = Rule.D107 if mp.old is None else Rule.D108
            yield Change(rule, "metadata", mp.label, "module",
                         None if mp.old is None else mp.old.name,
                         None if mp.new is None else mp.new.name,
                         "only in the new archive" if mp.old is None else
                         "its consumers lose their code, parameters and entry points")
            continue
        if mp.old.name != mp.new.name:
            yield Change(Rule.D109, "metadata", mp.label, "module name", mp.old.name,
                         mp.new.name, "file paths, the header and every tvmgen_<m>_ symbol "
                         "are named after the module")
        yield from _keys(p, mp.old, mp.new, mp.label)
        yield from _values(p, mp.old, mp.new, mp.label)


def _keys(p: Pair, old_m: Module, new_m: Module, label: str) -> Iterator[Item]:
    ov, nv = p.old.version, p.new.version
    old = _key_paths(p.old.entry(old_m), "", old_m.style)
    new = _key_paths(p.new.entry(new_m), "", new_m.style)
    for step, before, after, shown_before, shown_after in KEY_RENAMES:
        if not min(ov, nv) < step <= max(ov, nv):
            continue
        src, dst = (before, after) if nv > ov else (after, before)
        if any(_under(k, src) for k in old) and any(_under(k, dst) for k in new):
            shown = (shown_before, shown_after) if nv > ov else (shown_after, shown_before)
            yield Change(Rule.D103, "metadata", label, "metadata key", *shown,
                         f"renamed by the MLF v{step} format (mlf-spec.md §3.1)")
            old = {dst + k[len(src):] if _under(k, src) else k for k in old}
    same_kind = (old_m.style, old_m.executors) == (new_m.style, new_m.executors)
    for path in _top(old - new):
        if ov != nv:
            rule, why = Rule.D106, f"the version changed too (v{ov} → v{nv})"
        elif not same_kind:
            rule, why = Rule.D106, "the executor changed too (D111)"
        else:
            rule, why = Rule.D105, (f"both declare v{ov}, so consumers are not told the "
                                    "format changed")
        yield Change(rule, "metadata", label, "metadata key", path, None, why)
    for path in _top(new - old):
        yield Change(Rule.D106, "metadata", label, "metadata key", None, path,
                     "consumers ignore keys they do not read")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _values(p: Pair, old_m: Module, new_m: Module, label: str) -> Iterator[Item]:
    old_exec = ", ".join((old_m.style, *old_m.executors))
    new_exec = ", ".join((new_m.style, *new_m.executors))
    if old_exec != new_exec:
        yield Change(Rule.D111, "metadata", label, "executor", old_exec, new_exec,
                     "consumers drive each executor through a different API")
    if old_m.targets != new_m.targets:
        yield Change(Rule.D112, "metadata", label, "target", "; ".join(old_m.targets),
                     "; ".join(new_m.targets), "code generated for another target may not run "
                     "on the old device")
    if old_m.export_datetime != new_m.export_datetime:
        yield Change(Rule.D113, "metadata", label, "export_datetime", old_m.export_datetime,
                     new_m.export_datetime, "every export writes its time")
    old_extra = {"external_dependencies": list(old_m.external_dependencies), **old_m.extra}
    new_extra = {"external_dependencies": list(new_m.external_dependencies), **new_m.extra}
    for key in sorted(set(old_extra) | set(new_extra)):
        a, b = old_extra.get(key), new_extra.get(key)
        if a != b and (a or b):
            yield Change(Rule.D110, "metadata", label, key, _json(a), _json(b),
                         "descriptive; no consumer computes with it")


def _json(value: Any) -> str | None:
    if value is None or value == []:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# -- layout ---------------------------------------------------------------------------------------

PATH_RENAMES = {
    4: "relay.txt → src/relay.txt",
    5: "runtime-config/ → executor-config/",
    7: "src/relay.txt → src/<m>.relay, executor-config/graph/graph.json → "
       "executor-config/graph/<m>.graph",
    8: "src/<m>.relay → src/<m>.relax",
}
"""Member paths each version moved (mlf-spec.md §3.1)."""


def compare_layout(p: Pair) -> Iterator[Item]:
    """Member paths that moved because the version changed."""
    ov, nv = p.old.version, p.new.version
    for old_m, new_m, label in p.both():
        if old_m.name != new_m.name:
            continue  # D109 already says every path follows the module name
        old_paths, new_paths = p.old.role_paths(old_m), p.new.role_paths(new_m)
        for role in sorted(set(old_paths) & set(new_paths)):
            if old_paths[role] == new_paths[role]:
                continue
            steps = [f"v{v}: {text}" for v, text in sorted(PATH_RENAMES.items())
                     if min(ov, nv) < v <= max(ov, nv)]
            yield Change(Rule.D104, "layout", label, f"{role} path", old_paths[role],
                         new_paths[role],
                         f"moved by the MLF v{ov} → v{nv} format change ({'; '.join(steps)})")


# -- memory map -----------------------------------------------------------------------------------

_MAIN_METRICS = (("workspace", "workspace_size_bytes", Rule.D201, Rule.D202),
                 ("constants", "constants_size_bytes", Rule.D203, Rule.D204),
                 ("io", "io_size_bytes", None, Rule.D205))


def compare_memory(p: Pair) -> Iterator[Item]:
    """main per device, operator workspaces by function name, storage ids, operator buffers."""
    for old_m, new_m, label in p.both():
        old_main = {e.device: e for e in old_m.main}
        new_main = {e.device: e for e in new_m.main}
        for device in sorted(set(old_main) | set(new_main)):
            for metric, attr, over_rule, rule in _MAIN_METRICS:
                a = getattr(old_main[device], attr) if device in old_main else 0
                b = getattr(new_main[device], attr) if device in new_main else 0
                if a == b:
                    continue
                over, why = (_growth(metric, a, b, p.thresholds[metric]) if over_rule
                             else (False, "consumers size the buffers the D3 rules list"))
                yield Change(over_rule if over and over_rule else rule, "memory", label,
                             f"main {metric} (device {device})", Size(a), Size(b), why,
                             threshold=str(p.thresholds[metric]) if over_rule else None)
        yield from _operators(p, old_m, new_m, label)
        if old_m.sids != new_m.sids and old_m.sids is not None and new_m.sids is not None:
            details = [f"storage_id {s.storage_id}: {s.size_bytes} B"
                       f"{' ' + s.input_binding if s.input_binding else ''}"
                       for s in set(old_m.sids) ^ set(new_m.sids)]
            yield Change(Rule.D209, "memory", label, "graph storage (sids)",
                         Size(sum(s.size_bytes for s in old_m.sids)),
                         Size(sum(s.size_bytes for s in new_m.sids)),
                         "the graph executor allocates these storage entries",
                         tuple(sorted(details)))
        if set(old_m.buffers) != set(new_m.buffers):
            details = [f"{'-' if b in old_m.buffers else '+'} {b.function}: {b.dtype} "
                       f"{list(b.shape)} {b.size_bytes} B"
                       for b in set(old_m.buffers) ^ set(new_m.buffers)]
            yield Change(Rule.D210, "memory", label, "operator buffers",
                         Count(len(old_m.buffers), "buffer"), Count(len(new_m.buffers), "buffer"),
                         "the operator's arguments differ", tuple(sorted(details)))


def _operators(p: Pair, old_m: Module, new_m: Module, label: str) -> Iterator[Item]:
    old_ops = {o.name: dict(o.workspace) for o in old_m.operator_functions}
    new_ops = {o.name: dict(o.workspace) for o in new_m.operator_functions}
    for name in sorted(set(old_ops) | set(new_ops)):
        if name not in old_ops or name not in new_ops:
            yield Change(Rule.D208, "memory", label, f"operator {name}",
                         "listed" if name in old_ops else None,
                         "listed" if name in new_ops else None,
                         "memory.functions.operator_functions lists it on one side only")
            continue
        for device in sorted(set(old_ops[name]) | set(new_ops[name])):
            a, b = old_ops[name].get(device, 0), new_ops[name].get(device, 0)
            if a != b:
                over, why = _growth("workspace", a, b, p.thresholds["workspace"])
                yield Change(Rule.D206 if over else Rule.D207, "memory", label,
                             f"workspace of {name} (device {device})", Size(a), Size(b), why,
                             threshold=str(p.thresholds["workspace"]))


# -- inputs and outputs ---------------------------------------------------------------------------

_IO_RULES = {"input": (Rule.D301, Rule.D302, Rule.D303, Rule.D304, Rule.D309),
             "output": (Rule.D305, Rule.D306, Rule.D307, Rule.D308, Rule.D310)}


def _tensor(t: TensorSpec) -> TensorType:
    return TensorType(t.dtype, t.shape, t.size)


def compare_io(p: Pair) -> Iterator[Item]:
    """Inputs and outputs by name (renames paired by dtype and shape): added, removed, renamed,
    dtype, size or shape."""
    for old_m, new_m, label in p.both():
        old_io, new_io = p.old.io(old_m), p.new.io(new_m)
        if old_io is None or new_io is None:
            sides = [s for s, io in (("old", old_io), ("new", new_io)) if io is None]
            yield Note("io", label, "undescribed", "not described by this version: "
                       f"{' and '.join(sides)} metadata lists no inputs/outputs and there is "
                       "no graph config")
            continue
        for kind, old_specs, new_specs in (("input", old_io[0], new_io[0]),
                                           ("output", old_io[1], new_io[1])):
            removed, added, retyped, resized, renamed = _IO_RULES[kind]
            a = {t.name: t for t in old_specs}
            b = {t.name: t for t in new_specs}
            gone = [n for n in a if n not in b]
            new_names = [n for n in b if n not in a]
            for name in sorted(gone):
                t = _tensor(a[name])
                twins = [n for n in new_names if _tensor(b[n]) == t]
                if len(twins) == 1 and [_tensor(a[g]) for g in gone].count(t) == 1:
                    gone.remove(name)
                    new_names.remove(twins[0])
                    yield Change(renamed, "io", label, f"{kind} renamed", name, twins[0],
                                 f"same dtype and shape under a new name; code that uses the "
                                 f"{kind} by name breaks")
            for name in sorted(set(gone) | set(new_names) | (set(a) & set(b))):
                subject = f"{kind} {name!r}"
                if name not in b:
                    yield Change(removed, "io", label, subject, _tensor(a[name]), None,
                                 f"a consumer of the old archive uses this {kind}")
                elif name not in a:
                    yield Change(added, "io", label, subject, None, _tensor(b[name]),
                                 f"a consumer of the old archive does not know this {kind}")
                else:
                    yield from _retyped(a[name], b[name], label, subject, retyped, resized)


def _retyped(a: TensorSpec, b: TensorSpec, label: str, subject: str, retyped: Rule,
             resized: Rule) -> Iterator[Item]:
    if a.dtype != b.dtype:
        yield Change(retyped, "io", label, subject, _tensor(a), _tensor(b),
                     "the consumer reads or writes it with the old dtype")
    shape_differs = a.shape is not None and b.shape is not None and a.shape != b.shape
    if a.size != b.size or shape_differs:
        yield Change(resized, "io", label, subject, _tensor(a), _tensor(b),
                     "the consumer's buffer has the old size or shape")


# -- generated code -------------------------------------------------------------------------------


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


def compare_codegen(p: Pair) -> Iterator[Item]:
    """Symbols of the generated C and the interface header: entry points, functions by name
    then by body, data by value, other file-scope items, code size; ordering as a note."""
    for old_m, new_m, label in p.both():
        old_h, new_h = p.old.header(old_m), p.new.header(new_m)
        old, new = p.old.code(old_m), p.new.code(new_m)
        same = [(t.path, t.digest) for t in old.tables] == [(t.path, t.digest) for t in new.tables]
        old_api = {} if same else _entry_points(old.tables)
        new_api = {} if same else _entry_points(new.tables)
        both = _broken_in_both(old_h, new_h, old_api, new_api)
        yield from _header(old_h, new_h, label, skip=both)
        if same:
            continue  # the same bytes: nothing to compare
        m = match_functions(old, new)
        entries = set(old_api) | set(new_api)
        yield from _entry_point_changes(old_api, new_api, m, label, "generated C", Rule.D401,
                                        skip=both)
        yield from _entry_point_changes(
            {n: old_api[n] for n in both}, {n: new_api[n] for n in both if n in new_api}, m,
            label, "interface header and the generated C", Rule.D401)
        graph = p.old.graph(old_m)
        called = graph.calls if graph is not None else frozenset()
        for name, to in sorted(m.renames.items()):
            if name in entries:
                continue
            rule = Rule.D403 if name in called else Rule.D404
            yield Change(rule, "codegen", label, "function renamed", name, to,
                         f"the old graph config calls {name}" if name in called
                         else "same body under a new name")
        for name in m.removed:
            f = old.functions[name]
            if name in entries:
                continue
            if name in called:
                yield Change(Rule.D403, "codegen", label, f"function {name}", Size(f.size),
                             None, "the old graph config calls it; a runtime holding that "
                             "config cannot find it")
            else:
                yield Change(Rule.D402, "codegen", label, f"function {name}", Size(f.size),
                             None, f"defined only in the old code ({f.file})")
        for name in m.added:
            f = new.functions[name]
            if name in entries:
                continue
            yield Change(Rule.D401, "codegen", label, f"function {name}", None, Size(f.size),
                         f"defined only in the new code ({f.file})")
        same_model = _same_model(p, old_m, new_m)
        flipped = [n for n in m.changed if old.functions[n].packed != new.functions[n].packed]
        if flipped:
            yield _convention(flipped, old, p, old_m, new_m, label)
        for name in m.changed:
            a, b = old.functions[name], new.functions[name]
            if a.packed != b.packed:
                continue
            yield Change(Rule.D410 if same_model else Rule.D405, "codegen", label,
                         f"function {name}", Size(a.size), Size(b.size),
                         "body differs while IR text, parameters and target are unchanged"
                         if same_model else "body differs",
                         _unified(m.substitute(a.text), b.text, name))
        old_size = sum(f.size for f in old.functions.values())
        new_size = sum(f.size for f in new.functions.values())
        if old_size != new_size and (m.changed or m.added or m.removed):  # not renames alone
            over, why = _growth("code", old_size, new_size, p.thresholds["code"])
            yield Change(Rule.D406 if over else Rule.D407, "codegen", label,
                         "generated code size", Size(old_size), Size(new_size),
                         f"{why} ({len(new.functions)} functions, C source bytes)",
                         threshold=str(p.thresholds["code"]))
        yield from _data(old, new, m, label)
        yield from _others(old.tables, new.tables, label, "generated C")
        yield from _sizes(old, new, m, label)
        yield from _order(old, new, m, label)


def _convention(names: list[str], old: CodeUnit, p: Pair, old_m: Module, new_m: Module,
                label: str) -> Change:
    """One change for every function whose calling convention flipped (D416), naming what it
    follows."""
    def kind(packed: bool) -> str:
        return "packed function" if packed else "unpacked function"
    was = sum(old.functions[n].packed for n in names)
    cause = ("follows the executor change (D111)" if (old_m.executors, old_m.style) != (
        new_m.executors, new_m.style) else "follows the target change (D112)"
        if old_m.targets != new_m.targets else "the metadata does not say why")
    return Change(Rule.D416, "codegen", label, "calling convention",
                  Count(len(names), kind(was == len(names))),
                  Count(len(names), kind(was != len(names))),
                  f"{cause}; their bodies change with it and are not listed one by one",
                  tuple(sorted(names)))


def _entry_points(tables: Sequence[SymbolTable]) -> dict[str, str]:
    """Entry points defined or declared in `tables`: name → folded signature."""
    out: dict[str, str] = {}
    for t in tables:
        out.update(t.entry_points())
    return out


def _broken(old: dict[str, str], new: dict[str, str], name: str) -> str | None:
    """How an entry point broke: 'removed', 'changed' (its signature), or None."""
    if name not in old:
        return None
    return "removed" if name not in new else "changed" if old[name] != new[name] else None


def _broken_in_both(old_h: SymbolTable | None, new_h: SymbolTable | None,
                    old_c: dict[str, str], new_c: dict[str, str]) -> frozenset[str]:
    """Entry points that broke the same way in the interface header and the generated C:
    one break, reported once."""
    if old_h is None or new_h is None or old_h.digest == new_h.digest:
        return frozenset()
    a, b = old_h.entry_points(), new_h.entry_points()
    return frozenset(n for n in a if n in old_c and _broken(a, b, n) is not None
                     and _broken(a, b, n) == _broken(old_c, new_c, n))


def _entry_point_changes(old: dict[str, str], new: dict[str, str], m: Matching | None,
                         label: str, where: str, added: Rule,
                         skip: frozenset[str] = frozenset()) -> Iterator[Item]:
    """Entry points added (`added`), removed or changed (D409) in one place; those in `skip`
    are reported elsewhere."""
    for name in sorted(set(new) - set(old)):
        yield Change(added, "codegen", label, f"entry point {name}", None,
                     Symbol("function", name, new[name]), f"only in the new {where}")
    for name in sorted(set(old) - skip):
        broken = _broken(old, new, name)
        if broken == "removed":
            to = m.renames.get(name) if m is not None else None
            yield Change(Rule.D409, "codegen", label, f"entry point {name}",
                         Symbol("function", name, old[name]), None,
                         f"no longer in the {where}" + (f"; the same body is now named {to}"
                                                        if to else "")
                         + "; an application calling it no longer links")
        elif broken == "changed":
            yield Change(Rule.D409, "codegen", label, f"entry point {name}",
                         Symbol("function", name, old[name]), Symbol("function", name, new[name]),
                         f"its signature changed in the {where}; callers pass the old arguments")


def _same_model(p: Pair, old_m: Module, new_m: Module) -> bool:
    """True when IR text, parameters and target are all unchanged (so code should be too)."""
    def params(s: Snapshot, module: Module) -> Any:
        found = s.params(module)
        if isinstance(found, ParamsError) or found is None:
            return found is None
        return {t.name: (t.dtype, t.shape, t.sha256) for t in found.tensors}
    return (old_m.targets == new_m.targets and p.old.ir_text(old_m) == p.new.ir_text(new_m)
            and params(p.old, old_m) == params(p.new, new_m))


def _header(old: SymbolTable | None, new: SymbolTable | None, label: str,
            skip: frozenset[str]) -> Iterator[Item]:
    """The C API of codegen/host/include/tvmgen_<m>.h: structs, *_SIZE macros, entry points
    (but those in `skip`, which broke in the generated C too)."""
    if old is None and new is None:
        return
    if new is None:
        assert old is not None
        yield Change(Rule.D804, "codegen", label, old.path, Size(old.size), None,
                     "application code that includes it no longer compiles")
        return
    if old is None:
        yield Change(Rule.D414, "codegen", label, new.path, None, Size(new.size),
                     "only the new archive has an interface header")
        return
    if old.digest == new.digest:
        return
    yield from _structs(old, new, label)
    old_sizes, new_sizes = old.size_macros(), new.size_macros()
    for name in sorted(set(old_sizes) | set(new_sizes)):
        a, b = old_sizes.get(name), new_sizes.get(name)
        if a == b:
            continue
        if a is None:
            yield Change(Rule.D412, "codegen", label, f"#define {name}", None, b,
                         "a new size macro")
        else:
            yield Change(Rule.D415, "codegen", label, f"#define {name}", a, b,
                         "buffers sized with it no longer fit" if b is not None else
                         "code that sizes buffers with it no longer compiles")
    yield from _entry_point_changes(old.entry_points(), new.entry_points(), None, label,
                                    "interface header", Rule.D414, skip)
    yield from _others([old], [new], label, "interface header", skip_sizes=True)


def _structs(old: SymbolTable, new: SymbolTable, label: str) -> Iterator[Item]:
    for s in old.structs:
        twin = new.struct(s.name)
        if twin is None:
            yield Change(Rule.D413, "codegen", label, f"struct {s.name}",
                         Count(len(s.members), "member"), None,
                         "the struct is gone from the interface header")
            continue
        a = {x.name: x.type for x in s.members}
        b = {x.name: x.type for x in twin.members}
        gone = [n for n in a if n not in b]
        added = [n for n in b if n not in a]
        for name in gone:
            same = [n for n in added if b[n] == a[name]]
            to = same[0] if len(gone) == 1 and len(same) == 1 else None
            if to is not None:
                added.remove(to)
            yield Change(Rule.D413, "codegen", label,
                         f"struct {s.name} member {'renamed' if to else name}",
                         Symbol("member", name, a[name]),
                         Symbol("member", to, b[to]) if to else None,
                         f"code that sets .{name} no longer compiles")
        for name in sorted(set(a) & set(b)):
            if a[name] != b[name]:
                yield Change(Rule.D413, "codegen", label, f"struct {s.name} member {name}",
                             Symbol("member", name, a[name]), Symbol("member", name, b[name]),
                             "the member's type changed")
        for name in added:
            yield Change(Rule.D414, "codegen", label, f"struct {s.name} member {name}", None,
                         Symbol("member", name, b[name]), "a member the old code never sets")
    known = {s.name for s in old.structs}
    for s in new.structs:
        if s.name not in known:
            yield Change(Rule.D414, "codegen", label, f"struct {s.name}", None,
                         Count(len(s.members), "member"), "a struct only the new header has")


def _others(old: Sequence[SymbolTable], new: Sequence[SymbolTable], label: str, where: str,
            *, skip_sizes: bool = False) -> Iterator[Item]:
    """#define, #include, typedefs and other file-scope items, compared as multisets."""
    def items(tables: Sequence[SymbolTable]) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for t in tables:
            keys = [(f"#define {x.name}", x.value) for x in t.macros
                    if not (skip_sizes and x.name.endswith("_SIZE"))]
            keys += [(o.kind.replace("preproc_", "#"), o.folded) for o in t.others]
            for key in keys:
                out[key] = out.get(key, 0) + 1
        return out
    a, b = items(old), items(new)
    for key in sorted(set(a) | set(b)):
        extra = b.get(key, 0) - a.get(key, 0)
        if extra:
            subject, text = key
            yield Change(Rule.D412, "codegen", label, subject,
                         text if extra < 0 else None, text if extra > 0 else None,
                         f"{'only in the old' if extra < 0 else 'only in the new'} {where}"
                         + (f" ({abs(extra)} times)" if abs(extra) > 1 else ""))


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


def _data(old: CodeUnit, new: CodeUnit, m: Matching, label: str) -> Iterator[Item]:
    reordered = 0
    for key in sorted(set(old.data) | set(new.data)):
        a, b = old.data.get(key), new.data.get(key)
        if a is None or b is None:
            d = a or b
            assert d is not None
            yield Change(Rule.D408, "codegen", label, f"data {key}",
                         _data_symbol(a) if a else None, _data_symbol(b) if b else None,
                         f"defined only in the {'old' if a else 'new'} code ({d.file})")
            continue
        shape_a = (a.type, a.count, a.storage)
        if shape_a != (b.type, b.count, b.storage):
            yield Change(Rule.D408, "codegen", label, f"data {key}", _data_symbol(a),
                         _data_symbol(b), "its type, element count or storage changed")
            continue
        if a.has_members or a.value_digest == b.value_digest:
            continue
        if a.initializer is not None and b.initializer is not None and \
                m.substitute(a.initializer) == b.initializer:
            continue
        x, y = a.values(), b.values()
        if x is not None and y is not None and len(x) == len(y):
            yield Change(Rule.D411, "codegen", label, f"constant {key}",
                         Count(len(x), "element"), Count(len(y), "element"),
                         "the linked values differ, so the model computes something different",
                         values=_value_diff(x, y))
            continue
        names_a, names_b = _names(a, m.substitute), _names(b, lambda t: t)
        if names_a is not None and names_a == names_b:
            reordered += 1
            continue
        yield Change(Rule.D408, "codegen", label, f"data {key}", _data_symbol(a),
                     _data_symbol(b), "its initializer differs",
                     _unified(m.substitute(a.initializer or ""), b.initializer or "", key)
                     if a.initializer and b.initializer else ())
    if reordered:
        yield Note("codegen", label, "ordering", f"{reordered} declaration(s) list the same "
                   "names in a different order (ordering only, not a change)")


def _data_symbol(d: Data) -> Symbol:
    count = f"[{d.count}]" if d.count not in (1, None) else ""
    return Symbol("data", d.name, " ".join((*d.storage, d.type + count)))


def _value_diff(x: Sequence[float], y: Sequence[float]) -> ValueDiff:
    diffs = [abs(u - v) for u, v in zip(x, y, strict=True) if u != v]
    finite = [d for d in diffs if not math.isnan(d)]
    return ValueDiff(len(diffs), len(x), max(finite) if finite else None)


def _sizes(old: CodeUnit, new: CodeUnit, m: Matching, label: str) -> Iterator[Item]:
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


def _order(old: CodeUnit, new: CodeUnit, m: Matching, label: str) -> Iterator[Item]:
    kept = set(new.functions)
    old_seq = [m.renames.get(n, n) for n in old.order if m.renames.get(n, n) in kept]
    mapped = set(old_seq)
    new_seq = [n for n in new.order if n in mapped]
    if old_seq != new_seq:
        matcher = difflib.SequenceMatcher(None, old_seq, new_seq, autojunk=False)
        moved = len(new_seq) - sum(b.size for b in matcher.get_matching_blocks())
        yield Note("codegen", label, "ordering", f"{moved} of {len(new_seq)} functions appear in a "
                   "different order (ordering only, not a change)")
    files = sum(_lib_index(old.functions[o].file) != _lib_index(new.functions[n].file)
                for o, n in ((o, m.renames.get(o, o)) for o in old.order) if n in kept)
    if files:
        yield Note("codegen", label, "ordering", f"{files} functions moved to another codegen file "
                   "(placement only, not a change)")


def _lib_index(path: str) -> str:
    found = re.search(r"lib(\d+)\.\w+$", path)
    return found.group(1) if found else path


# -- parameters -----------------------------------------------------------------------------------

_FORMATS = {("int", 8): "b", ("uint", 8): "B", ("int", 16): "h", ("uint", 16): "H",
            ("int", 32): "i", ("uint", 32): "I", ("int", 64): "q", ("uint", 64): "Q",
            ("float", 16): "e", ("float", 32): "f", ("float", 64): "d"}
_DTYPE = re.compile(r"^(int|uint|float|bfloat)(\d+)(?:x(\d+))?$")


def decode(dtype: str, data: bytes) -> tuple[float, ...] | None:
    """Little-endian tensor data as numbers, None for dtypes without a numeric reading."""
    m = _DTYPE.match(dtype)
    if m is None:
        return None
    kind, bits = m.group(1), int(m.group(2))
    if kind == "bfloat" and bits == 16:
        widened = bytearray(len(data) * 2)
        widened[2::4], widened[3::4] = data[0::2], data[1::2]
        return struct.unpack(f"<{len(data) // 2}f", widened)
    fmt = _FORMATS.get((kind, bits))
    if fmt is None:
        return None
    return struct.unpack(f"<{len(data) // (bits // 8)}{fmt}", data)


def compare_parameters(p: Pair) -> Iterator[Item]:
    """Tensors by name (file order ignored): added, removed, shape, dtype, values."""
    for old_m, new_m, label in p.both():
        a, b = p.old.params(old_m), p.new.params(new_m)
        if isinstance(a, ParamsError) or isinstance(b, ParamsError):
            side = "old" if isinstance(a, ParamsError) else "new"
            yield Note("parameters", label, "skipped", f"the {side} parameters file is malformed; "
                       "parameters not compared")
            continue
        old_t = {t.name: t for t in a.tensors} if a else {}  # TVM's loader: the last copy wins
        new_t = {t.name: t for t in b.tensors} if b else {}
        for name in sorted(set(old_t) | set(new_t)):
            yield from _tensor_change(p, old_m, new_m, label, old_t.get(name), new_t.get(name))
        old_order = [t.name for t in (a.tensors if a else ()) if t.name in new_t]
        if old_order != [t.name for t in (b.tensors if b else ()) if t.name in old_t]:
            yield Note("parameters", label, "ordering", "tensors are stored in a different order "
                       "(ordering only, not a change)")


def _param(t: ParamTensor) -> TensorType:
    return TensorType(t.dtype, tuple(t.shape), t.nbytes)


def _tensor_change(p: Pair, old_m: Module, new_m: Module, label: str, a: ParamTensor | None,
                   b: ParamTensor | None) -> Iterator[Item]:
    name = (a or b).name  # type: ignore[union-attr]
    subject = f"parameter {name}"
    if a is None or b is None:
        rule = Rule.D501 if a is None else Rule.D502
        yield Change(rule, "parameters", label, subject, None if a is None else _param(a),
                     None if b is None else _param(b),
                     "only in the new parameters" if a is None else "only in the old "
                     "parameters")
        return
    if a.dtype != b.dtype:
        yield Change(Rule.D504, "parameters", label, subject, _param(a), _param(b),
                     "the tensor's element type changed")
    if a.shape != b.shape:
        yield Change(Rule.D503, "parameters", label, subject, _param(a), _param(b),
                     "the tensor's layout changed")
    if a.dtype == b.dtype and a.shape == b.shape and a.sha256 != b.sha256:
        values, why = _value_delta(p, old_m, new_m, a, b)
        yield Change(Rule.D505, "parameters", label, subject, _param(a), _param(b),
                     f"the values differ, so the model computes something different{why}",
                     values=values)


def _value_delta(p: Pair, old_m: Module, new_m: Module, a: ParamTensor,
                 b: ParamTensor) -> tuple[ValueDiff | None, str]:
    """How the values differ, or None and why they were not compared element by element."""
    if a.nbytes > MAX_VALUE_BYTES:
        return None, " (too large to compare element by element)"
    try:
        x = decode(a.dtype, p.old.tensor_bytes(old_m, a.data_offset, a.nbytes))
        y = decode(b.dtype, p.new.tensor_bytes(new_m, b.data_offset, b.nbytes))
    except ArchiveError:
        return None, " (data unreadable)"
    if x is None or y is None:
        return None, f" ({a.dtype} is not decoded)"
    return _value_diff(x, y), ""


# -- graph config, IR text ------------------------------------------------------------------------


def json_changes(a: Any, b: Any) -> list[str]:
    """Differences of two JSON documents as 'pointer: old → new' lines, lists aligned so that
    one inserted item is one line (items that only shifted are not reported)."""
    if a == b:
        return []
    # deepdiff imports numpy (~0.1 s): only a diff with differing JSON pays for it
    from deepdiff import DeepDiff
    from deepdiff.helper import CannotCompare

    def same_item(x: Any, y: Any, level: Any = None) -> bool:
        """Graph nodes pair by name, containers by equality; numbers and strings fall back
        to position."""
        if isinstance(x, dict) and isinstance(y, dict) and "name" in x and "name" in y:
            return bool(x["name"] == y["name"])
        if isinstance(x, dict | list) or isinstance(y, dict | list):
            return bool(x == y)
        raise CannotCompare from None

    tree = DeepDiff(a, b, view="tree", threshold_to_diff_deeper=0,
                    iterable_compare_func=same_item)
    out: list[tuple[str, str]] = []
    moves: list[tuple[int, int, str]] = []
    for kind, levels in tree.items():
        for level in levels:
            old_path = level.path(output_format="list")
            new_path = level.path(output_format="list", use_t2=True)
            if kind == "iterable_item_moved":
                moves.append((old_path[-1], new_path[-1], _pointer(new_path)))
                continue
            added = kind.endswith("_added")
            pointer = _pointer(new_path if added else old_path)
            old = "(absent)" if added else _shown(level.t1)
            new = "(absent)" if kind.endswith("_removed") else _shown(level.t2)
            out.append((pointer, f"{pointer}: {old} → {new}"))
    moves.sort(key=lambda m: m[1])
    if any(m[0] > n[0] for m, n in itertools.pairwise(moves)):
        out += [(pointer, f"{pointer}: moved from index {i}") for i, _, pointer in moves]
    return [line for _, line in sorted(out)]


def _pointer(path: list[Any]) -> str:
    return "".join("/" + escape_token(str(k)) for k in path)


def _shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def compare_graph(p: Pair) -> Iterator[Item]:
    """The graph executor config as JSON (deepdiff, lists aligned), pointer by pointer."""
    for old_m, new_m, label in p.both():
        a, b = p.old.graph(old_m), p.new.graph(new_m)
        has_a = "graph config" in p.old.role_paths(old_m)
        has_b = "graph config" in p.new.role_paths(new_m)
        if (has_a and a is None) or (has_b and b is None):
            yield Note("graph", label, "skipped", "a graph config is unreadable; not compared")
            continue
        if a is None and b is None:
            continue
        if a is None or b is None:
            yield Change(Rule.D601, "graph", label, "graph config",
                         Count(len(a.doc["nodes"]), "node") if a else None,
                         Count(len(b.doc["nodes"]), "node") if b else None,
                         f"only the {'old' if a else 'new'} archive has a graph config")
            continue
        out = json_changes(a.doc, b.doc)
        if out:
            yield Change(Rule.D601, "graph", label, "graph config",
                         Count(len(a.doc["nodes"]), "node"), Count(len(b.doc["nodes"]), "node"),
                         f"{len(out)} JSON value(s) differ", _clip(out))


def compare_ir(p: Pair) -> Iterator[Item]:
    """The Relay/Relax text, normalised."""
    for old_m, new_m, label in p.both():
        a, b = p.old.ir_text(old_m), p.new.ir_text(new_m)
        if a == b:
            continue
        yield Change(Rule.D701, "ir", label, "IR text",
                     None if a is None else Count(a.count("\n") + 1, "line"),
                     None if b is None else Count(b.count("\n") + 1, "line"),
                     "the model's IR differs", _unified(a or "", b or "", "IR"))


# -- any other member -----------------------------------------------------------------------------

MAX_TEXT_DIFF = 1024 * 1024


def compare_members(p: Pair) -> Iterator[Item]:
    """Members no other comparator reads: added, removed, JSON or text diff, or size and hash."""
    old = {m.name: m for m in p.old.ctx.archive.files() if m.name not in p.old.claimed}
    new = {m.name: m for m in p.new.ctx.archive.files() if m.name not in p.new.claimed}
    for name in sorted(set(old) | set(new)):
        if name not in new:
            yield Change(Rule.D802, "members", "", name, Size(old[name].size), None,
                         "only in the old archive")
        elif name not in old:
            yield Change(Rule.D801, "members", "", name, None, Size(new[name].size),
                         "only in the new archive")
        else:
            yield from _member(p, name)


def _member(p: Pair, name: str) -> Iterator[Item]:
    a_arch, b_arch = p.old.ctx.archive, p.new.ctx.archive
    if not (a_arch.readable(name) and b_arch.readable(name)):
        yield Note("members", "", "skipped", f"{name} is over the size limit; not compared")
        return
    a, b = a_arch.read(name), b_arch.read(name)
    if a == b:
        return
    ha, hb = hashlib.sha256(a).hexdigest()[:12], hashlib.sha256(b).hexdigest()[:12]
    details: tuple[str, ...] = (f"sha256 {ha} → {hb}",)
    why = "content differs"
    if max(len(a), len(b)) <= MAX_TEXT_DIFF:
        with contextlib.suppress(UnicodeDecodeError):
            details = _unified(a.decode("utf-8"), b.decode("utf-8"), name)
        if name.endswith(".json"):
            with contextlib.suppress(JSONDocError):
                limit = a_arch.limits.max_json_depth
                lines = json_changes(parse_bytes(a, max_depth=limit).value,
                                     parse_bytes(b, max_depth=limit).value)
                details, why = _clip(lines), f"{len(lines)} JSON value(s) differ"
    yield Change(Rule.D803, "members", "", name, Size(len(a)), Size(len(b)), why, details)


COMPARATORS: tuple[Comparator, ...] = (
    Comparator("metadata", (Rule.D101, Rule.D102, Rule.D103, Rule.D105, Rule.D106, Rule.D107,
                            Rule.D108, Rule.D109, Rule.D110, Rule.D111, Rule.D112, Rule.D113),
               compare_metadata),
    Comparator("layout", (Rule.D104,), compare_layout),
    Comparator("memory", (Rule.D201, Rule.D202, Rule.D203, Rule.D204, Rule.D205, Rule.D206,
                          Rule.D207, Rule.D208, Rule.D209, Rule.D210), compare_memory),
    Comparator("io", (Rule.D301, Rule.D302, Rule.D303, Rule.D304, Rule.D305, Rule.D306,
                      Rule.D307, Rule.D308, Rule.D309, Rule.D310), compare_io),
    Comparator("codegen", (Rule.D401, Rule.D402, Rule.D403, Rule.D404, Rule.D405, Rule.D406,
                           Rule.D407, Rule.D408, Rule.D409, Rule.D410, Rule.D411, Rule.D412,
                           Rule.D413, Rule.D414, Rule.D415, Rule.D416, Rule.D804),
               compare_codegen),
    Comparator("parameters", (Rule.D501, Rule.D502, Rule.D503, Rule.D504, Rule.D505),
               compare_parameters),
    Comparator("graph", (Rule.D601,), compare_graph),
    Comparator("ir", (Rule.D701,), compare_ir),
    Comparator("members", (Rule.D801, Rule.D802, Rule.D803), compare_members),
)
"""Every comparator, most specific first; each rule belongs to exactly one."""
