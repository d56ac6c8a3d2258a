"""A strict JSON parser that can say where any value stands.

It rejects what the standard `json` module lets through (duplicate keys, NaN/Infinity, numbers
beyond 64 bits or a float's range, nesting beyond a limit). Documents are parsed by the `json`
module's C scanner with strict hooks; only a document that fails is parsed again by the
recursive-descent parser here, which says exactly what and where. Positions are found lazily:
`position(pointer)` walks the text along that one pointer, skipping other values at C speed,
so findings can say `metadata.json:12:5#/modules/default/memory` without recording a position
for every value of a 16 MiB array.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mlfcheck.findings import Code

_WS = re.compile(r"[ \t\n\r]*")
INT_RANGE = 2**64
"""Integers must lie in (-2^64, 2^64): what a C int64/uint64 can hold, and all TVM writes."""
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]


class JSONDocError(ValueError):
    """The document is not strict JSON; carries a finding code and a position."""

    def __init__(self, code: Code, message: str, *, line: int | None = None,
                 column: int | None = None, offset: int | None = None,
                 pointer: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.offset = offset
        self.pointer = pointer


@dataclass
class JSONDoc:
    """A parsed document; positions of values are found again only when a finding asks."""

    value: Any
    text: str = field(repr=False)
    max_depth: int = field(repr=False)
    _found: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)
    _index: dict[int, dict[str, int]] = field(default_factory=dict, repr=False)
    """Container offset -> where each of its members starts (containers walked through)."""

    def position(self, pointer: str) -> tuple[int, int]:
        """(line, column) of the value at `pointer`, or of its deepest ancestor that exists.

        Walks the text along the pointer only; each container passed through is indexed once
        (unless it has more than MAX_INDEX members), so many findings cost one pass."""
        if pointer not in self._found:
            pos = found = _WS.match(self.text, 0).end()  # type: ignore[union-attr]
            for raw in pointer.split("/")[1:] if pointer else ():
                pos = self._member(pos, raw.replace("~1", "/").replace("~0", "~"))
                if pos is None:
                    break
                found = pos
            self._found[pointer] = _line_column(self._line_starts, found)
        return self._found[pointer]

    @cached_property
    def _line_starts(self) -> list[int]:
        return _line_starts(self.text)

    def _member(self, pos: int, token: str) -> int | None:
        index = self._index.get(pos)
        if index is None:
            built: dict[str, int] = {}
            for key, at in _members(self.text, pos):
                if len(built) >= MAX_INDEX:  # too large to keep: scan for this one member
                    return next((at for key, at in _members(self.text, pos) if key == token),
                                None)
                built.setdefault(key, at)
            index = self._index[pos] = built
        return index.get(token)


def _line_starts(text: str) -> list[int]:
    """Offset of the first character of each line."""
    return [0, *(m.end() for m in re.finditer("\n", text))]


def _line_column(starts: list[int], pos: int) -> tuple[int, int]:
    """1-based (line, column) of offset `pos`, given the line starts."""
    line = bisect_right(starts, pos)
    return line, pos - starts[line - 1] + 1


MAX_INDEX = 65_536
"""Largest container whose member positions are kept once found."""
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
"""A string or a bracket: all that matters when skipping a value of a valid document."""
_SCALAR = re.compile(r'"(?:[^"\\]|\\.)*"|[^,\]}\s]*')


def _skip(text: str, pos: int) -> int:
    """The end of the value starting at `pos` in a valid document, allocating nothing per
    element: the regex engine passes over numbers and commas, Python sees strings and
    brackets only."""
    if text[pos] not in "[{":
        return _SCALAR.match(text, pos).end()  # type: ignore[union-attr]
    depth = 0
    for m in _TOKEN.finditer(text, pos):
        token = m.group()
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
            if depth == 0:
                return m.end()
    raise ValueError("unbalanced document")


def _members(text: str, pos: int) -> Iterator[tuple[str, int]]:
    """(key or index, where its value starts) for each member of the container at `pos` of a
    valid document; nothing for a scalar."""
    skip = _WS.match
    opener = text[pos]
    if opener not in "{[":
        return
    pos = skip(text, pos + 1).end()  # type: ignore[union-attr]
    index = 0
    while text[pos] not in "}]":
        if opener == "{":
            key, pos = _scanstring(text, pos + 1, True)
            pos = skip(text, skip(text, pos).end() + 1).end()  # type: ignore[union-attr]
        else:
            key, index = str(index), index + 1
        yield key, pos
        pos = skip(text, _skip(text, pos)).end()  # type: ignore[union-attr]
        if text[pos] == ",":
            pos = skip(text, pos + 1).end()  # type: ignore[union-attr]


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
    "boolean": bool, "null": type(None)}


def is_json_type(value: Any, name: str) -> bool:
    """Whether a parsed JSON value has JSON Schema type `name` (a boolean is no integer)."""
    if isinstance(value, bool) and name != "boolean":
        return False
    return isinstance(value, _JSON_TYPES[name])


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed JSON value ('integer' for 3, 'number' for 3.5)."""
    return next(n for n in ("boolean", "integer", "number", "string", "array", "object", "null")
                if is_json_type(value, n))


