"""A fuzz campaign: draw N examples, run them isolated, bucket the outcomes, deduplicate them by
signature, shrink one example per signature and write its reproducer.

Examples are drawn with hypothesis from the same strategies the tests use (generation only,
seeded, no database), so a seed names the same examples on every run. Shrinking is greedy and
re-runs each candidate in a child process: delete layers, outputs, inputs and mutation steps,
zero selectors and options, shrink input shapes; it is bounded by SHRINK_ATTEMPTS candidate runs
and SHRINK_SECONDS per counterexample.

Every exporter example gets the cheap oracles and the check of its int8 patterns; the deep ones
(C builds, a fresh process, metamorphic diffs) go to the examples whose archive has what only a
C run can check (`deep_by_content`), not to every n-th.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seed_with
from hypothesis.strategies import SearchStrategy

from mlfcheck.children import Call, Ended, Limits, Starter, call_all
from mlfcheck.errors import ExportError, UnsupportedModel
from mlfcheck.fuzz.exports import export_error_signature
from mlfcheck.fuzz.fresh import FreshExporter
from mlfcheck.fuzz.models import (
    FLOAT,
    Q_OPS,
    Input,
    Layer,
    ModelSpec,
    describe,
    render,
    render_patterns,
)
from mlfcheck.fuzz.outcomes import Bucket, PropertyFailure
from mlfcheck.fuzz.properties import (
    ALL,
    C_RUN,
    PATTERNS,
    exporter_properties,
    reader_survives,
)
from mlfcheck.fuzz.reader import MutationSpec, load_fixtures, materialize
from mlfcheck.fuzz.replay import command_line
from mlfcheck.fuzz.strategies import models, mutations
from mlfcheck.version import __version__

if TYPE_CHECKING:
    from mlfcheck.export import ExportResult

T = TypeVar("T")
TARGETS = ("exporter", "reader")
PRELOAD = ("tvm", "mlfcheck.export", "mlfcheck.validate", "mlfcheck.diff",
           "mlfcheck.reading.summary", "mlfcheck.reporters", "mlfcheck.fuzz.campaign")
"""Modules the fork server of a campaign's `Starter` imports once (those installed), so each
example pays for a fork, not for `import tvm`."""
READER_BATCH = 200
"""Reader examples per child process (they run in-process there, for speed)."""
PROGRESS = "progress.jsonl"
"""The file in a reader batch's scratch folder its child appends each example's outcome to."""
MIN_OPS = 10
"""Fewest layers a campaign model has (hypothesis would otherwise draw many one-layer models;
shrinking still goes below it)."""
RICH = 5
"""A model whose archive holds at least RICH of what only a C run checks (each kind of
integer kernel, a copy step, a bool tensor) runs in C (`deep_by_content`): about one model in
seven (16 of 100 at seed 20261126, 14 at seed 0; none reaches 6)."""
ALL_SHARE = 20
"""One model in ALL_SHARE (by a hash of the model source), whatever it holds, gets every deep
oracle: what only those check (an export in a fresh process, the metamorphic diffs, --verify
failing on a wrong output) does not depend on the model's content, and a poor model is the
cheaper to run them on. So about 5 of every 100 models check --verify itself."""
PATTERN_SHARE = 3
"""Of the other models with integer kernels, one in PATTERN_SHARE has its int8 patterns
checked against their float semantics (without a C run): two TVM builds, about 0.6 s."""
SHRINK_ATTEMPTS = 120
"""Most candidate runs spent shrinking one counterexample."""
SHRINK_SECONDS = 90.0
"""Most wall time spent shrinking one counterexample (the candidates running then finish)."""


@dataclass(frozen=True)
class Options:
    """Everything a campaign needs; the CLI builds it from its flags."""

    target: str
    examples: int = 200
    seed: int = 0
    time_budget: float | None = None
    jobs: int = 1
    out: Path | None = None
    verify: bool = False
    limits: Limits = field(default_factory=Limits)
    """What the child running one exporter example (or one reader batch) may use."""
    fixtures: tuple[Path, ...] = ()
    max_ops: int = 30
    example_seconds: float = 10.0
    """Reader: the time limit of one example inside its batch."""
    shrink: bool = True
    """Shrink each counterexample before writing it (off: the first example as drawn)."""
    shard: tuple[int, int] = (1, 1)
    """(K, N): run only the examples whose index is K-1 modulo N, so N runners with K = 1..N
    cover one campaign (the same draws, the same example numbers)."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one example."""

    bucket: Bucket
    signature: str
    detail: str
    deep: int = ALL
    """Exporter: the level of deep oracles that ran (unknown when the child died: taken as
    all), so shrinking re-runs candidates with them."""


