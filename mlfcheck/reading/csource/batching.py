"""Reading C in pieces: files are cut between top-level items (`cut_pieces`), each piece is
read on its own, placed from its own start, and the pieces' tables are placed back where they sit
in their file (`assemble`). A piece is known by its content (`PieceKey`), so a `PieceCache` reads
each piece once, whatever file it sits in; `split` shares a batch of pieces between processes.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from mlfcheck.reading.csource.preparation import prepare
from mlfcheck.reading.csource.reader import read_text
from mlfcheck.reading.csource.symbols import (
    Data,
    Function,
    Macro,
    Other,
    Prototype,
    Span,
    Struct,
    SymbolTable,
    Text,
)

PieceKey = tuple[bytes, tuple[tuple[int, str], ...]]
"""What identifies a piece: its preprocessed text and the attributes blanked in it, placed from
its start."""


@dataclass(frozen=True)
class PreparedFile:
    """One file preprocessed and cut into pieces, ready to be read from them."""

    path: str
    source: bytes
    text: bytes
    """The preprocessed source."""
    attributes: list[tuple[int, str]]
    """The attributes blanked in `text`: (offset, folded contents)."""
    bounds: list[tuple[int, int]]
    """(start, end) of each piece."""
    keys: list[PieceKey]
    """Each piece's key, in order."""

    @classmethod
    def of(cls, path: str, source: bytes) -> PreparedFile:
        """`source` preprocessed and cut between top-level items (`cut_pieces`)."""
        text, attributes = prepare(source)
        bounds = cut_pieces(source, text)
        keys = [(text[start:end], _within(attributes, start, end)) for start, end in bounds]
        return cls(path, source, text, attributes, bounds, keys)

    def table(self, pieces: list[SymbolTable]) -> SymbolTable:
        """The file's table from its pieces' tables (in order). When several pieces do not
        all parse cleanly the file is read again whole, so a syntax error is always found, and
        placed, in the whole file."""
        if len(pieces) > 1 and any(p.error is not None for p in pieces):
            return read_text(self.path, self.source, self.text, self.attributes)
        return assemble(self.path, self.source, self.text, self.bounds, pieces)


def assemble(path: str, source: bytes, text: bytes, bounds: list[tuple[int, int]],
             pieces: list[SymbolTable]) -> SymbolTable:
    """One file's symbol table from its pieces, each placed where it sits in the file."""
    whole = Text(text)
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


def cut_pieces(source: bytes, text: bytes) -> list[tuple[int, int]]:
    """(start, end) of stretches that hold whole top-level items, cut after an item's last
    line where the next item starts at column 0 (so an attribute standing before an item stays
    in its piece). A cut is only a candidate: `PreparedFile.table` reads the file whole when
    pieces have errors."""
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


def read_piece(key: PieceKey) -> SymbolTable:
    """The table of one stretch of preprocessed C: placed from the stretch's own start (line 1,
    byte 0), not yet tied to a file (path ''), its digest that of the preprocessed text."""
    text, attributes = key
    return read_text("", text, text, attributes)


def split(keys: Sequence[PieceKey], count: int) -> list[list[PieceKey]]:
    """`keys` (at least one) in order, cut into at most `count` non-empty runs of about equal
    bytes of text."""
    total = sum(len(text) for text, _ in keys)
    parts: list[list[PieceKey]] = [[]]
    done = 0
    for key in keys:
        if parts[-1] and len(parts) < count and done >= total * len(parts) / count:
            parts.append([])
        parts[-1].append(key)
        done += len(key[0])
    return parts


class PieceCache:
    """Pieces read so far, by content: whatever one parser reads (the two sides of a diff, an
    audit's archives) shares what it has in common. The least recently used go first once the
    pieces kept hold more than `limit` bytes of text."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.hits = 0
        self.misses = 0
        self._pieces: OrderedDict[PieceKey, SymbolTable] = OrderedDict()

    def get(self, key: PieceKey) -> SymbolTable | None:
        piece = self._pieces.get(key)
        if piece is not None:
            self._pieces.move_to_end(key)
        return piece

    def put(self, key: PieceKey, piece: SymbolTable) -> None:
        if key in self._pieces or len(key[0]) > self.limit:
            return
        self._pieces[key] = piece
        self.held += len(key[0])
        while self.held > self.limit:
            old, _ = self._pieces.popitem(last=False)
            self.held -= len(old[0])

    def read(self, key: PieceKey) -> SymbolTable:
        """The piece, parsed now if it is not kept."""
        piece = self.get(key)
        if piece is None:
            self.misses += 1
            piece = read_piece(key)
            self.put(key, piece)
        else:
            self.hits += 1
        return piece
