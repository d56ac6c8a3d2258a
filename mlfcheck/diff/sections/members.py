"""The other-members section: members no other section reads, added, removed, or compared as
JSON, as text or by size and hash."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from functools import partial

from mlfcheck.diff.result import Change, Note, Size
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.common import Comparator, Item, Pair
from mlfcheck.diff.sections.excerpts import clip, json_changes, unified
from mlfcheck.reading.jsondoc import JSONDocError, parse_bytes

SECTION = "members"
change = partial(Change, section=SECTION)
note = partial(Note, section=SECTION)

MAX_TEXT_DIFF = 1024 * 1024
"""Largest member compared as text or JSON (larger ones by size and hash only)."""


def compare_members(p: Pair) -> Iterator[Item]:
    """Members no other comparator reads: added, removed, JSON or text diff, or size and hash."""
    old = {m.name: m for m in p.old.ctx.archive.files() if m.name not in p.old.claimed}
    new = {m.name: m for m in p.new.ctx.archive.files() if m.name not in p.new.claimed}
    for name in sorted(set(old) | set(new)):
        if name not in new:
            yield change(rule=Rule.D802, module="", subject=name, old=Size(old[name].size),
                         new=None, reason="only in the old archive")
        elif name not in old:
            yield change(rule=Rule.D801, module="", subject=name, old=None,
                         new=Size(new[name].size), reason="only in the new archive")
        else:
            yield from _member(p, name)


def _member(p: Pair, name: str) -> Iterator[Item]:
    a_arch, b_arch = p.old.ctx.archive, p.new.ctx.archive
    if not (a_arch.readable(name) and b_arch.readable(name)):
        yield note(module="", kind="skipped", text=f"{name} is over the size limit; not compared")
        return
    a, b = a_arch.read(name), b_arch.read(name)
    if a == b:
        return
    ha, hb = hashlib.sha256(a).hexdigest()[:12], hashlib.sha256(b).hexdigest()[:12]
    details: tuple[str, ...] = (f"sha256 {ha} → {hb}",)
    why = "content differs"
    if max(len(a), len(b)) <= MAX_TEXT_DIFF:
        with contextlib.suppress(UnicodeDecodeError):
            details = unified(a.decode("utf-8"), b.decode("utf-8"), name)
        if name.endswith(".json"):
            with contextlib.suppress(JSONDocError):
                limit = a_arch.limits.max_json_depth
                lines = json_changes(parse_bytes(a, max_depth=limit).value,
                                     parse_bytes(b, max_depth=limit).value)
                details, why = clip(lines), f"{len(lines)} JSON value(s) differ"
    yield change(rule=Rule.D803, module="", subject=name, old=Size(len(a)), new=Size(len(b)),
                 reason=why, details=details)


COMPARATOR = Comparator(section=SECTION, rules=(Rule.D801, Rule.D802, Rule.D803),
                        fn=compare_members)
