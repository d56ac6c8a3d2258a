"""What a consumer's build finds in an archive's generated code: defined symbols, header structs.

The one place the consumer evaluator asks the C symbol table (mlfcheck.reading.csource); the
tables are the archive's (Loaded.codegen), parsed once and shared with validation and every profile.
"""

from __future__ import annotations

from functools import cached_property

from mlfcheck.reading.csource import ENTRY_POINT, CodegenSymbols, Struct, SymbolTable

SOURCE_DIR = "codegen/host/src"
INCLUDE_DIR = "codegen/host/include"
OBJECT_DIR = "codegen/host/lib"
SYSTEM_LIB_ENTRY = "TVMSystemLibEntryPoint"
"""The function the C runtime calls to find a system library (crt_runtime_api.c)."""


class CodeFacts:
    """What one archive's generated sources define and its headers declare."""

    def __init__(self, symbols: CodegenSymbols) -> None:
        self.symbols = symbols

    def _tables(self, paths: tuple[str, ...]) -> list[SymbolTable]:
        return [t for t in map(self.symbols.table, paths) if t is not None]

    @cached_property
    def sources(self) -> tuple[str, ...]:
        """Readable generated C/C++ sources under codegen/host/src."""
        return tuple(t.path for t in self._tables(self.symbols.sources))

    @cached_property
    def objects_only(self) -> bool:
        """True when the code is object files (codegen/host/lib), whose symbols are not read."""
        return not self.sources and bool(self.symbols.archive.files(OBJECT_DIR))

    @cached_property
    def defined(self) -> frozenset[str]:
        """Functions the generated sources define with external linkage (what a build links)."""
        return frozenset(f.name for t in self._tables(self.symbols.sources)
                         for f in t.functions if not f.static)

    def defines(self, name: str) -> bool:
        """True when the generated sources define function `name` with external linkage."""
        return name in self.defined

    @cached_property
    def entry_points(self) -> tuple[str, ...]:
        """Defined functions a consumer may call: tvmgen_<m>_run, _run_model, ___tvm_main__, ..."""
        return tuple(sorted(n for n in self.defined if ENTRY_POINT.match(n)))

    def struct(self, tag: str) -> Struct | None:
        """The first interface-header struct named `tag` (its `file` says which header)."""
        return next((s for t in self._tables(self.symbols.headers)
                     if (s := t.struct(tag)) is not None), None)
