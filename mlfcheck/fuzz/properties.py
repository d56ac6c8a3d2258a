"""The invariants fuzzing checks, one function each, shared by the tests and `mlfcheck fuzz`.

A property returns quietly when it holds and raises `PropertyFailure` (an AssertionError, so
pytest and hypothesis treat it as a failed test) naming the outcome bucket and a signature that
deduplicates failures with the same cause. `ExportError`, the exporter's documented failure,
passes through unchanged: the campaign buckets it, the tests accept it.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from mlfcheck.errors import ExportError
from mlfcheck.fuzz.reader import CANARY, MutationSpec, materialize

if TYPE_CHECKING:
    from mlfcheck.export import ExportResult

EPOCH = 1_700_000_000
"""The fixed SOURCE_DATE_EPOCH of every fuzz export, so two exports can be compared bytewise."""


class Bucket(Enum):
    """Outcome buckets; the value is the label, `meaning` says what it is."""

    OK = "ok"
    REFUSED = "refused"
    CRASH = "crash"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory limit"
    EXPORT_ERROR = "export error"
    INVALID_ARCHIVE = "invalid archive"
    DOES_NOT_COMPILE = "does not compile"
    ARCHIVE_MODEL = "archive contradicts model"
    NONDETERMINISTIC = "nondeterministic"
    NUMERIC_MISMATCH = "numeric mismatch"
    MEMORY_SAFETY = "memory safety"
    METAMORPHIC = "unexpected diff"
    MEMORY_MAP = "memory-map inconsistency"
    WROTE_OUTSIDE = "wrote outside temp dir"
    FOLLOWED_LINK = "followed a link"

    @property
    def meaning(self) -> str:
        """One line saying what landing in this bucket means."""
        return _MEANINGS[self]


_MEANINGS = {
    Bucket.OK: "every property held",
    Bucket.REFUSED: "the exporter refused the model with a documented limitation "
                    "(UnsupportedModel); not a counterexample",
    Bucket.CRASH: "an exception other than the documented one escaped, or the process died "
                  "from a signal",
    Bucket.TIMEOUT: "the example ran past its time limit and was killed",
    Bucket.MEMORY_LIMIT: "the example ran out of its address-space limit",
    Bucket.EXPORT_ERROR: "a valid model failed to export with mlfcheck's documented ExportError",
    Bucket.INVALID_ARCHIVE: "the exported archive has validation errors",
    Bucket.DOES_NOT_COMPILE: "the archive exported, but its C does not compile",
    Bucket.ARCHIVE_MODEL: "the archive's parameters or header contradict the model or the "
                          "metadata",
    Bucket.NONDETERMINISTIC: "two exports of one model differ in bytes or in `diff`",
    Bucket.NUMERIC_MISMATCH: "--verify: the archive's C build differs from TVM beyond the "
                             "tolerance",
    Bucket.MEMORY_SAFETY: "the C build with sanitizers and canary bytes touched memory outside "
                          "its blocks, inputs or outputs",
    Bucket.METAMORPHIC: "a model changed in a known way (input renamed, independent layers "
                        "swapped, identity layer added) exported to a diff with other rules",
    Bucket.MEMORY_MAP: "the metadata's memory map contradicts the model or the C run",
    Bucket.WROTE_OUTSIDE: "a reader command wrote a file outside its temporary directory",
    Bucket.FOLLOWED_LINK: "a reader command opened the file a link member points at",
}


class PropertyFailure(AssertionError):
    """A property does not hold: which bucket, a deduplicating signature, and the details."""

    def __init__(self, bucket: Bucket, signature: str, detail: str) -> None:
        super().__init__(f"{bucket.value}: {signature}\n{detail}".rstrip())
        self.bucket = bucket
        self.signature = signature
        self.detail = detail


def normalise(message: str) -> str:
    """A message with the parts that vary between examples blanked: numbers, quotes, paths."""
    text = re.sub(r"/\S*/", "…/", message)
    text = re.sub(r"'[^']*'|\"[^\"]*\"|‘[^’]*’", "'…'", text)
    return re.sub(r"\d+", "N", text)[:200]


def crash_signature(exc: BaseException) -> str:
    """Exception type and the innermost frame inside mlfcheck (else the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/mlfcheck/" in f.filename and "/fuzz/" not in f.filename]
    place = ""
    if ours or frames:
        where = (ours or frames)[-1]
        path = where.filename.split("/mlfcheck/", 1)[-1] if "/mlfcheck/" in where.filename \
            else Path(where.filename).name
        place = f" in {path}:{where.name}"
    return f"{type(exc).__name__}{place}"


def describe_exception(exc: BaseException) -> str:
    """The traceback as text, for reproducer notes."""
    return "".join(traceback.format_exception(exc)).strip()


# -- exporter ---------------------------------------------------------------------------------

def export_is_clean(model: Path, output: Path) -> ExportResult:
    """Export succeeds or raises ExportError; any other exception is a crash."""
    from mlfcheck.export import export_model

    try:
        return export_model(str(model), output, epoch=EPOCH)
    except ExportError:
        raise
    except MemoryError as exc:
        raise PropertyFailure(Bucket.MEMORY_LIMIT, "MemoryError during export",
                              describe_exception(exc)) from exc
    except Exception as exc:
        raise PropertyFailure(Bucket.CRASH, crash_signature(exc),
                              describe_exception(exc)) from exc


def export_error_signature(exc: ExportError) -> str:
    """The stage, operator and normalised first line of an ExportError."""
    first = str(exc).splitlines()[0] if str(exc) else exc.stage
    return normalise(first)


def archive_validates(path: Path) -> None:
    """`validate` finds no errors in an exported archive."""
    from mlfcheck.validate import validate

    report = validate(path)
    if not report.ok:
        errors = [f for f in report.findings if f.level.name == "ERROR"]
        codes = ",".join(sorted({f.code.name for f in errors}))
        raise PropertyFailure(Bucket.INVALID_ARCHIVE, f"codes {codes}",
                              "\n".join(f"{f.code.name} {f.location()}: {f.message}"
                                        for f in errors))


def _members(path: Path) -> dict[str, bytes]:
    """Every regular member of an exported archive by name: its mode and its bytes."""
    from mlfcheck.reading.archive import Archive

    with Archive(path) as archive:
        return {m.name: oct(m.mode).encode() + b":" + archive.read(m.name)
                for m in archive.files()}


def exports_are_identical(first: Path, second: Path) -> None:
    """Two exports of the same model are the same bytes."""
    if first.read_bytes() == second.read_bytes():
        return
    a, b = _members(first), _members(second)
    differing = sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n)) or [
        "(tar headers)"]
    raise PropertyFailure(Bucket.NONDETERMINISTIC,
                          "bytes differ: " + ", ".join(normalise(n) for n in differing[:3]),
                          "members that differ: " + ", ".join(differing))


