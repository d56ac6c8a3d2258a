"""Reading C in pieces: files are cut between top-level items (`cut_pieces`), each piece is
read on its own, placed from its own start, and the pieces' tables are placed back where they sit
in their file (`assemble`). A piece is known by its content (`PieceKey`), so a `PieceCache` reads
each piece once, whatever file it sits in; `deal` shares a batch of pieces between processes.
A piece read is a `Piece`: its table and the steps it took (`budget`).
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

from mlfcheck.reading.csource.budget import PARSE_STEP, cost
from mlfcheck.reading.csource.literals import Steps
from mlfcheck.reading.csource.preparation import Conditions, prepare
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

_T = TypeVar("_T")
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
    conditions: Conditions
    """The conditionals of `text`, for the definitions under them."""
    bounds: list[tuple[int, int]]
    """(start, end) of each piece."""
    keys: list[PieceKey]
    """Each piece's key, in order."""

    @classmethod
    def of(cls, path: str, source: bytes) -> PreparedFile:
        """`source` preprocessed and cut between top-level items (`cut_pieces`)."""
        text, attributes, conditions = prepare(source)
        bounds = cut_pieces(source, text)
        offsets = [at for at, _ in attributes]
        keys = [(text[start:end], _within(attributes, offsets, start, end))
                for start, end in bounds]
        return cls(path, source, text, attributes, conditions, bounds, keys)

    def table(self, pieces: list[SymbolTable]) -> SymbolTable:
        """The file's table from its pieces' tables (in order), when none has an error (a file
        whose pieces do not all parse is read whole, `read_whole`, so that a syntax error is
        always found, and placed, in the whole file)."""
        return assemble(self.path, self.source, self.text, self.conditions, self.bounds,
                        pieces)

    def read_whole(self, cap: int) -> Piece:
        """The file read in one parse of at most `cap` steps."""
        steps = Steps(cap - PARSE_STEP)
        table = read_text(self.path, self.source, self.text, self.attributes, steps,
                          self.conditions)
        return Piece(table, steps.count + PARSE_STEP if table is not None else cap + 1)


@dataclass(frozen=True)
class Piece:
    """What reading one stretch of C gave: its table (None when it took more steps than it
    was allowed), and the steps it took (past its cap, when it was stopped)."""

    table: SymbolTable | None
    steps: int
    """The steps it took; one more than it was allowed when it was stopped."""

    @property
    def cost(self) -> int:
        """What it counts against its archive's budget (`budget.cost`): a parse that stopped
        counts as one that found an error."""
        return cost(self.steps, self.table is None or self.table.error is not None)


def assemble(path: str, source: bytes, text: bytes, conditions: Conditions,
             bounds: list[tuple[int, int]], pieces: list[SymbolTable]) -> SymbolTable:
    """One file's symbol table from its pieces, each placed where it sits in the file, and
    each definition under the conditional it sits under there."""
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
        functions += (Function(f.name, f.static, f.signature, f.type, f.parameters, f.size,
                               at.span(f.span), path, conditions.at(f.span.start + start),
                               whole) for f in piece.functions)
        data += (Data(d.name, d.type, d.count, d.storage, d.size, at.span(d.span), path,
                      None if d.value is None else (d.value[0] + start, d.value[1] + start),
                      d.has_members, conditions.at(d.span.start + start), whole)
                 for d in piece.data)
        prototypes += (Prototype(x.name, x.static, x.signature, x.type, at.span(x.span), path)
                       for x in piece.prototypes)
        structs += (Struct(x.name, x.members, at.span(x.span), path) for x in piece.structs)
        macros += (Macro(x.name, x.value, at.span(x.span), path) for x in piece.macros)
        others += (Other(x.kind, at.span(x.span), path, whole) for x in piece.others)
        lines += text.count(b"\n", start, end)
    return SymbolTable(
        path=path, digest=hashlib.sha256(source).hexdigest(), size=len(source),
        functions=tuple(functions), data=tuple(data), prototypes=tuple(prototypes),
        structs=tuple(structs), macros=tuple(macros), others=tuple(others),
        error=pieces[0].error if pieces else None)


@dataclass(frozen=True)
class _Place:
    """Where a piece sits in its file: lines and bytes before it."""

    lines: int
    offset: int

    def span(self, span: Span) -> Span:
        return Span(span.first_line + self.lines, span.last_line + self.lines,
                    span.start + self.offset, span.end + self.offset)


