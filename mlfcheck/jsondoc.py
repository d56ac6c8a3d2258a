"""A strict JSON parser that remembers where every value stands.

It rejects what the standard `json` module lets through (duplicate keys, NaN/Infinity, nesting
beyond a limit) and records, for every JSON Pointer, the 1-based line and column of its value,
so findings can say `metadata.json:12:5#/modules/default/memory`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mlfcheck.findings import Code

_WS = re.compile(r"[ \t\n\r]*")
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

    @cached_property
    def positions(self) -> dict[str, tuple[int, int]]:
        """(line, column) of every value by JSON Pointer (a second, recording parse)."""
        parser = _Parser(self.text, self.max_depth, record=True)
        parser.parse()
        return parser.positions

    def position(self, pointer: str) -> tuple[int, int] | None:
        """Position of the value at `pointer`, or of its nearest ancestor that has one."""
        while True:
            if pointer in self.positions:
                return self.positions[pointer]
            if not pointer:
                return None
            pointer = pointer.rsplit("/", 1)[0]


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
    value = _Parser(text, max_depth, record=False).parse()
    return JSONDoc(value, text, max_depth)


class _Parser:
    """Recursive-descent parser over one string; depth is bounded before Python's stack is."""

    def __init__(self, text: str, max_depth: int, *, record: bool) -> None:
        self.text = text
        self.max_depth = max_depth
        self.record = record
        self.positions: dict[str, tuple[int, int]] = {}

    @cached_property
    def _line_starts(self) -> list[int]:
        return [0] + [m.end() for m in re.finditer("\n", self.text)]

    def where(self, pos: int) -> tuple[int, int]:
        lo, hi = 0, len(self._line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, pos - self._line_starts[lo] + 1

    def fail(self, code: Code, message: str, pos: int, pointer: str | None = None) -> JSONDocError:
        line, col = self.where(pos)
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
        if self.record:
            self.positions[pointer] = self.where(pos)
        text = self.text
        ch = text[pos] if pos < len(text) else ""
        if ch in "{[":
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
            try:
                number = int(m.group())
            except ValueError:  # over sys.get_int_max_str_digits() digits
                raise self.fail(Code.M006, f"integer of {len(m.group())} digits is too long",
                                pos, pointer) from None
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
