"""Harnesses: a consumer's build of an archive reproduced and run, to prove a verdict's level.

A harness is the archive files a consumer compiles, the include folders its build sets and an
application (mlfcheck's own C written from the consumer's evidence lines, under `harnesses/`, or
the user's own files). It compiles and links contained (`board.containment.Build`: host gcc, or
`arm-none-eabi-gcc` for a board) and runs with limits (`children.run` on the host, QEMU through
`board.crossbuild` on a board) as `app in.bin out.bin`. The `Proof` says the highest level it
reached (compiles, links, runs, matches), the first error (rewritten: no host paths), the
consumer line that causes it and one suggested fix where there is one.

A consumer that walks the graph config (`HarnessSpec.graph`) gets one application,
harnesses/graph_runner.c, and the plan `consumers.graphplan` writes beside it from the
archive's graph config and parameters: a function the graph names and the archive lacks fails
where the consumer fails (the run for a registry lookup, the link for a direct call), with the
consumer lines of `GraphWalk.calls`.

A consumer that sizes its workspace arena from the metadata (`HarnessSpec.arena`) gets that
arena, so a run proves the metadata's workspace is enough. The consumer lines a failure cites
are those of application lines the preprocessor keeps (an `#if` branch not taken cites
nothing).
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import struct
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mlfcheck import children
from mlfcheck.board import boards, containment, crossbuild, elfsize, icount
from mlfcheck.board.archivebuild import (
    RUNTIME_ABI,
    NoCompiler,
    compile_error,
    host_compiler,
    materialise,
)
from mlfcheck.board.containment import Build, Compiler, MissingHeaders, OverLimit, Refused, Tree
from mlfcheck.consumers import graphplan
from mlfcheck.consumers.graphplan import NoPlan, Plan
from mlfcheck.consumers.profile import RUNTIME_HEADERS, Evidence, GraphWalk, HarnessSpec
from mlfcheck.errors import BoardError, UsageError
from mlfcheck.reading.archive import Archive
from mlfcheck.reading.loaded import Loaded
from mlfcheck.reading.model import Model

LEVELS = ("reads", "compiles", "links", "runs", "matches")
"""What a verdict can prove, weakest first."""
HARNESSES = Path(__file__).with_name("harnesses")
"""mlfcheck's own C standing in for consumers' applications (package data)."""
SUPPORT = ("mlfcheck_io.h",)
"""Files every harness build has beside its application."""
ENTRY_CALL = "entry_call.c"
"""mlfcheck's own caller of an archive's entry point (count_entry)."""
CRT = "tvm_crt.c"
"""mlfcheck's stand-in for the TVM C runtime a consumer's build compiles (profile harnesses)."""
HOST = "host"
HOST_FLAGS = ("-std=gnu11", "-O1", "-fpermissive", "-w")
"""GNU C11 as embedded consumers compile it; -fpermissive and -w: only errors count (2021 AOT C
stores a void*-typed function where GCC 14 wants a pointer type)."""
RUN_LIMITS = children.Limits(seconds=60.0, memory_bytes=1024**3, file_bytes=64 * 1024**2,
                             cpu_seconds=60)
"""What one host run of a harness may use."""
MAX_TENSORS = 8
"""Interface struct members a harness fills (passed to the applications as MLFCHECK_TENSORS,
the number of their buffers)."""
TOLERANCE = 1e-5
"""Largest absolute difference per float32 output element that still matches."""
_AT = re.compile(r"\bat ([^\s@/]+/[^\s@]+@[0-9a-f]{7,40}:[^:\s]+:[1-9][0-9]*)")
_UNDEFINED = re.compile(r"undefined reference to [`'‘]?(\w+)")
_NO_MEMBER = re.compile(r"has no member named '(\w+)'")
_ENTRY = re.compile(r"\b(?:tvmgen_\w+|MLFCHECK_NAME\(\w+\))\(")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
DEFAULT_MODULE = "default"
"""The module name of an archive exported without one, and of applications that hard-code it."""
BOARD_ARENA = 256 * 1024
"""Workspace arena of a board build (tvm_crt.c's MLFCHECK_ARENA_BYTES) when the plan does not
size it."""
GRAPH_ARENA_SLACK = 4096
"""Bytes a graph plan's arena has beyond the largest operator workspace (alignment of each
allocation)."""
GRAPH_ARENA_UNKNOWN = 32 * 1024
"""A graph plan's arena on a board when the metadata gives no operator workspace."""
ARENA_ROUNDING = 120
"""Bytes an arena sized from the metadata (`HarnessSpec.arena`) has beyond the consumer's size:
tvm_crt.c rounds each allocation up to 16 bytes where TVM's stack allocator rounds to 8
(TVM_RUNTIME_ALLOC_ALIGNMENT_BYTES in the AOT tests), up to 8 more bytes for each of 15 live
allocations."""
_MARKER = re.compile(r'^# (\d+) "((?:[^"\\]|\\.)*)"')
_GRAPH_LINE = re.compile(r"^mlfcheck-graph: (?:missing (\S+)|(\S+) returned (-?\d+)|(.+))$",
                         re.M)


