"""C as the first phases of translation leave it (C11 5.1.1.2, phases 2 and 3), before any
directive is recognised: lines joined at backslash-newlines (`unsplice`), then comments and
string and character literals, and the directives that stand outside them (`directives`).

A `#` starts a directive only where a compiler reads one: first on a line, after nothing but
blanks and comments (a comment that spans lines included: phase 3 reads it as one space),
outside every comment and literal. The directive runs to the first line break outside a comment;
a comment in it that holds a line break makes the text after it, up to that break, part of the
directive (`Directive.spill`).

Linear in the text, and nothing recurses: one regex pass with possessive repeats (no
backtracking, no stack that grows with the text) steps over code, comments, literals and the
directives nobody reads here (`#include`, `#pragma`, the null directive) at C speed, and stops
only at those `directives` yields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from mlfcheck.reading.csource.symbols import OPAQUE

SPLICE = re.compile(rb"\\[ \t\f\v]*\r?\n")
"""A backslash that ends a physical line (GCC and Clang accept blanks between the two)."""
_SPLICED = re.compile(rb"\\[ \t\f\v]*\r?\n(?:[^\n\\]++|\\(?![ \t\f\v]*\r?\n)|\\[ \t\f\v]*\r?\n)*+")
"""A line from its first splice to its end: the lines the splices join to it included."""

_LITERAL = rb'"(?:\\.|[^"\\\n])*+"?|' + rb"'(?:\\.|[^'\\\n])*+'?"
_COMMENT = rb"/\*(?:[^*]++|\*(?!/))*+(?:\*/|\Z)"
_LEAD = rb"(?:[ \t\f\v\r]++|/\*(?:[^*]++|\*(?!/))*+\*/)*+"
"""Blanks and whole comments: what may stand before a directive's `#` on its line."""
_BODY = rb"(?:[^/\"'\n]++|/(?![/*])|//[^\n]*+|" + _COMMENT + rb"|" + _LITERAL + rb")*+"
"""A directive after its `#`: up to the line break that ends it, comments spanning lines
included."""
_ONE_LINE_BODY = _BODY.replace(_COMMENT, rb"/\*(?:[^*\n]++|\*(?!/))*+\*/")
_READ = rb"(?:if|el|en|de|/)"
"""How the directives `directives` yields begin: #if*, #el*, #endif, #define, or a comment
before the name. Any other is stepped over when it ends on its line."""
_CODE = (rb"(?:[^/\"'\n]++|/(?![/*])|//[^\n]*+|" + _COMMENT + rb"|" + _LITERAL
         + rb"|\n(?!" + _LEAD + rb"\#)|\n" + _LEAD + rb"\#(?![ \t\f\v\r]*+" + _READ + rb")"
         + _ONE_LINE_BODY + rb"(?=\n|\Z))*+")
"""Code, comments, literals, line breaks not before a directive, and whole directives that
are not read: a `#` within a line is code (a stray `#` is a compiler's error, no directive)."""
_NEXT = re.compile(_CODE + rb"(?:\n" + _LEAD + rb"(\#)[ \t\f\v\r]*+(\w*+)(" + _BODY
                   + rb")|\Z)")
"""Code up to the next directive `directives` yields: its `#` (group 1), its name (2) and
what follows (3); or up to the end, where group 1 does not take part."""
_NAME = re.compile(rb"(\w*+)(.*)", re.S)


def unsplice(source: bytes) -> bytes:
    """`source` with each line continued by backslash-newlines written whole on its first
    physical line, and the line breaks of its splices after it, the splices' other bytes
    blanked: what phase 2 makes of it, at the same length, with the same line breaks, and
    with every line that follows where it was."""
    if b"\\" not in source:
        return source
    return _SPLICED.sub(_joined, source)


def _joined(m: re.Match[bytes]) -> bytes:
    """A line from its first splice on, joined, then the splices' line breaks."""
    spliced = m.group()
    joined = SPLICE.sub(b"", spliced)
    breaks = spliced.count(b"\n")
    return joined + b" " * (len(spliced) - len(joined) - breaks) + b"\n" * breaks


class Directive(NamedTuple):
    """One preprocessing directive: from its `#` to the line break that ends it."""

    start: int
    end: int
    """The offset of the line break that ends it (or of the end of the text)."""
    name: bytes
    """`if`, `ifdef`, `define`, ...; empty for the null directive."""
    rest: bytes
    """What follows the name, comments read as spaces, blanks stripped."""
    spill: int
    """Where its first comment that holds a line break starts; `end` when none does."""


def directives(text: bytes) -> Iterator[Directive]:
    """The directives of a text without splices (`unsplice`) that open, continue or close a
    conditional, or define a macro, and every directive a comment spills over lines; in
    order."""
    if b"#" not in text:
        return
    lined = b"\n" + text  # (every directive then follows a line break; offsets are one more)
    for m in _NEXT.finditer(lined):
        start, name, rest = m.start(1) - 1, m.group(2), m.group(3)
        if start < 0:
            return  # (the end: no directive is left)
        end = m.end() - 1
        if name == b"" and rest.startswith(b"/*"):  # `#/* ... */ifdef`: the name after it
            head = _NAME.match(uncommented(rest).lstrip())
            assert head is not None  # (the pattern matches any text)
            name, rest = head.group(1), head.group(2)
        spill = end
        if b"/" in rest:
            if b"\n" in rest:  # only a comment holds a line break there
                spill = next(c.start() for c in OPAQUE.finditer(lined, m.start(3), m.end())
                             if b"\n" in c.group()) - 1
            rest = uncommented(rest)
        yield Directive(start, end, name, rest.strip(), spill)


def uncommented(text: bytes) -> bytes:
    """`text` with each comment read as one space, as phase 3 reads it."""
    if b"/" not in text:
        return text
    return OPAQUE.sub(lambda c: b" " if c.group(1) is not None else c.group(), text)
