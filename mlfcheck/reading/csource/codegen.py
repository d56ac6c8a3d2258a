"""`CodegenSymbols`: the symbol tables of one archive's generated C and interface headers,
each member read once, by the parser its caller gives, within the archive's C limits.

Members are counted against the limits in the order they are read (all of them, in archive
order, when `tables` is asked first; a header alone when a check needs only that): a file over
`--max-c-size`, the files past `--max-c-total` (what the archive's C may hold in all), past
what a compressed archive may unpack for the parser (`--max-c-ratio`: bytes the parser is given,
numeric lists left out, per compressed byte, beyond `RATIO_FLOOR`), and the files the parser's
step budget refuses (`budget`) are not read. Each refused file has its reason in `unread`.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING

from mlfcheck.reading.csource.budget import Budget, Meter, Unread
from mlfcheck.reading.csource.literals import parse_cost
from mlfcheck.reading.csource.preparation import preprocess
from mlfcheck.reading.csource.symbols import C_HEADER, C_SOURCE, SymbolTable

if TYPE_CHECKING:
    from mlfcheck.reading.archive import Archive
    from mlfcheck.reading.csource.parser import CParser

RATIO_FLOOR = 8 << 20
"""Bytes of C to parse any archive may unpack, whatever its compression ratio."""


class CodegenSymbols:
    """The symbol tables of an archive's codegen files, each file parsed at most once."""

    def __init__(self, archive: Archive, parser: CParser) -> None:
        self.archive = archive
        self.parser = parser
        limits = archive.limits
        self.meter = Meter(Budget(parse_steps=limits.max_c_parse_steps,
                                  steps=limits.max_c_steps))
        """The steps the archive's C has taken so far."""
        self.unread: dict[str, str] = {}
        """Why each C member a limit refused was not read, by member path."""
        self._tables: dict[str, SymbolTable | None] = {}
        self._held = 0
        """Bytes of C read so far (`--max-c-total`)."""
        self._to_parse = 0
        """Bytes the parser was given so far (`--max-c-ratio`)."""

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
        """The symbol table of `path`; None when the member is absent, over the member size
        limit or refused by a C limit (`unread` says which)."""
        if path not in self._tables:
            self._read((path,))
        return self._tables[path]

    def tables(self) -> dict[str, SymbolTable]:
        """Every readable C source and header, by member path, read together
        (`CParser.read_all`)."""
        self._read((*self.sources, *self.headers))
        return {p: t for p in (*self.sources, *self.headers)
                if (t := self._tables[p]) is not None}

    @cached_property
    def _ratio_allowance(self) -> int | None:
        """Bytes of C the parser may be given from a compressed archive; None for a plain one."""
        if not self.archive.compressed:
            return None
        size = os.stat(self.archive.path).st_size
        return max(RATIO_FLOOR, self.archive.limits.max_c_ratio * size)

    def _read(self, paths: tuple[str, ...]) -> None:
        todo = [p for p in paths if p not in self._tables]
        self._tables.update(dict.fromkeys(todo))
        files = [(p, data) for p in todo if (data := self._admitted(p)) is not None]
        results = self.parser.read_all(files, self.meter)
        for (path, _), result in zip(files, results, strict=True):
            if isinstance(result, Unread):
                self.unread[path] = result.reason
            else:
                self._tables[path] = result

    def _admitted(self, path: str) -> bytes | None:
        """The bytes of a C member the archive's C limits let through; None (with the reason in
        `unread`) for one they refuse, or when the member cannot be read at all."""
        archive, limits = self.archive, self.archive.limits
        if not archive.readable(path):
            return None  # absent, or over --max-member-size (A106 says so)
        size = archive.members[path].size
        if size > limits.max_c_size:
            self.unread[path] = (f"not read: {size} bytes of C, over the {limits.max_c_size}-"
                                 "byte limit of one file (raise with --max-c-size)")
            return None
        if self._held + size > limits.max_c_total:
            self.unread[path] = (f"not read: the archive's C passes {limits.max_c_total} bytes "
                                 "with this file (raise with --max-c-total)")
            return None
        data = archive.read(path)
        allowance = self._ratio_allowance
        if allowance is not None and self._held + size > allowance:
            cost = parse_cost(preprocess(data))
            if self._to_parse + cost > allowance:
                self.unread[path] = (
                    f"not read: with this file the parser would be given "
                    f"{self._to_parse + cost} bytes of C, over the {allowance} a "
                    f"{os.stat(archive.path).st_size}-byte compressed archive may unpack for it "
                    f"({limits.max_c_ratio}:1, at least {RATIO_FLOOR}; raise with "
                    "--max-c-ratio)")
                return None
            self._to_parse += cost
        else:
            self._to_parse += size
        self._held += size
        return data