@dataclass(frozen=True)
class UserHarness:
    """The user's own application (`compat --harness`): its C files, -I folders, the board it
    runs on (None: the host), whether to run it, the bytes of in.bin and the expected out.bin."""

    files: tuple[Path, ...]
    includes: tuple[Path, ...] = ()
    board: str | None = None
    run: bool = False
    inputs: bytes = b""
    expect: bytes | None = None


@dataclass(frozen=True)
class Proof:
    """What one harness build proved on one archive."""

    proved: str | None
    """The highest level reached here ('compiles', 'links', 'runs', 'matches'); None when the
    build failed before anything linked or compiled, or was skipped."""
    failed: str | None
    """The level that failed, None when none did."""
    error: str | None
    """The first compiler, linker or run error (contained: archive member paths only)."""
    member: str | None = None
    """The file the error is in: an archive member or the harness file."""
    line: int | None = None
    cause: tuple[Evidence, ...] = ()
    """The consumer lines that make the failing step."""
    fix: str | None = None
    where: str = HOST
    """'host' or the board it ran on."""
    skipped: str | None = None
    """Why the harness did not build here (a missing toolchain, with the package to install)."""
    outputs: bytes | None = None
    """out.bin as the application wrote it (after a run)."""
    stopped: str | None = None
    """Why a harness that linked did not run (a run it does not reproduce)."""
    instructions: int | None = None
    """On a board: instructions one call of the archive's tvmgen_<module>_run executed (the
    largest call), counted in QEMU; None elsewhere, or when the archive defines no such entry."""


@dataclass(frozen=True)
class _Job:
    """One harness build: the archive tree, the harness files, where it runs and with what."""

    root: Path
    own: Path
    sources: tuple[Path, ...]
    includes: tuple[Path, ...]
    given: tuple[Path, ...]
    flags: tuple[str, ...]
    where: str
    app: tuple[Path, ...]
    build_evidence: tuple[Evidence, ...]
    needs: tuple[tuple[str, str], ...] = ()
    module: str = DEFAULT_MODULE
    graph: GraphWalk | None = None
    plan: Plan | None = None
    """The graph plan written beside the application (graph harnesses)."""
    arena: int | None = None
    """The workspace arena the consumer's size asks for (`HarnessSpec.arena`), if known."""
    cc: Compiler | None = None
    """The compiler and the flags the sources compile with (set when the build starts)."""
    cflags: tuple[str, ...] = ()


def glob_match(name: str, pattern: str) -> bool:
    """fnmatch per path segment: '*' never crosses '/'."""
    parts, pats = name.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(fnmatch.fnmatchcase(n, p)
                                           for n, p in zip(parts, pats, strict=True))