@dataclass(frozen=True)
class Counterexample:
    """One distinct failure: its bucket and signature, how often it was hit, its reproducer."""

    bucket: Bucket
    signature: str
    count: int
    example: int
    """Index of the first example that hit it."""
    shrunk: str
    """The shrunk example in one line."""
    detail: str
    reproducer: Path | None


@dataclass(frozen=True)
class CampaignResult:
    """The campaign's figures and its distinct counterexamples."""

    target: str
    seed: int
    requested: int
    ran: int
    seconds: float
    """Wall time of running the examples (drawing and shrinking excluded)."""
    shrink_seconds: float
    counts: dict[Bucket, int]
    counterexamples: tuple[Counterexample, ...]
    verify: bool
    tvm_version: str | None
    stopped_by_budget: bool
    distribution: dict[str, dict[str, int]] = field(default_factory=dict)
    """Exporter: what the models and their archives were (see `distribution`)."""
    shards: tuple[int, ...] = (1,)
    """Which shards (K of --shard K/N) this result covers."""
    shard_count: int = 1
    """N of --shard K/N."""

    @property
    def per_minute(self) -> float:
        """Examples run per minute of wall time."""
        return 60.0 * self.ran / self.seconds if self.seconds > 0 else 0.0

    @property
    def found(self) -> bool:
        """True when any example landed outside the ok bucket."""
        return bool(self.counterexamples)


class CampaignError(Exception):
    """The campaign could not run (missing TVM, no fixtures, unwritable --out)."""


def draw(strategy: SearchStrategy[T], count: int, seed: int) -> list[T]:
    """`count` examples of `strategy`, the same ones for the same seed, whatever modules are
    loaded and wherever mlfcheck is installed (`_without_local_constants`)."""
    drawn: list[T] = []

    @settings(max_examples=count, phases=[Phase.generate], database=None, deadline=None,
              derandomize=False, suppress_health_check=list(HealthCheck))
    @seed_with(seed)
    @given(strategy)
    def collect(value: T) -> None:
        drawn.append(value)

    with _without_local_constants():
        collect()
    return drawn


@contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis (6.155 here) mixes into about one draw in twenty the literal constants of
    the loaded modules that lie outside site-packages: what a seed drew changed with which
    mlfcheck modules were imported, with any constant edited in them (so a before/after
    benchmark compared different models), and between an editable and an installed mlfcheck.
    For the duration of a draw that pool is empty; hypothesis's own constants stay."""
    from hypothesis.internal.conjecture import providers

    local = getattr(providers, "_get_local_constants", None)
    if local is None:  # an older hypothesis: no local constants
        yield
        return
    from hypothesis.internal.constants_ast import Constants

    providers.CONSTANTS_CACHE.cache.clear()
    providers._get_local_constants = Constants
    try:
        yield
    finally:
        providers._get_local_constants = local
        providers.CONSTANTS_CACHE.cache.clear()


# -- running one example (in a child) ---------------------------------------------------------

