"""The supporting lines of a change: capped unified diffs of text, with long lines cut around
their first difference, and differing JSON Pointers of two JSON documents."""

from __future__ import annotations

import difflib
import itertools
import json
from typing import Any

from mlfcheck.reading.jsondoc import escape_token

MAX_DETAIL_LINES = 24
"""Longest unified diff or pointer list kept per change (the rest is counted)."""
MAX_LINE = 200
"""Longest excerpt line kept; longer ones are cut around their first difference."""


def clip(lines: list[str]) -> tuple[str, ...]:
    """At most MAX_DETAIL_LINES of `lines`, the rest counted in a last line."""
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


def unified(old: str, new: str, name: str) -> tuple[str, ...]:
    """A unified diff excerpt: at most MAX_DETAIL_LINES lines of at most ~MAX_LINE chars, each
    long changed line cut around its first difference from its counterpart."""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), f"old/{name}",
                                      f"new/{name}", n=1, lineterm=""))
    out = []
    for i, line in enumerate(lines[:MAX_DETAIL_LINES + 1]):
        twin = next((other for other in lines[i + 1:i + 2] + lines[max(i - 1, 0):i]
                     if other[:1] in "+-" and other[:1] != line[:1]), "")
        out.append(_cut(line, _first_difference(line[1:], twin[1:]) + 1))
    return clip(out + lines[len(out):])


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