def members_of(written: Sequence[str], spec: HarnessSpec) -> list[str]:
    """The archive members the harness compiles (its `compiles` globs)."""
    return [m for m in written if any(glob_match(m, g) for g in spec.compiles)]


def user_spec(archive: Archive, user: UserHarness) -> HarnessSpec:
    """What a user's application builds with: the archive's generated C and runtime sources, its
    interface headers and its runtime/include (else the TVM runtime headers of its era)."""
    return _own_build(archive, tuple(p.name for p in user.files), user.board or HOST)


def _own_build(archive: Archive, app: tuple[str, ...], runs_on: str) -> HarnessSpec:
    runtime = "runtime/include" if archive.has_dir("runtime/include") else RUNTIME_HEADERS
    return HarnessSpec(compiles=("codegen/host/src/*.c", "runtime/src/*.c"),
                       includes=("codegen/host/include", runtime), app=app, runs_on=runs_on)


def count_entry(archive: Archive, version: int | None, board: str, *,
                members: Mapping[str, Sequence[str]], module: str, io_bytes: int) -> Proof:
    """One call of the archive's tvmgen_<module>_run on `board`, counted (`Proof.instructions`):
    mlfcheck's own caller (`entry_call.c`: the interface structs filled by their member names,
    buffers of `io_bytes`), built as a user's application is, run in QEMU."""
    spec = _own_build(archive, (ENTRY_CALL,), board)
    return prove(archive, version, spec, members=members, module=module,
                 flags=(f"-DMLFCHECK_IO_BYTES={max(16, io_bytes)}",))


