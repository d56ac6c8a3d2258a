"""Generated C read as a compiler reads it: one symbol table per codegen file.

tree-sitter-c parses each file after the two preprocessor habits of TVM's code generators are
undone the way a C compiler undoes them (offsets kept, so every line:column stays true):
`#ifdef __cplusplus` blocks are dropped (`extern "C" {` and its `}` sit in separate ones), and
the macros `TVM_DLL` / `TVM_ATTRIBUTE_UNUSED`, which stand undefined before declarations, are
blanked. GNU `__attribute__((...))`, which tree-sitter-c rejects after a declarator where GCC
accepts it, is blanked for the parser and kept as the declaration's storage. Every other
conditional and `extern "C" { ... }` is transparent: symbols inside are read like the rest.

A `SymbolTable` holds functions, data, prototypes, structs, macros and the remaining top-level
items. Folded text (for comparing) is made lazily, only when a diff asks for it; nothing keeps a
whole statement for display.

Speed without a second reader: files are cut between top-level items into pieces, each parsed
once per process (`parse_all`); the inside of a brace list of numeric literals (a weight array)
is left out of the parse and counted from the text (`_tree`); a large batch is parsed half in a
forked process (`_read_all`). A file whose pieces do not all parse is parsed whole, and every
table equals the one a whole-file parse gives (tests/unit/test_csource_pieces.py).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import pairwise
from typing import TYPE_CHECKING

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Range, Tree

if TYPE_CHECKING:
    from mlfcheck.reading.archive import Archive

C_SOURCE = re.compile(r"^codegen/host/src/[^/]+\.(?:c|cc|cpp)$")
"""Generated C members (the host target's sources)."""
C_HEADER = re.compile(r"^codegen/host/include/[^/]+\.h$")
"""Interface headers (tvmgen_<m>.h)."""
ENTRY_POINT = re.compile(r"^(?:tvmgen_\w+?_(?:run|run_model|__tvm_main__)|TVMSystemLibEntryPoint)$")
"""Names a consumer calls: AOT entry points and the system-library entry."""

_LANGUAGE = Language(tree_sitter_c.language())
_OPAQUE = re.compile(rb"(//[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/|\Z))"
                     rb"|\"(?:\\.|[^\"\\\n])*\"?|'(?:\\.|[^'\\\n])*'?")
"""Comments (group 1) and string or character literals: the lexical units folding must not
touch. Each match consumes what it scans, so finding them all is linear."""
_BLANKED_MACROS = re.compile(rb"TVM_(?:DLL|ATTRIBUTE_UNUSED)\b")
"""(An identifier character before the match makes it part of another name.)"""
_CONDITIONAL = re.compile(rb"#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b([^\n]*)")
"""(Only where nothing but blanks stands before the `#` on its line.) Both patterns start with
a literal, which the regex engine finds at C speed."""
_CPLUSPLUS = re.compile(rb"^\s*(?:__cplusplus\b|defined\s*\(?\s*__cplusplus\b\s*\)?\s*$)")
_ATTRIBUTE = re.compile(rb"__attribute__\s*\(\(((?:[^()]|\([^()]*\))*)\)\)")
_IDENTIFIER_BYTE = [chr(b).isascii() and (chr(b).isalnum() or b == 0x5F) for b in range(256)]
_BLANKS = bytes(0x0A if b == 0x0A else 0x20 for b in range(256))
"""bytes.translate table: every byte a space but the line feed."""
_MERGING = re.compile(rb"[A-Za-z0-9_]\s+[A-Za-z0-9_]|[-+&|<>=!*/%^.:#]\s+[-+&|<>=!*/%^.:#]")
"""Two tokens that would merge if the whitespace between them went."""
_DROPPED_SPACE = re.compile(rb"(?<=[A-Za-z0-9_]) (?![A-Za-z0-9_])|(?<=[-+&|<>=!*/%^.:#]) "
                            rb"(?![-+&|<>=!*/%^.:#])|(?<![-+&|<>=!*/%^.:#A-Za-z0-9_]) ")
_ELEMENT_BYTES = {"char": 1, "signed char": 1, "unsigned char": 1, "int8_t": 1, "uint8_t": 1,
                  "bool": 1, "int16_t": 2, "uint16_t": 2, "short": 2, "unsigned short": 2,
                  "int32_t": 4, "uint32_t": 4, "int": 4, "unsigned int": 4, "float": 4,
                  "int64_t": 8, "uint64_t": 8, "double": 8, "long long": 8}
_ELEMENT = (rb"(?:[+-][ \t\n]*)?(?:0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)"
            rb"[pP][+-]?[0-9]+[fFlL]*|0[xX][0-9a-fA-F]+[uUlL]*|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
            rb"(?:[eE][+-]?[0-9]+)?[uUlLfF]*)")
"""One numeric literal with an optional sign, as C writes it (hex float, hex, decimal). Every
string it matches, it matches one way only (whitespace only after a sign, no `f` suffix on a
hex integer), so a list that fails to match fails in linear time."""
_NUMBER = re.compile(r"^([+-]?)\s*(0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*(?:[pP][+-]?\d+)?|"
                     r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[uUlLfF]*$")


@dataclass(frozen=True)
class Span:
    """Where a symbol sits in its file: 1-based first and last line, byte offsets."""

    first_line: int
    last_line: int
    start: int
    end: int


class _Text:
    """One preprocessed file and how to fold any stretch of it; shared by its symbols, so
    folded text is made only when something compares it (the diff), never by validate."""

    def __init__(self, text: bytes) -> None:
        self.text = text

    def fold(self, start: int, end: int) -> str:
        """Source between offsets without comments, whitespace only where it separates tokens,
        string and character literals verbatim; undecodable bytes as \\xNN.

        The offsets are a node's, so they never fall inside a comment or a literal: the lexer
        runs over this stretch only."""
        pieces: list[bytes] = []
        at = start
        for m in _OPAQUE.finditer(self.text, start, end):
            pieces.append(_fold_code(self.text[at:m.start()]))
            pieces.append(b" " if m.group(1) is not None else m.group())
            at = m.end()
        pieces.append(_fold_code(self.text[at:end]))
        raw = _fold_code(b"".join(pieces)) if len(pieces) > 1 else pieces[0]
        return raw.decode("utf-8", errors="backslashreplace")

    def source(self, start: int, end: int) -> str:
        """The text between offsets as written (after preprocessing)."""
        return self.text[start:end].decode("utf-8", "backslashreplace")


@dataclass(frozen=True, eq=False)
class Function:
    """One function definition."""

    name: str
    static: bool
    """Internal linkage (`static`): invisible to the linker."""
    signature: str
    """Return type, name and parameters, folded (no storage class, no body)."""
    parameters: tuple[str, ...]
    """The parameters' names, in order ('' for an unnamed one)."""
    size: int
    """Bytes of the definition's source text."""
    span: Span
    file: str
    _text: _Text = field(repr=False)

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
    _text: _Text = field(repr=False)

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
            number = _number(element)
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


@dataclass(frozen=True, eq=False)
class Other:
    """Any other top-level item (`#include`, a typedef, a stray statement)."""

    kind: str
    """The tree-sitter node type, e.g. 'preproc_include', 'type_definition'."""
    span: Span
    file: str
    _text: _Text = field(repr=False)

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


def preprocess(source: bytes) -> bytes:
    """`source` as a C compiler without `__cplusplus` sees it, same length, same line breaks."""
    return _prepare(source)[0]


def _prepare(source: bytes) -> tuple[bytes, list[tuple[int, str]]]:
    """The preprocessed text, and (offset, folded contents) of every `__attribute__((...))` it
    blanks: tree-sitter-c rejects GNU attributes after a declarator, where GCC accepts them
    (v8's `uint8_t w[128] __attribute__((aligned(64)));`); the reader puts them back as
    storage. Attributes inside dropped `__cplusplus` blocks are not among them."""
    out = bytearray(source)
    stack: list[tuple[bool, int]] = []  # (is a __cplusplus block, where dropping started or -1)
    for m in _CONDITIONAL.finditer(source):
        if source[source.rfind(b"\n", 0, m.start()) + 1:m.start()].strip(b" \t"):
            continue
        kind, rest = m.group(1), m.group(2)
        if kind in (b"if", b"ifdef", b"ifndef"):
            cplusplus = bool(_CPLUSPLUS.match(rest)) if kind != b"if" else bool(
                re.match(rb"^\s*defined\s*\(?\s*__cplusplus\b", rest))
            drop_first = cplusplus and kind != b"ifndef"
            stack.append((cplusplus, m.start() if drop_first else -1))
            if cplusplus:
                _blank(out, m.start(), m.end())
        elif stack and stack[-1][0]:
            _, dropping = stack.pop()
            if dropping >= 0:
                _blank(out, dropping, m.end())
            else:
                _blank(out, m.start(), m.end())
            if kind != b"endif":  # else/elif: flip which branch is dropped
                stack.append((True, -1 if dropping >= 0 else m.start()))
        elif kind == b"endif" and stack:
            stack.pop()
    for m in _BLANKED_MACROS.finditer(out):
        if not m.start() or not _IDENTIFIER_BYTE[out[m.start() - 1]]:
            _blank(out, m.start(), m.end())
    attributes = []
    found = list(_ATTRIBUTE.finditer(bytes(out)))
    opaque = [(m.start(), m.end()) for m in _OPAQUE.finditer(out)] if found else []
    for m in found:
        inside = bisect_right(opaque, (m.start(), len(out))) - 1
        if inside >= 0 and opaque[inside][1] > m.start():
            continue  # in a comment (v7's `// __attribute__((section(...)))`) or a string
        text = _fold_code(m.group(1)).rstrip(b",")  # v7 writes `section(".rodata.tvm"), `
        attributes.append((m.start(), text.decode("utf-8", "backslashreplace")))
        _blank(out, m.start(), m.end())
    return bytes(out), attributes


def _blank(buf: bytearray, start: int, end: int) -> None:
    """Replace bytes with spaces, keeping line breaks (so positions stay the same)."""
    buf[start:end] = bytes(buf[start:end]).translate(_BLANKS)


def parse(path: str, source: bytes) -> SymbolTable:
    """The symbol table of one C file (see `parse_all`)."""
    return parse_all([(path, source)])[0]


def parse_all(files: Sequence[tuple[str, bytes]]) -> list[SymbolTable]:
    """The symbol tables of C files given as (path, bytes), in order.

    Each file is read in pieces cut between top-level items (see `_pieces`), and each piece is
    parsed once per process whatever file it comes from: a re-export that moves functions
    between files or reorders them parses only what changed. Pieces nobody has parsed yet are
    parsed together, on two processes when there are enough (`_read_all`). Pieces of a file
    that do not all parse cleanly are read again as one, so a syntax error is always found,
    and placed, in the whole file."""
    read = []
    for path, source in files:
        text, attributes = _prepare(source)
        bounds = _pieces(source, text)
        read.append((path, source, text, attributes, bounds, _keys(text, attributes, bounds)))
    wanted = list({key: None for *_, keys in read for key in keys
                   if _PIECES.get(key) is None})
    fresh = dict(zip(wanted, _read_all(wanted), strict=True))
    for key, piece in fresh.items():
        _PIECES.put(key, piece)
    out = []
    for path, source, text, attributes, bounds, keys in read:
        pieces = [fresh.get(key) or _PIECES.read(key) for key in keys]
        if len(pieces) > 1 and any(p.error is not None for p in pieces):
            out.append(_read(path, source, text, attributes))
        else:
            out.append(_table(path, source, text, bounds, pieces))
    return out


_PieceKey = tuple[bytes, tuple[tuple[int, str], ...]]
"""What identifies a piece: its preprocessed text and the attributes blanked in it, placed from
its start."""


def _keys(text: bytes, attributes: list[tuple[int, str]],
          bounds: list[tuple[int, int]]) -> list[_PieceKey]:
    return [(text[start:end], _within(attributes, start, end)) for start, end in bounds]


def _table(path: str, source: bytes, text: bytes, bounds: list[tuple[int, int]],
           pieces: list[SymbolTable]) -> SymbolTable:
    """One file's symbol table from its pieces, each placed where it sits in the file."""
    whole = _Text(text)
    functions: list[Function] = []
    data: list[Data] = []
    prototypes: list[Prototype] = []
    structs: list[Struct] = []
    macros: list[Macro] = []
    others: list[Other] = []
    lines = 0
    for (start, end), piece in zip(bounds, pieces, strict=True):
        at = _Place(lines, start)
        functions += (replace(f, span=at.span(f.span), file=path, _text=whole)
                      for f in piece.functions)
        data += (replace(d, span=at.span(d.span), file=path, _text=whole,
                         value=None if d.value is None else (d.value[0] + start,
                                                             d.value[1] + start))
                 for d in piece.data)
        prototypes += (replace(x, span=at.span(x.span), file=path) for x in piece.prototypes)
        structs += (replace(x, span=at.span(x.span), file=path) for x in piece.structs)
        macros += (replace(x, span=at.span(x.span), file=path) for x in piece.macros)
        others += (replace(x, span=at.span(x.span), file=path, _text=whole)
                   for x in piece.others)
        lines += text.count(b"\n", start, end)
    return SymbolTable(
        path=path, digest=hashlib.sha256(source).hexdigest(), size=len(source),
        functions=tuple(functions), data=tuple(data), prototypes=tuple(prototypes),
        structs=tuple(structs), macros=tuple(macros), others=tuple(others),
        error=pieces[0].error)


@dataclass(frozen=True)
class _Place:
    """Where a piece sits in its file: lines and bytes before it."""

    lines: int
    offset: int

    def span(self, span: Span) -> Span:
        return Span(span.first_line + self.lines, span.last_line + self.lines,
                    span.start + self.offset, span.end + self.offset)


_NEXT_ITEM = re.compile(rb"\n(?:[ \t\r\f\v]*\n)*(?=[A-Za-z_#/])")
"""In the raw source: a line that starts at column 0 with a name, a directive or a comment
(after any blank lines). TVM indents everything inside a body, so when the line before ends an
item (`;`, `}`, or a comment's `*/`), this is between items."""
_PIECE_AT_LEAST = 256
"""Bytes below which a piece is joined with the next: tiny pieces cost more than they save."""


def _pieces(source: bytes, text: bytes) -> list[tuple[int, int]]:
    """(start, end) of stretches that hold whole top-level items, cut after an item's last
    line where the next item starts at column 0 (so an attribute standing before an item stays
    in its piece). A cut is only a candidate: `parse` reads the file whole when any piece has
    an error."""
    cuts = [0]
    for m in _NEXT_ITEM.finditer(source):
        end = m.end()
        if end - cuts[-1] < _PIECE_AT_LEAST:
            continue
        last = m.start()
        while last and source[last - 1] in b" \t\r\f\v":
            last -= 1
        ends_item = source[last - 1:last] in (b";", b"}") or source[last - 2:last] == b"*/"
        if ends_item and text[last - 1] not in b" \n":
            cuts.append(end)  # (a blank `;` or `}` belonged to a dropped __cplusplus block)
    cuts.append(len(text))
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < _PIECE_AT_LEAST:
        del cuts[-2]
    return list(pairwise(cuts))


def _within(attributes: list[tuple[int, str]], start: int, end: int) -> tuple[tuple[int, str], ...]:
    """The attributes between two offsets, placed from `start`."""
    return tuple((at - start, text) for at, text in attributes if start <= at < end)


def _read_piece(key: _PieceKey) -> SymbolTable:
    """The table of one stretch of preprocessed C: placed from the stretch's own start (line 1,
    byte 0), not yet tied to a file (path ''), its digest that of the preprocessed text."""
    text, attributes = key
    return _read("", text, text, attributes)


def _read(path: str, source: bytes, text: bytes,
          attributes: Sequence[tuple[int, str]]) -> SymbolTable:
    """The table of `text` (preprocessed `source`) read in one parse."""
    tree, skipped = _tree(text)
    reader = _Reader(path, text, list(attributes), skipped)
    reader.item_list(tree.root_node)
    return SymbolTable(
        path=path, digest=hashlib.sha256(source).hexdigest(), size=len(source),
        functions=tuple(reader.functions), data=tuple(reader.data),
        prototypes=tuple(reader.prototypes), structs=tuple(reader.structs),
        macros=tuple(reader.macros), others=tuple(reader.others),
        error=_first_error(tree.root_node, text))


class _PieceCache:
    """Pieces read so far, by content, for the life of the process: the two sides of a diff,
    or an audit's archives, share what they have in common. The least recently used go first
    once the pieces kept hold more than `limit` bytes of text."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.hits = 0
        self.misses = 0
        self._pieces: OrderedDict[_PieceKey, SymbolTable] = OrderedDict()

    def get(self, key: _PieceKey) -> SymbolTable | None:
        piece = self._pieces.get(key)
        if piece is not None:
            self._pieces.move_to_end(key)
        return piece

    def put(self, key: _PieceKey, piece: SymbolTable) -> None:
        if key in self._pieces or len(key[0]) > self.limit:
            return
        self._pieces[key] = piece
        self.held += len(key[0])
        while self.held > self.limit:
            old, _ = self._pieces.popitem(last=False)
            self.held -= len(old[0])

    def read(self, key: _PieceKey) -> SymbolTable:
        """The piece, parsed now if it is not kept."""
        piece = self.get(key)
        if piece is None:
            self.misses += 1
            piece = _read_piece(key)
            self.put(key, piece)
        else:
            self.hits += 1
        return piece


_PIECES = _PieceCache(64 << 20)
"""At most 64 MiB of piece text (a diff of two archives with 30 MB of C each, or the recent
archives of an audit), so a long-running caller of the API stays bounded."""

_PARALLEL_AT_LEAST = 1 << 20
"""Bytes of unparsed C from which a second process parses half: below it, starting one costs
more than it saves."""


def _read_all(keys: list[_PieceKey]) -> list[SymbolTable]:
    """Every piece parsed, in order: with enough to do, a forked child parses the second half
    while this process parses the first, and sends its pieces back pickled. Anything wrong on
    the child's side (it died, sent too little) and this process parses that half itself."""
    total = sum(len(text) for text, _ in keys)
    if total < _PARALLEL_AT_LEAST or not _can_fork():
        return [_read_piece(k) for k in keys]
    half, done = 0, 0
    while half < len(keys) and done < total // 2:
        done += len(keys[half][0])
        half += 1
    mine, theirs = keys[:half], keys[half:]
    reading, writing = os.pipe()
    try:
        child = os.fork()
    except OSError:  # out of processes or memory (a sandbox's limits): parse it all here
        os.close(reading)
        os.close(writing)
        return [_read_piece(k) for k in keys]
    if child == 0:  # pragma: no cover - runs in the child, which never returns
        try:
            os.close(reading)
            payload = pickle.dumps([_read_piece(k) for k in theirs], pickle.HIGHEST_PROTOCOL)
            with os.fdopen(writing, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(writing)
    pieces = [_read_piece(k) for k in mine]
    with os.fdopen(reading, "rb") as answer:
        payload = answer.read()
    os.waitpid(child, 0)
    try:
        sent = pickle.loads(payload)
    except Exception:  # an empty or cut answer (the child died): parse that half here
        sent = None
    if not isinstance(sent, list) or len(sent) != len(theirs):
        sent = [_read_piece(k) for k in theirs]
    return pieces + sent


def _can_fork() -> bool:
    """Whether a second process may parse: POSIX fork, another core free, and no other thread
    in this one (a fork copies only the calling thread, whatever locks the others hold)."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) > 1


_LIST_CHARS = re.compile(rb"\{[-+0-9a-fA-FxXpP.uUlL, \t\n]{256,}\}")
"""A brace list of at least 256 bytes that could hold numbers only (one character class: a
linear scan); `_numeric_elements` then decides."""
_ONE_ELEMENT = re.compile(rb"[ \t\n]*" + _ELEMENT + rb"[ \t\n]*")
_WINDOW = 1 << 16
"""Bytes of a list split at a time, so checking a huge list needs little memory."""


def _numeric_elements(text: bytes, start: int, end: int) -> int | None:
    """How many elements `text[start:end]` holds when it is the inside of a brace list of
    numeric literals only (a trailing comma allowed); None when it is anything else.

    Weight arrays repeat a few spellings (int8 weights: at most 512), so each distinct element
    is matched once; the list itself is only split at commas, at C speed, a window at a time."""
    seen: set[bytes] = set()
    count, at = 0, start
    while True:
        cut = text.find(b",", min(at + _WINDOW, end), end)
        tokens = text[at:end if cut < 0 else cut].split(b",")
        if cut < 0:
            last = tokens.pop()
        seen.update(tokens)
        count += len(tokens)
        if cut < 0:
            break
        at = cut + 1
    if last.strip():
        seen.add(last)
        count += 1
    return count if count and all(_ONE_ELEMENT.fullmatch(t) for t in seen) else None


def _tree(text: bytes) -> tuple[Tree, dict[int, int]]:
    """The parse tree of `text`, and {offset of `{`: element count} of the numeric lists whose
    insides the parser was not given.

    A list of numeric literals only (`_numeric_elements`) is valid C by construction, so the
    parser can leave its inside out (tree-sitter's included ranges): a weight array costs a
    split at its commas instead of a node per element. Each left-out list must come back as an empty
    `initializer_list` exactly where it was; if one does not (it sat in a comment or a string),
    the text is parsed again in full."""
    lists = [(m.start(), m.end(), _numeric_elements(text, m.start() + 1, m.end() - 1))
             for m in _LIST_CHARS.finditer(text)]
    found = [(start, end) for start, end, n in lists if n]
    if found:
        ranges, at, row, column = [], 0, 0, 0
        for start, end in found:
            start_point = (row, column)
            row, column = _advance(text, at, start + 1, row, column)
            ranges.append(Range(start_point, (row, column), at, start + 1))
            row, column = _advance(text, start + 1, end - 1, row, column)
            at = end - 1
        ranges.append(Range((row, column), _advance(text, at, len(text), row, column), at,
                            len(text)))
        tree = Parser(_LANGUAGE, included_ranges=ranges).parse(text)
        root = tree.root_node
        if all(_is_list_at(root, start, end) for start, end in found):
            return tree, {start: n for start, _, n in lists if n}
    return Parser(_LANGUAGE).parse(text), {}


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


class CodegenSymbols:
    """The symbol tables of an archive's codegen files, each file parsed at most once."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self._tables: dict[str, SymbolTable | None] = {}

    @cached_property
    def sources(self) -> tuple[str, ...]:
        """C source members (codegen/host/src/*.c), in archive order."""
        return tuple(m.name for m in self.archive.files("codegen/host/src")
                     if C_SOURCE.match(m.name))

    @cached_property
    def headers(self) -> tuple[str, ...]:
        """Interface headers (codegen/host/include/*.h)."""
        return tuple(m.name for m in self.archive.files("codegen/host/include")
                     if C_HEADER.match(m.name))

    def table(self, path: str) -> SymbolTable | None:
        """The symbol table of `path`; None when the member is absent or over the size limit."""
        if path not in self._tables:
            self._read((path,))
        return self._tables[path]

    def tables(self) -> dict[str, SymbolTable]:
        """Every readable C source and header, by member path, read together (`parse_all`):
        ask for this, not for each file, when all of them are needed."""
        self._read((*self.sources, *self.headers))
        return {p: t for p in (*self.sources, *self.headers)
                if (t := self._tables[p]) is not None}

    def _read(self, paths: tuple[str, ...]) -> None:
        todo = [p for p in paths if p not in self._tables]
        readable = [p for p in todo if self.archive.readable(p)]
        self._tables.update(dict.fromkeys(todo))
        tables = parse_all([(p, self.archive.read(p)) for p in readable])
        self._tables.update(zip(readable, tables, strict=True))


# -- reading the tree ---------------------------------------------------------------------------


class _Reader:
    """Walks the top level of one parse tree, collecting symbols."""

    def __init__(self, path: str, text: bytes, attributes: list[tuple[int, str]],
                 skipped: dict[int, int]) -> None:
        self.path = path
        """'' for a piece, which `parse_all` ties to its file."""
        self.skipped = skipped
        """Element counts of the numeric lists the parser left out, by the `{` offset."""
        self.functions: list[Function] = []
        self.data: list[Data] = []
        self.prototypes: list[Prototype] = []
        self.structs: list[Struct] = []
        self.macros: list[Macro] = []
        self.others: list[Other] = []
        self.attributes = attributes
        self.previous_end = 0
        self.item_start = 0
        """Where the current item's leading attributes may start: the previous item's end."""
        self.folder = _Text(text)

    def fold(self, node: Node | None) -> str:
        """Folded text of `node` ('' for none)."""
        return "" if node is None else self.folder.fold(node.start_byte, node.end_byte)

    def span(self, node: Node) -> Span:
        return Span(node.start_point.row + 1, node.end_point.row + 1, node.start_byte,
                    node.end_byte)

    # -- items

    def item_list(self, parent: Node) -> None:
        """Read every top-level item below `parent` (conditionals and extern "C" are open)."""
        for node in parent.named_children:
            kind = node.type
            if kind != "comment":
                self.item_start = self.previous_end
                self.previous_end = node.end_byte
            if kind == "function_definition":
                self.function(node)
            elif kind == "declaration":
                self.declaration(node)
            elif kind in ("preproc_def", "preproc_function_def"):
                self.macro(node)
            elif kind in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif",
                          "preproc_elifdef", "declaration_list"):
                self.item_list(node)
            elif kind == "linkage_specification":
                body = node.child_by_field_name("body")
                if body is not None:
                    if body.type == "declaration_list":
                        self.item_list(body)
                    else:
                        self.item_list(node)
            elif kind == "struct_specifier" and node.child_by_field_name("body") is not None:
                self.struct(node)
            elif kind in ("comment", "identifier", "string_literal") and parent.type in (
                    "preproc_if", "preproc_ifdef", "preproc_elif", "linkage_specification"):
                continue  # the condition of a conditional, the "C" of extern "C"
            elif kind != "comment":
                if kind == "type_definition":
                    for spec in _children(node, "struct_specifier"):
                        if spec.child_by_field_name("body") is not None:
                            self.struct(spec)
                self.others.append(Other(kind, self.span(node), self.path, self.folder))

    def function(self, node: Node) -> None:
        declarator = node.child_by_field_name("declarator")
        name = _name(declarator)
        if not name:
            self.others.append(Other(node.type, self.span(node), self.path, self.folder))
            return
        self.functions.append(Function(
            name=name, static=_is_static(node), signature=self.signature(node, declarator),
            parameters=_parameters(declarator), size=node.end_byte - node.start_byte,
            span=self.span(node), file=self.path, _text=self.folder))

    def signature(self, node: Node, declarator: Node | None) -> str:
        """Type and declarator, folded; storage class and attributes left out."""
        type_node = node.child_by_field_name("type")
        type_text = self.fold(type_node)
        qualifiers = [self.fold(c) for c in node.named_children
                      if c.type == "type_qualifier" and c.start_byte < (declarator.start_byte
                                                                        if declarator else 0)]
        return " ".join([*qualifiers, type_text, self.fold(declarator)]).strip()

    def declaration(self, node: Node) -> None:
        storage = self.storage(node)
        static = "static" in storage
        type_node = node.child_by_field_name("type")
        if type_node is not None and type_node.type == "struct_specifier" and \
                type_node.child_by_field_name("body") is not None:
            self.struct(type_node)
        declarators = node.children_by_field_name("declarator")
        if not declarators:
            self.others.append(Other(node.type, self.span(node), self.path, self.folder))
            return
        for declarator in declarators:
            target = declarator.child_by_field_name("declarator") \
                if declarator.type == "init_declarator" else declarator
            if _function_declarator(target) is not None:
                self.prototypes.append(Prototype(_name(target), static,
                                                 self.signature(node, target), self.span(node),
                                                 self.path))
                continue
            self.variable(node, type_node, storage, declarator, target)

    def storage(self, node: Node) -> tuple[str, ...]:
        """Storage class, qualifiers and attributes of a declaration, in source order;
        attributes inside a struct body or an initializer belong to those, not here."""
        found = [(c.start_byte, self.fold(c)) for c in node.named_children
                 if c.type in ("storage_class_specifier", "type_qualifier")]
        inner = [(n.start_byte, n.end_byte) for n in _descendants(node, (
            "field_declaration_list", "initializer_list", "compound_statement"))]
        found += [(at, text) for at, text in self.attributes
                  if min(node.start_byte, self.item_start) <= at < node.end_byte
                  and not any(s <= at < e for s, e in inner)]
        return tuple(text for _, text in sorted(found))

    def variable(self, node: Node, type_node: Node | None, storage: tuple[str, ...],
                 declarator: Node, target: Node | None) -> None:
        name = _name(target)
        value = declarator.child_by_field_name("value") \
            if declarator.type == "init_declarator" else None
        count, element = self.dimensions(target)
        if count is None and value is not None and value.type == "initializer_list" and \
                target is not None and target.type == "array_declarator" and \
                not _array_sizes(target):
            count = self.skipped.get(value.start_byte, value.named_child_count)
        type_text = self.fold(type_node) + element
        if type_node is not None and type_node.type == "struct_specifier":
            struct_name = type_node.child_by_field_name("name")
            type_text = "struct " + (self.fold(struct_name) if struct_name else "")
        members = value is not None and value.type == "initializer_list" and \
            type_node is not None and type_node.type == "struct_specifier"
        self.data.append(Data(
            name=name, type=type_text, count=count, storage=storage,
            size=node.end_byte - node.start_byte, span=self.span(node), file=self.path,
            value=(value.start_byte, value.end_byte) if value is not None else None,
            has_members=members, _text=self.folder))
        if members:
            assert value is not None and type_node is not None
            self.members(name, type_node, storage, value)

    def members(self, owner: str, type_node: Node, storage: tuple[str, ...],
                value: Node) -> None:
        """Designated members of an initialised struct (v7's constant pool) as data."""
        fields: dict[str, tuple[str, int | None]] = {}
        body = type_node.child_by_field_name("body")
        struct_name = type_node.child_by_field_name("name")
        if body is None and struct_name is not None:
            known = next((s for s in self.structs if s.name == self.fold(struct_name)), None)
            fields = {m.name: _member_type(m.type) for m in known.members} if known else {}
        for member in self.struct_members(body) if body is not None else ():
            fields[member.name] = _member_type(member.type)
        for pair in _children(value, "initializer_pair"):
            designator = pair.child_by_field_name("designator")
            item = pair.child_by_field_name("value")
            if designator is None or item is None or designator.type != "field_designator":
                continue
            field_name = self.fold(designator).lstrip(".")
            element, count = fields.get(field_name, ("", None))
            self.data.append(Data(
                name=f"{owner}.{field_name}", type=element, count=count, storage=storage,
                size=pair.end_byte - pair.start_byte, span=self.span(pair), file=self.path,
                value=(item.start_byte, item.end_byte), has_members=False, _text=self.folder))

    def dimensions(self, declarator: Node | None) -> tuple[int | None, str]:
        """(element count, pointer stars) of a declarator: 1 for a scalar, None if unknown."""
        stars = ""
        node = declarator
        while node is not None:
            if node.type == "pointer_declarator":
                stars += "*"
            node = node.child_by_field_name("declarator")
        count: int | None = 1
        if declarator is not None and declarator.type == "array_declarator" and \
                declarator.child_by_field_name("size") is None:
            count = None  # `w[]`: sized by its initializer
        for size in _array_sizes(declarator) if declarator is not None else ():
            number = _number(self.fold(size))
            if number is None or number != int(number) or number < 0 or count is None:
                count = None
            else:
                count *= int(number)
        return count, stars

    def struct(self, node: Node) -> None:
        name_node = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        if body is None:
            return
        self.structs.append(Struct(self.fold(name_node) if name_node else "",
                                   self.struct_members(body), self.span(node), self.path))

    def struct_members(self, body: Node) -> tuple[Member, ...]:
        out = []
        for fd in _children(body, "field_declaration"):
            type_text = self.fold(fd.child_by_field_name("type"))
            for declarator in fd.children_by_field_name("declarator"):
                name = _name(declarator)
                rest = self.fold(declarator).replace(name, "", 1) if name else ""
                out.append(Member(name, f"{type_text}{rest}"))
        return tuple(out)

    def macro(self, node: Node) -> None:
        name = self.fold(node.child_by_field_name("name"))
        params = node.child_by_field_name("parameters")
        if params is not None:
            name += self.fold(params)
        self.macros.append(Macro(name, self.fold(node.child_by_field_name("value")),
                                 self.span(node), self.path))


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


def _children(node: Node, kind: str) -> Iterator[Node]:
    return (c for c in node.named_children if c.type == kind)


def _fold_code(raw: bytes) -> bytes:
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


def _number(text: str) -> float | None:
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


def _name(declarator: Node | None) -> str:
    """The identifier a declarator declares ('' when it has none)."""
    node = declarator
    while node is not None:
        if node.type in ("identifier", "field_identifier", "type_identifier"):
            return node.text.decode("utf-8", "backslashreplace") if node.text else ""
        inner = node.child_by_field_name("declarator")
        if inner is None:
            inner = next((c for c in node.named_children if c.type in (
                "identifier", "field_identifier", "parenthesized_declarator",
                "pointer_declarator", "function_declarator", "array_declarator")), None)
        node = inner
    return ""


def _parameters(declarator: Node | None) -> tuple[str, ...]:
    """The parameter names of a function declarator, in order."""
    function = _function_declarator(declarator)
    listed = function.child_by_field_name("parameters") if function is not None else None
    if listed is None:
        return ()
    return tuple(_name(p.child_by_field_name("declarator"))
                 for p in _children(listed, "parameter_declaration"))


def _function_declarator(declarator: Node | None) -> Node | None:
    """The function_declarator of a declarator (through pointers and parentheses), if any."""
    node = declarator
    while node is not None:
        if node.type == "function_declarator":
            return node
        if node.type not in ("pointer_declarator", "parenthesized_declarator",
                             "attributed_declarator"):
            return None
        node = node.child_by_field_name("declarator") or next(iter(node.named_children), None)
    return None


def _array_sizes(declarator: Node) -> list[Node]:
    out = []
    node: Node | None = declarator
    while node is not None:
        if node.type == "array_declarator":
            size = node.child_by_field_name("size")
            if size is not None:
                out.append(size)
        node = node.child_by_field_name("declarator")
    return out


def _is_static(node: Node) -> bool:
    return any(c.type == "storage_class_specifier" and c.text == b"static"
               for c in node.named_children)


def _descendants(node: Node, kinds: tuple[str, ...]) -> list[Node]:
    """The outermost nodes of `kinds` below `node` (not below those); a short walk: it stops
    at every match, so an initializer's elements are never visited."""
    out = []
    stack = list(node.named_children)
    while stack:
        n = stack.pop()
        if n.type in kinds:
            out.append(n)
        elif n.named_child_count:
            stack.extend(n.named_children)
    return out


def _member_type(text: str) -> tuple[str, int | None]:
    """(element type, element count) of a struct member type such as `int8_t[36864]`."""
    head = re.sub(r"__attribute__\(\(.*\)\)", "", text).strip()
    sizes = re.findall(r"\[([^\]]*)\]", head)
    element = re.sub(r"\[[^\]]*\]", "", head).strip()
    count: int | None = 1
    for s in sizes:
        number = _number(s)
        if number is None or number != int(number) or count is None:
            count = None
        else:
            count *= int(number)
    return element, count


def _first_error(root: Node, text: bytes) -> SyntaxProblem | None:
    """The first ERROR or MISSING node, as line:column and what the parser expected."""
    if not root.has_error:
        return None
    node = root
    while True:
        if node.is_missing:
            message = f"missing {node.type!r}"
            break
        if node.is_error:
            snippet = text[node.start_byte:min(node.end_byte, node.start_byte + 40)]
            shown = snippet.decode("utf-8", "backslashreplace").split("\n", 1)[0]
            message = f"syntax error at {shown!r}"
            break
        child = next((c for c in node.children if c.has_error or c.is_missing or c.is_error),
                     None)
        if child is None:
            message = "syntax error"
            break
        node = child
    row, col = node.start_point.row, node.start_point.column
    line_start = text.rfind(b"\n", 0, node.start_byte) + 1
    column = len(text[line_start:line_start + col].decode("utf-8", "replace")) + 1
    return SyntaxProblem(row + 1, column, message)
