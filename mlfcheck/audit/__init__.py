"""`audit`: find archives and models under paths, check each in parallel, compare with a baseline.

Each archive is validated, summarised (memory, code size), read by every consumer profile and,
when the baseline has an archive under the same key, diffed against it; with a board, its C is
also compiled for that board and sized per symbol, and its entry point called once there and
counted in QEMU (`size --run`). With `build` (the CLI's default) its C is also
built on the host (B codes; the comparison's build layer); each worker process makes its own
Builder and BuildCache, shared by the archives it audits. Models are exported first, into a
temporary folder, never next to the model.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mlfcheck import children
from mlfcheck.board.boards import Board
from mlfcheck.board.footprint import Counted, Footprint, footprint
from mlfcheck.consumers import Profile, Verdict, builtin_profiles, evaluate
from mlfcheck.consumers.evaluate import count_on_board
from mlfcheck.diff import DiffConfig, DiffResult, Level, diff_loaded
from mlfcheck.diff.result import ConfigOverrides
from mlfcheck.errors import ArchiveError, MlfcheckError, UsageError, typed_reading
from mlfcheck.reading import userfile
from mlfcheck.reading.archive import Archive, Limits
from mlfcheck.reading.csource import CParser
from mlfcheck.reading.loaded import Loaded, UnusableArchive
from mlfcheck.reading.model import Model
from mlfcheck.reading.summary import Summary, summarize_loaded
from mlfcheck.validate import Report, validate_loaded

if TYPE_CHECKING:  # the build layer loads only when a build is asked for
    from mlfcheck.board.archivebuild import Builder, Options

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
MODEL_SUFFIXES = (".onnx", ".tflite")
EXPORT_EPOCH = 0
"""Models are exported with a fixed timestamp so audits of the same models are reproducible."""
SCRATCH_PREFIX = "mlfcheck-audit-"
"""Name prefix of an audit's temporary folder and of each job's folder inside it."""
JOB_LIMITS = children.Limits(seconds=24 * 3600.0, memory_bytes=None)
"""What a child auditing its share of the items may use (--jobs > 1): a day of wall clock, this
process's address space."""


@dataclass(frozen=True)
class Item:
    """One thing to audit: an archive (file or folder) or a model to export first."""

    key: str
    """Its path relative to the PATH it was found under; matches baseline items."""
    path: str
    kind: str
    """'archive' or 'model'."""


@dataclass(frozen=True)
class Operator:
    """One operator function's largest workspace."""

    module: str
    name: str
    workspace: int


@dataclass(frozen=True)
class Comparison:
    """The diff against the baseline archive with the same key, or why there is none."""

    baseline: str
    result: DiffResult | None
    error: str | None


@dataclass(frozen=True)
class OnBoard:
    """The archive's C compiled for the audit's board, or why it could not be."""

    footprint: Footprint | None
    error: str | None