def diff_is_empty(first: Path, second: Path) -> None:
    """`mlfcheck diff` of two exports of the same model reports no change."""
    from mlfcheck.diff import diff_archives

    result = diff_archives(first, second)
    if result.changes:
        rules = ",".join(sorted({c.rule.name for c in result.changes}))
        raise PropertyFailure(Bucket.NONDETERMINISTIC, f"diff rules {rules}",
                              "\n".join(f"{c.rule.name} {c.subject}: {c.old} → {c.new}"
                                        for c in result.changes))


def memory_map_holds(result: ExportResult) -> None:
    """The workspace covers the largest operator, io is the sum of inputs and outputs, and
    every tensor's size is its shape × dtype."""
    from mlfcheck.export.plan import element_bytes
    from mlfcheck.reading.archive import Archive

    with Archive(result.path) as archive:
        entry = json.loads(archive.read("metadata.json"))["modules"][result.name]
    memory = entry["memory"]["functions"]
    main = memory["main"][0]
    problems = []
    largest = max((w["workspace_size_bytes"] for op in memory["operator_functions"]
                   for w in op["workspace"]), default=0)
    if main["workspace_size_bytes"] < largest:
        problems.append(("workspace below the largest operator",
                         f"workspace {main['workspace_size_bytes']} < operator {largest}"))
    tensors = [*main["inputs"].items(), *main["outputs"].items()]
    if main["io_size_bytes"] != sum(t["size"] for _, t in tensors):
        problems.append(("io is not the sum of inputs and outputs",
                         f"io {main['io_size_bytes']} != {sum(t['size'] for _, t in tensors)}"))
    for name, t in tensors:
        want = element_bytes(t["dtype"])
        for d in t["shape"]:
            want *= d
        if t["size"] != want:
            problems.append(("a tensor size is not shape × dtype",
                             f"{name}: size {t['size']}, shape {t['shape']} {t['dtype']}"))
    if problems:
        raise PropertyFailure(Bucket.MEMORY_MAP, problems[0][0],
                              "\n".join(detail for _, detail in problems))


