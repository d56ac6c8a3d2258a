"""Containment: the one layer every compile and link of an archive's C goes through (host or
cross), because that C is untrusted input (a pull request can craft it).

A `Build` reads only what it may: the folder the archive's C was materialised into, the -I
folders the user gave, the compiler's own system include folders (asked of the compiler once,
kept on its `Compiler`) and mlfcheck's own files. Before anything compiles:

1. a text scan of the archive's files refuses `#include` directives whose literal spelling
   names a file anywhere else (absolute paths, devices, `../` escapes, symlinks out), before any
   compiler opens it;
2. a dependency pass preprocesses each source under small limits (`DEPENDENCY_LIMITS`, a budget
   for the whole build, `-fmax-include-depth`), which also bounds macro bombs, and lists every
   file it opened (`-MD`, else `-M -MG`); each must resolve inside those folders, else the
   build is `Refused`, naming the archive member, line and spelling as written;
3. each source compiles to assembly, which is refused when it could read files itself
   (`.incbin`, `.include`, or the gas macros that could spell them), then assembles.

Every child runs through `children.run` (stdin /dev/null, its own session, wall-clock, memory,
CPU and file-size limits); a child stopped by a limit is `OverLimit` with one clear line. The
compiler's own text reaches a message only after the dependency pass proved that everything it
read lies inside, and only through `rewrite`: temporary folders become archive member paths,
lines about files anywhere else become "(outside the archive)", source lines are never quoted.
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mlfcheck import children
from mlfcheck.errors import BoardError

MAX_INCLUDE_DEPTH = 40
"""Deepest #include nesting a build allows (generated C and its system headers need ~10)."""
CONTAINMENT_FLAGS = ("-fdiagnostics-plain-output", f"-fmax-include-depth={MAX_INCLUDE_DEPTH}")
"""Flags every contained compiler run gets when the compiler takes them: diagnostics without
quoted source lines, carets, colours or URLs; a bounded include depth."""
DEPENDENCY_FLAGS = ("-ftrack-macro-expansion=0",)
"""Flags of the dependency passes, when the compiler takes them: no location kept per expanded
token (a macro bomb then runs out of its memory limit twice as fast)."""
COMPILER_LIMITS = children.Limits(seconds=600.0, memory_bytes=2 * 1024**3,
                                  file_bytes=256 * 1024**2, cpu_seconds=600)
"""What one compiler, assembler or linker run may use: ten minutes (of wall clock and of CPU,
so a compiler whose caller was killed still ends), 2 GiB of address space, files up to
256 MiB."""
DEPENDENCY_LIMITS = children.Limits(seconds=15.0, memory_bytes=1024**3,
                                    file_bytes=256 * 1024**2, cpu_seconds=15)
"""What one dependency pass (a full preprocessing of one source) may use: preprocessing real
generated C takes well under a second; a macro bomb or an included device does not end."""
DEPENDENCY_BUDGET = 30.0
"""Seconds all the dependency passes of one build may take together."""
PROBE_LIMITS = children.Limits(seconds=30.0, memory_bytes=512 * 1024**2, file_bytes=1024**2,
                               cpu_seconds=30)
"""What asking a compiler for its include folders may use."""
OUTSIDE = "(outside the archive)"
"""What a diagnostic about a file outside the archive, the include folders and the compiler's
headers becomes."""
SCAN_BYTES = 64 * 1024**2
"""Files of the archive folder larger than this are not text-scanned (unless compiled); the
dependency pass still checks what they include."""
SHOWN_REFUSALS = 5
_TARGET = "mlfcheck-dependencies"
_ASSEMBLER = re.compile(rb"(?:^|[\s;:])\.(?:incbin|include|macro|irpc?|altmacro)\b",
                        re.IGNORECASE | re.MULTILINE)
"""gas directives that read files, and those that could spell such a directive."""
_TOOL_SAID = r"^[\w.+-]+: .*"
"""A line a toolchain program writes about itself (not a diagnostic located in the C)."""
_OUT_OF_MEMORY = re.compile(_TOOL_SAID + r"(?:out of memory|virtual memory exhausted|"
                            r"[Cc]annot allocate memory|std::bad_alloc)", re.MULTILINE)
_OUT_OF_CPU = re.compile(_TOOL_SAID + "CPU time limit exceeded", re.MULTILINE)
_OUT_OF_FILE = re.compile(_TOOL_SAID + "File size limit exceeded", re.MULTILINE)