@dataclass(frozen=True)
class ArchiveAudit:
    """Everything the audit found about one item."""

    item: Item
    error: str | None = None
    """Why the item could not be read or exported; nothing else is set then."""
    report: Report | None = None
    summary: Summary | None = None
    """None when metadata.json is not usable enough to summarise."""
    operators: tuple[Operator, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    comparison: Comparison | None = None
    on_board: OnBoard | None = None
    """With a board: flash and RAM of the archive's own symbols there, and the instructions of
    one call of its entry point (`Footprint.run`)."""

    @property
    def status(self) -> str:
        """'unreadable', 'invalid' or 'valid'."""
        if self.report is None:
            return "unreadable"
        return "valid" if self.report.ok else "invalid"

    def fails(self, threshold: Level | None) -> bool:
        """True when invalid, or when a change against the baseline reaches `threshold`."""
        result = self.comparison.result if self.comparison else None
        return self.status == "invalid" or (result is not None and result.fails(threshold))


@dataclass(frozen=True)
class HostBuild:
    """Whether the audit built each archive's C on the host, with which compiler (name and
    version), or why not: not asked for, or `unavailable` (no host C compiler; the reason names
    the package to install), then the reader alone judged. Each archive's `Report.judged` says
    what its build did."""

    asked: bool = False
    compiler: str | None = None
    unavailable: str | None = None


@dataclass(frozen=True)
class AuditResult:
    """All archives in discovery order, and what only the baseline has."""

    archives: tuple[ArchiveAudit, ...]
    removed: tuple[Item, ...]
    baseline: tuple[str, ...]
    consumers: tuple[str, ...]
    fail_on: Level | None
    timestamp: str | None
    board: Board | None = None
    config_source: str | None = None
    """The diff configuration file the comparisons used; None for the defaults."""
    config_overrides: ConfigOverrides = field(default_factory=ConfigOverrides)
    """What that configuration changes from the defaults."""
    build: HostBuild = HostBuild()
    """Whether each archive's C was built on the host, and with which compiler."""

    @property
    def unreadable(self) -> bool:
        """True when some item could not be read or exported."""
        return any(a.status == "unreadable" for a in self.archives)

    @property
    def fails(self) -> bool:
        """True when some archive is invalid or changed at or above --fail-on."""
        return any(a.fails(self.fail_on) for a in self.archives)


@dataclass(frozen=True)
class _Job:
    """What one worker needs: the item, its baseline item, and the settings (all picklable)."""

    item: Item
    base: Item | None
    limits: Limits
    profiles: tuple[Profile, ...]
    config: DiffConfig
    board: Board | None = None
    parse_workers: int = 1
    """Processes that may parse the job's C: its parser is made where the job runs."""


@dataclass(frozen=True)
class _Building:
    """How a worker process builds C on the host (picklable): the builder's options and the
    compiler the audit found; the worker makes its own Builder and BuildCache of them."""

    options: Options
    compiler: str


# -- discovery ---------------------------------------------------------------------------------


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if path.is_dir():
        return "archive" if (path / "metadata.json").is_file() else None
    if name.endswith(ARCHIVE_SUFFIXES):
        return "archive"
    return "model" if name.endswith(MODEL_SUFFIXES) else None


MAX_MANIFEST_ITEMS = 100_000
"""Most items the manifests of one audit may expand to (nested manifests multiply)."""
MAX_MANIFEST_DEPTH = 16
"""Deepest nesting of manifests listing manifests."""


def _walk(root: Path) -> Iterator[Path]:
    """Archives and models under a folder, sorted; archive folders are not searched inside.
    Iterative, so a folder nested thousands deep costs no Python stack."""
    stack = [root]
    while stack:
        folder = stack.pop()
        subfolders = []
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.is_symlink():
                continue
            if _kind(entry) is not None:
                yield entry
            elif entry.is_dir():
                subfolders.append(entry)
        stack.extend(reversed(subfolders))


def _manifest_entries(manifest: Path) -> list[tuple[int, str]]:
    """(line number, path) listed in a manifest: one a line, '#' starts a comment."""
    lines = userfile.read_text(manifest, "manifest").splitlines()
    return [(n, e) for n, e in enumerate((line.split("#", 1)[0].strip() for line in lines), 1)
            if e]


class _Expansion:
    """Counts manifest entries and the items found, so nested manifests cannot fan out
    unbounded (a manifest listing another twice, 24 deep, would name 2^24 archives)."""

    def __init__(self) -> None:
        self.spent = 0

    def add(self, found: list[Item], where: str) -> list[Item]:
        self.spent += max(len(found), 1)
        if self.spent > MAX_MANIFEST_ITEMS:
            raise UsageError(f"{where}: manifests expand to more than {MAX_MANIFEST_ITEMS} "
                             "entries")
        return found


def _items_of(given: str, key: str, chain: tuple[Path, ...], budget: _Expansion,
              origin: str | None = None) -> list[Item]:
    """Items of one PATH; `key` is what the PATH itself is called in keys. `chain` is the
    manifests that led here; `origin` ('manifest:line') names an entry without quoting it."""
    path = Path(given)
    shown = origin or given
    if not path.exists():
        raise UsageError(f"{shown}: no such file or directory")
    kind = _kind(path)
    if kind is not None:
        return budget.add([Item(key, given, kind)], shown)
    if path.is_dir():
        prefix = f"{key}/" if key else ""
        return budget.add([Item(prefix + p.relative_to(path).as_posix(), str(p), k)
                           for p in _walk(path) if (k := _kind(p)) is not None], shown)
    if path.resolve() in chain:
        raise UsageError(f"{shown}: manifest lists itself (a cycle of manifests)")
    if len(chain) >= MAX_MANIFEST_DEPTH:
        raise UsageError(f"{shown}: manifests nested more than {MAX_MANIFEST_DEPTH} deep")
    inner = (*chain, path.resolve())
    items: list[Item] = []
    for n, entry in _manifest_entries(path):
        budget.add([], f"{path}:{n}")
        items += _items_of(str(path.parent / entry), entry, inner, budget, f"{path}:{n}")
    return items


def discover(paths: Sequence[str]) -> tuple[Item, ...]:
    """Items under each PATH (archive, model, folder or manifest), in order, keys unique.

    Raises UsageError for a missing path, when nothing is found, or when manifests cycle, nest
    too deep or expand to too many items. Errors about a manifest's entries name the
    manifest and line, never the entry's text.
    """
    budget = _Expansion()
    items = [i for p in paths
             for i in _items_of(p, Path(p).name if _kind(Path(p)) else "", (), budget)]
    if not items:
        raise UsageError(f"no archives or models found in {', '.join(paths)}")
    counts = Counter(i.key for i in items)
    return tuple(i if counts[i.key] == 1 else Item(i.path, i.path, i.kind) for i in items)


# -- one archive -------------------------------------------------------------------------------


def _materialise(item: Item, folder: str, label: str) -> str:
    """The archive path of an item: itself, or the model exported into `folder`."""
    if item.kind == "archive":
        return item.path
    from mlfcheck.export import export_model

    out = Path(folder) / f"{label}.tar"
    export_model(item.path, out, epoch=EXPORT_EPOCH)
    return str(out)


def _inspect(job: _Job, ctx: Loaded) -> ArchiveAudit:
    """Validate, summarise and run the consumer profiles on one loaded archive."""
    report = validate_loaded(ctx)
    try:
        summary: Summary | None = summarize_loaded(ctx)
    except UnusableArchive:
        summary = None
    verdicts = tuple(evaluate(p, ctx) for p in job.profiles)
    model = ctx.model
    operators = tuple(Operator(m.name, o.name, o.max_workspace)
                      for m in (model.modules if isinstance(model, Model) else ())
                      for o in m.operator_functions)
    return ArchiveAudit(job.item, report=report, summary=summary, operators=operators,
                        verdicts=verdicts)


def _on_board(job: _Job, path: str) -> OnBoard | None:
    """The footprint on the job's board, with one counted call of the entry point
    (`Footprint.run`; None without a board); a compile failure is kept."""
    if job.board is None:
        return None
    try:
        found = footprint(path, job.board, limits=job.limits)
    except MlfcheckError as exc:
        return OnBoard(None, str(exc))
    try:
        counted = count_on_board(path, job.board.name, limits=job.limits)
    except MlfcheckError as exc:
        counted = Counted("the entry point", None, str(exc))
    return OnBoard(replace(found, run=counted), None)


def _compare(job: _Job, base: Item, old: str, new: Loaded, report: Report) -> Comparison:
    """The diff of `new` (loaded and validated once, by `_inspect`) against the baseline."""
    try:
        with typed_reading(old, new.archive.path), Archive(old, limits=job.limits) as archive:
            loaded = Loaded(archive, digest_params=True, parser=new.parser,
                            builder=new.builder)
            result = diff_loaded(loaded, new, labels=(base.path, job.item.path),
                                 reports=(validate_loaded(loaded), report), config=job.config)
        return Comparison(base.key, result, None)
    except MlfcheckError as exc:
        return Comparison(base.key, None, str(exc))


def audit_one(job: _Job, *, parser: CParser | None = None, scratch: str | None = None,
              builder: Builder | None = None) -> ArchiveAudit:
    """The audit of one item (run in a child process when --jobs > 1); the item and its
    baseline are read by `parser` (default: a new one of `job.parse_workers`) and, with a
    `builder`, built on the host. Its temporary folder is made in `scratch` (default: the
    system's) and removed when it ends. An item that cannot be read, for whatever reason
    `errors.typed_reading` knows, is that item's error."""
    parser = parser if parser is not None else CParser(workers=job.parse_workers)
    folder = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch)
    try:
        try:
            with typed_reading(job.item.path):
                path = _materialise(job.item, folder, "current")
            with typed_reading(path, job.item.path), Archive(path, limits=job.limits) as archive:
                ctx = Loaded(archive, digest_params=job.base is not None, parser=parser,
                             builder=builder)
                found = replace(_inspect(job, ctx), on_board=_on_board(job, path))
                if job.base is None or found.report is None:
                    return _relabel(found, path, job.item.path)
                try:
                    with typed_reading(job.base.path):
                        old = _materialise(job.base, folder, "baseline")
                except MlfcheckError as exc:
                    comparison = Comparison(job.base.key, None, str(exc))
                else:
                    comparison = _compare(job, job.base, old, ctx, found.report)
        except MlfcheckError as exc:
            why = exc.detail if isinstance(exc, ArchiveError) else str(exc)
            return ArchiveAudit(job.item, error=why)
        return replace(_relabel(found, path, job.item.path), comparison=comparison)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _relabel(found: ArchiveAudit, path: str, shown: str) -> ArchiveAudit:
    """Reports name the model, not the temporary archive it was exported to."""
    if path == shown:
        return found
    return replace(found,
                   report=replace(found.report, path=shown) if found.report else None,
                   summary=replace(found.summary, path=shown) if found.summary else None,
                   verdicts=tuple(replace(v, path=shown) for v in found.verdicts))


