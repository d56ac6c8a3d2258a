"""C numeric literals: their values, and weight arrays left out of the parse.

A brace list of numeric literals only (a weight array) is valid C by construction, so the parser
is not given its inside (`parse_tree`): its elements are counted from the text, and compared by
value (`parse_number`) when a diff asks. `LANGUAGE` is tree-sitter-c, the grammar every parse
uses; every parse reads its text through a callable, the form in which tree-sitter calls a
progress callback (`Steps`), which counts the parse's steps and can stop it.
"""

from __future__ import annotations

import re

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Range, Tree

LANGUAGE = Language(tree_sitter_c.language())
"""tree-sitter-c."""
_ELEMENT = (rb"(?:[+-][ \t\n]*)?(?:0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)"
            rb"[pP][+-]?[0-9]+[fFlL]*|0[xX][0-9a-fA-F]+[uUlL]*|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
            rb"(?:[eE][+-]?[0-9]+)?[uUlLfF]*)")
"""One numeric literal with an optional sign, as C writes it (hex float, hex, decimal). Every
string it matches, it matches one way only (whitespace only after a sign, no `f` suffix on a
hex integer), so a list that fails to match fails in linear time."""
_NUMBER = re.compile(r"^([+-]?)\s*(0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*(?:[pP][+-]?\d+)?|"
                     r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[uUlLfF]*$")

_LIST_CHARS = re.compile(rb"\{[-+0-9a-fA-FxXpP.uUlL, \t\n]{256,}\}")
"""A brace list of at least 256 bytes that could hold numbers only (one character class: a
linear scan); `numeric_elements` then decides."""
_ONE_ELEMENT = re.compile(rb"[ \t\n]*" + _ELEMENT + rb"[ \t\n]*")
_WINDOW = 1 << 16
"""Bytes of a list split at a time, so checking a huge list needs little memory."""
_KNOWN = 4096
"""Distinct element spellings remembered as checked (float weights have millions)."""
_CHUNK = 1 << 16
"""Bytes handed to the parser per read."""


def numeric_elements(text: bytes, start: int, end: int) -> int | None:
    """How many elements `text[start:end]` holds when it is the inside of a brace list of
    numeric literals only (a trailing comma allowed); None when it is anything else.

    Weight arrays repeat a few spellings (int8 weights: at most 512), so each distinct element
    is matched once (up to `_KNOWN` spellings remembered); the list itself is only split at
    commas, at C speed, a window at a time, and the first window holding something else ends
    the count."""
    known: set[bytes] = set()
    count, at = 0, start
    while True:
        cut = text.find(b",", min(at + _WINDOW, end), end)
        tokens = text[at:end if cut < 0 else cut].split(b",")
        if cut < 0 and not tokens[-1].strip():
            tokens.pop()  # after a trailing comma, or an empty list
        fresh = set(tokens) - known
        if not all(_ONE_ELEMENT.fullmatch(t) for t in fresh):
            return None
        if len(known) < _KNOWN:
            known |= fresh
        count += len(tokens)
        if cut < 0:
            return count or None
        at = cut + 1


def skippable_lists(text: bytes) -> list[tuple[int, int, int]]:
    """(offset of `{`, offset after `}`, element count) of every brace list of numeric literals
    only that is long enough to be worth leaving out of the parse."""
    lists = ((m.start(), m.end()) for m in _LIST_CHARS.finditer(text))
    return [(start, end, n) for start, end in lists
            if (n := numeric_elements(text, start + 1, end - 1))]


def parse_cost(text: bytes) -> int:
    """Bytes of preprocessed C `parse_tree` gives the parser: the text without the insides of
    the lists it leaves out."""
    return len(text) - sum(end - start - 2 for start, end, _ in skippable_lists(text))


class Steps:
    """The progress callback of a parse: counts its steps (one per 100 parser operations) and
    cancels it once they pass `cap`."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.count = 0

    def __call__(self, offset: int, has_error: bool) -> bool:
        self.count += 1
        return self.count > self.cap

    @property
    def over(self) -> bool:
        """True when the parse was cancelled."""
        return self.count > self.cap


def _parse(text: bytes, steps: Steps, ranges: list[Range] | None = None) -> Tree | None:
    """One parse, fed through a read callable (the form that honours the progress callback,
    zero-copy slices of `text`); None when `steps` cancelled it."""
    view = memoryview(text)
    parser = Parser(LANGUAGE) if ranges is None else Parser(LANGUAGE, included_ranges=ranges)
    try:
        tree = parser.parse(lambda byte, _: view[byte:byte + _CHUNK], progress_callback=steps)
    except ValueError:  # py-tree-sitter's word for a parse the callback cancelled
        if steps.over:
            return None
        raise
    return None if steps.over else tree


def parse_tree(text: bytes, steps: Steps) -> tuple[Tree | None, dict[int, int]]:
    """The parse tree of `text` (None once `steps` passes its cap), and {offset of `{`: element
    count} of the numeric lists whose insides the parser was not given.

    A list of numeric literals only (`numeric_elements`) is valid C by construction, so the
    parser can leave its inside out (tree-sitter's included ranges): a weight array costs a
    split at its commas instead of a node per element. Each left-out list must come back as an
    empty `initializer_list` exactly where it was; if one does not (it sat in a comment or a
    string), the text is parsed again in full, on the same `steps`."""
    found = skippable_lists(text)
    if found:
        ranges, at, row, column = [], 0, 0, 0
        for start, end, _ in found:
            start_point = (row, column)
            row, column = _advance(text, at, start + 1, row, column)
            ranges.append(Range(start_point, (row, column), at, start + 1))
            row, column = _advance(text, start + 1, end - 1, row, column)
            at = end - 1
        ranges.append(Range((row, column), _advance(text, at, len(text), row, column), at,
                            len(text)))
        tree = _parse(text, steps, ranges)
        if tree is None or all(_is_list_at(tree.root_node, start, end)
                               for start, end, _ in found):
            return tree, {start: n for start, _, n in found}
    return _parse(text, steps), {}


def _advance(text: bytes, start: int, end: int, row: int, column: int) -> tuple[int, int]:
    """The (row, byte column) reached from (row, column) at `start` after reading to `end`."""
    breaks = text.count(b"\n", start, end)
    if not breaks:
        return row, column + end - start
    return row + breaks, end - text.rfind(b"\n", start, end) - 1


def _is_list_at(root: Node, start: int, end: int) -> bool:
    node = root.descendant_for_byte_range(start, end)
    return node is not None and node.type == "initializer_list" and \
        node.start_byte == start and node.end_byte == end


def parse_number(text: str) -> float | None:
    """A C numeric literal (sign, hex, float, suffixes) as a number; None otherwise."""
    m = _NUMBER.match(text.strip())
    if m is None:
        return None
    sign, body = m.group(1), m.group(2)
    try:
        if body[:2] in ("0x", "0X"):
            value = float(int(body, 16)) if re.fullmatch(r"0[xX][0-9a-fA-F]+", body) \
                else float.fromhex(body)
        elif re.fullmatch(r"0[0-7]+", body):
            value = float(int(body, 8))
        else:
            value = float(body)
    except ValueError:
        return None
    return -value if sign == "-" else value

