"""Host builds of an archive's C, as a consumer compiles it: every codegen/host/src/*.c (and
runtime/src/**/*.c where the archive has it) compiled by the host C compiler against the
archive's own headers, the TVM C runtime headers (the archive's runtime/include, else the
user's --runtime-include, else mlfcheck's own declarations in `runtime_abi/`) and the user's -I
folders; then the objects linked into one shared object, so that a symbol defined twice fails.

Each file's outcome is a typed fact (`Compiled`, `CompileError`, `NeedsHeaders`, `RefusedFile`,
`Stopped`, `Skipped`), the link's too (`Linked`). Every compile goes through containment
(`mlfcheck.board.containment`). Outcomes are kept in a `BuildCache` the caller passes, keyed by
what a compile reads (the file, the archive's headers, the flags), so a file that is the same on
both sides of a diff, or in two archives of an audit, is compiled once; files compile in
parallel threads (`Options.jobs`). Objects carry DWARF (-g): the shared object of each build
(`ArchiveBuilt.shared_object`) serves an ABI diff.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType

from mlfcheck import children
from mlfcheck.board.containment import (
    PROBE_LIMITS,
    Build,
    Compiler,
    MissingHeaders,
    OverLimit,
    Refusal,
    Refused,
    Tree,
    compiler,
    directives,
    first_error,
)
from mlfcheck.board.elfsize import Defined, defined_symbols
from mlfcheck.errors import BoardError
from mlfcheck.reading.archive import Archive

SOURCES = "codegen/host/src"
RUNTIME_SOURCES = "runtime/src"
HEADER_FOLDERS = ("codegen/host/include", "runtime/include")
"""Archive folders whose files are include paths, in this order."""
RUNTIME_ABI = Path(__file__).with_name("runtime_abi")
"""mlfcheck's own declarations of the TVM C runtime ABI (package data)."""
INTERFACE = "mlfcheck-interface.c"
"""The file (at the tree's top, where no archive member is written) that includes every
interface header."""
HOST_COMPILERS = ("gcc", "cc")
APT_INSTALL = "apt-get install gcc"
FLAGS = ("-std=gnu11", "-O0", "-g", "-fPIC", "-fno-eliminate-unused-debug-types",
         "-fno-common", "-fpermissive", "-w")
"""GNU C11 as embedded consumers compile it; -O0 keeps every static definition (the reconcile
reads them); -g, -fPIC and every type the headers declare in the DWARF (a v5 AOT header
declares structs no function uses) for the shared object an ABI diff reads (`abidiff`);
-fno-common makes a tentative definition in two files a duplicate (GCC 10's default, fixed for
every compiler); -fpermissive keeps what GCC 14 made errors (2021 AOT C stores a `void*`-typed
function in a `TVMBackendPackedCFunc`) the warnings TVM's era compiled with; -w: only errors
count."""
LINK_FLAGS = ("-shared", "-g")
LIBRARIES = {
    "esp_kernel.h": "ESP-DL", "dl_lib.h": "ESP-DL",
    "esp_heap_caps.h": "ESP-IDF", "esp_log.h": "ESP-IDF", "esp_system.h": "ESP-IDF",
    "esp_attr.h": "ESP-IDF", "freertos/FreeRTOS.h": "FreeRTOS",
    "arm_nnfunctions.h": "CMSIS-NN", "arm_nn_types.h": "CMSIS-NN",
    "arm_nnsupportfunctions.h": "CMSIS-NN", "arm_nn_math_types.h": "CMSIS-NN",
    "arm_math.h": "CMSIS-DSP", "arm_math_types.h": "CMSIS-DSP",
    "cmsis_compiler.h": "CMSIS-Core", "cmsis_gcc.h": "CMSIS-Core",
    "ethosu_driver.h": "the Arm Ethos-U driver", "tvm_ethosu_runtime.h": "TVM's Ethos-U runtime",
    "crt_config.h": "the consumer's TVM CRT configuration",
}
"""Headers of libraries a consumer brings, and the library each belongs to."""
_FIRST_ERROR = re.compile(r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+):(?:(?P<column>\d+):)? "
                          r"(?:fatal )?error: (?P<message>.+)$", re.MULTILINE)


# -- outcomes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """A file that compiled, and the functions and data its object defines."""

    member: str
    symbols: tuple[Defined, ...]
    object: Path = field(repr=False, compare=False)


