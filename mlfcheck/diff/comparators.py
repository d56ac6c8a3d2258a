"""The ordered table of comparators, most specific first; each yields Changes and Notes."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import math
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from mlfcheck.csource import Declaration, normalise
from mlfcheck.diff.config import Threshold
from mlfcheck.diff.normalise import CodeUnit, Snapshot
from mlfcheck.diff.result import Change, Note
from mlfcheck.diff.rules import Rule
from mlfcheck.errors import ArchiveError
from mlfcheck.model import Module, TensorSpec
from mlfcheck.params import ParamsError, Tensor
from mlfcheck.reporters.present import byte_count as _b

Item = Change | Note
MAX_DETAIL_LINES = 24
"""Longest unified diff or pointer list kept per change (the rest is counted)."""
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


# -- shared formatting ----------------------------------------------------------------------------


def _delta(old: int, new: int) -> str:
    diff = new - old
    pct = f" ({diff * 100 / old:+.1f} %)" if old else ""
    return f"{'grew' if diff > 0 else 'shrank'} by {_b(abs(diff))}{pct}"


def _growth(metric: str, old: int, new: int, threshold: Threshold) -> tuple[bool, str]:
    over = threshold.exceeded(old, new)
    where = "over" if over else "within"
    tail = f", {where} the {metric} threshold ({threshold})" if new > old else ""
    return over, _delta(old, new) + tail


def _clip(lines: list[str]) -> tuple[str, ...]:
    if len(lines) <= MAX_DETAIL_LINES:
        return tuple(lines)
    return (*lines[:MAX_DETAIL_LINES], f"... {len(lines) - MAX_DETAIL_LINES} more lines")


def _unified(old: str, new: str, name: str) -> tuple[str, ...]:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), f"old/{name}",
                                 f"new/{name}", n=1, lineterm="")
    return _clip(list(lines))


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
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 120 else text[:117] + "..."


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
                             else (False, _delta(a, b)))
                yield Change(over_rule if over and over_rule else rule, "memory", label,
                             f"main {metric} (device {device})", _b(a), _b(b), why)
        yield from _operators(p, old_m, new_m, label)
        if old_m.sids != new_m.sids and old_m.sids is not None and new_m.sids is not None:
            details = [f"storage_id {s.storage_id}: {s.size_bytes} B"
                       f"{' ' + s.input_binding if s.input_binding else ''}"
                       for s in set(old_m.sids) ^ set(new_m.sids)]
            yield Change(Rule.D209, "memory", label, "graph storage (sids)",
                         f"{len(old_m.sids)} entries, {_b(sum(s.size_bytes for s in old_m.sids))}",
                         f"{len(new_m.sids)} entries, {_b(sum(s.size_bytes for s in new_m.sids))}",
                         "the graph executor allocates these storage entries",
                         tuple(sorted(details)))
        if set(old_m.buffers) != set(new_m.buffers):
            details = [f"{'-' if b in old_m.buffers else '+'} {b.function}: {b.dtype} "
                       f"{list(b.shape)} {b.size_bytes} B"
                       for b in set(old_m.buffers) ^ set(new_m.buffers)]
            yield Change(Rule.D210, "memory", label, "operator buffers",
                         f"{len(old_m.buffers)} buffers", f"{len(new_m.buffers)} buffers",
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
                             f"workspace of {name} (device {device})", _b(a), _b(b), why)


# -- inputs and outputs ---------------------------------------------------------------------------

_IO_RULES = {"input": (Rule.D301, Rule.D302, Rule.D303, Rule.D304),
             "output": (Rule.D305, Rule.D306, Rule.D307, Rule.D308)}


def _tensor(t: TensorSpec) -> str:
    shape = f" {list(t.shape)}" if t.shape is not None else ""
    return f"{t.dtype}{shape}, {_b(t.size)}"


def compare_io(p: Pair) -> Iterator[Item]:
    """Inputs and outputs by name: added, removed, dtype, size or shape."""
    for old_m, new_m, label in p.both():
        old_io, new_io = p.old.io(old_m), p.new.io(new_m)
        if old_io is None or new_io is None:
            if (old_io is None) != (new_io is None):
                side = "old" if old_io is None else "new"
                yield Note("io", label, "skipped", f"the {side} archive does not describe its "
                           "inputs and outputs (no metadata inputs/outputs, no graph config); "
                           "not compared")
            continue
        for kind, old_specs, new_specs in (("input", old_io[0], new_io[0]),
                                           ("output", old_io[1], new_io[1])):
            removed, added, retyped, resized = _IO_RULES[kind]
            a = {t.name: t for t in old_specs}
            b = {t.name: t for t in new_specs}
            for name in sorted(set(a) | set(b)):
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


def _canonical(name: str, text: str) -> str:
    """Folded text with the function's own name (first occurrence: the header) replaced, so
    renamed copies of one body compare equal."""
    return normalise(text).replace(name.split("#", 1)[0], "@self", 1)


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
    differ = [n for n in old.functions
              if n in new.functions and old.functions[n].fn.text != new.functions[n].fn.text]
    removed = [n for n in old.functions if n not in new.functions]
    added = {n for n in new.functions if n not in old.functions}
    # byte-identical functions are unchanged: fold only the rest (most of a re-export is equal)
    new_canon = {n: _canonical(n, new.functions[n].fn.text) for n in (*differ, *added)}
    old_canon = {n: _canonical(n, old.functions[n].fn.text) for n in (*differ, *removed)}
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
    """Functions by name, then by body; code size; data declarations; ordering as a note."""
    for old_m, new_m, label in p.both():
        old, new = p.old.code(old_m), p.new.code(new_m)
        graph = p.old.graph(old_m)
        called = graph.calls if graph is not None else frozenset()
        m = match_functions(old, new)
        for name, to in sorted(m.renames.items()):
            if name in called:
                yield Change(Rule.D403, "codegen", label, "function renamed", name, to,
                             f"renamed to {to}; the old graph config calls {name}")
            else:
                yield Change(Rule.D404, "codegen", label, "function renamed", name, to,
                             "same body under a new name")
        for name in m.removed:
            f = old.functions[name]
            if name in called:
                yield Change(Rule.D403, "codegen", label, f"function {name}", _b(f.size), None,
                             "the old graph config calls it; a runtime holding that config "
                             "cannot find it")
            else:
                yield Change(Rule.D402, "codegen", label, f"function {name}", _b(f.size), None,
                             f"defined only in the old code ({f.file})")
        for name in m.added:
            f = new.functions[name]
            yield Change(Rule.D401, "codegen", label, f"function {name}", None, _b(f.size),
                         f"defined only in the new code ({f.file})")
        for name in m.changed:
            a, b = old.functions[name], new.functions[name]
            yield Change(Rule.D405, "codegen", label, f"function {name}", _b(a.size),
                         _b(b.size), "body differs" + (f", {_delta(a.size, b.size)}"
                                                       if a.size != b.size else ""),
                         _unified(m.substitute(a.fn.text), b.fn.text, name))
        old_size = sum(f.size for f in old.functions.values())
        new_size = sum(f.size for f in new.functions.values())
        if old_size != new_size and (m.changed or m.added or m.removed):  # not renames alone
            over, why = _growth("code", old_size, new_size, p.thresholds["code"])
            yield Change(Rule.D406 if over else Rule.D407, "codegen", label,
                         "generated code size", _b(old_size), _b(new_size),
                         why + f" over {len(new.functions)} functions")
        yield from _declarations(old, new, m, label)
        yield from _order(old, new, m, label)


def _declarations(old: CodeUnit, new: CodeUnit, m: Matching, label: str) -> Iterator[Item]:
    reordered = 0
    for key in sorted(set(old.declarations) | set(new.declarations)):
        a, b = old.declarations.get(key), new.declarations.get(key)
        if a is not None and b is not None:
            a_text = m.substitute(a.text)
            if a_text == b.text:
                continue
            if Declaration(a.key, a_text).elements == b.elements:
                reordered += 1
                continue
        yield Change(Rule.D408, "codegen", label, f"declaration {key}",
                     _clip_text(a.text) if a else None, _clip_text(b.text) if b else None,
                     "top-level data the generated code uses",
                     _unified(m.substitute(a.text) if a else "", b.text if b else "", key)
                     if a and b else ())
    if reordered:
        yield Note("codegen", label, "ordering", f"{reordered} declaration(s) list the same "
                   "elements in a different order (ordering only, not a change)")


def _clip_text(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


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
        old_t = {t.name: t for t in reversed(a.tensors)} if a else {}
        new_t = {t.name: t for t in reversed(b.tensors)} if b else {}
        for name in sorted(set(old_t) | set(new_t)):
            yield from _tensor_change(p, old_m, new_m, label, old_t.get(name), new_t.get(name))
        old_order = [t.name for t in (a.tensors if a else ()) if t.name in new_t]
        if old_order != [t.name for t in (b.tensors if b else ()) if t.name in old_t]:
            yield Note("parameters", label, "ordering", "tensors are stored in a different order "
                       "(ordering only, not a change)")


def _param(t: Tensor) -> str:
    return f"{t.dtype} {list(t.shape)}"


def _tensor_change(p: Pair, old_m: Module, new_m: Module, label: str, a: Tensor | None,
                   b: Tensor | None) -> Iterator[Item]:
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
        yield Change(Rule.D504, "parameters", label, subject, a.dtype, b.dtype,
                     "the tensor's element type changed")
    if a.shape != b.shape:
        yield Change(Rule.D503, "parameters", label, subject, str(list(a.shape)),
                     str(list(b.shape)), "the tensor's layout changed")
    if a.dtype == b.dtype and a.shape == b.shape and a.sha256 != b.sha256:
        yield Change(Rule.D505, "parameters", label, subject, _sha(a), _sha(b),
                     _value_delta(p, old_m, new_m, a, b))


def _sha(t: Tensor) -> str:
    return f"sha256 {(t.sha256 or '?')[:12]}"


def _value_delta(p: Pair, old_m: Module, new_m: Module, a: Tensor, b: Tensor) -> str:
    if a.nbytes > MAX_VALUE_BYTES:
        return f"values differ ({_b(a.nbytes)}, too large to compare element by element)"
    try:
        x = decode(a.dtype, p.old.tensor_bytes(old_m, a.data_offset, a.nbytes))
        y = decode(b.dtype, p.new.tensor_bytes(new_m, b.data_offset, b.nbytes))
    except ArchiveError:
        return "values differ (data unreadable)"
    if x is None or y is None:
        return f"values differ ({a.dtype} is not decoded)"
    diffs = [abs(u - v) for u, v in zip(x, y, strict=True) if u != v]
    finite = [d for d in diffs if not math.isnan(d)]
    biggest = f"max abs difference {max(finite):g}" if finite else "NaN values differ"
    return f"{len(diffs)} of {len(x)} values differ, {biggest}"


# -- graph config, IR text ------------------------------------------------------------------------


def _json_diff(a: Any, b: Any, pointer: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _json_diff(a.get(k, _MISSING), b.get(k, _MISSING), f"{pointer}/{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            _json_diff(a[i] if i < len(a) else _MISSING, b[i] if i < len(b) else _MISSING,
                       f"{pointer}/{i}", out)
    elif a != b:
        out.append(f"{pointer}: {_shown(a)} → {_shown(b)}")


_MISSING = object()


def _shown(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 60 else text[:57] + "..."


def compare_graph(p: Pair) -> Iterator[Item]:
    """The graph executor config as JSON, pointer by pointer."""
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
                         f"{len(a.doc['nodes'])} nodes" if a else None,
                         f"{len(b.doc['nodes'])} nodes" if b else None,
                         f"only the {'old' if a else 'new'} archive has a graph config")
            continue
        out: list[str] = []
        _json_diff(a.doc, b.doc, "", out)
        if out:
            yield Change(Rule.D601, "graph", label, "graph config",
                         f"{len(a.doc['nodes'])} nodes", f"{len(b.doc['nodes'])} nodes",
                         f"{len(out)} JSON values differ", _clip(out))


def compare_ir(p: Pair) -> Iterator[Item]:
    """The Relay/Relax text, normalised."""
    for old_m, new_m, label in p.both():
        a, b = p.old.ir_text(old_m), p.new.ir_text(new_m)
        if a == b:
            continue
        yield Change(Rule.D701, "ir", label, "IR text",
                     None if a is None else f"{a.count(chr(10)) + 1} lines",
                     None if b is None else f"{b.count(chr(10)) + 1} lines",
                     "the model's IR differs", _unified(a or "", b or "", "IR"))


# -- any other member -----------------------------------------------------------------------------

_HEADER = re.compile(r"^codegen/host/include/[^/]+\.h$")
MAX_TEXT_DIFF = 1024 * 1024


def compare_members(p: Pair) -> Iterator[Item]:
    """Members no other comparator reads: added, removed, text diff or size and hash."""
    old = {m.name: m for m in p.old.ctx.archive.files() if m.name not in p.old.claimed}
    new = {m.name: m for m in p.new.ctx.archive.files() if m.name not in p.new.claimed}
    for name in sorted(set(old) | set(new)):
        if name not in new:
            rule = Rule.D804 if _HEADER.match(name) else Rule.D802
            yield Change(rule, "members", "", name, _b(old[name].size), None,
                         "application code that includes it no longer compiles"
                         if rule is Rule.D804 else "only in the old archive")
        elif name not in old:
            yield Change(Rule.D801, "members", "", name, None, _b(new[name].size),
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
    if max(len(a), len(b)) <= MAX_TEXT_DIFF:
        with contextlib.suppress(UnicodeDecodeError):
            details = _unified(a.decode("utf-8"), b.decode("utf-8"), name)
    yield Change(Rule.D803, "members", "", name, _b(len(a)), _b(len(b)),
                 "content differs" + (f", {_delta(len(a), len(b))}" if len(a) != len(b)
                                      else ""), details)


COMPARATORS: tuple[Comparator, ...] = (
    Comparator("metadata", (Rule.D101, Rule.D102, Rule.D103, Rule.D105, Rule.D106, Rule.D107,
                            Rule.D108, Rule.D109, Rule.D110, Rule.D111, Rule.D112, Rule.D113),
               compare_metadata),
    Comparator("layout", (Rule.D104,), compare_layout),
    Comparator("memory", (Rule.D201, Rule.D202, Rule.D203, Rule.D204, Rule.D205, Rule.D206,
                          Rule.D207, Rule.D208, Rule.D209, Rule.D210), compare_memory),
    Comparator("io", (Rule.D301, Rule.D302, Rule.D303, Rule.D304, Rule.D305, Rule.D306,
                      Rule.D307, Rule.D308), compare_io),
    Comparator("codegen", (Rule.D401, Rule.D402, Rule.D403, Rule.D404, Rule.D405, Rule.D406,
                           Rule.D407, Rule.D408), compare_codegen),
    Comparator("parameters", (Rule.D501, Rule.D502, Rule.D503, Rule.D504, Rule.D505),
               compare_parameters),
    Comparator("graph", (Rule.D601,), compare_graph),
    Comparator("ir", (Rule.D701,), compare_ir),
    Comparator("members", (Rule.D801, Rule.D802, Rule.D803, Rule.D804), compare_members),
)
"""Every comparator, most specific first; each rule belongs to exactly one."""
