"""`CParser`: C files in, symbol tables out, with the state that makes it fast given by its
caller: the piece cache it owns, how many processes may parse a batch, and from how many bytes.

Every file is read in pieces (`batching`); a piece this parser has read before, in whatever
file, is not parsed again. Files are read in order against their archive's `Meter` (`budget`):
each piece's steps are counted as it is read, a file stops at its first piece with a syntax
error and is read whole instead (within the same budget), and once the archive's budget is
spent no later file is read. What a file counts is its pieces' steps, whether they were parsed
now or kept from before, so the same archive passes or fails its budget the same way whatever
the parser read before.

A batch large enough is first read ahead by `workers` processes through
`mlfcheck.children.fork_map`, the one place that forks: the first part here, every other in a
forked child, each part stopping once it has spent its share of what the archive's budget has
left. Whatever a part did not send back is read here when its file needs it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlfcheck.reading.csource.batching import (
    Piece,
    PieceCache,
    PieceKey,
    PreparedFile,
    deal,
    read_piece,
)
from mlfcheck.reading.csource.budget import ERROR_WEIGHT, Budget, Meter, Unread
from mlfcheck.reading.csource.symbols import SymbolTable

if TYPE_CHECKING:
    from mlfcheck.children import Limits

Task = tuple[PieceKey, int]
"""A piece to read ahead, and the index of the first file of the batch it sits in."""
Part = tuple[int, list[Piece | None]]
"""One part of a batch read ahead: the id of the process that read it, and each of its pieces
(None where the part stopped: a piece after one with an error in the same file, or past the
archive's budget)."""


@dataclass(frozen=True)
class Order:
    """One part of a batch to read ahead, and the steps it may take."""

    tasks: list[Task]
    cap: int
    """Most steps of one piece."""
    allowance: int
    """The part stops once its pieces have counted more than this."""


def read_part(order: Order) -> Part:
    """The pieces of one part, read in this process, in order, until they count more than the
    part's allowance; a file's pieces after its first with an error are left out."""
    out: list[Piece | None] = []
    spent = 0
    broken: set[int] = set()
    for key, file in order.tasks:
        if spent > order.allowance or file in broken:
            out.append(None)
            continue
        piece = read_piece(key, order.cap)
        spent += piece.cost
        if piece.table is None or piece.table.error is not None:
            broken.add(file)
        out.append(piece)
    return os.getpid(), out


class CParser:
    """Reads C files into symbol tables; every table equals the one a whole-file parse gives.

    Whoever makes a parser decides what it shares: one parser for both sides of a diff, or for
    an audit's archives and their baselines, parses their common pieces once. A parser is not
    shared between processes (a forked worker makes its own)."""

    def __init__(self, *, cache_bytes: int = 64 << 20, workers: int | None = 1,
                 parallel_at_least: int = 1 << 20, limits: Limits | None = None) -> None:
        """`cache_bytes`: most bytes of piece text kept (64 MiB holds a diff of two archives
        with 30 MB of C each); `workers`: processes that may parse one batch (1: this one
        only; None: one per core this process may run on, counted when a batch is large
        enough); `parallel_at_least`: bytes of unparsed C from which a batch is shared (below
        it, starting a child costs more than it saves); `limits`: what each child may use
        (default: `children.Limits()`)."""
        if workers is not None and workers < 1:
            raise ValueError(f"CParser needs at least one worker, not {workers!r}")
        self.cache = PieceCache(cache_bytes)
        self.workers = workers
        self.parallel_at_least = parallel_at_least
        self.limits = limits
        self.forked_parts = 0
        """Parts of batches that a forked child parsed and sent back."""
        self.redone_parts = 0
        """Parts whose child sent nothing back (or was never started): their pieces are read
        here, as their files need them."""

    def parse(self, path: str, source: bytes) -> SymbolTable:
        """The symbol table of one C file, without a budget (see `parse_all`)."""
        return self.parse_all([(path, source)])[0]

    def parse_all(self, files: Sequence[tuple[str, bytes]]) -> list[SymbolTable]:
        """The symbol tables of C files given as (path, bytes), in order, read without a
        budget (`read_all` with one no input reaches)."""
        tables = []
        for table in self.read_all(files, Meter(Budget.unlimited())):
            assert isinstance(table, SymbolTable), table  # (no input reaches that budget)
            tables.append(table)
        return tables

    def read_all(self, files: Sequence[tuple[str, bytes]],
                 meter: Meter) -> list[SymbolTable | Unread]:
        """The symbol tables of C files given as (path, bytes), in order, each read within what
        `meter` has left; `Unread` for a file that would pass a step limit, saying which.

        Each file is read in pieces cut between top-level items, and each piece is parsed
        once per parser whatever file it comes from: a re-export that moves functions between
        files or reorders them parses only what changed."""
        if self.workers == 1 or sum(len(source) for _, source in files) < self.parallel_at_least:
            return [self._read_file(PreparedFile.of(path, source), meter, {})  # one at a time
                    if not meter.exhausted else Unread(_spent(meter)) for path, source in files]
        prepared = [PreparedFile.of(path, source) for path, source in files]
        ahead = self._read_ahead(prepared, meter)
        return [self._read_file(f, meter, ahead) for f in prepared]

    def map_parts(self, orders: Sequence[Order]) -> list[Part | None]:
        """Each part read: the first here, every other in a forked child; None for a part
        whose child failed (`children.fork_map`)."""
        from mlfcheck import children  # (here: a small batch never needs a child)

        return children.fork_map(read_part, orders, limits=self.limits or children.Limits())

    def _read_ahead(self, files: list[PreparedFile], meter: Meter) -> dict[PieceKey, Piece]:
        """The pieces not kept yet, read by `workers` processes when they are enough to share
        (nothing otherwise: each is then read when its file needs it)."""
        first: dict[PieceKey, int] = {}
        for index, f in enumerate(files):
            for key in f.keys:
                if key not in first and self.cache.get(key) is None:
                    first[key] = index
        tasks = list(first.items())
        if self.workers == 1 or len(tasks) < 2 or meter.exhausted or \
                sum(len(key[0]) for key, _ in tasks) < self.parallel_at_least:
            return {}
        parts = deal(tasks, [len(key[0]) for key, _ in tasks], self.workers or _cores())
        share = meter.left // len(parts)  # (what each part may spend: together, all that is left)
        orders = [Order(part, meter.cap(), share) for part in parts]
        ahead: dict[PieceKey, Piece] = {}
        for order, result in zip(orders, self.map_parts(orders), strict=True):
            if result is None:
                self.redone_parts += 1
                continue
            if result[0] != os.getpid():
                self.forked_parts += 1
            for (key, _), piece in zip(order.tasks, result[1], strict=True):
                if piece is not None:
                    ahead[key] = piece
                    self.cache.put(key, piece)
        return ahead

    def _piece(self, key: PieceKey, cap: int, ahead: dict[PieceKey, Piece]) -> Piece:
        """One piece within `cap` steps: read ahead, kept, or read now."""
        piece = ahead.get(key)
        if piece is None:
            return self.cache.read(key, cap)
        return piece if piece.steps <= cap else Piece(None, cap + 1)

    def _read_file(self, f: PreparedFile, meter: Meter,
                   ahead: dict[PieceKey, Piece]) -> SymbolTable | Unread:
        """One file's table, its pieces counted in order against `meter`; read whole from its
        first piece that does not parse, or that takes too long (a piece can be cut where the
        file is not: a conditional left open parses as a thousand stray items)."""
        if meter.exhausted:
            return Unread(_spent(meter))
        tables = []
        for (start, _), key in zip(f.bounds, f.keys, strict=True):
            cap = meter.cap()
            piece = self._piece(key, cap, ahead)
            kept = _charge(meter, piece)
            if len(f.keys) > 1 and not meter.exhausted and (
                    piece.table is None or piece.table.error is not None):
                return _read_whole(f, meter)
            if not kept:
                line = f.text.count(b"\n", 0, start) + 1
                return _refusal(meter, piece, cap, f"one top-level item (line {line})")
            assert piece.table is not None
            tables.append(piece.table)
        return f.table(tables)


def _read_whole(f: PreparedFile, meter: Meter) -> SymbolTable | Unread:
    """A file read in one parse, counted against `meter`."""
    cap = meter.cap()
    whole = f.read_whole(cap)
    if not _charge(meter, whole):
        return _refusal(meter, whole, cap, "the whole file (its pieces do not all parse)")
    assert whole.table is not None
    return whole.table


def _charge(meter: Meter, piece: Piece) -> bool:
    """Count `piece` against `meter`: False when it was stopped or
    took the archive past its budget."""
    meter.spent += piece.cost
    if meter.spent > meter.budget.steps:
        meter.exhausted = True
    return piece.table is not None and not meter.exhausted


def _refusal(meter: Meter, piece: Piece, cap: int, what: str) -> Unread:
    """Why a file is not read: one parse passed its own cap, or the archive's budget is spent."""
    if piece.table is None and cap >= meter.budget.parse_steps:
        return Unread(f"not read: parsing {what} took more than {cap} steps (raise with "
                      "--max-c-parse-steps)")
    return Unread(_spent(meter))


def _spent(meter: Meter) -> str:
    """Why a file is not read once its archive's budget is spent."""
    return (f"not read: the archive's C took more than its {meter.budget.steps} steps by "
            f"this file (a parse with a syntax error counts each step {ERROR_WEIGHT} times; "
            "raise with --max-c-steps)")


def _cores() -> int:
    """`children.available_cores()`, imported when a batch is first large enough to share."""
    from mlfcheck import children

    return children.available_cores()
