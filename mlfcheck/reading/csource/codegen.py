"""`CodegenSymbols`: the symbol tables of one archive's generated C and interface headers,
each member read once, by the parser its caller gives."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from mlfcheck.reading.csource.symbols import C_HEADER, C_SOURCE, SymbolTable

if TYPE_CHECKING:
    from mlfcheck.reading.archive import Archive
    from mlfcheck.reading.csource.parser import CParser


class CodegenSymbols:
    """The symbol tables of an archive's codegen files, each file parsed at most once."""

    def __init__(self, archive: Archive, parser: CParser) -> None:
        self.archive = archive
        self.parser = parser
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
        """Every readable C source and header, by member path, read together
        (`CParser.parse_all`): ask for this, not for each file, when all of them are needed."""
        self._read((*self.sources, *self.headers))
        return {p: t for p in (*self.sources, *self.headers)
                if (t := self._tables[p]) is not None}

    def _read(self, paths: tuple[str, ...]) -> None:
        todo = [p for p in paths if p not in self._tables]
        readable = [p for p in todo if self.archive.readable(p)]
        self._tables.update(dict.fromkeys(todo))
        tables = self.parser.parse_all([(p, self.archive.read(p)) for p in readable])
        self._tables.update(zip(readable, tables, strict=True))