# -- many archives -----------------------------------------------------------------------------


def _run(jobs: list[_Job], workers: int, progress: Callable[[ArchiveAudit], None] | None,
         parser: CParser, starter: children.Starter, root: str,
         builder: Builder | None) -> list[ArchiveAudit]:
    """Results in job order; `progress` sees each as it completes. One job at a time, they all
    read C with `parser` and build it with `builder`; in child processes (`workers` at once,
    started by `starter`) each child audits a share of the jobs with a parser and a builder of
    its own (`_audit_in_child`). Every job makes its temporary folder in `root`."""
    report = progress or (lambda _: None)
    if workers <= 1 or len(jobs) <= 1:
        results = []
        for job in jobs:
            results.append(audit_one(job, parser=parser, scratch=root, builder=builder))
            report(results[-1])
        return results
    building = _building(builder)
    count = min(workers, len(jobs))
    shares = _shares(jobs, count)
    found: dict[int, ArchiveAudit] = {}
    again: list[list[int]] = []
    with closing(_in_children(jobs, shares, count, starter, root, building)) as runs:
        for share, ended in runs:
            if ended.status == "returned":
                found.update(zip(share, ended.value, strict=True))
                for n in share:
                    report(found[n])
            elif len(share) > 1:
                again += [[n] for n in share]
            else:
                found[share[0]] = _audited(jobs[share[0]], ended)
                report(found[share[0]])
    with closing(_in_children(jobs, again, count, starter, root, building)) as runs:
        for [n], ended in runs:
            found[n] = ended.value[0] if ended.status == "returned" else _audited(jobs[n], ended)
            report(found[n])
    return [found[n] for n in range(len(jobs))]


