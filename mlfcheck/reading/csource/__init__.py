"""Generated C read as a compiler reads it: one symbol table per codegen file.

tree-sitter-c parses each file once it is lexed as a compiler's first phases read it, lines
joined at backslash-newlines and directives only where a compiler reads one (`lexing`), and
TVM's preprocessor habits are undone (`preparation`); a walk over the tree collects functions,
data, prototypes, structs, macros and the remaining top-level items into a `SymbolTable`
(`reader`, `symbols`), each definition with the conditional it sits under (`Condition`).

Speed without a second reader, all of it held by a `CParser` its caller makes and passes on
(`parser`): files are cut between top-level items into pieces, each parsed once per parser
(`batching`); the inside of a brace list of numeric literals (a weight array) is left out of the
parse and counted from the text (`literals`); a large batch is shared between the processes
the caller allows. A file whose pieces do not all parse is parsed whole, and every table equals
the one a whole-file parse gives (tests/unit/test_csource_pieces.py). `CodegenSymbols`
(`codegen`) reads an archive's codegen members through a parser.

Hostile C costs bounded time and memory (`budget`): every parse counts its steps, one parse may
take `--max-c-parse-steps`, all of an archive's C `--max-c-steps` (a parse with a syntax error
counting 64 times), and the bytes read are capped per file, per archive and per compressed
byte; a file a limit refuses is not read, with the reason (X004). Nesting costs no recursion:
preparation blanks each byte once, and the reader walks the tree with a stack of its own.

This module only names what the package offers.
"""

from __future__ import annotations

from mlfcheck.reading.csource.codegen import CodegenSymbols
from mlfcheck.reading.csource.parser import CParser
from mlfcheck.reading.csource.preparation import preprocess
from mlfcheck.reading.csource.symbols import (
    C_HEADER,
    C_SOURCE,
    ENTRY_POINT,
    Condition,
    Data,
    Function,
    Macro,
    Member,
    Other,
    Prototype,
    Span,
    Struct,
    SymbolTable,
    SyntaxProblem,
)

__all__ = ["C_HEADER", "C_SOURCE", "ENTRY_POINT", "CParser", "CodegenSymbols", "Condition", "Data",
           "Function", "Macro", "Member", "Other", "Prototype", "Span", "Struct", "SymbolTable",
           "SyntaxProblem", "preprocess"]
