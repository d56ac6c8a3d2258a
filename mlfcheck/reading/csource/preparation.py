"""TVM's generated C made readable by tree-sitter-c, the way a C compiler reads it.

The text is lexed first (`lexing`): lines joined at backslash-newlines, comments and literals
found, so that a directive is one only where a compiler reads one. Then, offsets kept (so every
line:column stays true): TVM's `#ifdef __cplusplus` blocks are dropped as a compiler without
`__cplusplus` drops them (`extern "C" {` and its `}` sit in separate ones); what a comment
spanning lines makes part of a directive is blanked; and the macros `TVM_DLL` /
`TVM_ATTRIBUTE_UNUSED`, which stand undefined before declarations, are blanked. GNU
`__attribute__((...))`, which tree-sitter-c rejects after a declarator where GCC accepts it, is
blanked for the parser and handed back for the declaration's storage.

Every other conditional and `extern "C" { ... }` is left for the reader, which reads through
them; which conditional each stretch of text sits under, and whether a compiler skips it for
certain (`#if 0`), is noted in `Conditions` (include guards are not conditions).
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from typing import NamedTuple

from mlfcheck.reading.csource.lexing import Directive, directives, uncommented, unsplice
from mlfcheck.reading.csource.symbols import OPAQUE, Condition, fold_code

_BLANKED_MACROS = re.compile(rb"TVM_(?:DLL|ATTRIBUTE_UNUSED)\b")
"""(An identifier character before the match makes it part of another name.)"""
_ATTRIBUTE = re.compile(rb"__attribute__\s*\(\(((?:[^()]|\([^()]*\))*)\)\)")
_CPLUSPLUS_IF = re.compile(rb"(!?)\s*(?:defined\s*\(\s*__cplusplus\s*\)|defined\s+__cplusplus|"
                           rb"__cplusplus)")
"""`#if` tests of `__cplusplus` alone, matched whole on a test of at most `_SHORT` bytes: a
longer one is not one of these (so no pattern ever runs over a long line)."""
_INTEGER = re.compile(rb"(?:0[xX]([0-9a-fA-F]+)|([0-9]+))[uUlL]*")
_WORD = re.compile(rb"\w+")
_SHORT = 64
_REMEMBERED = 256
_IDENTIFIER_BYTE = tuple(chr(b).isascii() and (chr(b).isalnum() or b == 0x5F) for b in range(256))
_BLANKS = bytes(0x0A if b == 0x0A else 0x20 for b in range(256))
"""bytes.translate table: every byte a space but the line feed."""
_SHOWN = 80
"""Characters of a directive a `Condition` keeps."""

Under = tuple[int, int, bool] | None
"""The branch a stretch of text sits under: the offset and line of the directive that opens
it, and whether a compiler skips it for certain; None: no conditional."""


class Conditions:
    """Which conditional each stretch of one file's text sits under, as `prepare` found them;
    empty for a file without any (TVM's output), where asking costs nothing."""

    def __init__(self, text: bytes) -> None:
        self._text = text
        self._starts = array("q")
        """Where each stretch starts; each runs to the next."""
        self._opened = array("q")
        """The offset of the directive that opens its branch; -1 for none."""
        self._lines = array("q")
        self._skipped = bytearray()
        self._last: Under = None

    def mark(self, at: int, under: Under) -> None:
        """From offset `at` on, the text sits under `under`."""
        if under == self._last:
            return
        self._last = under
        opened, line, skipped = under if under is not None else (-1, 0, False)
        self._starts.append(at)
        self._opened.append(opened)
        self._lines.append(line)
        self._skipped.append(skipped)

    def at(self, offset: int) -> Condition | None:
        """The conditional that offset `offset` sits under; None outside every one."""
        i = bisect_right(self._starts, offset) - 1
        if i < 0 or self._opened[i] < 0:
            return None
        opened = self._opened[i]
        end = self._text.find(b"\n", opened, opened + 4 * _SHOWN)
        line = uncommented(self._text[opened:end if end >= 0 else opened + 4 * _SHOWN])
        shown = fold_code(line).decode("utf-8", "backslashreplace")
        if len(shown) > _SHOWN:
            shown = shown[:_SHOWN - 1] + "…"
        return Condition(shown, self._lines[i], bool(self._skipped[i]))


class Prepared(NamedTuple):
    """One file made ready for the parser."""

    text: bytes
    """The source as a compiler without `__cplusplus` sees it, same length, same line
    breaks."""
    attributes: list[tuple[int, str]]
    """(offset, folded contents) of every `__attribute__((...))` blanked in `text`."""
    conditions: Conditions


def preprocess(source: bytes) -> bytes:
    """`source` as a C compiler without `__cplusplus` sees it, same length, same line breaks."""
    return prepare(source).text


def prepare(source: bytes) -> Prepared:
    """The preprocessed text, the attributes it blanks, and the conditionals it leaves.

    The attributes: tree-sitter-c rejects GNU attributes after a declarator, where GCC accepts
    them (v8's `uint8_t w[128] __attribute__((aligned(64)));`); the reader puts them back as
    storage. Attributes inside comments, literals and dropped `__cplusplus` blocks are not
    among them.

    Linear in the text: every stretch to blank is noted first, and each byte blanked once."""
    text = unsplice(source)
    walk = _Walk(text)
    walk.run()
    out = bytearray(text)
    for start, end in _merged(walk.blanked):
        _blank(out, start, end)
    for m in _BLANKED_MACROS.finditer(out):
        if not m.start() or not _IDENTIFIER_BYTE[out[m.start() - 1]]:
            _blank(out, m.start(), m.end())
    snapshot = bytes(out)
    attributes = []
    opaque = OPAQUE.finditer(snapshot)
    lexeme = None
    for m in _ATTRIBUTE.finditer(snapshot):
        while lexeme is None or lexeme.end() <= m.start():  # the next comment or literal
            lexeme = next(opaque, None)
            if lexeme is None:
                break
        if lexeme is not None and lexeme.start() <= m.start():
            continue  # in a comment (v7's `// __attribute__((section(...)))`) or a string
        text_of = fold_code(m.group(1)).rstrip(b",")  # v7 writes `section(".rodata.tvm"), `
        attributes.append((m.start(), text_of.decode("utf-8", "backslashreplace")))
        _blank(out, m.start(), m.end())
    return Prepared(bytes(out), attributes, walk.conditions)


@dataclass(slots=True)
class _Group:
    """One conditional group (`#if` ... `#endif`) while it is walked."""

    tvm: bool
    """A test of `__cplusplus` (TVM's guards): its directives and dropped branches are blanked."""
    outer: Under
    under: Under = None
    """What the current branch sits under."""
    taken: bool = False
    """A branch before this one is compiled for certain."""
    untaken: bool = True
    """Every branch before this one is skipped for certain."""
    dropping: int = -1
    """Where the blanked current branch starts; -1 when it is kept."""

    def after(self, test: bool | None) -> bool | None:
        """Whether the branch of an `#elif` with this test (an `#else`: True) is compiled,
        given the branches before it."""
        if self.taken:
            return False
        return test if self.untaken or test is False else None


class _Walk:
    """The directives of one text, walked in order, with a stack of their groups: what is
    blanked, and the `Conditions` of the text."""

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.blanked: list[tuple[int, int]] = []
        self.groups: list[_Group] = []
        self.conditions = Conditions(text)
        self.line, self.counted = 1, 0
        self.tests: dict[tuple[bytes, bytes], tuple[bool | None, bool]] = {}

    def run(self) -> None:
        """Walk every directive of the text, in order."""
        previous: Directive | None = None
        for directive in directives(self.text):
            if previous is not None:
                self.step(previous, directive)
            previous = directive
        if previous is not None:
            self.step(previous, None)

    def step(self, d: Directive, following: Directive | None) -> None:
        """Walk one directive (`following`: the next, for an include guard's `#define`)."""
        if d.spill < d.end:  # a compiler reads the lines up to `end` as part of the directive
            self.blanked.append((d.spill, d.end))
        name = d.name
        if name in (b"if", b"ifdef", b"ifndef"):
            value, tvm = self.test(name, d.rest)
            if value is None and name == b"ifndef" and following is not None and \
                    following.name == b"define" and _first_word(following.rest) == \
                    _first_word(d.rest):
                value = True  # an include guard: read on first inclusion
            self.groups.append(_Group(tvm, self.groups[-1].under if self.groups else None))
            self.branch(d, value)
        elif name in (b"elif", b"elifdef", b"elifndef", b"else") and self.groups:
            self.branch(d, self.groups[-1].after(True if name == b"else" else
                                                 self.test(name[2:], d.rest)[0]))
        elif name == b"endif" and self.groups:
            self.close(self.groups.pop(), d)
        else:
            return
        self.conditions.mark(d.end, self.groups[-1].under if self.groups else None)

    def close(self, group: _Group, d: Directive) -> None:
        """End the group's current branch at directive `d`: a `__cplusplus` group's
        directive lines and dropped branches are blanked."""
        if group.tvm:
            self.blanked.append((group.dropping if group.dropping >= 0 else d.start, d.end))

    def branch(self, d: Directive, value: bool | None) -> None:
        """Open the branch directive `d` starts in the innermost group: compiled for certain
        (True), skipped for certain (False), or it depends (None)."""
        group = self.groups[-1]
        self.close(group, d)
        group.dropping = d.end if group.tvm and value is False else -1
        group.taken |= value is True
        group.untaken &= value is False
        outer = group.outer
        if outer is not None and outer[2]:
            group.under = outer  # inside a skipped branch, all of it is skipped
        elif value is None or (value is False and not group.tvm):
            group.under = (d.start, self.line_of(d.start), value is False)
        else:
            group.under = outer

    def test(self, kind: bytes, rest: bytes) -> tuple[bool | None, bool]:
        """`_test`, remembered for up to `_REMEMBERED` short tests (a text repeats a few)."""
        known = self.tests.get((kind, rest))
        if known is None:
            known = _test(kind, rest)
            if len(rest) <= _SHORT and len(self.tests) < _REMEMBERED:
                self.tests[kind, rest] = known
        return known

    def line_of(self, offset: int) -> int:
        """The line of `offset` (asked in increasing order: counted once)."""
        self.line += self.text.count(b"\n", self.counted, offset)
        self.counted = offset
        return self.line


def _test(kind: bytes, rest: bytes) -> tuple[bool | None, bool]:
    """What an `#if`, `#ifdef` or `#ifndef` test is without any macro from outside: True or
    False when it is known (`__cplusplus` undefined, an integer), None when it depends; and
    whether it tests `__cplusplus` alone (TVM's guards)."""
    cplusplus = _cplusplus(kind, rest)
    if cplusplus is not None or kind != b"if" or len(rest) > _SHORT:
        return cplusplus, cplusplus is not None
    number = _INTEGER.fullmatch(rest)
    if number is None:
        return None, False
    return (number.group(1) or number.group(2)).strip(b"0") != b"", False


def _cplusplus(kind: bytes, rest: bytes) -> bool | None:
    """The value of a test of `__cplusplus` alone (undefined in C); None for any other test."""
    if kind in (b"ifdef", b"ifndef"):
        return None if _first_word(rest) != b"__cplusplus" else kind == b"ifndef"
    test = _CPLUSPLUS_IF.fullmatch(rest) if kind == b"if" and len(rest) <= _SHORT else None
    return None if test is None else test.group(1) == b"!"


def _first_word(rest: bytes) -> bytes:
    word = _WORD.match(rest)
    return word.group() if word is not None else b""


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans, overlapping ones joined, in order (nested blocks blank their bytes once)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _blank(buf: bytearray, start: int, end: int) -> None:
    """Replace bytes with spaces, keeping line breaks (so positions stay the same)."""
    buf[start:end] = bytes(buf[start:end]).translate(_BLANKS)