def _shares(jobs: Sequence[_Job], count: int) -> list[list[int]]:
    """The jobs (indices) split among `count` children: heaviest first, each to the lightest
    share so far, by the bytes of its item and baseline (a folder's generated C); each share
    in job order."""
    shares: list[list[int]] = [[] for _ in range(count)]
    loads = [0] * count
    weights = [sum(_bytes(i) for i in (job.item, job.base) if i is not None) for job in jobs]
    for n in sorted(range(len(jobs)), key=lambda n: (-weights[n], n)):
        lightest = loads.index(min(loads))
        shares[lightest].append(n)
        loads[lightest] += weights[n]
    return [sorted(share) for share in shares]


def _bytes(item: Item) -> int:
    """The size of an archive or model file, or of the generated C of an archive folder (0
    when it cannot be told: the item's audit says why)."""
    path = Path(item.path)
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in (path / "codegen" / "host" / "src").iterdir())
        return path.stat().st_size
    except OSError:
        return 0


def _building(builder: Builder | None) -> _Building | None:
    """What a child needs to make a builder like `builder` (None: no build)."""
    if builder is None:
        return None
    from mlfcheck.board.archivebuild import HostCompiler

    host = builder.host()
    return _Building(builder.options, host.cc.path) if isinstance(host, HostCompiler) else None