# -- the compiler, the tree and the places a build may read ------------------------------------


@dataclass(frozen=True)
class Compiler:
    """A C compiler, the system include folders it searches (resolved) and the containment
    flags it takes; made once per toolchain by `compiler`."""

    path: str
    system: tuple[Path, ...]
    flags: tuple[str, ...]
    """CONTAINMENT_FLAGS, or none when the compiler does not take them."""
    dependency_flags: tuple[str, ...] = ()
    """DEPENDENCY_FLAGS, or none when the compiler does not take them."""


def compiler(path: str) -> Compiler:
    """Ask the compiler at `path` where its own headers are (`-xc -E -v /dev/null`), with the
    containment flags when it takes them; BoardError when it cannot preprocess an empty file."""
    done: children.Ran | None = None
    for flags, extra in ((CONTAINMENT_FLAGS, DEPENDENCY_FLAGS), (CONTAINMENT_FLAGS, ()),
                         ((), ())):
        done = children.run([path, *flags, *extra, "-xc", "-E", "-v", os.devnull],
                            limits=PROBE_LIMITS)
        if done.ok:
            return Compiler(path, search_list(done.stderr), flags, extra)
    assert done is not None
    raise BoardError(f"{Path(path).name} cannot preprocess an empty file "
                     f"({'timed out' if done.timed_out else f'exit {done.returncode}'})")


def search_list(text: str) -> tuple[Path, ...]:
    """The include folders a compiler's `-v` output lists, resolved, in order."""
    folders: list[Path] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("#include ") and line.endswith("search starts here:"):
            inside = True
        elif line.startswith("End of search list"):
            inside = False
        elif inside and line.startswith(" "):
            folder = line.strip().removesuffix(" (framework directory)")
            folders.append(Path(os.path.realpath(folder)))
    return tuple(dict.fromkeys(folders))


@dataclass(frozen=True)
class Tree:
    """The files of one build: `archive`, the folder the archive's C was materialised into
    (untrusted; its files are named by member path; None when the caller builds only its own
    files); `given`, the -I folders the user gave, as the user spelt them; `own`, a folder of
    mlfcheck's own files (drivers, startup code, objects), when they are not under
    `archive`."""

    archive: Path | None
    given: tuple[Path, ...] = ()
    own: Path | None = None

    @classmethod
    def around(cls, paths: Iterable[Path], given: Iterable[Path] = ()) -> Tree:
        """The tree of a caller that builds its own files (no archive): the folder holding all
        `paths` as its own, and the `given` folders that lie outside it."""
        folders = [os.path.realpath(p.parent) for p in paths]
        root = Path(os.path.commonpath(folders)) if folders else Path.cwd()
        return cls(None, tuple(g for g in given if not _within(os.path.realpath(g), str(root))),
                   root)


def _within(real: str, folder: str) -> bool:
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class Places:
    """The resolved folders a build may read, most specific first, each with how its files are
    named in messages: ("archive", "") by member path, ("given", spelling) under the folder as
    the user spelt it, ("own", "") by path in the folder, ("system", "") as <header>."""

    folders: tuple[tuple[str, str, str], ...]
    temp: str
    """The resolved temporary folder (where the compiler writes its assembler input)."""

    @classmethod
    def of(cls, tree: Tree, system: Sequence[Path]) -> Places:
        """The places of `tree` built by a compiler whose own headers are in `system`."""
        found = [] if tree.archive is None else [(os.path.realpath(tree.archive), "archive", "")]
        found += [(os.path.realpath(g), "given", str(g)) for g in tree.given]
        if tree.own is not None:
            found.append((os.path.realpath(tree.own), "own", ""))
        found += [(os.path.realpath(s), "system", "") for s in system]
        ordered = sorted(dict.fromkeys(found), key=lambda f: -len(f[0]))
        return cls(tuple(ordered), os.path.realpath(tempfile.gettempdir()))

    def where(self, path: str | Path) -> tuple[str, str] | None:
        """(kind, name in messages) of a file a build may read, None for any other file."""
        real = os.path.realpath(path)
        for folder, kind, spelling in self.folders:
            if _within(real, folder):
                rel = Path(os.path.relpath(real, folder)).as_posix()
                if kind == "system":
                    return kind, f"<{rel}>"
                if kind == "given":
                    return kind, spelling if rel == "." else f"{spelling.rstrip('/')}/{rel}"
                return kind, rel
        return None

    def name(self, path: str | Path) -> str | None:
        """How a file a build may read is named in messages; None outside."""
        found = self.where(path)
        return None if found is None else found[1]


