"""`audit`: find archives and models under paths, check each in parallel, compare with a baseline.

Each archive is validated, summarised (memory, code size), read by every consumer profile and,
when the baseline has an archive under the same key, diffed against it; with a board, its C is
also compiled for that board and sized per symbol. Models are exported first, into a temporary
folder, never next to the model.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from mlfcheck.board.boards import Board
from mlfcheck.board.footprint import Footprint, footprint
from mlfcheck.consumers import Profile, Verdict, builtin_profiles, evaluate
from mlfcheck.diff import DiffConfig, DiffResult, Level, diff_loaded
from mlfcheck.errors import ArchiveError, MlfcheckError, UsageError
from mlfcheck.reading import userfile
from mlfcheck.reading.archive import Archive, Limits
from mlfcheck.reading.loaded import Loaded, UnusableArchive
from mlfcheck.reading.model import Model
from mlfcheck.reading.summary import Summary, summarize_loaded
from mlfcheck.validate import Report, validate_loaded

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
MODEL_SUFFIXES = (".onnx", ".tflite")
EXPORT_EPOCH = 0
"""Models are exported with a fixed timestamp so audits of the same models are reproducible."""


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
    """With a board: flash and RAM of the archive's own symbols there (compiled, not run)."""

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
class AuditResult:
    """All archives in discovery order, and what only the baseline has."""

    archives: tuple[ArchiveAudit, ...]
    removed: tuple[Item, ...]
    baseline: tuple[str, ...]
    consumers: tuple[str, ...]
    fail_on: Level | None
    timestamp: str | None
    board: Board | None = None

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
    """The footprint on the job's board (None without one); a compile failure is kept."""
    if job.board is None:
        return None
    try:
        return OnBoard(footprint(path, job.board, limits=job.limits), None)
    except MlfcheckError as exc:
        return OnBoard(None, str(exc))


def _compare(job: _Job, base: Item, old: str, new: Loaded, report: Report) -> Comparison:
    """The diff of `new` (loaded and validated once, by `_inspect`) against the baseline."""
    try:
        with Archive(old, limits=job.limits) as archive:
            loaded = Loaded(archive, digest_params=True)
            result = diff_loaded(loaded, new, labels=(base.path, job.item.path),
                                 reports=(validate_loaded(loaded), report), config=job.config)
        return Comparison(base.key, result, None)
    except MlfcheckError as exc:
        return Comparison(base.key, None, str(exc))


def audit_one(job: _Job) -> ArchiveAudit:
    """The audit of one item (run in a worker process when --jobs > 1)."""
    with _scratch() as folder:
        try:
            path = _materialise(job.item, folder, "current")
            with Archive(path, limits=job.limits) as archive:
                ctx = Loaded(archive, digest_params=job.base is not None)
                found = replace(_inspect(job, ctx), on_board=_on_board(job, path))
                if job.base is None or found.report is None:
                    return _relabel(found, path, job.item.path)
                try:
                    old = _materialise(job.base, folder, "baseline")
                except MlfcheckError as exc:
                    comparison = Comparison(job.base.key, None, str(exc))
                else:
                    comparison = _compare(job, job.base, old, ctx, found.report)
        except MlfcheckError as exc:
            why = exc.detail if isinstance(exc, ArchiveError) else str(exc)
            return ArchiveAudit(job.item, error=why)
        return replace(_relabel(found, path, job.item.path), comparison=comparison)


def _relabel(found: ArchiveAudit, path: str, shown: str) -> ArchiveAudit:
    """Reports name the model, not the temporary archive it was exported to."""
    if path == shown:
        return found
    return replace(found,
                   report=replace(found.report, path=shown) if found.report else None,
                   summary=replace(found.summary, path=shown) if found.summary else None,
                   verdicts=tuple(replace(v, path=shown) for v in found.verdicts))


# -- many archives -----------------------------------------------------------------------------


def _run(jobs: list[_Job], workers: int,
         progress: Callable[[ArchiveAudit], None] | None) -> list[ArchiveAudit]:
    """Results in job order; `progress` sees each as it completes."""
    report = progress or (lambda _: None)
    if workers <= 1 or len(jobs) <= 1:
        results = []
        for job in jobs:
            results.append(audit_one(job))
            report(results[-1])
        return results
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                               initializer=_exit_on_sigterm)
    try:
        futures = [pool.submit(_audit_in_worker, job) for job in jobs]
        for future in as_completed(futures):
            report(future.result())
        return [f.result() for f in futures]
    except BrokenProcessPool:
        raise MlfcheckError("a worker process was killed; the audit is incomplete") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Terminated(SystemExit):
    """SIGTERM arrived: unwind (removing temporary folders), then exit."""


_SCRATCH: set[str] = set()
"""Temporary folders of the audits running in this process."""


@contextmanager
def _scratch() -> Iterator[str]:
    """A temporary folder for one archive's audit, removed afterwards (or on SIGTERM)."""
    blocked = {signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, blocked)  # no SIGTERM between mkdir and add
    try:
        folder = tempfile.mkdtemp(prefix="mlfcheck-audit-")
        _SCRATCH.add(folder)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    try:
        yield folder
    finally:
        _remove_scratch(folder)


def _remove_scratch(*folders: str) -> None:
    for folder in folders or tuple(_SCRATCH):
        shutil.rmtree(folder, ignore_errors=True)
        _SCRATCH.discard(folder)


def _terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup
    raise _Terminated(128 + signum)


def _exit_on_sigterm() -> None:
    """A worker's SIGTERM unwinds the audit it is running, then ends the worker (the pool
    would otherwise report the exit as that job's result and take the next job)."""
    signal.signal(signal.SIGTERM, _terminated)


def _audit_in_worker(job: _Job) -> ArchiveAudit:
    """audit_one in a pool worker, which exits once SIGTERM has unwound the job."""
    try:
        return audit_one(job)
    except _Terminated as exc:
        _remove_scratch()  # in case the signal cut a removal short
        os._exit(exc.code if isinstance(exc.code, int) else 1)


@contextmanager
def _cleanup_on_sigterm() -> Iterator[None]:
    """While auditing, SIGTERM unwinds (removing temporary folders) instead of killing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    except _Terminated:
        _remove_scratch()  # in case the signal cut a removal short
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def audit(items: Sequence[Item], *, baseline: Sequence[Item] = (),
          baseline_paths: Sequence[str] = (), profiles: Sequence[Profile] | None = None,
          jobs: int = 1, limits: Limits | None = None, config: DiffConfig | None = None,
          fail_on: Level | None = Level.BREAKING, timestamp: str | None = None,
          progress: Callable[[ArchiveAudit], None] | None = None,
          board: Board | None = None) -> AuditResult:
    """Audit `items` (from `discover`), each against the baseline item with the same key;
    with `board`, also size each archive's C compiled for it."""
    base = {i.key: i for i in baseline}
    chosen = tuple(profiles) if profiles is not None else builtin_profiles()
    work = [_Job(i, base.get(i.key), limits or Limits(), chosen, config or DiffConfig(), board)
            for i in items]
    with _cleanup_on_sigterm():
        found = _run(work, jobs, progress)
    keys = {i.key for i in items}
    return AuditResult(tuple(found), tuple(i for k, i in base.items() if k not in keys),
                       tuple(baseline_paths), tuple(p.name for p in chosen), fail_on, timestamp,
                       board)


def default_jobs() -> int:
    """One worker per available CPU."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)
