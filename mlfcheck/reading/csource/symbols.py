"""The symbols one C file holds, as the reader finds them, and how their text is folded.

A `SymbolTable` holds functions, data, prototypes, structs, macros and the remaining top-level
items of one file. Symbols share their file's preprocessed `Text`, so folded text (for comparing)
is made lazily, only when a diff asks for it; nothing keeps a whole statement for display.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from mlfcheck.reading.csource.literals import parse_number

C_SOURCE = re.compile(r"^codegen/host/src/[^/]+\.(?:c|cc|cpp)$")
"""Generated C members (the host target's sources)."""
C_HEADER = re.compile(r"^codegen/host/include/[^/]+\.h$")
"""Interface headers (tvmgen_<m>.h)."""
ENTRY_POINT = re.compile(r"^(?:tvmgen_\w+?_(?:run|run_model|__tvm_main__)|TVMSystemLibEntryPoint)$")
"""Names a consumer calls: AOT entry points and the system-library entry."""

OPAQUE = re.compile(rb"(//[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/|\Z))"
                    rb"|\"(?:\\.|[^\"\\\n])*\"?|'(?:\\.|[^'\\\n])*'?")
"""Comments (group 1) and string or character literals: the lexical units folding must not
touch. Each match consumes what it scans, so finding them all is linear."""

_MERGING = re.compile(rb"[A-Za-z0-9_]\s+[A-Za-z0-9_]|[-+&|<>=!*/%^.:#]\s+[-+&|<>=!*/%^.:#]")
"""Two tokens that would merge if the whitespace between them went."""
_DROPPED_SPACE = re.compile(rb"(?<=[A-Za-z0-9_]) (?![A-Za-z0-9_])|(?<=[-+&|<>=!*/%^.:#]) "
                            rb"(?![-+&|<>=!*/%^.:#])|(?<![-+&|<>=!*/%^.:#A-Za-z0-9_]) ")
_ELEMENT_BYTES = {"char": 1, "signed char": 1, "unsigned char": 1, "int8_t": 1, "uint8_t": 1,
                  "bool": 1, "int16_t": 2, "uint16_t": 2, "short": 2, "unsigned short": 2,
                  "int32_t": 4, "uint32_t": 4, "int": 4, "unsigned int": 4, "float": 4,
                  "int64_t": 8, "uint64_t": 8, "double": 8, "long long": 8}


class Span(NamedTuple):
    """Where a symbol sits in its file: 1-based first and last line, byte offsets (a tuple:
    a file can hold hundreds of thousands of symbols, each placed twice)."""

    first_line: int
    last_line: int
    start: int
    end: int


class Text:
    """One preprocessed file and how to fold any stretch of it; shared by its symbols, so
    folded text is made only when something compares it (the diff), never by validate."""

    def __init__(self, text: bytes) -> None:
        self.text = text

    def fold(self, start: int, end: int) -> str:
        """Source between offsets without comments, whitespace only where it separates tokens,
        string and character literals verbatim; undecodable bytes as \\xNN.

        The offsets are a node's, so they never fall inside a comment or a literal: the lexer
        runs over this stretch only (not at all when no byte of it can start one)."""
        raw = self.text[start:end]
        if b"/" not in raw and b'"' not in raw and b"'" not in raw:
            return fold_code(raw).decode("utf-8", errors="backslashreplace")
        pieces: list[bytes] = []
        at = start
        for m in OPAQUE.finditer(self.text, start, end):
            pieces.append(fold_code(self.text[at:m.start()]))
            pieces.append(b" " if m.group(1) is not None else m.group())
            at = m.end()
        pieces.append(fold_code(self.text[at:end]))
        raw = fold_code(b"".join(pieces)) if len(pieces) > 1 else pieces[0]
        return raw.decode("utf-8", errors="backslashreplace")

    def source(self, start: int, end: int) -> str:
        """The text between offsets as written (after preprocessing)."""
        return self.text[start:end].decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Condition:
    """The preprocessor conditional a definition sits under: the directive that opens its
    branch (TVM's `#ifdef __cplusplus` blocks and include guards are not conditions)."""

    directive: str
    """The directive as written, folded and cut to 80 characters (`#if 0`, `#ifdef FAST`,
    `#else`)."""
    line: int
    skipped: bool
    """True when no compiler compiles the branch, whatever it is given (`#if 0`, the `#else`
    of `#if 1`); False when that depends on macros from outside the file."""


@dataclass(frozen=True, eq=False)
class Function:
    """One function definition."""

    name: str
    static: bool
    """Internal linkage (`static`): invisible to the linker."""
    signature: str
    """Return type, name and parameters, folded (no storage class, no body)."""
    type: str
    """Return and parameter types, folded, without the names (`int32_t (void*,int32_t)`)."""
    parameters: tuple[str, ...]
    """The parameters' names, in order ('' for an unnamed one)."""
    size: int
    """Bytes of the definition's source text."""
    span: Span
    file: str
    condition: Condition | None
    """The conditional it is defined under; None when a compiler always compiles it."""
    _text: Text = field(repr=False)

    @property
    def compiled(self) -> bool:
        """False when a compiler skips the definition for certain (`Condition.skipped`)."""
        return self.condition is None or not self.condition.skipped

    @property
    def packed(self) -> bool:
        """TVM's packed calling convention (TVMBackendPackedCFunc: `args`, `arg_type_ids`,
        `num_args`, ...), as graph-executor and system-lib code calls operators; unpacked
        functions take their tensors as plain pointers."""
        return self.parameters[:3] == ("args", "arg_type_ids", "num_args")

    @cached_property
    def folded(self) -> str:
        """The definition folded (comments gone, whitespace minimal); compared, never
        printed."""
        return self._text.fold(self.span.start, self.span.end)

    @property
    def raw(self) -> bytes:
        """The definition's bytes (after preprocessing): equal bytes, equal folded text."""
        return self._text.text[self.span.start:self.span.end]

    @cached_property
    def text(self) -> str:
        """The definition's source text, for capped excerpts."""
        return self._text.source(self.span.start, self.span.end)

    @cached_property
    def canonical(self) -> str:
        """The folded definition with its own name replaced by `@self`: renamed copies of one
        body are equal."""
        return _replace_word(self.folded, self.name, "@self")

    @property
    def body_digest(self) -> str:
        """SHA-256 of `canonical`: equal bodies, equal digest."""
        return hashlib.sha256(self.canonical.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, eq=False)
class Data:
    """One variable (or one member of an initialised constant struct, named `var.member`)."""

    name: str
    type: str
    """Element type, folded (`int16_t`, `struct global_const_workspace`)."""
    count: int | None
    """Elements: the product of the array dimensions; 1 for a scalar; None when not a number."""
    storage: tuple[str, ...]
    """Storage class, qualifiers and attributes in source order (`static`, `const`,
    `section(".rodata.tvm")`)."""
    size: int
    """Bytes of the declaration's source text."""
    span: Span
    file: str
    value: tuple[int, int] | None
    """Byte offsets of the initializer; None without one."""
    has_members: bool
    """An initialised struct whose designated members are listed as data of their own."""
    condition: Condition | None
    """The conditional it is declared under; None when a compiler always compiles it."""
    _text: Text = field(repr=False)

    @property
    def defined(self) -> bool:
        """True for a definition, False for an `extern` declaration without an initializer."""
        return self.value is not None or "extern" not in self.storage

    @property
    def compiled(self) -> bool:
        """False when a compiler skips the declaration for certain (`Condition.skipped`)."""
        return self.condition is None or not self.condition.skipped

    @cached_property
    def initializer(self) -> str | None:
        """The folded initializer (for comparing and decoding values); never printed."""
        return None if self.value is None else self._text.fold(*self.value)

    @property
    def value_digest(self) -> str | None:
        """SHA-256 of the folded initializer, elements in order; None without one."""
        folded = self.initializer
        return None if folded is None else hashlib.sha256(
            folded.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def storage_bytes(self) -> int | None:
        """Bytes the object occupies when its element type has a known size."""
        width = _ELEMENT_BYTES.get(self.type)
        return None if width is None or self.count is None else width * self.count

    def values(self) -> tuple[float, ...] | None:
        """The initializer's elements as numbers, in order; None when any is not a literal."""
        if self.initializer is None or not self.initializer.startswith("{"):
            return None
        body = self.initializer[1:-1].rstrip(",")
        if not body or "{" in body:
            return None
        elements = body.split(",")
        numbers: dict[str, float] = {}
        for element in set(elements):  # weights repeat a few spellings: decode each once
            number = parse_number(element)
            if number is None:
                return None
            numbers[element] = number
        return tuple(numbers[e] for e in elements)


@dataclass(frozen=True)
class Prototype:
    """A function declaration without a body."""

    name: str
    static: bool
    signature: str
    type: str
    """Return and parameter types, without the names, as `Function.type` folds them."""
    span: Span
    file: str


@dataclass(frozen=True)
class Member:
    """One field of a struct: its name and folded type (array sizes included)."""

    name: str
    type: str


@dataclass(frozen=True)
class Struct:
    """A struct definition with its members in order."""

    name: str
    members: tuple[Member, ...]
    span: Span
    file: str


@dataclass(frozen=True)
class Macro:
    """A `#define`: name (with its parameters for a function-like macro) and folded value."""

    name: str
    value: str
    span: Span
    file: str

    @property
    def replaces(self) -> str:
        """The name the macro replaces (`name` without a function-like macro's parameters):
        a compiler reads every later use of it as the macro's value."""
        return self.name.partition("(")[0]


@dataclass(frozen=True, eq=False)
class Other:
    """Any other top-level item (`#include`, a typedef, a stray statement)."""

    kind: str
    """The tree-sitter node type, e.g. 'preproc_include', 'type_definition'."""
    span: Span
    file: str
    _text: Text = field(repr=False)

    @cached_property
    def folded(self) -> str:
        """The item folded; made when a diff compares it (a file that does not parse can hold
        hundreds of thousands of these)."""
        return self._text.fold(self.span.start, self.span.end)


@dataclass(frozen=True)
class SyntaxProblem:
    """The first place a file does not parse as C: 1-based line and column (characters)."""

    line: int
    column: int
    message: str


@dataclass(frozen=True)
class SymbolTable:
    """Everything one C file defines and declares at file scope, in file order."""

    path: str
    digest: str
    """SHA-256 of the raw bytes: equal digests, equal tables."""
    size: int
    functions: tuple[Function, ...]
    data: tuple[Data, ...]
    prototypes: tuple[Prototype, ...]
    structs: tuple[Struct, ...]
    macros: tuple[Macro, ...]
    others: tuple[Other, ...]
    error: SyntaxProblem | None
    """None when the file parses as C after the preprocessing described above."""

    def function(self, name: str) -> Function | None:
        """The (last) function defined under `name`."""
        return self._functions.get(name)

    def defines(self, name: str) -> bool:
        """True when `name` is a function definition or a data definition here."""
        return name in self._functions or any(d.name == name for d in self.data)

    def struct(self, name: str) -> Struct | None:
        """The struct named `name` (`tvmgen_default_outputs`, without `struct`)."""
        return next((s for s in self.structs if s.name == name), None)

    def size_macros(self) -> dict[str, str]:
        """`*_SIZE` macros and their folded values."""
        return {m.name: m.value for m in self.macros if m.name.endswith("_SIZE")}

    def entry_points(self) -> dict[str, str]:
        """Entry points a consumer calls, defined or declared here: name → signature."""
        out = {p.name: p.signature for p in self.prototypes if ENTRY_POINT.match(p.name)}
        out.update((f.name, f.signature) for f in self.functions if ENTRY_POINT.match(f.name))
        return out

    @cached_property
    def _functions(self) -> dict[str, Function]:
        return {f.name: f for f in self.functions}


def _replace_word(text: str, word: str, by: str) -> str:
    """`text` with the first occurrence of `word` as a whole identifier replaced by `by`."""
    at = text.find(word)
    while at >= 0:
        before = text[at - 1] if at else " "
        after = text[at + len(word)] if at + len(word) < len(text) else " "
        if not (before.isalnum() or before == "_" or after.isalnum() or after == "_"):
            return text[:at] + by + text[at + len(word):]
        at = text.find(word, at + 1)
    return text


def fold_code(raw: bytes) -> bytes:
    """Whitespace runs dropped, or one space where two tokens would otherwise merge (two
    identifier characters, or two operator characters).

    Without any such pair (a numeric initializer) every whitespace byte goes in one C-speed
    pass; otherwise spaces beside separators go first with plain replaces, the regex then sees
    only what is left."""
    if _MERGING.search(raw) is None:
        return raw.translate(None, b" \t\n\r\x0b\x0c")
    text = b" ".join(raw.split())
    for ch in (b",", b";", b"{", b"}", b"(", b")", b"[", b"]"):
        text = text.replace(b" " + ch, ch).replace(ch + b" ", ch)
    return _DROPPED_SPACE.sub(b"", text)