# -- refusals and limits -----------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """What the archive asked for that it may not have: where (member, line; 0 when unknown)
    and what, as written in the archive."""

    member: str
    line: int
    what: str
    """The directive as written ('#include "/etc/passwd"'), or what the assembly used."""

    def describe(self) -> str:
        """One line: member:line: what."""
        return f"{self.member}:{self.line}: {self.what}" if self.line else \
            f"{self.member}: {self.what}"


class Refused(BoardError):
    """The archive's C reads (or could read) a file outside the archive, the include folders
    and the compiler's own headers; refused before it compiled."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        self.refusals = tuple(dict.fromkeys(refusals))
        shown = "; ".join(r.describe() for r in self.refusals[:SHOWN_REFUSALS])
        more = len(self.refusals) - SHOWN_REFUSALS
        super().__init__(
            shown + (f"; and {more} more" if more > 0 else "") + " (refused before compiling: "
            "the archive's C may read only the archive, the include folders and the "
            "compiler's own headers)")

    def __reduce__(self) -> tuple[type[Refused], tuple[tuple[Refusal, ...]]]:
        return type(self), (self.refusals,)


class OverLimit(BoardError):
    """A compiler run of the build was stopped by one of its limits."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what} {why} (stopped)")
        self.what = what
        self.why = why

    def __reduce__(self) -> tuple[type[OverLimit], tuple[str, str]]:
        return type(self), (self.what, self.why)


class MissingHeaders(BoardError):
    """Headers the C includes that no include folder (nor the compiler) provides, as spelt."""

    def __init__(self, headers: tuple[str, ...]) -> None:
        super().__init__("headers not found in the archive or the include paths: "
                         + ", ".join(headers))
        self.headers = headers

    def __reduce__(self) -> tuple[type[MissingHeaders], tuple[tuple[str, ...]]]:
        return type(self), (self.headers,)


def stopped(done: children.Ran, limits: children.Limits) -> str | None:
    """Which limit stopped a compiler run, in words; None when none did."""
    signal = done.signal_name
    if done.timed_out:
        return f"did not finish within {limits.seconds:g} s"
    if _OUT_OF_MEMORY.search(done.stderr):
        return f"needed more than {_bytes(limits.memory_bytes)} of memory"
    if _OUT_OF_CPU.search(done.stderr) or signal == "SIGXCPU":
        return f"used more than {limits.cpu_seconds} s of CPU"
    if _OUT_OF_FILE.search(done.stderr) or signal == "SIGXFSZ":
        return f"wrote a file over {_bytes(limits.file_bytes)}"
    if signal is not None:
        return f"ended on {signal}"
    return None


def _bytes(count: int | None) -> str:
    if count is None:
        return "its limit"
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= size:
            return f"{count / size:g} {unit}"
    return f"{count} bytes"


# -- reading C as text: #include directives, dependency lists ----------------------------------


@dataclass(frozen=True)
class Directive:
    """One #include (#include_next, #import, #embed) of a file, or a __has_include test of
    one: its line and its spelling as written."""

    line: int
    keyword: str
    spelling: str

    @property
    def literal(self) -> str | None:
        """The path a "..." or <...> spelling names; None when a macro computes it."""
        s = self.spelling
        if len(s) >= 2 and ((s[0], s[-1]) == ('"', '"') or (s[0], s[-1]) == ("<", ">")):
            return s[1:-1]
        return None

    @property
    def quoted(self) -> bool:
        """A "..." spelling: searched from the including file's folder first."""
        return self.spelling.startswith('"')

    @property
    def includes(self) -> bool:
        """It reads the file (a __has_include only tests that it is there)."""
        return not self.keyword.startswith("__")

    def shown(self) -> str:
        """The directive as written, printable and at most 160 characters."""
        text = "".join(c if c.isprintable() else "?" for c in self.spelling)
        text = text if len(text) <= 160 else text[:157] + "..."
        return f"#{self.keyword} {text}" if self.includes else f"{self.keyword}({text})"