def escape_token(token: str | int) -> str:
    """One JSON Pointer reference token (RFC 6901 escaping)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_of(path: list[str | int] | tuple[str | int, ...]) -> str:
    """The JSON Pointer for a sequence of keys and indexes."""
    return "".join("/" + escape_token(p) for p in path)


def parse_bytes(data: bytes, *, max_depth: int) -> JSONDoc:
    """Decode UTF-8 `data` and parse it strictly."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONDocError(Code.M003, f"invalid UTF-8 at byte {exc.start}",
                           offset=exc.start) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = _FAST.decode(text)
        ok = _acceptable(value, max_depth)
    except (ValueError, RecursionError, _Refused):
        ok = False
    if not ok:  # say exactly what is wrong, and where
        value = _Parser(text, max_depth).parse()
    return JSONDoc(value, text, max_depth)


class _Refused(Exception):
    """Raised by the fast path's hooks; the strict parser then finds and explains it."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Refused("duplicate key")
    return result


def _constant(text: str) -> Any:
    raise _Refused(text)


_FAST = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant)
"""The json module's C scanner, refusing what the strict parser refuses."""


_INFINITIES = (float("inf"), float("-inf"))


def _acceptable(value: Any, max_depth: int) -> bool:
    """True when containers nest at most `max_depth` deep, every integer lies within
    +-INT_RANGE and no float overflowed. Iterative (no Python recursion), and container by
    container at C speed: set(map(type)), min, max and `in` instead of a loop per value."""
    if not isinstance(value, (dict, list)):
        return _acceptable([value], max_depth + 1)
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= max_depth:
            return False
        children = list(item.values()) if isinstance(item, dict) else item
        types = set(map(type, children))
        if int in types:
            ints = children if len(types) == 1 else [c for c in children if type(c) is int]
            if max(ints) >= INT_RANGE or min(ints) <= -INT_RANGE:
                return False
        if float in types and any(inf in children for inf in _INFINITIES):
            return False
        if dict in types or list in types:
            stack.extend((c, depth + 1) for c in children if type(c) in (dict, list))
    return True