_ITEM_LINE = re.compile(rb"\n(?=[A-Za-z_#/])")
"""In the raw source: a line that starts at column 0 with a name, a directive or a comment.
TVM indents everything inside a body, so when the last line before it that is not blank ends an
item (`;`, `}`, or a comment's `*/`), this is between items. (The pattern starts with a literal,
which the regex engine finds at C speed; the blank lines before it are stepped over backwards,
each at most once, since the line before them starts with a name.)"""
_BLANK = frozenset(b" \t\r\f\v\n")
_PIECE_AT_LEAST = 256
"""Bytes below which a piece is joined with the next: tiny pieces cost more than they save."""
_DEAL_CHUNK = 1 << 16
"""Bytes of pieces a part of a shared batch takes at a time (`deal`)."""


def cut_pieces(source: bytes, text: bytes) -> list[tuple[int, int]]:
    """(start, end) of stretches that hold whole top-level items, cut after an item's last
    line where the next item starts at column 0 (so an attribute standing before an item stays
    in its piece). A cut is only a candidate: a file whose pieces have errors is read whole."""
    cuts = [0]
    for m in _ITEM_LINE.finditer(source):
        end = m.end()
        if end - cuts[-1] < _PIECE_AT_LEAST:
            continue
        last = m.start()
        while last and source[last - 1] in _BLANK:
            last -= 1
        ends_item = source[last - 1:last] in (b";", b"}") or source[last - 2:last] == b"*/"
        if ends_item and text[last - 1] not in b" \n":
            cuts.append(end)  # (a blank `;` or `}` belonged to a dropped __cplusplus block)
    cuts.append(len(text))
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < _PIECE_AT_LEAST:
        del cuts[-2]
    return list(pairwise(cuts))


def _within(attributes: list[tuple[int, str]], offsets: list[int], start: int,
            end: int) -> tuple[tuple[int, str], ...]:
    """The attributes between two offsets (`offsets`: theirs, in order), placed from `start`."""
    first, last = bisect_left(offsets, start), bisect_left(offsets, end)
    return tuple((at - start, text) for at, text in attributes[first:last])


def read_piece(key: PieceKey, cap: int) -> Piece:
    """The table of one stretch of preprocessed C, read in at most `cap` steps: placed from the
    stretch's own start (line 1, byte 0), not yet tied to a file (path ''), its digest that of
    the preprocessed text."""
    text, attributes = key
    steps = Steps(cap - PARSE_STEP)
    table = read_text("", text, text, attributes, steps)
    return Piece(table, steps.count + PARSE_STEP if table is not None else cap + 1)


def deal(tasks: Sequence[_T], sizes: Sequence[int], count: int,
         chunk: int = _DEAL_CHUNK) -> list[list[_T]]:
    """`tasks` (of `sizes` bytes each) cut into runs of about `chunk` bytes, dealt in turn to
    at most `count` parts, so that every part holds a share of the start of the batch, of its
    middle and of its end: parts that each stop after a share of a budget together read the
    batch up to where the budget ends, with no gap. Empty parts are left out."""
    parts: list[list[_T]] = [[] for _ in range(max(1, count))]
    turn, held = 0, 0
    for task, size in zip(tasks, sizes, strict=True):
        parts[turn].append(task)
        held += size
        if held >= chunk:
            turn, held = (turn + 1) % len(parts), 0
    return [part for part in parts if part]


class PieceCache:
    """Pieces read so far, by content: whatever one parser reads (the two sides of a diff, an
    audit's archives) shares what it has in common. The least recently used go first once the
    pieces kept hold more than `limit` bytes of text. Only pieces read to the end are kept."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.hits = 0
        self.misses = 0
        self._pieces: OrderedDict[PieceKey, Piece] = OrderedDict()

    def get(self, key: PieceKey) -> Piece | None:
        piece = self._pieces.get(key)
        if piece is not None:
            self._pieces.move_to_end(key)
        return piece

    def put(self, key: PieceKey, piece: Piece) -> None:
        if key in self._pieces or len(key[0]) > self.limit or piece.table is None:
            return
        self._pieces[key] = piece
        self.held += len(key[0])
        while self.held > self.limit:
            old, _ = self._pieces.popitem(last=False)
            self.held -= len(old[0])

    def read(self, key: PieceKey, cap: int) -> Piece:
        """The piece, read now (in at most `cap` steps) if it is not kept. A kept piece that
        took more than `cap` steps is over it, as a fresh read would be: its table is None."""
        piece = self.get(key)
        if piece is None:
            self.misses += 1
            piece = read_piece(key, cap)
            self.put(key, piece)
        else:
            self.hits += 1
        return piece if piece.steps <= cap else Piece(None, cap + 1)
