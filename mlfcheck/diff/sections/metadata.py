"""The metadata section: MLF version, modules added, removed or renamed, metadata keys (renames
by version) and descriptive values (executor, target, export time, the rest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

from mlfcheck.diff.result import Change, Note
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.common import Comparator, Item, Pair
from mlfcheck.reading.model import Module

SECTION = "metadata"
change = partial(Change, section=SECTION)
note = partial(Note, section=SECTION)

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
                or (value and all(k.isascii() and k.isdigit() for k in value)))
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
        yield change(rule=Rule.D101, module="", subject="MLF version", old=str(ov), new=str(nv),
                     reason=f"the new archive declares an older format; consumers of v{ov} read "
                     f"keys and paths that v{nv} spells differently")
    elif nv > ov:
        yield change(rule=Rule.D102, module="", subject="MLF version", old=str(ov), new=str(nv),
                     reason="newer format; consumers that check the version see it, renamed "
                     "keys and paths are listed")
    for mp in p.modules:
        if mp.old is None or mp.new is None:
            yield change(rule=Rule.D107 if mp.old is None else Rule.D108, module=mp.label,
                         subject="module", old=None if mp.old is None else mp.old.name,
                         new=None if mp.new is None else mp.new.name,
                         reason="only in the new archive" if mp.old is None else
                         "its consumers lose their code, parameters and entry points")
            continue
        if mp.old.name != mp.new.name:
            yield change(rule=Rule.D109, module=mp.label, subject="module name",
                         old=mp.old.name, new=mp.new.name, reason="file paths, the header and "
                         "every tvmgen_<m>_ symbol are named after the module")
        yield from _keys(p, mp.old, mp.new, mp.label)
        yield from _values(mp.old, mp.new, mp.label)


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
            yield change(rule=Rule.D103, module=label, subject="metadata key", old=shown[0],
                         new=shown[1], reason=f"renamed by the MLF v{step} format "
                         "(mlf-spec.md §3.1)")
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
        yield change(rule=rule, module=label, subject="metadata key", old=path, new=None,
                     reason=why)
    for path in _top(new - old):
        yield change(rule=Rule.D106, module=label, subject="metadata key", old=None, new=path,
                     reason="consumers ignore keys they do not read")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _values(old_m: Module, new_m: Module, label: str) -> Iterator[Item]:
    old_exec = ", ".join((old_m.style, *old_m.executors))
    new_exec = ", ".join((new_m.style, *new_m.executors))
    if old_exec != new_exec:
        yield change(rule=Rule.D111, module=label, subject="executor", old=old_exec,
                     new=new_exec, reason="consumers drive each executor through a different API")
    if old_m.targets != new_m.targets:
        yield change(rule=Rule.D112, module=label, subject="target",
                     old="; ".join(old_m.targets), new="; ".join(new_m.targets),
                     reason="code generated for another target may not run on the old device")
    if old_m.export_datetime != new_m.export_datetime:
        yield change(rule=Rule.D113, module=label, subject="export_datetime",
                     old=old_m.export_datetime, new=new_m.export_datetime,
                     reason="every export writes its time")
    old_extra = {"external_dependencies": list(old_m.external_dependencies), **old_m.extra}
    new_extra = {"external_dependencies": list(new_m.external_dependencies), **new_m.extra}
    for key in sorted(set(old_extra) | set(new_extra)):
        a, b = old_extra.get(key), new_extra.get(key)
        if a != b and (a or b):
            yield change(rule=Rule.D110, module=label, subject=key, old=_json(a), new=_json(b),
                         reason="descriptive; no consumer computes with it")


def _json(value: Any) -> str | None:
    if value is None or value == []:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


COMPARATOR = Comparator(
    section=SECTION,
    rules=(Rule.D101, Rule.D102, Rule.D103, Rule.D105, Rule.D106, Rule.D107, Rule.D108,
           Rule.D109, Rule.D110, Rule.D111, Rule.D112, Rule.D113),
    fn=compare_metadata)