_SPLICE = re.compile(r"\\[ \t]*\r?\n")
_COMMENT_OR_LITERAL = re.compile(r"/\*.*?(?:\*/|\Z)|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"?|"
                                 r"'(?:\\.|[^'\\\n])*'?", re.DOTALL)
_DIRECTIVE = re.compile(r"^[ \t\f\v]*(?:#|%:|\?\?=)[ \t\f\v]*"
                        r"(include_next|include|import|embed)(?![\w$])[ \t\f\v]*([^\n]*)|"
                        r"(__has_include_next|__has_include)[ \t\f\v]*\([ \t\f\v]*([^)\n]*)\)",
                        re.MULTILINE)


def directives(text: str) -> list[Directive]:
    """Every #include, #include_next, #import and #embed directive of C text, and every
    __has_include test, as the preprocessor sees them: lines spliced at backslash-newlines,
    comments removed, `#` also spelt `%:` or `??=`. Those inside #if 0 are listed too (the
    scan is of text, not of a configuration)."""
    spliced, cuts, removed = _splice(text)
    if not any(word in spliced for word in ("include", "import", "embed")):
        return []
    clean = _COMMENT_OR_LITERAL.sub(_blank_comment, spliced)
    found = []
    line, counted = 1, 0
    for match in _DIRECTIVE.finditer(clean):
        k = bisect.bisect_right(cuts, match.start())
        original = match.start() + (removed[k - 1] if k else 0)
        line += text.count("\n", counted, original)
        counted = original
        keyword, spelling = (match.group(1), match.group(2)) if match.group(1) else \
            (match.group(3), match.group(4))
        found.append(Directive(line, keyword, _spelling(spelling)))
    return found


def _splice(text: str) -> tuple[str, list[int], list[int]]:
    """Text with backslash-newlines removed, where each cut is (in the spliced text) and how
    many characters were removed up to it."""
    pieces, cuts, removed = [], [], []
    at = total = 0
    for match in _SPLICE.finditer(text):
        pieces.append(text[at:match.start()])
        total += match.end() - match.start()
        cuts.append(match.end() - total)
        removed.append(total)
        at = match.end()
    pieces.append(text[at:])
    return "".join(pieces), cuts, removed


def _blank_comment(match: re.Match[str]) -> str:
    """A comment as spaces (its newlines kept, so offsets and lines stay); a literal as is."""
    text = match.group()
    return re.sub(r"[^\n]", " ", text) if text.startswith(("/*", "//")) else text


def _spelling(rest: str) -> str:
    rest = rest.strip()
    for opening, closing in (('"', '"'), ("<", ">")):
        if rest.startswith(opening):
            end = rest.find(closing, 1)
            return rest[:end + 1] if end > 0 else rest
    return rest


def dependency_list(text: str) -> list[str]:
    """The files of a Makefile rule written by `-M -MT mlfcheck-dependencies` (gcc's escapes
    undone: backslash before a space, a tab, '#' or a backslash, and '$$')."""
    body = text.replace("\\\n", " ")
    if not body.startswith(_TARGET + ":"):
        raise BoardError("the dependency list could not be read")
    body = body[len(_TARGET) + 1:]
    paths, current, i = [], [], 0
    while i < len(body):
        c = body[i]
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if (c == "\\" and nxt in (" ", "\t", "#", "\\")) or (c == "$" and nxt == "$"):
            current.append(nxt)
            i += 2
            continue
        if c.isspace():
            if current:
                paths.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    if current:
        paths.append("".join(current))
    return paths


# -- diagnostics -------------------------------------------------------------------------------


_LOCATION = re.compile(r"^(In file included from |\s+from )?(/[^:,]*)([:,].*)?$")
_TOOL = re.compile(r"^(?:[\w.+]+-)*(?:gcc|g\+\+|cc|c\+\+|clang|cc1|cc1plus|collect2|ld|as|lto1|"
                   r"lto-wrapper)(?:-[\d.]+)?: ")
"""A line a toolchain program starts with its name: 'arm-none-eabi-gcc: error: ...'."""
_ELSEWHERE = re.compile(r"^(?:[^\s/:]+\.\w+|<[\w -]+>|\{standard input\}):(?:\d|\(\.| )")
"""A line located in a file named relatively (by #line, or in the linker's symbol table:
'a.c:(.text+0x8): ...') or in a pseudo-file ('<command-line>: ...')."""
_KEEP = re.compile(r"^(?:compilation terminated\.|during [\w -]+ pass: [\w-]+)$")
_TOKEN = re.compile(r"(?<![\w.~+\-/])/[^\s:'\"`,;()<>{}\[\]]+")
_ASSEMBLER_INPUT = re.compile(r"cc\w+\.s$")
TOOLS = frozenset({"ld", "ld.bfd", "ld.gold", "ld.lld", "as", "collect2", "cc1", "cc1plus",
                   "lto1", "lto-wrapper"})