def exporter_properties(model: Path, workdir: Path, *, verify: bool,
                        tolerance: float | None = None) -> ExportResult:
    """Every exporter invariant on one model file, in order; ExportError passes through.
    `verify` adds the deep ones: an export in a fresh process, the metamorphic diffs, and the
    C builds run against TVM (oracles.c_builds_agree)."""
    from mlfcheck.fuzz import oracles

    first = export_is_clean(model, workdir / "first.tar")
    second = export_is_clean(model, workdir / "second.tar")
    archive_validates(first.path)
    exports_are_identical(first.path, second.path)
    diff_is_empty(first.path, second.path)
    oracles.archive_compiles(first)
    oracles.params_are_the_constants(first)
    oracles.header_matches_metadata(first)
    oracles.operator_workspace_matches(first)
    memory_map_holds(first)
    oracles.plan_matches_use(first)
    if verify:
        from mlfcheck.export import DEFAULT_TOLERANCE
        from mlfcheck.fuzz.metamorphic import diffs_are_expected

        oracles.exports_agree_across_processes(model, first.path, workdir)
        diffs_are_expected(model, first.path, workdir)
        oracles.c_builds_agree(model, first, DEFAULT_TOLERANCE if tolerance is None
                               else tolerance)
    return first


# -- reader -----------------------------------------------------------------------------------

_WRITE_EVENTS = {"os.remove", "os.rename", "os.replace", "os.mkdir", "os.rmdir", "os.symlink",
                 "os.link", "os.truncate", "os.chmod", "os.chown", "os.utime",
                 "shutil.rmtree", "shutil.copyfile", "shutil.move"}
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000  # O_WRONLY | O_RDWR | O_CREAT | O_TRUNC


@dataclass
class _Guard:
    root: str | None = None
    canary: str | None = None
    wrote: str | None = None
    followed: str | None = None


_GUARD = _Guard()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    guard = _GUARD
    if guard.root is None or not args:
        return
    target = args[0]
    if isinstance(target, bytes):
        target = target.decode("utf-8", "surrogateescape")
    if not isinstance(target, str):
        return
    if event == "open":
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        if guard.canary and target.endswith(CANARY):
            guard.followed = guard.followed or target
        writing = any(c in mode for c in "wax+") or bool(flags & _WRITE_FLAGS)
        if not writing:
            return
    elif event not in _WRITE_EVENTS:
        return
    resolved = str(Path(target).resolve()) if target else target
    if not (resolved + "/").startswith(guard.root + "/"):
        guard.wrote = guard.wrote or f"{event} {target}"


_HOOKED: list[bool] = []


