"""Generated C source split into top-level function definitions and declarations.

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


@dataclass(frozen=True)
class Declaration:
    """A top-level C statement that is not a function definition, folded for comparison."""

    key: str
    """The declared name (or the folded text when no name can be found)."""
    text: str
    """Folded text (csource.normalise)."""

    @property
    def elements(self) -> tuple[str, ...]:
        """Head plus the sorted elements of a brace initializer, for ordering-only tests.

        String literals of NUL-separated names (the system-lib registry) count one element per
        name, so a registry that lists the same functions in another order compares equal.
        """
        head, sep, body = self.text.partition("={")
        if not sep:
            return (self.text,)
        parts: list[str] = []
        for element in _split_top(body[:-1] if body.endswith("}") else body):
            if element.startswith('"') and "\\000" in element:
                parts += [n for n in re.sub(r'^"\\\d{3}', "", element).strip('"').split("\\000")
                          if n]
            elif element:
                parts.append(element)
        return (head, *sorted(parts))


_STATEMENT = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|[{};]')
_PREPROCESSOR = re.compile(r"^[ \t]*#(?:\\\n|[^\n])*", re.M)
_DECL_NAME = re.compile(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*(?:\((?:[^()]|\([^()]*\))*\))?\s*$")


def declarations(source: str, defined: list[Function]) -> list[Declaration]:
    """Top-level statements of `source` outside the function definitions `defined`.

    The gaps between definitions are split at ';' outside braces and string literals, after
    dropping comments and preprocessor lines. Empty statements and prototypes are skipped.
    """
    gaps: list[str] = []
    cursor = 0
    for fn in defined:
        at = source.find(fn.text, cursor)
        if at < 0:
            continue
        gaps.append(source[cursor:at])
        cursor = at + len(fn.text)
    gaps.append(source[cursor:])
    out = []
    for gap in gaps:
        text = _PREPROCESSOR.sub(" ", _COMMENT.sub(" ", gap))
        depth = 0
        start = 0
        for m in _STATEMENT.finditer(text):
            tok = m.group()
            if tok == "{":
                depth += 1
            elif tok == "}":
                depth = max(depth - 1, 0)
            elif tok == ";" and depth == 0:
                folded = normalise(text[start:m.start()])
                start = m.end()
                if folded and not _is_prototype(folded):
                    out.append(Declaration(_declared_name(folded), folded))
    return out


def _is_prototype(folded: str) -> bool:
    """A function declaration: it only names code defined elsewhere, so it is not compared."""
    return "=" not in folded and folded.endswith(")")


def _declared_name(folded: str) -> str:
    head = folded.split("=", 1)[0]
    m = _DECL_NAME.search(head)
    return m.group(1) if m else folded


def _split_top(body: str) -> list[str]:
    """Split an initializer body at commas outside nested braces/parentheses and strings."""
    parts: list[str] = []
    depth = 0
    start = 0
    for m in re.finditer(r'"(?:\\.|[^"\\])*"|[{(]|[})]|,', body):
        tok = m.group()
        if tok in "{(":
            depth += 1
        elif tok in "})":
            depth -= 1
        elif tok == "," and depth == 0:
            parts.append(body[start:m.start()].strip())
            start = m.end()
    parts.append(body[start:].strip())
    return parts


@dataclass(frozen=True)
class Struct:
    """A struct definition in a header: its tag, where it starts and its member names."""

    tag: str
    line: int
    members: tuple[str, ...]


_STRUCT = re.compile(r"\bstruct\s+([A-Za-z_]\w*)\s*\{([^{}]*)\}")
_MEMBER = re.compile(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*(?::\s*\d+\s*)?$")


def structs(source: str) -> list[Struct]:
    """Struct definitions (`struct tag { ... }`) of a header without nested braces, in order.

    Enough for the interface headers TVM writes (one pointer member per tensor or device).
    """
    text = _PREPROCESSOR.sub(lambda m: "\n" * m.group().count("\n"),
                             _COMMENT.sub(lambda m: "\n" * m.group().count("\n"), source))
    found = []
    for m in _STRUCT.finditer(text):
        members = []
        for statement in m.group(2).split(";"):
            for declarator in _split_top(statement.strip()):
                name = _MEMBER.search(declarator.strip())
                if declarator.strip() and name:
                    members.append(name.group(1))
        found.append(Struct(m.group(1), text.count("\n", 0, m.start()) + 1, tuple(members)))
    return found