def fill_flags(members: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """-DMLFCHECK_TENSORS (how many buffers of each kind the applications have),
    -DMLFCHECK_INPUTS=... and -DMLFCHECK_OUTPUTS=...: designated initializers of the
    interface structs, one buffer per member of the archive's header (`members` maps 'inputs'
    and 'outputs' to the member names), for applications that fill them by the model's
    tensor names; and -DMLFCHECK_MEMBER_<name> per member, for applications that choose their
    build-time model by the names (mlperftiny's TARGET_MODEL)."""
    flags = [f"-DMLFCHECK_TENSORS={MAX_TENSORS}"]
    for kind in ("inputs", "outputs"):
        names = list(members.get(kind, ()))[:MAX_TENSORS]
        fill = " ".join(f".{n} = mlfcheck_{kind}[{i}]," for i, n in enumerate(names))
        flags.append(f"-DMLFCHECK_{kind.upper()}={fill or '0'}")
        flags += [f"-DMLFCHECK_MEMBER_{n}" for n in names]
    return tuple(flags)


def module_flags(module: str) -> tuple[str, ...]:
    """-DMLFCHECK_MODULE=<m> and -DMLFCHECK_HEADER="tvmgen_<m>.h", for applications whose
    consumer writes its calls for the archive's module (MLFCHECK_NAME in mlfcheck_io.h); none
    for a name that is not a C identifier (the applications' default, 'default', stays)."""
    if not _IDENTIFIER.fullmatch(module):
        return ()
    return (f"-DMLFCHECK_MODULE={module}", f'-DMLFCHECK_HEADER="tvmgen_{module}.h"')


def prove(archive: Archive, version: int | None, spec: HarnessSpec, *,
          user: UserHarness | None = None, run: bool = True,
          members: Mapping[str, Sequence[str]] | None = None,
          module: str = DEFAULT_MODULE, flags: Sequence[str] = ()) -> Proof:
    """Build `spec` (with the user's files when `user`) against the archive; run it when `run`.
    `members`: the archive's interface struct members ('inputs', 'outputs'), for applications
    that fill them by name; `module`: the archive's module, for applications that name their
    calls after it; `flags`: more -D for the applications. UsageError for an unknown board or
    an unreadable harness file."""
    where = spec.runs_on
    if where != HOST:
        boards.board(where)
    with tempfile.TemporaryDirectory(prefix="mlfcheck-harness-") as tmp:
        job = _job(Path(tmp), archive, version, spec, user)
        job = replace(job, flags=(*job.flags, *fill_flags(members or {}),
                                  *module_flags(module), *flags), module=module,
                      arena=_sized(archive, spec) if user is None else None)
        if spec.graph is not None and user is None:
            planned = _with_plan(job, archive, spec.graph)
            if isinstance(planned, Proof):
                return planned
            job = planned
        try:
            proof = _on_host(job, run, user) if where == HOST else _on_board(job, run, user)
        except (Refused, OverLimit) as exc:
            proof = Proof(None, "compiles", str(exc), where=where)
    return proof


def _job(tmp: Path, archive: Archive, version: int | None, spec: HarnessSpec,
         user: UserHarness | None) -> _Job:
    root, own = tmp / "archive", tmp / "harness"
    own.mkdir()
    written, _ = materialise(archive, root, ("codegen", "runtime"))
    chosen = members_of(written, spec)
    members = [root / m for m in chosen]
    files = [HARNESSES / n for n in spec.app] if user is None else list(user.files)
    for path in files:
        if not path.is_file():
            raise UsageError(f"harness file {path} does not exist")
        shutil.copyfile(path, own / path.name)
    app = [own / p.name for p in files]
    own_runtime = any(m.startswith("runtime/src/") for m in chosen)
    for name in SUPPORT + ((CRT,) if user is None else ()):
        shutil.copyfile(HARNESSES / name, own / name)
    crt = [own / CRT] if user is None and not own_runtime else []
    includes: list[Path] = []
    flags: list[str] = list(spec.flags)
    for folder in spec.includes:
        if folder == RUNTIME_HEADERS:
            includes.append(own / "runtime_abi")
            if not includes[-1].is_dir():
                shutil.copytree(RUNTIME_ABI, includes[-1])
            flags += [f"-DMLFCHECK_MLF_VERSION={version}"] if version is not None else []
        elif (root / folder).is_dir():
            includes.append(root / folder)
    given = user.includes if user else ()
    for extra in given:
        if not extra.is_dir():
            raise UsageError(f"include folder {extra} does not exist")
    return _Job(root, own, tuple(sorted(members) + app + crt),
                tuple(p.resolve() for p in (*includes, *given)), tuple(given), tuple(flags),
                spec.runs_on, tuple(app), spec.evidence, spec.needs)


def _with_plan(job: _Job, archive: Archive, walk: GraphWalk) -> _Job | Proof:
    """The job with the graph plan written beside its application, or the Proof of why there is
    none (the consumer stops before it builds, or its generator refuses the graph)."""
    found = graphplan.plan(archive, walk, job.module)
    if isinstance(found, NoPlan):
        if found.level is None:
            return Proof(None, None, None, where=job.where, skipped=found.why)
        return Proof(None, found.level, found.why, cause=found.evidence, where=job.where)
    (job.own / graphplan.HEADER).write_text(found.header, encoding="utf-8")
    return replace(job, graph=walk, plan=found)


def _sized(archive: Archive, spec: HarnessSpec) -> int | None:
    """The arena of a consumer that sizes it from the metadata: main's workspace_size_bytes
    summed over the modules, its `plus` and ARENA_ROUNDING; None when it does not, or the
    metadata gives no main workspace."""
    if spec.arena is None:
        return None
    model = Loaded(archive).model
    if not isinstance(model, Model):
        return None
    sizes = [m.main[0].workspace_size_bytes for m in model.modules if m.main]
    return sum(sizes) + spec.arena.plus + ARENA_ROUNDING if sizes else None


def _arena(job: _Job, default: int) -> int:
    """The workspace arena: the consumer's size from the metadata (`_sized`), a graph plan's
    largest operator workspace with slack (on a board, GRAPH_ARENA_UNKNOWN without one), else
    `default`."""
    if job.arena is not None:
        return job.arena
    if job.plan is None:
        return default
    if job.plan.workspace is None:
        return default if default != BOARD_ARENA else GRAPH_ARENA_UNKNOWN
    need = -(-(job.plan.workspace + GRAPH_ARENA_SLACK) // 1024) * 1024
    return need if default == BOARD_ARENA else max(need, default)


def _not_run(job: _Job) -> Proof | None:
    """After a graph harness links without a graph config: the run's failure when the consumer
    says how it fails, else 'links' and why it is not run; None for every other job."""
    if job.plan is None or job.plan.config is not None or job.graph is None:
        return None
    if job.graph.no_config is not None:
        return replace(_failure(job, "runs", job.graph.no_config, None, None, proved="links"),
                       cause=job.graph.no_config_evidence)
    return Proof("links", None, None, where=job.where,
                 stopped="the archive has no graph config (an AOT or operator-style module): "
                         "its run is driven from the host with another executor, which the "
                         "harness does not reproduce")


def _tree(job: _Job) -> Tree:
    return Tree(job.root, job.given, job.own) if job.root.is_dir() else \
        Tree(None, job.given, job.own)


def _compile(job: _Job, cc: Compiler, flags: Sequence[str], out: Path
             ) -> list[Path] | Proof:
    """Every source compiled to an object (contained), or the Proof of the first failure."""
    build = Build(cc, _tree(job), out)
    try:
        failed = build.check(job.sources, flags, job.includes)
    except MissingHeaders as exc:
        return _missing(job, exc.headers)
    if failed:
        source, done = failed[0]
        return _compile_failure(job, build.label(source), done.stderr)
    objects = []
    for i, source in enumerate(job.sources):
        objects.append(out / f"{i:03d}-{source.stem}.o")
        done = build.compile(source, objects[-1], flags, job.includes)
        if not done.ok:
            return _compile_failure(job, build.label(source), done.stderr)
    return objects


def _missing(job: _Job, headers: Sequence[str]) -> Proof:
    """A compile failure for the first missing header the consumer's build does not bring from
    a library mlfcheck cannot supply; else 'not built here' naming that library (no level)."""
    libraries = dict(job.needs)
    ours = [h for h in headers if Path(h).name not in libraries]
    if not ours:
        header = Path(headers[0]).name
        return Proof(None, None, None, where=job.where,
                     skipped=f"not built here: needs {header} ({libraries[header]}); build your "
                             "application with it: --harness FILE -I DIR")
    error = f"fatal error: {ours[0]}: No such file or directory"
    if len(headers) > 1:
        error += f" (also missing: {', '.join(h for h in headers if h != ours[0])})"
    return _failure(job, "compiles", error, None, None)


def _compile_failure(job: _Job, label: str, stderr: str) -> Proof:
    """The compiler's first error (as archivebuild reads it) as a failure to compile."""
    found = compile_error(label, stderr)
    if found.file is None:
        return _failure(job, "compiles", found.message, label, None)
    return _failure(job, "compiles", f"error: {found.message}", found.file, found.line)


def _on_host(job: _Job, run: bool, user: UserHarness | None) -> Proof:
    host = host_compiler()
    if isinstance(host, NoCompiler):
        return Proof(None, None, None, skipped=host.reason)
    out = job.own / "build"
    out.mkdir()
    arena = _arena(job, 0)
    flags = [*HOST_FLAGS, *job.flags, *([f"-DMLFCHECK_ARENA_BYTES={arena}"] if arena else [])]
    job = replace(job, cc=host.cc, cflags=tuple(flags))
    objects = _compile(job, host.cc, flags, out)
    if isinstance(objects, Proof):
        return objects
    exe = out / "app"
    build = Build(host.cc, _tree(job), out)
    done = build.command([host.cc.path, *host.cc.flags, *map(str, objects), "-o", str(exe),
                          "-lm"], what="linking the application")
    if not done.ok:
        return _failure(job, "links", _link_error(done.stderr), None, None)
    stop = _not_run(job) if run else None
    if not run or stop is not None:
        return stop or Proof("links", None, None)
    (out / "in.bin").write_bytes(user.inputs if user else b"")
    ran = children.run([str(exe), "in.bin", "out.bin"], limits=RUN_LIMITS, cwd=out)
    if ran.timed_out or ran.returncode != 0:
        why = (f"did not finish within {RUN_LIMITS.seconds:g} s" if ran.timed_out else
               f"ended on {ran.signal_name}" if ran.signal_name else
               f"exited with {ran.returncode}")
        return _run_failure(job, f"the application {why}", ran.stdout)
    return _outputs(job, out / "out.bin", user)


def _link_error(text: str) -> str:
    """The linker's first undefined reference or duplicate definition, else its first error;
    objects named by their sources."""
    found = re.search(r"(?:undefined reference to|multiple definition of) [^\n]*", text)
    line = found.group() if found else containment.first_error(text)
    return re.sub(r"\b\d{3}-([\w.-]+)\.o\b", r"\1.c", line)


def _on_board(job: _Job, run: bool, user: UserHarness | None) -> Proof:
    board = boards.board(job.where)
    try:
        tools = crossbuild.toolchain(run=run)
    except BoardError as exc:
        return Proof(None, None, None, where=job.where, skipped=str(exc))
    out = job.own / "build"
    out.mkdir()
    flags = [*board.cpu_flags, *crossbuild.SIZE_FLAGS, "-fpermissive", "-w", *job.flags,
             f"-DMLFCHECK_ARENA_BYTES={_arena(job, BOARD_ARENA)}"]
    job = replace(job, cc=tools.cc, cflags=tuple(flags))
    objects = _compile(job, tools.cc, flags, out)
    if isinstance(objects, Proof):
        return objects
    elf = out / "app.elf"
    counted = _counted(job, objects) if run else None
    try:
        if counted is not None:
            (out / "mlfcheck_count.c").write_text(counted.source)
            objects += crossbuild.compile_objects(tools, board, [out / "mlfcheck_count.c"], [],
                                                  out, tree=_tree(job))
        overflows = crossbuild.link(tools, board, objects, elf, tree=_tree(job),
                                    flags=counted.link_flags if counted else ())
    except BoardError as exc:
        return _failure(job, "links", _link_error(str(exc)), None, None)
    if overflows:
        what = "; ".join(f"region {o.region.name} overflowed by {o.by} bytes" for o in overflows)
        return _failure(job, "links", what, None, None)
    stop = _not_run(job) if run else None
    if not run or stop is not None:
        return stop or Proof("links", None, None, where=job.where)
    (out / "in.bin").write_bytes(user.inputs if user else b"")
    try:
        ran = crossbuild.run(tools, board, elf,
                             plugin=icount.build(out) if counted is not None else None)
    except BoardError as exc:
        return _failure(job, "runs", str(exc), None, None, proved="links")
    if ran.fault is not None:
        return _failure(job, "runs", f"the application stopped on a {ran.fault.describe()}",
                        None, None, proved="links")
    if ran.exit_code:
        return _run_failure(job, f"the application exited with {ran.exit_code}", ran.stdout)
    windows = ran.counts.windows if ran.counts is not None else ()
    return replace(_outputs(job, out / "out.bin", user), instructions=max(windows, default=None))


def _counted(job: _Job, objects: Sequence[Path]) -> icount.Wrap | None:
    """The trampoline that counts the archive's entry point tvmgen_<module>_run, when one of
    the archive's objects defines it (the application's calls reach it across objects)."""
    entry = f"tvmgen_{job.module}_run"
    ours = [o for o, source in zip(objects, job.sources, strict=True)
            if job.root in source.parents]
    if any(d.name == entry for o in ours for d in elfsize.defined_symbols(o)):
        return icount.wrap(entry)
    return None


def _run_failure(job: _Job, why: str, stdout: str) -> Proof:
    """A run that exited non-zero: the graph runner's own line, in the words of the consumer's
    driver, with the consumer lines that find and call the functions; else `why`."""
    said = _GRAPH_LINE.search(stdout) if job.graph is not None else None
    if said is None or job.graph is None:
        return _failure(job, "runs", why, None, None, proved="links")
    missing, name, code, other = said.groups()
    error = (graphplan.DRIVERS[job.graph.driver].missing.format(name=missing) if missing else
             f"{name} returned {code}" if name else other)
    return replace(_failure(job, "runs", error, None, None, proved="links"),
                   cause=job.graph.calls)


def _outputs(job: _Job, path: Path, user: UserHarness | None) -> Proof:
    """After a clean run: 'runs', or 'matches' when the outputs equal the expected ones."""
    got = path.read_bytes() if path.is_file() else b""
    proof = Proof("runs", None, None, where=job.where, outputs=got)
    if user is None or user.expect is None:
        return proof
    mismatch = _mismatch(got, user.expect)
    if mismatch is None:
        return replace(proof, proved="matches")
    return replace(_failure(job, "matches", mismatch, None, None, proved="runs"), outputs=got)


def _mismatch(got: bytes, want: bytes) -> str | None:
    """Why the outputs differ from the expected ones (compared as float32 within TOLERANCE
    when they are not byte for byte equal), None when they match."""
    if got == want:
        return None
    if len(got) != len(want):
        return f"out.bin has {len(got)} bytes, the reference {len(want)}"
    if len(got) % 4:
        return "out.bin differs from the reference"
    count = len(got) // 4
    worst = max(abs(a - b) for a, b in zip(struct.unpack(f"<{count}f", got),
                                           struct.unpack(f"<{count}f", want), strict=True))
    if worst <= TOLERANCE:
        return None
    return f"out.bin differs from the reference (largest float32 difference {worst:.3g})"


# -- what failed, the consumer line behind it, the fix -----------------------------------------


def _failure(job: _Job, level: str, error: str, member: str | None, line: int | None, *,
             proved: str | None = None) -> Proof:
    if proved is None and level == "links":
        proved = "compiles"
    cause = _cause(job, level, error, member, line)
    return Proof(proved, level, error, member, line, cause, _fix(job, level, error),
                 where=job.where)


def _cause(job: _Job, level: str, error: str, member: str | None,
           line: int | None) -> tuple[Evidence, ...]:
    """The consumer lines behind a failure: the harness line's citation (the line itself or the
    one above), the call of an undefined symbol or the entry call for a run (on a line the
    preprocessor keeps); else the build's."""
    graph = _graph_cause(job, error)
    if graph:
        return graph
    app = {p.name: p.read_text(encoding="utf-8", errors="replace").splitlines()
           for p in job.app}
    lines: list[tuple[list[str], int]] = []
    if member in app and line is not None:
        lines.append((app[member], line))
    called = _spellings(job, _UNDEFINED.search(error))
    for path in job.app:
        text = app[path.name]
        found = [number for number, code in enumerate(text, 1)
                 if any(f"{name}(" in code for name in called) or
                 (level in ("runs", "matches") and _ENTRY.search(code))]
        kept = _kept(job, path) if found else None
        lines += [(text, n) for n in found if kept is None or n in kept]
    for text, number in lines:
        cited = [m.group(1) for ln in text[max(0, number - 2):number] for m in _AT.finditer(ln)]
        if cited:
            return (Evidence(cited[-1], text[number - 1].strip()),)
    return job.build_evidence if level == "compiles" and member not in app else ()


def _kept(job: _Job, path: Path) -> set[int] | None:
    """The lines of the application file `path` its preprocessing with the build's flags keeps
    (`cc -E`, contained, read through its line markers); None when that cannot be told."""
    if job.cc is None:
        return None
    out = job.own / f".{path.stem}.i"
    argv = [job.cc.path, *job.cc.flags, *job.cflags, *(f"-I{p}" for p in job.includes), "-E",
            str(path), "-o", str(out)]
    try:
        done = Build(job.cc, _tree(job), job.own).command(
            argv, what=f"preprocessing {path.name}", limits=containment.DEPENDENCY_LIMITS)
    except OverLimit:
        return None
    if not done.ok:
        return None
    kept: set[int] = set()
    current, number = False, 0
    for row in out.read_text(encoding="latin-1").splitlines():
        marker = _MARKER.match(row)
        if marker:
            number, current = int(marker.group(1)), marker.group(2) == str(path)
            continue
        if current and row.strip():
            kept.add(number)
        number += 1
    return kept


def _graph_cause(job: _Job, error: str) -> tuple[Evidence, ...]:
    """For a graph harness's undefined reference: the line that takes the system library
    (TVMSystemLibEntryPoint), those that take the parameters from _lookup_linked_param, or
    those that call the graph's functions (a direct call)."""
    undefined = _UNDEFINED.search(error)
    if job.graph is None or job.plan is None or undefined is None:
        return ()
    if undefined.group(1) == "TVMSystemLibEntryPoint":
        return job.graph.entry
    if undefined.group(1) == graphplan.LOOKUP:
        return job.graph.linked
    return job.graph.calls if undefined.group(1) in job.plan.calls else ()


def _spellings(job: _Job, undefined: re.Match[str] | None) -> tuple[str, ...]:
    """How an application spells an undefined symbol: as is, or MLFCHECK_NAME(suffix) for a
    name of the archive's module."""
    if undefined is None:
        return ()
    name = undefined.group(1)
    prefix = f"tvmgen_{job.module}_"
    return (name, f"MLFCHECK_NAME({name.removeprefix(prefix)})") if name.startswith(prefix) \
        else (name,)


def _fix(job: _Job, level: str, error: str) -> str | None:
    """One suggested fix for a known failure, None otherwise."""
    runtime = (job.root / "runtime/include").is_dir()
    header = re.search(r"(tvmgen_\w+\.h)", error)
    member = _NO_MEMBER.search(error)
    undefined = _UNDEFINED.search(error)
    if level == "compiles" and runtime and re.search(r"\b(tvm/ffi/|tvmgen_platform)", error):
        return ("add -I model/runtime/include and compile model/runtime/src/*.c (the archive's "
                "own runtime)")
    if level == "compiles" and header and \
            (job.root / "codegen/host/include" / header.group(1)).is_file():
        return (f"add -I model/codegen/host/include (the archive's {header.group(1)}), or copy "
                "codegen/host/include/*.h into the project")
    if level == "compiles" and member:
        return (f"fill the struct with the archive's own member names (no '{member.group(1)}'"
                "; see codegen/host/include)")
    if level == "links" and undefined:
        name = undefined.group(1)
        if name.startswith("tvmgen_") and (_defines(job, f"{name}_model")):
            return (f"call {name}_model(input, output), or export with the C interface "
                    "(--interface-api=c --use-unpacked-api)")
        if name.startswith(("TVMFFI", "tvmgen_platform")):
            return "compile model/runtime/src/*.c (the archive's own runtime)"
        if name == "TVMSystemLibEntryPoint" and job.graph is not None:
            return ("export with the C runtime's system library (tvmc --runtime=crt "
                    "--runtime-crt-system-lib=1; an archive with the C interface has none)")
        if name == graphplan.LOOKUP and job.graph is not None:
            return ("export with the graph executor's link-params (Executor(\"graph\", "
                    "{\"link-params\": True})): the parameters become constants in the "
                    "functions and the graph binds none")
    if level == "runs" and job.graph is None and re.search(r"SIGSEGV|SIGBUS|fault", error):
        return ("export with the unpacked C interface (--interface-api=c --use-unpacked-api), "
                "or call the entry point with the arguments it defines")
    return None


def _defines(job: _Job, name: str) -> bool:
    pattern = re.compile(rf"\b{re.escape(name)}\s*\([^;]*\)\s*\{{")
    return any(pattern.search(p.read_text(encoding="latin-1"))
               for p in job.sources if job.root in p.parents)
