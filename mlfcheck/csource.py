"""Generated C source split into top-level function definitions.

Not a C parser: a tokenizer that skips comments, strings and preprocessor lines and matches
braces, which is enough for the code TVM generates (and robust on anything else: text it cannot
place is simply not a function).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKENS = re.compile(
    r"//[^\n]*"
    r"|/\*.*?(?:\*/|\Z)"
    r"|\"(?:\\.|[^\"\\\n])*\"?"
    r"|'(?:\\.|[^'\\\n])*'?"
    r"|^[ \t]*\#(?:\\\n|[^\n])*"
    r"|[{};]",
    re.S | re.M,
)
_NOT_FUNCTION = re.compile(r"(?:^|\s)(?:struct|union|enum|typedef)\s+\w*\s*$|=\s*$")
_SPACE = re.compile(r"\s+")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_AROUND_PUNCT = re.compile(r" ?([{}()\[\];,=+\-*/<>&|!:?]) ?")


@dataclass(frozen=True)
class Function:
    """One top-level function definition: its name, full text and where it starts."""

    name: str
    text: str
    line: int


_BODY_OPENS = re.compile(rb"\)\s*\{")
_IDENT_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_STOPS = frozenset(b";{}")


def defined_names(source: bytes) -> set[str]:
    """Names written as `name(...) {`: every defined function, plus keywords such as `if`.

    Much cheaper than `functions()`: from each `) {` it walks back to the matching `(` (never
    past a `;`, `{` or `}`, so the walks never overlap and the whole pass is linear). It never
    counts a call or a prototype, so it answers "is NAME defined here?" for any non-keyword.
    """
    names: set[str] = set()
    for m in _BODY_OPENS.finditer(source):
        depth = 0
        i = m.start()
        while i >= 0:
            c = source[i]
            if c == 0x29:  # ')'
                depth += 1
            elif c == 0x28:  # '('
                depth -= 1
                if depth == 0:
                    break
            elif c in _STOPS:
                i = -1
            i -= 1
        end = i
        while end > 0 and source[end - 1] in b" \t\r\n":
            end -= 1
        start = end
        while start > 0 and source[start - 1] in _IDENT_BYTES:
            start -= 1
        if start < end and source[start] not in b"0123456789":
            names.add(source[start:end].decode("ascii"))
    return names


def normalise(text: str) -> str:
    """Text without comments, whitespace folded, and none around punctuation."""
    folded = _SPACE.sub(" ", _COMMENT.sub(" ", text)).strip()
    return _AROUND_PUNCT.sub(r"\1", folded)


def functions(source: str) -> list[Function]:
    """Top-level function definitions of `source`, in file order."""
    found: list[Function] = []
    depth = 0
    header_start = 0
    body_start = 0
    name = ""
    newlines = 0
    counted_to = 0
    for m in _TOKENS.finditer(source):
        tok = m.group()
        if tok == "{":
            if depth == 0:
                name = _function_name(source[header_start:m.start()])
                body_start = header_start
            depth += 1
        elif tok == "}":
            if depth == 0:
                header_start = m.end()
                continue
            depth -= 1
            if depth == 0:
                if name:
                    text = source[body_start:m.end()].strip()
                    start = body_start + _leading(source, body_start)
                    newlines += source.count("\n", counted_to, start)
                    counted_to = start
                    found.append(Function(name, text, newlines + 1))
                header_start = m.end()
        elif depth == 0 and (tok == ";" or tok.lstrip().startswith("#")):
            header_start = m.end()
    return found


def _leading(source: str, start: int) -> int:
    """Length of the whitespace that starts at `start`."""
    i = start
    while i < len(source) and source[i].isspace():
        i += 1
    return i - start


def _identifier_ending_at(text: str, end: int) -> str:
    """The identifier just before `end` (whitespace between allowed), or ''; linear time."""
    j = end
    while j > 0 and text[j - 1].isspace():
        j -= 1
    k = j
    while k > 0 and (text[k - 1].isalnum() or text[k - 1] == "_") and text[k - 1].isascii():
        k -= 1
    name = text[k:j]
    return name if name and not name[0].isdigit() else ""


def _function_name(header: str) -> str:
    """The defined function's name when `header` ends with a parameter list, else ''."""
    text = _COMMENT.sub(" ", header).rstrip()
    if not text.endswith(")") or _NOT_FUNCTION.search(text):
        return ""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                name = _identifier_ending_at(text, i)
                keywords = ("if", "while", "for", "switch", "return", "sizeof")
                return "" if name in keywords else name
    return ""