@dataclass(frozen=True)
class CompileError:
    """A file the compiler rejected: its first error, where it is (an archive member or a
    <system header>; None when the compiler did not say), on which line and column."""

    member: str
    message: str
    file: str | None
    line: int | None
    column: int | None = None


@dataclass(frozen=True)
class NeedsHeaders:
    """A file not built here: it includes headers no include folder provides, each with the
    library that ships it (None when mlfcheck does not know it)."""

    member: str
    headers: tuple[tuple[str, str | None], ...]

    def describe(self) -> str:
        """'needs esp_kernel.h (ESP-DL); pass -I'."""
        named = [f"{h} ({lib})" if lib else f"{h} (a library mlfcheck does not know)"
                 for h, lib in self.headers]
        runtime = any(h.startswith(("tvm/", "dlpack/")) for h, _ in self.headers)
        return "needs " + ", ".join(named) + \
            ("; pass --runtime-include" if runtime else "; pass -I")


@dataclass(frozen=True)
class RefusedFile:
    """A file containment refused to build: what the archive's C reads outside."""

    member: str
    refusals: tuple[Refusal, ...]


@dataclass(frozen=True)
class Stopped:
    """A file whose build a limit stopped (time, memory, CPU, file size)."""

    member: str
    message: str


@dataclass(frozen=True)
class Skipped:
    """A source not built because the archive reader did not read it (over a limit)."""

    member: str
    reason: str


FileOutcome = Compiled | CompileError | NeedsHeaders | RefusedFile | Stopped | Skipped


@dataclass(frozen=True)
class Duplicate:
    """A symbol more than one object defines (not static, not weak)."""

    symbol: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Linked:
    """The link of every compiled object into one shared object (runtime symbols may stay
    undefined): the symbols defined twice, or the linker's first error otherwise."""

    ok: bool
    duplicates: tuple[Duplicate, ...]
    error: str | None
    shared_object: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ArchiveBuilt:
    """One archive's host build: the compiler (name and version), where the TVM runtime
    headers came from, each source's outcome (in member order) and the link (None when no
    file compiled)."""

    compiler: str
    headers: str
    files: tuple[FileOutcome, ...]
    link: Linked | None

    @property
    def built(self) -> tuple[str, ...]:
        """Members that compiled."""
        return tuple(f.member for f in self.files if isinstance(f, Compiled))

    @property
    def shared_object(self) -> Path | None:
        """The linked shared object with DWARF (alive while the cache is open), for an ABI
        diff; None when the build did not link."""
        return None if self.link is None else self.link.shared_object


@dataclass(frozen=True)
class NoCompiler:
    """The build was asked for but no host C compiler is installed."""

    reason: str


# -- the cache and the builder -----------------------------------------------------------------


