"""`CParser`: C files in, symbol tables out, with the state that makes it fast given by its
caller: the piece cache it owns, how many processes may parse a batch, and from how many bytes.

Every file is read in pieces (`batching`); a piece this parser has read before, in whatever
file, is not parsed again. A batch large enough is shared between `workers` processes through
`mlfcheck.children.fork_map`, the one place that forks: the first part is parsed here, every
other in a forked child, and a part whose child sends nothing back is parsed here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlfcheck.reading.csource.batching import (
    PieceCache,
    PieceKey,
    PreparedFile,
    read_piece,
    split,
)
from mlfcheck.reading.csource.symbols import SymbolTable

if TYPE_CHECKING:
    from mlfcheck.children import Limits

Part = tuple[int, list[SymbolTable]]
"""One part of a batch read: the id of the process that parsed it, and its pieces' tables."""


def read_part(keys: Sequence[PieceKey]) -> Part:
    """The pieces of one part, parsed in this process."""
    return os.getpid(), [read_piece(key) for key in keys]


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
        """Parts whose child sent nothing back (or was never started), parsed here instead."""

    def parse(self, path: str, source: bytes) -> SymbolTable:
        """The symbol table of one C file (see `parse_all`)."""
        return self.parse_all([(path, source)])[0]

    def parse_all(self, files: Sequence[tuple[str, bytes]]) -> list[SymbolTable]:
        """The symbol tables of C files given as (path, bytes), in order.

        Each file is read in pieces cut between top-level items, and each piece is parsed
        once per parser whatever file it comes from: a re-export that moves functions between
        files or reorders them parses only what changed. Pieces not parsed yet are parsed
        together, shared between processes when there are enough."""
        prepared = [PreparedFile.of(path, source) for path, source in files]
        wanted = list({key: None for f in prepared for key in f.keys
                       if self.cache.get(key) is None})
        fresh = dict(zip(wanted, self._read_all(wanted), strict=True))
        for key, piece in fresh.items():
            self.cache.put(key, piece)
        return [f.table([fresh.get(key) or self.cache.read(key) for key in f.keys])
                for f in prepared]

    def map_parts(self, parts: Sequence[Sequence[PieceKey]]) -> list[Part | None]:
        """Each part read: the first here, every other in a forked child; None for a part
        whose child failed (`children.fork_map`)."""
        from mlfcheck import children  # (here: a small batch never needs a child)

        return children.fork_map(read_part, parts, limits=self.limits or children.Limits())

    def _read_all(self, keys: list[PieceKey]) -> list[SymbolTable]:
        """Every piece parsed, in order: split between `workers` processes by bytes when there
        are enough, and any part a child did not send back parsed here."""
        if self.workers == 1 or len(keys) < 2 or \
                sum(len(text) for text, _ in keys) < self.parallel_at_least:
            return [read_piece(key) for key in keys]
        parts = split(keys, self.workers or _cores())
        out: list[SymbolTable] = []
        for part, result in zip(parts, self.map_parts(parts), strict=True):
            if result is None:
                self.redone_parts += 1
                result = read_part(part)
            elif result[0] != os.getpid():
                self.forked_parts += 1
            out += result[1]
        return out


def _cores() -> int:
    """`children.available_cores()`, imported when a batch is first large enough to share."""
    from mlfcheck import children

    return children.available_cores()