def exporter_task(arg: dict[str, Any]) -> dict[str, Any]:
    """Child: write the model file into its work folder (made here), check every exporter
    property (the deep ones: all with `verify`, else those of `level`, or as
    `deep_by_content` chooses when it is None), report the outcome, what the archive turned
    out to hold and which level of deep oracles ran."""
    workdir = Path(arg["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    model = workdir / "model.py"
    model.write_text(arg["source"])
    content: dict[str, Any] = {}

    def deep(result: ExportResult) -> int:
        content.update(archive_content(result))
        content["deep"] = (deep_by_content(content, arg["source"]) if arg["level"] is None
                           else arg["level"])
        return int(content["deep"])

    try:
        exporter_properties(model, workdir, verify=arg["verify"], deep=deep,
                            patterns=arg["patterns"],
                            fresh=None if arg["fresh"] is None else Path(arg["fresh"]))
        outcome = Outcome(Bucket.OK, "", "")
    except PropertyFailure as failure:
        outcome = Outcome(failure.bucket, failure.signature, failure.detail)
    except UnsupportedModel as exc:
        outcome = Outcome(Bucket.REFUSED, export_error_signature(exc), str(exc))
    except ExportError as exc:
        outcome = Outcome(Bucket.EXPORT_ERROR, export_error_signature(exc), str(exc))
    content["deep"] = ALL if arg["verify"] else content.get("deep", 0)
    shape = _archive_shape(workdir / "first.tar")
    for name in ("first.tar", "second.tar", "fresh.tar", "variant.tar"):
        (workdir / name).unlink(missing_ok=True)
    return {"bucket": outcome.bucket.name, "signature": outcome.signature,
            "detail": outcome.detail, "archive": shape, "content": content}


def archive_content(result: ExportResult) -> dict[str, Any]:
    """What an export holds that the cheap oracles cannot run: its integer kernels (kind →
    count), its copy steps, whether a tensor is bool."""
    from mlfcheck.export.plan import Copy

    plan = result.plan
    return {"kernels": dict(result.lowering.kernels),
            "copies": sum(isinstance(s, Copy) for s in plan.steps),
            "bool": any(t.dtype == "bool" for t in plan.inputs + plan.outputs)}


def deep_by_content(content: dict[str, Any], source: str) -> int:
    """The level of deep oracles (properties.PATTERNS, C_RUN, ALL or 0) for an archive: one in
    ALL_SHARE of all models gets them all; the others run in C when they are rich in what only
    C checks (at least RICH of: each kind of integer kernel, a copy step, a bool tensor); of the
    rest with integer kernels, one in PATTERN_SHARE has its int8 patterns checked. The hash of
    the model source decides, so a model always gets the same."""
    score = len(content["kernels"]) + bool(content["copies"]) + bool(content["bool"])
    digest = int(hashlib.sha256(source.encode()).hexdigest(), 16)
    if digest % ALL_SHARE == 0:
        return ALL
    if score >= RICH:
        return C_RUN
    return PATTERNS if content["kernels"] and digest // ALL_SHARE % PATTERN_SHARE == 0 else 0


def _archive_shape(path: Path) -> dict[str, int] | None:
    """Storage blocks, workspace bytes and kernels with scratch of an exported archive."""
    from mlfcheck.reading.archive import Archive

    if not path.is_file():
        return None
    with Archive(path) as archive:
        entry = next(iter(json.loads(archive.read("metadata.json"))["modules"].values()))
    memory = entry["memory"]["functions"]
    return {"blocks": len(entry["storage"]),
            "workspace": memory["main"][0]["workspace_size_bytes"],
            "scratch_kernels": sum(1 for op in memory["operator_functions"]
                                   if any(w["workspace_size_bytes"] for w in op["workspace"]))}


def _bucket(n: int, edges: tuple[int, ...]) -> str:
    """The histogram bin of `n`: '0', 'a-b' or '≥e' over ascending `edges`."""
    low = 0
    for edge in edges:
        if n < edge:
            return str(low) if low == edge - 1 else f"{low}-{edge - 1}"
        low = edge
    return f">={low}"


def distribution(specs: Sequence[ModelSpec], shapes: Sequence[dict[str, int] | None],
                 contents: Sequence[dict[str, Any]] = ()) -> dict[str, dict[str, int]]:
    """What a campaign generated: models per operator, per input/output dtype, per layer
    count; of the archives written, per storage-block count, workspace size and number of
    kernels with scratch; per integer kernel the exporter emitted (models reaching each
    integer rule), and how many had integer kernels, copy steps, bool tensors and ran in C."""
    out: dict[str, dict[str, int]] = {k: {} for k in (
        "operators", "dtypes", "layers", "storage_blocks", "workspace_bytes",
        "kernels_with_scratch", "integer_kernels", "content")}

    def count(table: str, key: str) -> None:
        out[table][key] = out[table].get(key, 0) + 1

    for spec in specs:
        rendered = render(spec)
        for op in set(rendered.ops):
            count("operators", op)
        for dtype in {d for *_, d in rendered.input_shapes + rendered.output_shapes}:
            count("dtypes", dtype)
        count("layers", _bucket(len(spec.layers), (1, 3, 10, 20, 31)))
    for shape in shapes:
        if shape is not None:
            count("storage_blocks", _bucket(shape["blocks"], (1, 2, 4, 8)))
            count("workspace_bytes", _bucket(shape["workspace"], (1, 1024, 4096, 16384)))
            count("kernels_with_scratch", _bucket(shape["scratch_kernels"], (1, 2, 4)))
    for content in contents:
        for kernel in content.get("kernels", {}):
            count("integer_kernels", kernel)
        for key, label in (("kernels", "integer kernels"), ("copies", "copy steps"),
                           ("bool", "bool tensors")):
            if content.get(key):
                count("content", label)
        if content.get("deep", 0) >= PATTERNS:
            count("content", "int8 patterns checked")
        if content.get("deep", 0) >= C_RUN:
            count("content", "run in C")
        if content.get("deep") == ALL:
            count("content", "every deep oracle")
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def reader_task(arg: dict[str, Any]) -> list[dict[str, Any]]:
    """Child: run a batch of reader examples in-process (on the fixtures the batch names,
    given as bytes), appending each outcome to the progress file in its scratch folder."""
    fixtures: dict[str, bytes] = arg["fixtures"]
    progress = Path(arg["scratch"]) / PROGRESS
    progress.parent.mkdir(parents=True, exist_ok=True)
    done = []
    for index, spec in arg["examples"]:
        scratch = Path(arg["scratch"]) / f"e{index}"
        try:
            reader_survives(spec, fixtures[spec.fixture], scratch,
                            seconds=arg["example_seconds"])
            outcome = {"index": index, "bucket": Bucket.OK.name, "signature": "", "detail": ""}
        except PropertyFailure as failure:
            outcome = {"index": index, "bucket": failure.bucket.name,
                       "signature": failure.signature, "detail": failure.detail[-4000:]}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        with progress.open("a") as fh:
            fh.write(json.dumps(outcome) + "\n")
        done.append(outcome)
    return done


def outcome_of(ended: Ended) -> Outcome:
    """Map how a child ended onto an outcome: an exporter example's returned value, or how the
    child failed (then also the outcome of the reader example a batch's child died on)."""
    if ended.status == "returned":
        value = ended.value
        return Outcome(Bucket[value["bucket"]], value["signature"], value["detail"],
                       value.get("content", {}).get("deep", ALL))
    if ended.status == "timeout":
        return Outcome(Bucket.TIMEOUT, "over the time limit", ended.detail)
    if ended.status == "raised" and ended.value == "MemoryError":
        return Outcome(Bucket.MEMORY_LIMIT, "MemoryError", ended.detail)
    if ended.status == "raised":
        return Outcome(Bucket.CRASH, f"{ended.value} outside the properties", ended.detail)
    return Outcome(Bucket.CRASH, f"process died: {ended.detail}", ended.detail)


# -- the campaign -----------------------------------------------------------------------------

@dataclass
class _Tally:
    counts: dict[Bucket, int] = field(default_factory=dict)
    first: dict[tuple[Bucket, str], tuple[int, Any, Outcome]] = field(default_factory=dict)
    hits: dict[tuple[Bucket, str], int] = field(default_factory=dict)
    ran: int = 0
    shapes: list[dict[str, int] | None] = field(default_factory=list)
    """Per distinct exporter model: what its archive held (None: no archive)."""
    contents: list[dict[str, Any]] = field(default_factory=list)
    """Per distinct exporter model: `archive_content`, and whether it ran in C."""

    examples: list[Any] = field(default_factory=list)

    def add(self, index: int, example: Any, outcome: Outcome) -> None:
        self.ran += 1
        self.examples.append(example)
        self.counts[outcome.bucket] = self.counts.get(outcome.bucket, 0) + 1
        if outcome.bucket in (Bucket.OK, Bucket.REFUSED):
            return
        key = (outcome.bucket, outcome.signature)
        self.hits[key] = self.hits.get(key, 0) + 1
        if key not in self.first or index < self.first[key][0]:
            self.first[key] = (index, example, outcome)


@dataclass(frozen=True)
class _Run:
    """What running a campaign's examples takes besides its options: how children start, the
    folder they work in, the reader's fixtures (loaded once; a batch's child gets the ones it
    reads), and the exporter's fresh-process server (`fresh.FreshExporter`)."""

    options: Options
    starter: Starter
    root: Path
    fixtures: dict[str, bytes]
    fresh: Path | None = None


def run_campaign(options: Options, *, starter: Starter,
                 progress: Callable[[int], None] = lambda n: None) -> CampaignResult:
    """Run a whole campaign, each example (or reader batch) in a child `starter` starts (give
    it PRELOAD); raise CampaignError when it cannot start."""
    tvm_version = _prepare(options)
    fixtures = _reader_fixtures(options)
    with tempfile.TemporaryDirectory(prefix="mlfcheck-fuzz-") as tmp, \
            FreshExporter(Path(tmp)) if options.target == "exporter" else nullcontext() as fresh:
        run = _Run(options, starter, Path(tmp), fixtures, fresh)
        tally = _Tally()
        start = time.monotonic()
        run_examples = _run_exporter if options.target == "exporter" else _run_reader
        stopped = run_examples(run, tally, progress, start)
        seconds = time.monotonic() - start
        found = _counterexamples(run, tally, tvm_version)
        shrink_seconds = time.monotonic() - start - seconds
    return CampaignResult(options.target, options.seed, options.examples, tally.ran, seconds,
                          shrink_seconds, tally.counts, tuple(found), options.verify,
                          tvm_version, stopped,
                          distribution([e for e in tally.examples if isinstance(e, ModelSpec)],
                                       tally.shapes, tally.contents)
                          if options.target == "exporter" else {},
                          (options.shard[0],), options.shard[1])


def _prepare(options: Options) -> str | None:
    """Check the options, make --out; the TVM version (required by the exporter target)."""
    if options.target not in TARGETS:
        raise CampaignError(f"unknown target {options.target!r}; known: {', '.join(TARGETS)}")
    if not 1 <= options.shard[0] <= options.shard[1]:
        raise CampaignError(f"--shard {options.shard[0]}/{options.shard[1]}: K must be 1..N")
    tvm_version = _tvm_version(required=options.target == "exporter")
    if options.out is not None:
        try:
            options.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CampaignError(f"cannot create --out {options.out}: {exc.strerror}") from exc
    return tvm_version


def _reader_fixtures(options: Options) -> dict[str, bytes]:
    """The reader target's fixtures by name (none for the exporter target)."""
    if options.target != "reader":
        return {}
    fixtures = load_fixtures(list(options.fixtures)) if options.fixtures else {}
    if not fixtures:
        raise CampaignError("reader fuzzing needs archives: give --fixtures PATH")
    return fixtures


def _counterexamples(run: _Run, tally: _Tally, tvm_version: str | None) -> list[Counterexample]:
    """One per distinct (bucket, signature): shrunk (unless --no-shrink), its reproducer
    written to --out."""
    options, found = run.options, []
    for n, (key, (index, example, outcome)) in enumerate(sorted(
            tally.first.items(), key=lambda item: (item[0][0].name, item[0][1]))):
        shrunk, shrunk_outcome = (_shrink(run, run.root / f"shrink{n}", example, outcome)
                                  if options.shrink else (example, outcome))
        where, detail = None, shrunk_outcome.detail
        if options.out is not None:
            try:
                where = _write_reproducer(run, options.out, n, index, shrunk, shrunk_outcome,
                                          tvm_version)
            except Exception as exc:  # one unwritable reproducer must not lose the run
                detail += f"\n(reproducer not written: {type(exc).__name__}: {exc})"
        found.append(Counterexample(key[0], key[1], tally.hits[key], index,
                                    _one_line(shrunk), detail, where))
    return found


def _tvm_version(*, required: bool) -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("apache-tvm")
    except PackageNotFoundError:
        if required:
            raise CampaignError("the exporter target needs TVM: "
                                "pip install 'mlfcheck[tvm]'") from None
        return None


def _my_shard(options: Options, count: int) -> list[int]:
    """Indices of the examples this shard runs."""
    k, n = options.shard
    return [i for i in range(count) if i % n == k - 1]


def _over_budget(options: Options, start: float) -> bool:
    return options.time_budget is not None and time.monotonic() - start > options.time_budget


def _exporter_arg(run: _Run, spec: ModelSpec, workdir: Path, *, verify: bool,
                  level: int | None) -> dict[str, Any]:
    """A child's argument: the model's source, its int8 patterns, where to work, which deep
    oracles run (all with `verify`, those of `level`, or (None) as chosen by content), and
    where the fresh-process server listens."""
    patterns = render_patterns(spec)
    return {"source": render(spec).source, "workdir": str(workdir), "verify": verify,
            "level": level, "patterns": patterns.source if patterns else None,
            "fresh": None if run.fresh is None else str(run.fresh)}


def expected_cost(spec: ModelSpec) -> int:
    """A guess of how long an exporter example takes, to start the long ones first: its
    int8 patterns (each a kernel the deep oracles compile and run, and what makes a model rich
    enough to run in C) weigh most, then its layers. Without a time budget, examples run in
    descending order of it (their numbers and outcomes stay those of the draw)."""
    return 4 * sum(layer.op in Q_OPS for layer in spec.layers) + len(spec.layers)


def _run_exporter(run: _Run, tally: _Tally, progress: Callable[[int], None],
                  start: float) -> bool:
    """Run the exporter examples (one child per distinct model); True when stopped by the time
    budget."""
    options = run.options
    specs = draw(models(max_ops=options.max_ops, min_ops=min(MIN_OPS, options.max_ops)),
                 options.examples, options.seed)
    by_source: dict[str, list[int]] = {}
    for i in _my_shard(options, len(specs)):
        by_source.setdefault(render(specs[i]).source, []).append(i)
    groups = list(by_source.values())
    if options.time_budget is None:  # the longest first: no core idles at the end
        groups.sort(key=lambda indices: -expected_cost(specs[indices[0]]))
    calls = [Call(n, exporter_task, _exporter_arg(run, specs[indices[0]],
                                                  run.root / f"e{indices[0]}",
                                                  verify=options.verify, level=None))
             for n, indices in enumerate(groups)]
    ended_calls = 0
    runs = call_all(calls, limits=options.limits, starter=run.starter, jobs=options.jobs)
    try:
        for call, ended in runs:
            outcome = outcome_of(ended)
            if ended.status == "returned":
                tally.shapes.append(ended.value["archive"])
                tally.contents.append(ended.value["content"])
            for i in groups[call.key]:
                tally.add(i, specs[i], outcome)
            ended_calls += 1
            progress(len(groups[call.key]))
            shutil.rmtree(call.arg["workdir"], ignore_errors=True)
            if _over_budget(options, start):
                break
    finally:
        runs.close()
    return ended_calls < len(calls)


def _run_reader(run: _Run, tally: _Tally, progress: Callable[[int], None],
                start: float) -> bool:
    """Run the reader examples in batches of READER_BATCH per child; a batch whose child died
    runs again from the example after the one it died on. True when stopped by the time
    budget."""
    options = run.options
    specs = draw(mutations(fixtures=sorted(run.fixtures)), options.examples, options.seed)
    mine = _my_shard(options, len(specs))
    queue: list[list[int]] = [mine[i:i + READER_BATCH] for i in range(0, len(mine), READER_BATCH)]
    limits = replace(options.limits,
                     seconds=options.limits.seconds + options.example_seconds * READER_BATCH)
    stopped = False
    while queue and not stopped:
        batches, queue = queue, []
        calls = [Call(n, reader_task, _reader_arg(run, run.root / f"b{batch[0]}", specs, batch))
                 for n, batch in enumerate(batches)]
        runs = call_all(calls, limits=limits, starter=run.starter, jobs=options.jobs)
        try:
            for call, ended in runs:
                batch = batches[call.key]
                rest = _reader_results(call, ended, batch, specs, tally)
                progress(len(batch) - len(rest))
                if rest:
                    queue.append(rest)
                shutil.rmtree(call.arg["scratch"], ignore_errors=True)
                if _over_budget(options, start):
                    stopped = True
                    break
        finally:
            runs.close()
    return stopped


def _reader_arg(run: _Run, scratch: Path, specs: Sequence[MutationSpec],
                batch: Sequence[int]) -> dict[str, Any]:
    return {"fixtures": {specs[i].fixture: run.fixtures[specs[i].fixture] for i in batch},
            "scratch": str(scratch), "example_seconds": run.options.example_seconds,
            "examples": [(i, specs[i]) for i in batch]}


def _reader_results(call: Call, ended: Ended, batch: list[int],
                    specs: Sequence[MutationSpec], tally: _Tally) -> list[int]:
    """Tally a batch's outcomes; when its child died, blame the next example and return the
    ones after it to run again."""
    progress = Path(call.arg["scratch"]) / PROGRESS
    lines = progress.read_text().splitlines() if progress.is_file() else []
    done = [json.loads(line) for line in lines if line.strip()]
    for d in done:
        tally.add(d["index"], specs[d["index"]],
                  Outcome(Bucket[d["bucket"]], d["signature"], d["detail"]))
    if len(done) == len(batch):
        return []
    culprit = batch[len(done)]
    tally.add(culprit, specs[culprit], outcome_of(ended))
    return batch[len(done) + 1:]


# -- shards ----------------------------------------------------------------------------------

def read_report(path: Path) -> CampaignResult:
    """A campaign's `--format json` report read back; CampaignError when it is not one."""
    from jsonschema import Draft202012Validator, ValidationError

    from mlfcheck.reading import schemas

    try:
        doc = json.loads(path.read_text())
        Draft202012Validator(schemas.load("fuzz-report.schema.json")).validate(doc)
    except (OSError, ValueError, ValidationError) as exc:
        message = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise CampaignError(f"{path}: not a fuzz report: {message}") from None
    buckets = {b.value: b for b in Bucket}
    return CampaignResult(
        doc["target"], doc["seed"], doc["requested"], doc["ran"], doc["seconds"],
        doc["shrink_seconds"], {buckets[k]: v for k, v in doc["counts"].items()},
        tuple(Counterexample(buckets[c["bucket"]], c["signature"], c["count"], c["example"],
                             c["shrunk"], c["detail"],
                             Path(c["reproducer"]) if c["reproducer"] else None)
              for c in doc["counterexamples"]),
        doc["verify"], doc["tvm_version"], doc["stopped_by_budget"],
        doc.get("distribution", {}), tuple(doc.get("shards", [1])), doc.get("shard_count", 1))


def merge(results: Sequence[CampaignResult]) -> CampaignResult:
    """One result from the shards of one campaign: counts, distributions and times summed,
    counterexamples joined by bucket and signature (the earliest example's reproducer kept)."""
    first = results[0]
    same = {(r.target, r.seed, r.requested, r.verify, r.tvm_version, r.shard_count)
            for r in results}
    if len(same) > 1:
        raise CampaignError("these reports are not shards of one campaign (target, seed, "
                            "examples, --verify, TVM version or N of --shard differ)")
    shards = sorted(k for r in results for k in r.shards)
    if len(set(shards)) != len(shards):
        raise CampaignError(f"shard {next(k for k in shards if shards.count(k) > 1)} "
                            "is given twice")
    counts: dict[Bucket, int] = {}
    distribution: dict[str, dict[str, int]] = {}
    joined: dict[tuple[Bucket, str], Counterexample] = {}
    for r in results:
        for bucket, n in r.counts.items():
            counts[bucket] = counts.get(bucket, 0) + n
        for table, values in r.distribution.items():
            merged = distribution.setdefault(table, {})
            for value, n in values.items():
                merged[value] = merged.get(value, 0) + n
        for c in r.counterexamples:
            key = (c.bucket, c.signature)
            if key not in joined:
                joined[key] = c
            else:
                earliest = min(joined[key], c, key=lambda x: x.example)
                joined[key] = replace(earliest, count=joined[key].count + c.count)
    return CampaignResult(
        first.target, first.seed, first.requested, sum(r.ran for r in results),
        sum(r.seconds for r in results), sum(r.shrink_seconds for r in results), counts,
        tuple(joined[k] for k in sorted(joined, key=lambda k: (k[0].name, k[1]))),
        first.verify, first.tvm_version, any(r.stopped_by_budget for r in results),
        {t: dict(sorted(v.items())) for t, v in sorted(distribution.items())},
        tuple(shards), first.shard_count)


# -- shrinking --------------------------------------------------------------------------------

def _shrink(run: _Run, scratch: Path, example: Any,
            outcome: Outcome) -> tuple[Any, Outcome]:
    """The smallest variant found that keeps the same bucket and signature.

    Greedy: try candidates in order, `jobs` at a time, take the first that still fails the same
    way, start again from it; stop when none does, or after SHRINK_ATTEMPTS candidates or
    SHRINK_SECONDS. Candidates run the deep oracles when the example did.
    """
    best, best_outcome = example, outcome
    jobs = max(1, run.options.jobs)
    attempts = 0
    improved = True
    start = time.monotonic()
    while improved and attempts < SHRINK_ATTEMPTS:
        improved = False
        candidates = list(_candidates(best))
        for at in range(0, len(candidates), jobs):
            batch = candidates[at:at + jobs][:SHRINK_ATTEMPTS - attempts]
            if not batch or time.monotonic() - start > SHRINK_SECONDS:
                improved = False
                break
            results = _rerun_all(run, scratch, attempts, batch, deep=outcome.deep)
            attempts += len(batch)
            hit = next((i for i, r in enumerate(results)
                        if (r.bucket, r.signature) == (outcome.bucket, outcome.signature)), None)
            if hit is not None:
                best, best_outcome, improved = batch[hit], results[hit], True
                break
    shutil.rmtree(scratch, ignore_errors=True)
    return best, best_outcome


def _rerun_all(run: _Run, scratch: Path, first: int, examples: list[Any], *,
               deep: int) -> list[Outcome]:
    """Outcomes of re-running each example in its own child, in order (exporter examples with
    the deep oracles of level `deep`)."""
    options, calls = run.options, []
    for n, example in enumerate(examples):
        where = scratch / f"a{first + n}"
        if isinstance(example, ModelSpec):
            calls.append(Call(n, exporter_task, _exporter_arg(run, example, where,
                                                              verify=False, level=deep)))
        else:
            calls.append(Call(n, reader_task, _reader_arg(run, where, [example], [0])))
    limits = options.limits if isinstance(examples[0], ModelSpec) else replace(
        options.limits, seconds=options.limits.seconds + options.example_seconds)
    out: dict[int, Outcome] = {}
    for call, ended in call_all(calls, limits=limits, starter=run.starter, jobs=options.jobs):
        value = ended.value
        if ended.status == "returned" and isinstance(value, list):
            out[call.key] = (Outcome(Bucket[value[0]["bucket"]], value[0]["signature"],
                                     value[0]["detail"]) if value
                             else Outcome(Bucket.OK, "", ""))
        else:
            out[call.key] = outcome_of(ended)
    return [out[n] for n in range(len(examples))]


def _candidates(example: Any) -> Iterator[Any]:
    if isinstance(example, ModelSpec):
        yield from _model_candidates(example)
    else:
        yield from _mutation_candidates(example)


def _model_candidates(spec: ModelSpec) -> Iterator[ModelSpec]:
    layers = spec.layers
    for i in range(len(layers)):
        if len(layers) > 1:
            yield replace(spec, layers=layers[:i] + layers[i + 1:])
    if spec.outputs != (0,):
        yield replace(spec, outputs=(0,))
    for i in range(len(spec.inputs)):
        if len(spec.inputs) > 1:
            yield replace(spec, inputs=spec.inputs[:i] + spec.inputs[i + 1:])
    for i, layer in enumerate(layers):
        for simpler in (Layer(layer.op, 0, layer.other, layer.option),
                        Layer(layer.op, layer.source, 0, layer.option),
                        Layer(layer.op, layer.source, layer.other, 0)):
            if simpler != layer:
                yield replace(spec, layers=(*layers[:i], simpler, *layers[i + 1:]))
    ins = spec.inputs
    for i, t in enumerate(ins):
        for shape in _smaller_shapes(t.shape):
            yield replace(spec, inputs=(*ins[:i], Input(shape, t.dtype), *ins[i + 1:]))
        if t.dtype != FLOAT:
            yield replace(spec, inputs=(*ins[:i], Input(t.shape, FLOAT), *ins[i + 1:]))
    if spec.seed:
        yield replace(spec, seed=0)


def _smaller_shapes(shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    for axis in range(1, len(shape)):
        if shape[axis] > 1:
            for size in (1, shape[axis] // 2):
                yield (*shape[:axis], max(1, size), *shape[axis + 1:])


def _mutation_candidates(spec: MutationSpec) -> Iterator[MutationSpec]:
    for i in range(len(spec.steps)):
        if len(spec.steps) > 1:
            yield replace(spec, steps=spec.steps[:i] + spec.steps[i + 1:])
    if spec.container != "tar":
        yield replace(spec, container="tar")
    if spec.command != "validate":
        yield replace(spec, command="validate")


# -- reproducers ------------------------------------------------------------------------------

def _one_line(example: Any) -> str:
    if isinstance(example, ModelSpec):
        return describe(example)
    steps = ", ".join(f"{m.kind}({m.where}, {m.value})" for m in example.steps)
    return f"{example.command} {example.fixture} as {example.container}: {steps}"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


_REPLAY = {
    Bucket.NUMERIC_MISMATCH: ["mlfcheck export model.py -o model.tar --verify"],
    Bucket.INVALID_ARCHIVE: ["mlfcheck export model.py -o model.tar",
                             "mlfcheck validate model.tar"],
    Bucket.NONDETERMINISTIC: ["mlfcheck export model.py -o a.tar --source-date-epoch 1",
                              "mlfcheck export model.py -o b.tar --source-date-epoch 1",
                              "cmp a.tar b.tar && mlfcheck diff a.tar b.tar"],
}


def _write_reproducer(run: _Run, out: Path, n: int, index: int, example: Any,
                      outcome: Outcome, tvm_version: str | None) -> Path:
    options = run.options
    folder = out / f"{n:03d}-{_slug(outcome.bucket.value)}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    campaign = (f"mlfcheck fuzz --target {options.target} --examples {options.examples} "
                f"--seed {options.seed}" + (" --verify" if options.verify else ""))
    if isinstance(example, ModelSpec):
        replay = _REPLAY.get(outcome.bucket, ["mlfcheck export model.py -o model.tar"
                                              + (" --verify" if options.verify else "")])
        title = (f"mlfcheck fuzz counterexample: {outcome.bucket.value}: {outcome.signature}."
                 f"\n\nFound by `{campaign}` (example {index}), shrunk. Replay:\n    "
                 + "\n    ".join(replay) + "\n")
        (folder / "model.py").write_text(render(example, title=title).source)
        spec_json: dict[str, Any] = asdict(example)
    else:
        scratch = folder / "input"
        path = materialize(example, run.fixtures[example.fixture], scratch)
        (scratch / "pristine.tar").write_bytes(run.fixtures[example.fixture])
        args = command_line(example, path.relative_to(folder),
                            (scratch / "pristine.tar").relative_to(folder))
        replay = ["mlfcheck " + " ".join(args)]
        spec_json = asdict(example)
    record = {"bucket": outcome.bucket.value, "meaning": outcome.bucket.meaning,
              "signature": outcome.signature, "seed": options.seed, "example": index,
              "campaign": campaign, "replay": replay, "tvm_version": tvm_version,
              "mlfcheck_version": __version__, "spec": spec_json}
    (folder / "reproducer.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    (folder / "detail.txt").write_text(outcome.detail.rstrip() + "\n")
    return folder