def _in_children(jobs: Sequence[_Job], shares: list[list[int]], workers: int,
                 starter: children.Starter, root: str, building: _Building | None
                 ) -> Generator[tuple[list[int], children.Ended], None, None]:
    """Each share of `jobs` (indices) audited in a child of its own, `workers` at once, as each
    ends. A share of several whose child does not return is audited again one job per child
    (by the caller), so that only an item that ends its child gets that as its error."""
    if not shares:
        return
    calls = [children.Call(n, _audit_in_child, (tuple(jobs[i] for i in share), root, building))
             for n, share in enumerate(shares)]
    with closing(children.call_all(calls, limits=JOB_LIMITS, starter=starter,
                                   jobs=workers)) as runs:
        for call, ended in runs:
            yield shares[call.key], ended


def _audit_in_child(arg: tuple[tuple[_Job, ...], str, _Building | None]) -> list[ArchiveAudit]:
    """audit_one over a share of the jobs in a child process: (the jobs, the audit's temporary
    folder, how to build). The jobs share one C parser and, building, one Builder and
    BuildCache (in that folder): a file the same in two of its archives compiles once."""
    jobs, root, building = arg
    parser = CParser(workers=jobs[0].parse_workers)
    with _builder(building.options if building else None, root,
                  building.compiler if building else None) as builder:
        return [audit_one(job, parser=parser, scratch=root, builder=builder) for job in jobs]


@contextmanager
def _builder(options: Options | None, root: str,
             compiler: str | None = None) -> Iterator[Builder | None]:
    """A Builder of `options` (None without) whose BuildCache is made in `root` and removed on
    leaving; `compiler` is the host compiler's path (default: gcc or cc from PATH)."""
    if options is None:
        yield None
        return
    from mlfcheck.board.archivebuild import BuildCache, Builder

    with BuildCache(root) as cache:
        yield Builder(cache, options, compiler_path=compiler)


def _audited(job: _Job, ended: children.Ended) -> ArchiveAudit:
    """What a child made of a job it audited alone, when it did not return. A child that was
    killed or ended without a result makes that item's error; an exception the audit does not
    expect is raised, as without children."""
    if ended.status == "raised":
        raise RuntimeError(f"auditing {job.item.path} raised {ended.value}:\n{ended.detail}")
    why = {"signal": f"was killed by {ended.detail}",
           "timeout": f"was killed after {JOB_LIMITS.seconds:g} s"}.get(
        ended.status, f"ended ({ended.detail})")
    return ArchiveAudit(job.item, error=f"a worker process {why} before it finished auditing "
                                        "this item")