class _Parser:
    """Recursive-descent parser over one string; depth is bounded before Python's stack is.
    Used only to explain a document the fast path refused."""

    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.max_depth = max_depth

    def fail(self, code: Code, message: str, pos: int, pointer: str | None = None) -> JSONDocError:
        line, col = _line_column(_line_starts(self.text), pos)
        return JSONDocError(code, message, line=line, column=col, pointer=pointer)

    def skip(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]

    def parse(self) -> Any:
        pos = self.skip(0)
        if pos >= len(self.text):
            raise self.fail(Code.M004, "empty document", pos)
        value, pos = self.value(pos, "", 0)
        pos = self.skip(pos)
        if pos != len(self.text):
            raise self.fail(Code.M004, "extra data after the JSON value", pos)
        return value

    def value(self, pos: int, pointer: str, depth: int) -> tuple[Any, int]:
        text = self.text
        ch = text[pos] if pos < len(text) else ""
        if ch in ("{", "["):
            if depth >= self.max_depth:
                raise self.fail(Code.M007, f"nesting deeper than {self.max_depth} levels", pos,
                                pointer)
            return (self.obj if ch == "{" else self.arr)(pos + 1, pointer, depth + 1)
        if ch == '"':
            try:
                return _scanstring(text, pos + 1, True)  # type: ignore[no-any-return]
            except json.JSONDecodeError as exc:
                raise self.fail(Code.M004, exc.msg, exc.pos, pointer) from None
        for literal, result in (("true", True), ("false", False), ("null", None)):
            if text.startswith(literal, pos):
                return result, pos + len(literal)
        for literal in ("NaN", "Infinity", "-Infinity"):
            if text.startswith(literal, pos):
                raise self.fail(Code.M006, f"{literal} is not valid JSON", pos, pointer)
        m = _NUMBER.match(text, pos)
        if m is None:
            what = "end of document" if not ch else repr(ch)
            raise self.fail(Code.M004, f"expected a value, found {what}", pos, pointer)
        if m.group(1) or m.group(2):
            number: int | float = float(m.group())
            if number in (float("inf"), float("-inf")):
                raise self.fail(Code.M006, "number overflows to infinity", pos, pointer)
        else:
            digits = len(m.group().lstrip("-"))
            try:
                number = int(m.group())
            except ValueError:  # over sys.get_int_max_str_digits() digits
                raise self.fail(Code.M006, f"integer of {digits} digits is too long",
                                pos, pointer) from None
            if abs(number) >= INT_RANGE:
                raise self.fail(Code.M006, f"integer of {digits} digits is outside the "
                                "64-bit range", pos, pointer)
        return number, m.end()

    def obj(self, pos: int, pointer: str, depth: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        pos = self.skip(pos)
        if self.text.startswith("}", pos):
            return result, pos + 1
        while True:
            if not self.text.startswith('"', pos):
                raise self.fail(Code.M004, "expected a quoted key", pos, pointer)
            try:
                key, after = _scanstring(self.text, pos + 1, True)
            except json.JSONDecodeError as exc:
                raise self.fail(Code.M004, exc.msg, exc.pos, pointer) from None
            child = pointer + "/" + escape_token(key)
            if key in result:
                raise self.fail(Code.M005, f"duplicate key {key!r}", pos, child)
            pos = self.skip(after)
            if not self.text.startswith(":", pos):
                raise self.fail(Code.M004, "expected ':' after a key", pos, child)
            pos = self.skip(pos + 1)
            result[key], pos = self.value(pos, child, depth)
            pos = self.skip(pos)
            if self.text.startswith(",", pos):
                pos = self.skip(pos + 1)
                continue
            if self.text.startswith("}", pos):
                return result, pos + 1
            raise self.fail(Code.M004, "expected ',' or '}'", pos, pointer)

    def arr(self, pos: int, pointer: str, depth: int) -> tuple[list[Any], int]:
        result: list[Any] = []
        pos = self.skip(pos)
        if self.text.startswith("]", pos):
            return result, pos + 1
        while True:
            item, pos = self.value(pos, f"{pointer}/{len(result)}", depth)
            result.append(item)
            pos = self.skip(pos)
            if self.text.startswith(",", pos):
                pos = self.skip(pos + 1)
                continue
            if self.text.startswith("]", pos):
                return result, pos + 1
            raise self.fail(Code.M004, "expected ',' or ']'", pos, pointer)