class BuildCache:
    """Outcomes of compiles and links by content key, and the objects and shared objects they
    made, in a temporary folder of its own; shared by every build the caller gives it (both
    sides of a diff, every archive of an audit's worker), made in `within` (default: the
    system's temporary folder). `close` (or leaving its `with`) removes it."""

    def __init__(self, within: str | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mlfcheck-build-", dir=within))
        self._files: dict[str, FileOutcome] = {}
        self._links: dict[str, Linked] = {}
        self._lock = threading.Lock()

    def file(self, key: str) -> FileOutcome | None:
        """The outcome kept under `key`, if any."""
        with self._lock:
            return self._files.get(key)

    def keep_file(self, key: str, outcome: FileOutcome) -> None:
        """Keep a file's outcome under its key."""
        with self._lock:
            self._files[key] = outcome

    def link(self, key: str) -> Linked | None:
        """The link kept under `key`, if any."""
        with self._lock:
            return self._links.get(key)

    def keep_link(self, key: str, linked: Linked) -> None:
        """Keep a link's outcome under its key."""
        with self._lock:
            self._links[key] = linked

    def close(self) -> None:
        """Remove the folder and everything in it."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> BuildCache:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@dataclass(frozen=True)
class Options:
    """What a build adds to the archive: -I folders, the TVM runtime headers of the exporting
    version, and how many files compile at once."""

    includes: tuple[Path, ...] = ()
    runtime_include: Path | None = None
    jobs: int = 1


@dataclass(frozen=True)
class HostCompiler:
    """The host C compiler, asked once: containment's view of it and its name and version."""

    cc: Compiler
    name: str


def host_compiler(path: str | None = None) -> HostCompiler | NoCompiler:
    """The C compiler at `path`, else gcc or cc from PATH; NoCompiler naming the package when
    there is none (or it cannot preprocess an empty file)."""
    found = path or next((p for name in HOST_COMPILERS if (p := shutil.which(name))), None)
    if found is None:
        return NoCompiler(f"no host C compiler (gcc or cc) on PATH: {APT_INSTALL}")
    try:
        cc = compiler(found)
    except (BoardError, OSError) as exc:
        return NoCompiler(f"{Path(found).name} cannot compile here ({exc}): {APT_INSTALL}")
    version = children.run([found, "-dumpfullversion", "-dumpversion"], limits=PROBE_LIMITS)
    number = version.stdout.strip().splitlines()[0] if version.ok and version.stdout.strip() \
        else "(version unknown)"
    return HostCompiler(cc, f"{Path(found).name} {number}")


class Builder:
    """Builds archives' C on the host with `options`, keeping outcomes in `cache`; the
    compiler is found on the first build and kept. Made by the caller (the CLI, an API call)
    and passed on, like a CParser."""

    def __init__(self, cache: BuildCache, options: Options | None = None, *,
                 compiler_path: str | None = None) -> None:
        self.cache = cache
        self.options = options or Options()
        for folder in (*self.options.includes, *filter(None, [self.options.runtime_include])):
            if not folder.is_dir():
                raise BoardError(f"include folder {folder} does not exist")
        self._path = compiler_path
        self._host: HostCompiler | NoCompiler | None = None
        self._lock = threading.Lock()

    def host(self) -> HostCompiler | NoCompiler:
        """The host compiler (asked once)."""
        with self._lock:
            if self._host is None:
                self._host = host_compiler(self._path)
            return self._host

    def build(self, archive: Archive, version: int | None) -> ArchiveBuilt | NoCompiler:
        """Build the archive's C (its declared MLF `version` picks the era of mlfcheck's runtime
        declarations); NoCompiler when there is no host compiler."""
        host = self.host()
        if isinstance(host, NoCompiler):
            return host
        with tempfile.TemporaryDirectory(prefix="mlfcheck-tree-", dir=self.cache.folder) as tmp:
            root = Path(tmp)
            sources, skipped = materialise(archive, root, (SOURCES, RUNTIME_SOURCES,
                                                           *HEADER_FOLDERS))
            plan = _Plan.of(self, host, root, version, build_sources(sources))
            outcomes = {o.member: o for o in plan.compile_all()}
            interface = plan.interface()
        outcomes.update((s.member, s) for s in skipped if is_build_source(s.member))
        files = tuple(outcomes[m] for m in sorted(outcomes))
        compiled = [f for f in files if isinstance(f, Compiled)]
        link = _link(plan, compiled, interface) if compiled else None
        return ArchiveBuilt(host.name, plan.headers, files, link)


# -- materialising and planning ----------------------------------------------------------------


def materialise(archive: Archive, root: Path, folders: Sequence[str]
                ) -> tuple[list[str], list[Skipped]]:
    """Write the archive's members under `folders` into `root` (by member path): the members
    written, and those the reader's limits refused (over --max-member-size)."""
    written, skipped = [], []
    for member in archive.files():
        if not any(member.name.startswith(f"{folder}/") for folder in folders):
            continue
        if not archive.readable(member.name):
            skipped.append(Skipped(member.name, "not read: over the member size limit"))
            continue
        target = root.joinpath(*PurePosixPath(member.name).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read(member.name))
        written.append(member.name)
    return written, skipped


def is_build_source(member: str) -> bool:
    """A C file a consumer compiles: codegen/host/src/*.c, runtime/src/**/*.c."""
    path = PurePosixPath(member)
    return path.suffix == ".c" and (str(path.parent) == SOURCES or
                                    member.startswith(f"{RUNTIME_SOURCES}/"))


def build_sources(members: Sequence[str]) -> list[str]:
    """The members a build compiles, in order."""
    return [m for m in members if is_build_source(m)]


@dataclass(frozen=True)
class _Plan:
    """One archive's build: where its tree is, the flags and include folders, the content
    keys of its sources and of its interface object (`_keys`)."""

    builder: Builder
    host: HostCompiler
    root: Path
    sources: tuple[str, ...]
    flags: tuple[str, ...]
    includes: tuple[Path, ...]
    tree: Tree
    headers: str
    keys: dict[str, str]

    @classmethod
    def of(cls, builder: Builder, host: HostCompiler, root: Path, version: int | None,
           sources: Sequence[str]) -> _Plan:
        options = builder.options
        folders = [root / h for h in HEADER_FOLDERS if (root / h).is_dir()]
        flags = list(FLAGS)
        if (root / "runtime/include").is_dir():
            headers, own = "the archive's runtime/include", None
        elif options.runtime_include is not None:
            headers, own = f"--runtime-include {options.runtime_include}", None
            folders.append(options.runtime_include)
        else:
            era = f" (MLF v{version})" if version is not None else ""
            headers, own = f"mlfcheck's TVM runtime declarations{era}", RUNTIME_ABI
            folders.append(RUNTIME_ABI)
            flags += [f"-DMLFCHECK_MLF_VERSION={version}"] if version is not None else []
        folders += options.includes
        given = tuple(filter(None, [options.runtime_include, *options.includes]))
        includes = tuple(f.resolve() for f in folders)
        keys = _keys(root, sources, [host.name, host.cc.path, *flags,
                                     *(_spelt(root, folder) for folder in includes)])
        return cls(builder, host, root, tuple(sources), tuple(flags), includes,
                   Tree(root, given, own), headers, keys)

    def compile_all(self) -> list[FileOutcome]:
        """Every source's outcome, from the cache or compiled, `jobs` threads at a time (each
        with a Build of its own: a build's dependency passes share one scratch folder)."""
        cache = self.builder.cache
        todo = [m for m in self.sources if cache.file(self.keys[m]) is None]
        jobs = max(1, min(self.builder.options.jobs, len(todo)))
        sizes = {m: (self.root / m).stat().st_size for m in todo}
        ordered = sorted(todo, key=lambda m: (-sizes[m], m))
        chunks = [ordered[i::jobs] for i in range(jobs)]
        if jobs > 1:
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(self._compile_chunk, chunks))
        elif todo:
            self._compile_chunk(todo)
        return [outcome for m in self.sources
                if (outcome := cache.file(self.keys[m])) is not None]

    def interface(self) -> Compiled | None:
        """The archive's interface headers (codegen/host/include/*.h) compiled as a consumer
        includes them, into an object of mlfcheck's own (in no outcome, never reconciled) that
        the shared object links in, so its DWARF holds the interface structs even where the
        generated C never includes its own header (v5 AOT); None without headers, or when they
        do not compile on their own."""
        folder = self.root / HEADER_FOLDERS[0]
        headers = sorted(h.name for h in folder.glob("*.h")) if folder.is_dir() else []
        if not headers:
            return None
        source = self.root / INTERFACE
        source.write_text("".join(f'#include "{h}"\n' for h in headers))
        key = self.keys[INTERFACE]
        cache = self.builder.cache
        if cache.file(key) is None:
            with tempfile.TemporaryDirectory(prefix="scratch-", dir=cache.folder) as scratch:
                build = Build(self.host.cc, self.tree, Path(scratch))
                cache.keep_file(key, self._compile(build, INTERFACE, cache.folder / f"{key}.o"))
        found = cache.file(key)
        return found if isinstance(found, Compiled) else None

    def _compile_chunk(self, members: Sequence[str]) -> None:
        cache = self.builder.cache
        with tempfile.TemporaryDirectory(prefix="scratch-", dir=cache.folder) as scratch:
            build = Build(self.host.cc, self.tree, Path(scratch))
            for member in members:
                obj = cache.folder / f"{self.keys[member]}.o"
                cache.keep_file(self.keys[member], self._compile(build, member, obj))

    def _compile(self, build: Build, member: str, obj: Path) -> FileOutcome:
        """One source through containment: checked, compiled, its symbols read."""
        source = self.root / member
        try:
            failed = build.check([source], self.flags, self.includes)
            if failed:
                return compile_error(member, failed[0][1].stderr)
            done = build.compile(source, obj, self.flags, self.includes)
        except Refused as exc:
            return RefusedFile(member, exc.refusals)
        except OverLimit as exc:
            return Stopped(member, str(exc))
        except MissingHeaders as exc:
            return _missing(member, exc.headers)
        except BoardError as exc:
            return CompileError(member, str(exc), None, None)
        if not done.ok:
            return compile_error(member, done.stderr)
        return Compiled(member, defined_symbols(obj), obj)