@contextmanager
def _scratch_root() -> Iterator[str]:
    """The audit's temporary folder, where every job makes its own; removed with whatever is
    left in it (a job whose child was killed cannot remove its own). It is named (randomly)
    before it is made, so SIGTERM cannot come between making it and knowing what to remove."""
    root = os.path.join(tempfile.gettempdir(), SCRATCH_PREFIX + secrets.token_hex(16))
    try:
        os.mkdir(root, 0o700)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def audit(items: Sequence[Item], *, baseline: Sequence[Item] = (),
          baseline_paths: Sequence[str] = (), profiles: Sequence[Profile] | None = None,
          jobs: int = 1, limits: Limits | None = None, config: DiffConfig | None = None,
          fail_on: Level | None = Level.BREAKING, timestamp: str | None = None,
          progress: Callable[[ArchiveAudit], None] | None = None,
          board: Board | None = None, parse_workers: int = 1,
          starter: children.Starter | None = None, build: Options | None = None,
          shard: tuple[int, int] = (1, 1)) -> AuditResult:
    """Audit `items` (from `discover`), each against the baseline item with the same key;
    with `shard` (K, N), only items K-1, K-1+N, … (`picked`; what only the baseline has is
    judged against every item, as unsharded: see mlfcheck.audit.shards);
    with `board`, also size each archive's C compiled for it. `parse_workers` processes may
    parse one archive's C: with `jobs` 1 one parser of that many reads every archive and
    baseline (sharing what they have in common); otherwise each child makes its own. With
    `jobs` > 1 the items are shared among up to `jobs` child processes `starter` starts (default:
    one made for this call by `starter_for`). With `build` each archive's C is also built on the
    host with those options (`Options.jobs` compiles at once), each child (or this process)
    with a Builder and BuildCache of its own; without a host C compiler the reader alone judges,
    and the result says why once. SIGTERM meanwhile unwinds the audit: its children are killed
    and its temporary folders removed."""
    base = {i.key: i for i in baseline}
    chosen = tuple(profiles) if profiles is not None else builtin_profiles()
    config = config or DiffConfig()
    work = [_Job(items[n], base.get(items[n].key), limits or Limits(), chosen, config, board,
                 parse_workers) for n in picked(len(items), shard)]
    with children.sigterm_unwinds(), _scratch_root() as root, _builder(build, root) as builder:
        host = _host_build(builder)
        found = _run(work, jobs, progress, CParser(workers=parse_workers),
                     starter_for([*items, *baseline]) if starter is None else starter, root,
                     builder if host.compiler else None)
    keys = {i.key for i in items}
    return AuditResult(tuple(found), tuple(i for k, i in base.items() if k not in keys),
                       tuple(baseline_paths), tuple(p.name for p in chosen), fail_on, timestamp,
                       board, config.source, config.overrides(), host)


def picked(count: int, shard: tuple[int, int]) -> range:
    """The numbers (from 0) of the `count` items shard (K, N) audits: K-1, K-1+N, K-1+2N, …"""
    k, n = shard
    return range(k - 1, count, n)


def _host_build(builder: Builder | None) -> HostBuild:
    """What the audit says of the host build: not asked, the compiler, or why there is none."""
    if builder is None:
        return HostBuild()
    from mlfcheck.board.archivebuild import NoCompiler

    host = builder.host()
    if isinstance(host, NoCompiler):
        return HostBuild(True, unavailable=host.reason)
    return HostBuild(True, host.name)


def starter_for(items: Sequence[Item]) -> children.Starter:
    """How an audit of `items` starts its children: forks of this process when every item is
    an archive (nothing to import again); when some item is a model, a fork server that has
    imported TVM and the exporter once (else each model's child would import them)."""
    if any(i.kind == "model" for i in items):
        return children.Starter(("mlfcheck.audit", "tvm", "mlfcheck.export"))
    return children.Starter(("mlfcheck.audit",), fork=True)


def default_jobs() -> int:
    """One worker per available CPU."""
    return children.available_cores()