"""Programs of a toolchain whose own lines start with their path."""


def rewrite(text: str, places: Places) -> str:
    """Compiler, assembler or linker output made safe to show: every path a build may read
    named as in `places` (archive member paths, never a temporary folder), toolchain programs
    by name, every line located in any other file replaced by "(outside the archive)" (once
    for a run of them), any other path on a line replaced the same way, and lines of no known
    shape (quoted source lines, carets) dropped."""
    out: list[str] = []
    for line in text.splitlines():
        new = _line(line.rstrip("\r"), places)
        if new is not None and not (new == OUTSIDE and out and out[-1] == OUTSIDE):
            out.append(new)
    return "".join(f"{line}\n" for line in out)


def _line(line: str, places: Places) -> str | None:
    """One line of tool output rewritten; None to drop it."""
    located = _LOCATION.match(line)
    if located:
        lead, path, rest = located.group(1) or "", located.group(2), located.group(3) or ""
        real = os.path.realpath(path)
        if os.path.basename(real) in TOOLS or re.search(r"-(?:ld|as)(?:\.\w+)?$", real):
            return os.path.basename(real) + _tokens(rest, places, program=True)
        name = places.name(path)
        if name is None and os.path.dirname(real) == places.temp and \
                _ASSEMBLER_INPUT.search(real):
            name = "(assembler input)"
        if name is None:
            return OUTSIDE
        return lead + name + _tokens(rest, places, program=False)
    if _TOOL.match(line):
        return _tokens(line, places, program=True)
    if _ELSEWHERE.match(line):
        return _tokens(line, places, program=False)
    return line if _KEEP.match(line) else None


def _tokens(text: str, places: Places, *, program: bool) -> str:
    """Paths inside a line named as in `places`; any other path becomes its file name on a
    toolchain program's line (a library the linker read), else "(outside the archive)"."""
    def named(match: re.Match[str]) -> str:
        name = places.name(match.group())
        if name is not None:
            return name
        return os.path.basename(match.group()) if program else OUTSIDE

    return _TOKEN.sub(named, text)


# -- a build -----------------------------------------------------------------------------------


