"""The metadata section: MLF version, modules added, removed or renamed, metadata keys (renames
by version) and descriptive values (executor, target, export time, the rest); and, when a side's
metadata does not read into a model, that fact (the new side becoming unusable is D114)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

from mlfcheck.diff.result import Change, Note
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.common import Comparator, Item, Pair
from mlfcheck.reading.loaded import Loaded
from mlfcheck.reading.model import Model, Module

SECTION = "metadata"
change = partial(Change, section=SECTION)
note = partial(Note, section=SECTION)

KEY_RENAMES: tuple[tuple[int, str, str, str, str], ...] = (
    (5, "runtimes", "executors", "runtimes", "executors"),
    (6, "target/*", "target/[]", 'target {"<device>": string}', "target [string]"),
)
"""(version that made it, old key path, new key path, old shown, new shown), mlf-spec.md §3.1."""


MAPS = frozenset({"inputs", "outputs", "integer_kernels"})
"""Objects whose keys are names, not keys the format defines (the schemas type them as maps,
`additionalProperties`): tensor names, and v8's kernel kinds under lowering.integer_kernels.
Device-numbered objects (v1-v5 targets) and operator-style memory are maps too."""


def unusable(old: Loaded, new: Loaded) -> Iterator[Item]:
    """For archives of which one side's metadata does not read into a model (so no section can
    be compared): a note per unusable side with the reason, and D114 when only the new side is
    unusable (every consumer of the old archive fails on it)."""
    for side, ctx in (("old", old), ("new", new)):
        model = ctx.model
        if not isinstance(model, Model):
            yield note(module="", kind="skipped", text=f"the {side} archive's metadata is "
                       f"unusable ({model.finding.code.name} at {model.finding.location()}: "
                       f"{model.finding.message}); no section was compared")
    model = new.model
    if isinstance(old.model, Model) and not isinstance(model, Model):
        yield change(rule=Rule.D114, module="", subject="metadata.json", old="reads into a model",
                     new=f"{model.finding.code.name}: {model.finding.message}",
                     reason="every consumer of the old archive fails on the new one; no section "
                     "can be compared", details=(model.finding.location(),))


def _key_paths(value: Any, prefix: str, style: str) -> dict[str, str]:
    """Every key path of a JSON value and the JSON kind at it ('object', 'array', 'value');
    list items are '[]', the keys of a map (`MAPS`) are '*'."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        parent = prefix.rsplit("/", 1)[-1]
        wild = (parent in MAPS or (style == "operator" and prefix == "memory")
                or (value and all(k.isascii() and k.isdigit() for k in value)))
        for k, v in value.items():
            path = f"{prefix}/{'*' if wild else k}" if prefix else k
            out[path] = _kind(v)
            out.update(_key_paths(v, path, style))
    elif isinstance(value, list):
        if value:
            out[f"{prefix}/[]"] = "|".join(sorted({_kind(v) for v in value}))
        for v in value:
            out.update(_key_paths(v, f"{prefix}/[]", style))
    return out


def _kind(value: Any) -> str:
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) \
        else "value"


def _top(paths: set[str], old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Paths whose parent is not in the set (report a removed subtree once), but not the
    entries of a map or a list both sides have (its keys or items are data, so entries coming
    or going are not keys of the format): a map is an object with no named key on either
    side."""
    def named(parent: str) -> bool:
        return any(k.startswith(parent + "/") and k.count("/") == parent.count("/") + 1
                   and not k.endswith("/*") for k in (*old, *new))
    out = []
    for p in sorted(paths):
        parent, _, last = p.rpartition("/")
        if parent in paths:
            continue
        kind = {"*": "object", "[]": "array"}.get(last)
        if kind is not None and old.get(parent) == new.get(parent) == kind and not (
                kind == "object" and named(parent)):
            continue
        out.append(p)
    return out


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
            old = {dst + k[len(src):] if _under(k, src) else k: v for k, v in old.items()}
    same_kind = (old_m.style, old_m.executors) == (new_m.style, new_m.executors)
    for path in _top(set(old) - set(new), old, new):
        if ov != nv:
            rule, why = Rule.D106, f"the version changed too (v{ov} → v{nv})"
        elif not same_kind:
            rule, why = Rule.D106, "the executor changed too (D111)"
        else:
            rule, why = Rule.D105, (f"both declare v{ov}, so consumers are not told the "
                                    "format changed")
        yield change(rule=rule, module=label, subject="metadata key", old=path, new=None,
                     reason=why)
    for path in _top(set(new) - set(old), old, new):
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
           Rule.D109, Rule.D110, Rule.D111, Rule.D112, Rule.D113, Rule.D114),
    fn=compare_metadata)