@contextmanager
def guarded(root: Path) -> Iterator[_Guard]:
    """Record writes outside `root` and opens of the canary beside it while the block runs."""
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    _GUARD.root, _GUARD.canary = str(root.resolve()), str(root.resolve().parent / CANARY)
    _GUARD.wrote = _GUARD.followed = None
    try:
        yield _GUARD
    finally:
        _GUARD.root = _GUARD.canary = None


class ReaderTimeout(BaseException):
    """Raised by the alarm when one reader example runs past its limit."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise ReaderTimeout


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ReaderTimeout in this (main) thread after `seconds`; no limit when None."""
    if not seconds:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def command_line(spec: MutationSpec, path: Path, pristine: Path) -> list[str]:
    """The mlfcheck arguments that read the mutated input `path`."""
    fmt = ["--format", "json"] if spec.command.endswith("-json") else []
    if spec.command == "diff":
        return ["diff", str(pristine), str(path)]
    if spec.command == "diff-reversed":
        return ["diff", str(path), str(pristine)]
    return [spec.command.removesuffix("-json"), str(path), *fmt]


def read_as_the_cli_does(spec: MutationSpec, path: Path, pristine: Path) -> int:
    """Run the library behind the command `spec` names on `path` and render its report, as
    the CLI would; return the exit code the CLI documents for the outcome (0 clean, 1
    problems found, 2 could not read). Only MlfcheckError is a documented failure."""
    from mlfcheck.diff import FAIL_ON, diff_archives
    from mlfcheck.errors import MlfcheckError
    from mlfcheck.reading.summary import summarize
    from mlfcheck.reporters import show as show_reporters
    from mlfcheck.reporters import validate as validate_reporters
    from mlfcheck.reporters.diff import RENDERERS as DIFF_RENDERERS
    from mlfcheck.reporters.diff import Options
    from mlfcheck.validate import validate

    fmt = "json" if spec.command.endswith("-json") else "text"
    try:
        if spec.command.startswith("validate"):
            report = validate(path)
            validate_reporters.RENDERERS[fmt]([report])
            return 0 if report.ok else 1
        if spec.command.startswith("show"):
            show_reporters.RENDERERS[fmt](summarize(path))
            return 0
        old, new = (pristine, path) if spec.command == "diff" else (path, pristine)
        result = diff_archives(old, new)
        DIFF_RENDERERS[fmt](result, Options())
        return 1 if result.fails(FAIL_ON["breaking"]) else 0
    except MlfcheckError:
        return 2


def reader_survives(spec: MutationSpec, original: bytes, scratch: Path, *,
                    seconds: float | None = None) -> int:
    """The reader behind the command ends through its documented paths (a report, or
    MlfcheckError), raises nothing else, writes nothing outside `scratch` and opens no file a
    link member points at. Returns the exit code the CLI gives that outcome."""
    path = materialize(spec, original, scratch / "mutated")
    pristine = scratch / "pristine.tar"
    pristine.write_bytes(original)
    args = command_line(spec, path, pristine)
    with guarded(scratch) as guard:
        try:
            with time_limit(seconds):
                code = read_as_the_cli_does(spec, path, pristine)
        except ReaderTimeout:
            raise PropertyFailure(Bucket.TIMEOUT, f"{args[0]}: over {seconds:g} s",
                                  " ".join(args)) from None
        except MemoryError as exc:
            raise PropertyFailure(Bucket.MEMORY_LIMIT, f"{args[0]}: {crash_signature(exc)}",
                                  describe_exception(exc)) from exc
        except Exception as exc:
            raise PropertyFailure(Bucket.CRASH, f"{args[0]}: {crash_signature(exc)}",
                                  describe_exception(exc)) from exc
    if guard.wrote:
        raise PropertyFailure(Bucket.WROTE_OUTSIDE, f"{args[0]}: {normalise(guard.wrote)}",
                              guard.wrote)
    if guard.followed:
        raise PropertyFailure(Bucket.FOLLOWED_LINK, f"{args[0]}: opened a link target",
                              guard.followed)
    return code