def _spelt(root: Path, folder: Path) -> str:
    """An include folder as a content key spells it: relative inside the archive's tree (whose
    temporary folder differs from build to build), absolute elsewhere."""
    try:
        return "archive:" + folder.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(folder)


def _keys(root: Path, sources: Sequence[str], salt: Sequence[str]) -> dict[str, str]:
    """A content key per source: the compiler, flags and include folders (`salt`), its path
    and bytes, the archive's other files it may include (every header; a sibling source only
    when a directive names it, all of them when a macro computes one); and under INTERFACE the
    key of the interface object (the salt and every header)."""
    digests = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(root.rglob("*")) if p.is_file()}
    context = hashlib.sha256(repr(sorted((m, d) for m, d in digests.items()
                                         if m not in sources)).encode()).hexdigest()
    names = {m: PurePosixPath(m).name for m in sources}
    keys = {INTERFACE: hashlib.sha256(repr((list(salt), INTERFACE, context)).encode(
        "utf-8", "surrogateescape")).hexdigest()}
    for member in sources:
        found = directives((root / member).read_bytes().decode("latin-1"))
        spelled = {PurePosixPath(d.literal).name for d in found if d.literal is not None}
        every = any(d.literal is None for d in found)
        named = sorted((m, digests[m]) for m in sources
                       if m != member and (every or names[m] in spelled))
        text = repr((list(salt), member, digests[member], context, named))
        keys[member] = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return keys


