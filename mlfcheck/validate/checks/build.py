"""Checks of the archive's C as the host compiler builds it (`validate --build`): compile and
link errors, files not built here, refusals and limits (from `Loaded.built`), and the objects'
symbols reconciled with the source tables. Without a builder they yield nothing.

One defect, one finding: the reconcile (B003) compares the objects with what the reader says a
compiler builds, so a definition under a conditional (X001, X007) or a name a `#define`
replaces (X007) is not also B003's. A duplicate the symbol tables show is both X005 (the
reader's, without a compiler) and B002: the build's verdict that the C does not link, which a
diff turns into D417 (a new archive that no longer builds is breaking, also with
--allow-invalid)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlfcheck.findings import Code, Finding
from mlfcheck.reading.csource import Data, Function
from mlfcheck.reading.loaded import Loaded
from mlfcheck.validate.checks.base import check

if TYPE_CHECKING:
    from mlfcheck.board.archivebuild import ArchiveBuilt, CompileError, Linked
    from mlfcheck.reading.csource import Macro, SymbolTable

BUILD_CODES = (Code.B001, Code.B002, Code.B003, Code.B004, Code.B005, Code.B006)
"""The codes only a build (`--build`) can yield."""


def _built(ctx: Loaded) -> ArchiveBuilt | None:
    """The build, when one was asked for and ran (the build layer is imported only then)."""
    if ctx.builder is None:
        return None
    from mlfcheck.board.archivebuild import ArchiveBuilt

    built = ctx.built
    return built if isinstance(built, ArchiveBuilt) else None


@check(Code.B001, Code.B002, Code.B004, Code.B005, Code.B006, needs="archive")
def archive_builds(ctx: Loaded) -> Iterator[Finding]:
    """The C compiles and links with the host C compiler as a consumer builds it (--build)."""
    built = _built(ctx)
    if built is None:
        return
    from mlfcheck.board.archivebuild import CompileError, NeedsHeaders, RefusedFile, Stopped

    refused: set[tuple[str, int, str]] = set()
    for outcome in built.files:
        if isinstance(outcome, CompileError):
            yield _compile_error(outcome)
        elif isinstance(outcome, NeedsHeaders):
            yield Finding(Code.B004, f"not built here: {outcome.describe()}",
                          member=outcome.member)
        elif isinstance(outcome, Stopped):
            yield Finding(Code.B006, outcome.message, member=outcome.member)
        elif isinstance(outcome, RefusedFile):
            for r in outcome.refusals:
                if (r.member, r.line, r.what) not in refused:
                    refused.add((r.member, r.line, r.what))
                    yield Finding(Code.B005, f"refused before compiling: {r.what}",
                                  member=r.member, line=r.line or None)
    if built.link is not None:
        yield from _link_findings(ctx, built.link)


def _compile_error(outcome: CompileError) -> Finding:
    """B001 at the error's file and line (a member of the archive), else at the source."""
    inside = outcome.file is not None and not outcome.file.startswith("<")
    where = outcome.file if inside and outcome.file is not None else outcome.member
    also = f" (compiling {outcome.member})" if where != outcome.member else ""
    return Finding(Code.B001, f"does not compile: {outcome.message}{also}", member=where,
                   line=outcome.line if inside else None,
                   column=outcome.column if inside else None)


def _link_findings(ctx: Loaded, link: Linked) -> Iterator[Finding]:
    """B002 per symbol defined twice (at its second definition), or the linker's error."""
    for dup in link.duplicates:
        second = dup.members[1]
        table = ctx.codegen.table(second) if second in ctx.codegen.sources else None
        yield Finding(Code.B002, f"`{dup.symbol}` is defined (not static) in "
                      f"{' and '.join(dup.members)}: any link of the archive fails with "
                      "'multiple definition'", member=second, line=_line_of(table, dup.symbol))
    if link.error is not None:
        yield Finding(Code.B002, f"does not link: {link.error}")


def _line_of(table: SymbolTable | None, name: str) -> int | None:
    if table is None:
        return None
    spans = [f.span for f in table.functions if f.name == name] + \
        [d.span for d in table.data if d.name == name]
    return spans[-1].first_line if spans else None


@check(Code.B003, needs="archive")
def objects_match_sources(ctx: Loaded) -> Iterator[Finding]:
    """The functions and data each object defines are the ones its source table says a
    compiler builds."""
    built = _built(ctx)
    if built is None:
        return
    from mlfcheck.board.archivebuild import Compiled

    headers = [t for h in ctx.codegen.headers if (t := ctx.codegen.table(h)) is not None]
    for outcome in built.files:
        if not isinstance(outcome, Compiled) or outcome.member not in ctx.codegen.sources:
            continue
        table = ctx.codegen.table(outcome.member)
        if table is None or table.error is not None:
            continue  # not read (X004) or not parsed (X003): nothing to compare
        read = _Read.of(table, [m for t in (table, *headers) for m in t.macros])
        compiled = {s.name: s.kind for s in outcome.symbols}
        for name in sorted(set(compiled) - read.possible - read.renamed):
            yield Finding(Code.B003, f"the compiled object defines {compiled[name]} `{name}`, "
                          "which the source as read does not define", member=outcome.member)
        for name in sorted(set(read.certain) - set(compiled) - read.renamed):
            yield Finding(Code.B003, f"the source as read defines {read.certain[name]} "
                          f"`{name}`, which the compiler does not build", member=outcome.member,
                          line=_line_of(table, name))


_WORD = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class _Read:
    """What the reader says a compiler builds of one source: the definitions it always
    compiles (outside conditionals, and not a static function, which a compiler leaves out
    when it inlines every call or none is left; name → function or data), the names it may
    compile (those
    and the ones under a conditional a compiler does not skip for certain), and the names a
    `#define` replaces, with the words of the replacement (left to X007, as a definition
    under a conditional is left to X001 and X007)."""

    certain: dict[str, str]
    possible: frozenset[str]
    renamed: frozenset[str]

    @classmethod
    def of(cls, table: SymbolTable, macros: Sequence[Macro]) -> _Read:
        """The reader's facts of `table`, with the macros of it and its archive's headers."""
        defined: list[Function | Data] = [
            *table.functions, *(d for d in table.data if d.defined and "." not in d.name)]
        names = {s.name for s in defined}
        return cls({s.name: "function" if isinstance(s, Function) else "data"
                    for s in defined if s.condition is None
                    and not (isinstance(s, Function) and s.static)},
                   frozenset(s.name for s in defined if s.compiled),
                   frozenset(word for m in macros if m.replaces in names
                             for word in (m.replaces, *_WORD.findall(m.value))))