class Build:
    """One contained build of the C of `tree` with `cc`: the checks before compiling (`check`),
    then compiles (`compile`) and other commands (`command`), every one contained and its
    diagnostics rewritten. `scratch` is a folder of the caller's where the build may write its
    dependency lists and assembly (removed as it goes). The dependency passes of one build
    share DEPENDENCY_BUDGET seconds."""

    def __init__(self, cc: Compiler, tree: Tree, scratch: Path, *,
                 budget: float = DEPENDENCY_BUDGET) -> None:
        self.cc = cc
        self.tree = tree
        self.scratch = scratch
        self.places = Places.of(tree, cc.system)
        self.budget = budget
        self._deadline = time.monotonic() + budget
        self._scanned = False
        self._checked: set[Path] = set()

    def label(self, path: Path) -> str:
        """How a file of the build is named in messages (its member path in the archive)."""
        return self.places.name(path) or path.name

    def check(self, sources: Sequence[Path], flags: Sequence[str],
              includes: Sequence[Path]) -> list[tuple[Path, children.Ran]]:
        """Everything before compiling `sources` with `flags` and -I `includes` (absolute): the
        text scan, then each source's dependency pass. Raises Refused, OverLimit, or
        MissingHeaders naming the headers no include folder provides; returns the sources whose
        preprocessing failed otherwise, with its (rewritten) output: they must not compile."""
        self._scan(sources, includes)
        missing: set[str] = set()
        failed = []
        for source in sources:
            found, ran = self._dependencies(source, flags, includes)
            missing |= found
            if ran is not None:
                failed.append((source, ran))
        if missing:
            raise MissingHeaders(tuple(sorted(missing)))
        self._checked |= set(sources) - {source for source, _ in failed}
        return failed

    def compile(self, source: Path, output: Path, flags: Sequence[str],
                includes: Sequence[Path]) -> children.Ran:
        """Compile a checked source to an object: to assembly (refused when it could read
        files), then assembled. The last run, its diagnostics rewritten; OverLimit when a
        limit stopped it. A source `check` did not pass is a ValueError: nothing compiles
        unchecked."""
        if source not in self._checked:
            raise ValueError(f"{source} was not checked (Build.check) before compiling")
        assembly = output.with_suffix(".s")
        label = self.label(source)
        try:
            done = self.command([self.cc.path, *self.cc.flags, *flags, *_include_flags(includes),
                                 "-S", str(source), "-o", str(assembly)],
                                what=f"compiling {label}")
            if not done.ok:
                return done
            self._check_assembly(label, assembly)
            return self.command([self.cc.path, *self.cc.flags, *flags, "-c", str(assembly),
                                 "-o", str(output)], what=f"assembling {label}")
        finally:
            assembly.unlink(missing_ok=True)

    def command(self, argv: Sequence[str], *, what: str,
                limits: children.Limits = COMPILER_LIMITS) -> children.Ran:
        """Run a compiler, assembler or linker command contained, in `scratch`; its stdout and
        stderr rewritten. OverLimit ('<what> did not finish within 600 s (stopped)') when a
        limit stopped it."""
        done = children.run(argv, limits=limits, cwd=self.scratch)
        why = stopped(done, limits)
        if why is not None:
            raise OverLimit(what, why)
        return replace(done, stdout=rewrite(done.stdout, self.places),
                       stderr=rewrite(done.stderr, self.places))

    # -- the checks --

    def _scan(self, sources: Sequence[Path], includes: Sequence[Path]) -> None:
        """Refuse literal includes of files outside, before any compiler opens them."""
        if self._scanned:
            return
        refusals = []
        for path in dict.fromkeys(self._scanned_files(sources, includes)):
            text = _read_text(path)
            refusals += [Refusal(self.label(path), d.line, d.shown())
                         for d in directives(text) if self._reads_outside(path, d, includes)]
        if refusals:
            raise Refused(refusals)
        self._scanned = True

    def _scanned_files(self, sources: Sequence[Path],
                       includes: Sequence[Path]) -> Iterator[Path]:
        """The sources, and the archive's files a source may include by a plain name: those in
        the sources' folders and under the include folders inside the archive."""
        yield from sources
        if self.tree.archive is None:
            return
        archive = os.path.realpath(self.tree.archive)
        found = {path for folder in {s.parent for s in sources}
                 if _within(os.path.realpath(folder), archive) for path in folder.iterdir()}
        found |= {path for folder in includes if _within(os.path.realpath(folder), archive)
                  for path in folder.rglob("*")}
        for path in sorted(found):
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= SCAN_BYTES:
                yield path

    def _reads_outside(self, includer: Path, d: Directive, includes: Sequence[Path]) -> bool:
        """Whether a literal directive names an absolute path outside, or what the search
        finds first (include_next: anything it finds) lies outside."""
        spelled = d.literal
        if spelled is None:
            return False
        if os.path.isabs(spelled):
            return self.places.where(spelled) is None
        for candidate in self._candidates(includer, d, includes):
            if os.path.exists(candidate):  # a stat: nothing is opened or read
                if self.places.where(candidate) is None:
                    return True
                if not d.keyword.endswith("_next"):
                    return False
        return False

    def _candidates(self, includer: Path, d: Directive,
                    includes: Sequence[Path]) -> Iterator[str]:
        spelled = d.literal or ""
        if os.path.isabs(spelled):
            yield spelled
            return
        first = [includer.parent] if d.quoted and not d.keyword.endswith("_next") else []
        for folder in (*first, *includes, *self.cc.system):
            yield os.path.join(folder, spelled)

    def _dependencies(self, source: Path, flags: Sequence[str], includes: Sequence[Path],
                      ) -> tuple[set[str], children.Ran | None]:
        """Preprocess `source` (bounded), list what it opened, refuse what lies outside: the
        headers missing, and the run when preprocessing failed."""
        listed = self.scratch / ".mlfcheck-dependencies.d"
        preprocessed = self.scratch / ".mlfcheck-preprocessed.i"
        base = [self.cc.path, *self.cc.flags, *self.cc.dependency_flags, *flags,
                *_include_flags(includes), "-MT", _TARGET, "-MF", str(listed)]
        what = f"preprocessing {self.label(source)}"
        listed.unlink(missing_ok=True)
        try:
            done = self._limited([*base, "-E", "-MD", str(source), "-o", str(preprocessed)],
                                 what)
        finally:
            preprocessed.unlink(missing_ok=True)
        if not done.ok:  # a fatal error leaves no list: list with missing headers allowed
            listed.unlink(missing_ok=True)
            self._limited([*base, "-M", "-MG", str(source)], what)
        if not listed.is_file():
            raise BoardError(f"{what}: the files it includes could not be listed")
        paths = dependency_list(_read_text(listed))
        listed.unlink()
        missing = self._judge(source, paths, includes)
        if done.ok:
            return missing, None
        return missing, replace(done, stderr=rewrite(done.stderr, self.places))

    def _limited(self, argv: list[str], what: str) -> children.Ran:
        """A dependency pass within its limits and what is left of the build's budget."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise OverLimit(what, f"did not start: the build's dependency passes took their "
                                  f"{self.budget:g} s")
        limits = replace(DEPENDENCY_LIMITS, seconds=min(DEPENDENCY_LIMITS.seconds, left))
        done = children.run(argv, limits=limits, cwd=self.scratch)
        why = stopped(done, limits)
        if done.timed_out and limits.seconds < DEPENDENCY_LIMITS.seconds:
            why = f"did not finish within the {self.budget:g} s all the build's preprocessing " \
                  "may take"
        if why is not None:
            raise OverLimit(what, why)
        return done

    def _judge(self, source: Path, paths: list[str], includes: Sequence[Path]) -> set[str]:
        """The headers missing (relative: listed as spelt); Refused for any file outside."""
        outside = [p for p in paths if os.path.isabs(p) and self.places.where(p) is None]
        if outside:
            raise Refused(self._locate(source, paths, outside, includes))
        return {p for p in paths if not os.path.isabs(p)}

    def _locate(self, source: Path, paths: list[str], outside: list[str],
                includes: Sequence[Path]) -> list[Refusal]:
        """The directives that brought in the files outside: the literal ones that resolve to
        them, else those whose spelling a macro computes, else the source itself."""
        bad = {os.path.realpath(p) for p in outside}
        opened = [Path(p) for p in paths if os.path.isabs(p)
                  and (self.places.where(p) or ("", ""))[0] in ("archive", "own")]
        literal, computed = [], []
        for path in dict.fromkeys([source, *opened]):
            for d in directives(_read_text(path)):
                refusal = Refusal(self.label(path), d.line, d.shown())
                if d.literal is None:
                    if d.includes:
                        computed.append(refusal)
                elif any(os.path.realpath(c) in bad and os.path.exists(c)
                         for c in self._candidates(path, d, includes)):
                    literal.append(refusal)
        return literal or computed or [Refusal(self.label(source), 0,
                                               "#include of a file outside the archive")]

    def _check_assembly(self, label: str, assembly: Path) -> None:
        """Refuse assembly that could read files itself (inline asm's .incbin, .include)."""
        with assembly.open("rb") as stream:
            if os.fstat(stream.fileno()).st_size == 0:
                return
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                found = _ASSEMBLER.search(data)
                if found is not None:
                    word = bytes(found.group()).decode("ascii").strip(" \t\r\n;:")
                    raise Refused([Refusal(label, 0, f"inline assembly uses {word}")])


def first_error(text: str) -> str:
    """The first line of tool output naming an undefined reference or a multiple definition
    (the linker's cause, before its 'ld returned 1'), else the first that says 'error', else its
    first line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return next((ln for ln in lines if "undefined reference" in ln or "multiple definition" in ln),
                next((ln for ln in lines if "error" in ln), lines[0] if lines else "no output"))


def tool_error(done: children.Ran) -> str:
    """Why a compiler or linker run failed, in one line: it ran past its time limit, or the
    first line of its stderr that says 'error' (else its first line)."""
    if done.timed_out:
        return f"{Path(done.argv[0]).name} did not finish within {done.seconds:.0f} s (stopped)"
    return first_error(done.stderr)


def _include_flags(includes: Sequence[Path]) -> list[str]:
    return [f"-I{folder}" for folder in includes]


def _read_text(path: Path) -> str:
    """A file as text, byte for byte (latin-1), as the preprocessor reads it."""
    return path.read_bytes().decode("latin-1")