def compile_error(member: str, stderr: str) -> CompileError:
    """The compiler's first error: its file (member path, <header> or a note), line, text."""
    found = _FIRST_ERROR.search(stderr)
    if found is None:
        return CompileError(member, first_error(stderr), None, None)
    message = found.group("message").replace("\u2018", "'").replace("\u2019", "'")
    column = found.group("column")
    return CompileError(member, message, found.group("file"), int(found.group("line")),
                        int(column) if column else None)


def _missing(member: str, headers: Sequence[str]) -> FileOutcome:
    """Headers not found: the archive's own interface header missing is a compile error (it
    must ship it); any other header a library's the consumer brings (known or not: mlfcheck
    cannot tell an unknown library from a mistake, and the consumer may well provide it)."""
    own = [h for h in headers if re.fullmatch(r"tvmgen_\w+\.h", h)]
    if own:
        return CompileError(member, f"{own[0]}: No such file or directory (the archive's own "
                            "interface header, which codegen/host/include must hold)",
                            member, None)
    return NeedsHeaders(member, tuple((h, LIBRARIES.get(h) or LIBRARIES.get(Path(h).name)
                                       or ("TVM runtime" if h.startswith(("tvm/", "dlpack/"))
                                           else None)) for h in headers))


# -- linking -----------------------------------------------------------------------------------


def _link(plan: _Plan, compiled: Sequence[Compiled], interface: Compiled | None) -> Linked:
    """Link the compiled objects (and the `interface` object, when there is one) into one
    shared object (kept in the cache by the set of objects): the duplicates the objects'
    symbols show, else the linker's first error."""
    cache = plan.builder.cache
    objects = [c.object for c in compiled] + ([interface.object] if interface else [])
    key = hashlib.sha256(repr(sorted(o.name for o in objects)).encode()).hexdigest()
    kept = cache.link(key)
    if kept is not None:
        return kept
    owners: dict[str, list[str]] = {}
    for c in compiled:
        for s in c.symbols:
            if s.binding == "global":
                owners.setdefault(s.name, []).append(c.member)
    duplicates = tuple(Duplicate(name, tuple(members)) for name, members in sorted(owners.items())
                       if len(members) > 1)
    shared = cache.folder / f"{key}.so"
    with tempfile.TemporaryDirectory(prefix="scratch-", dir=cache.folder) as scratch:
        build = Build(plan.host.cc, plan.tree, Path(scratch))
        try:
            done = build.command([plan.host.cc.path, *plan.host.cc.flags, *LINK_FLAGS,
                                  *map(str, objects), "-o", str(shared)],
                                 what="linking the archive's objects")
        except OverLimit as exc:
            linked = Linked(False, duplicates, str(exc))
        else:
            error = None if done.ok or duplicates else _link_error(done.stderr, compiled)
            linked = Linked(done.ok, duplicates, error, shared if done.ok else None)
    cache.keep_link(key, linked)
    return linked


def _link_error(stderr: str, compiled: Sequence[Compiled]) -> str:
    """The linker's first error line, objects named by their members."""
    text = first_error(stderr)
    for c in compiled:
        text = text.replace(c.object.name, c.member)
    return text
