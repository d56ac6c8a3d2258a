"""Consumer profiles as data: the record types, the file loader and the built-in profiles."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match

from mlfcheck.errors import UsageError
from mlfcheck.reading import schemas, userfile
from mlfcheck.reading.jsondoc import JSONDocError, parse_bytes

MAX_PROFILE_DEPTH = 16
"""Deepest JSON nesting in a profile file (the schema needs 6)."""

SCHEMA = "consumer-profile.schema.json"
READ_KINDS = ("json", "file", "glob", "dir", "symbol", "struct", "system_lib", "executor",
              "style", "module_name")
MODULE_KINDS = ("executor", "style", "module_name")
"""Requirements on every module's metadata facts (also usable as `when` conditions)."""
MODULE = "{module}"
"""Placeholder for each module name in paths, pointers, symbols and struct tags."""
_EVIDENCE = re.compile(r"^(?P<repo>[^@\s/]+/[^@\s]+)@(?P<commit>[0-9a-f]{7,40}):(?P<path>[^:\s]+):"
                       r"(?P<line>[1-9][0-9]*)$(?!\n)")
r"""The schema's `evidence.at` pattern, with groups. The owner has no '/', so the one '/' that
ends it is found in one pass (`[^@\s]+/[^@\s]+` let both runs trade slashes: quadratic)."""


class ProfileError(UsageError):
    """A profile file is missing, not JSON, or does not match the profile schema."""


@dataclass(frozen=True)
class Test:
    """What a value read must satisfy; `equals`/`contains` are 1-tuples so null can be tested."""

    type: str | None = None
    equals: tuple[Any] | None = None
    contains: tuple[Any] | None = None
    count_min: int | None = None
    count_max: int | None = None


@dataclass(frozen=True)
class Condition:
    """A read happens only when the value at one of `pointers` passes `test`, or (kind
    'executor', 'style', 'module_name') when the module's fact equals `value`, or (kind
    'struct') when the struct tagged `pointers[0]` has the member `value`."""

    kind: str
    pointers: tuple[str, ...]
    test: Test
    value: str | None = None


@dataclass(frozen=True)
class Evidence:
    """The consumer source line that needs a requirement: `repo@commit:path:line`."""

    at: str
    code: str | None
    """The line as written there."""

    @property
    def parts(self) -> dict[str, str]:
        """repo, commit, path and line of `at` (the schema guarantees the shape)."""
        m = _EVIDENCE.match(self.at)
        return m.groupdict() if m else {}

    def __str__(self) -> str:
        return f"{self.at}: {self.code}" if self.code else self.at


@dataclass(frozen=True)
class Read:
    """One read a consumer performs: a metadata value, a member, a glob or a directory."""

    kind: str
    """One of READ_KINDS."""
    targets: tuple[str, ...]
    """Pointers, paths, symbols or struct tags (alternatives, tried in order), or the one value
    an executor/style/module_name requirement wants; empty for system_lib."""
    test: Test
    when: Condition | None
    optional: bool
    why: str
    error: str | None
    members: tuple[str, ...] = ()
    """For a struct: the member it needs (alternatives)."""
    evidence: tuple[Evidence, ...] = ()

    def describe(self, targets: tuple[str, ...] | None = None) -> str:
        """'metadata.json /runtimes', 'file parameters/default.params', 'symbol a or b', ..."""
        shown = " or ".join(self.targets if targets is None else targets)
        if self.kind == "json":
            return f"metadata.json {shown}"
        if self.kind == "struct" and self.members:
            return f"struct {shown} member {' or '.join(self.members)}"
        if self.kind == "system_lib":
            return "system library entry point"
        return f"{self.kind.replace('_', ' ')} {shown}"

    @property
    def per_module(self) -> bool:
        """True when a target or the condition names {module}, or it is a module requirement."""
        texts = self.targets + (self.when.pointers if self.when else ())
        return self.kind in MODULE_KINDS or any(MODULE in t for t in texts)


@dataclass(frozen=True)
class Source:
    """Where a profile's facts come from."""

    what: str
    commit: str | None
    reference: str | None

    def __str__(self) -> str:
        extra = "; ".join(x for x in (self.commit, self.reference) if x)
        return f"{self.what} ({extra})" if extra else self.what


RUNTIME_HEADERS = "@tvm-runtime"
"""An include folder of a harness: the TVM C runtime headers of the consumer's own TVM (mlfcheck's
declarations of the era, `board/runtime_abi`), never the archive's runtime/include."""


GRAPH_DRIVERS = ("rpc-graph-executor", "crt-graph-executor", "stm32-emitter", "gvsoc-builder")
"""Who walks an archive's graph config (`GraphWalk.driver`): TVM's graph executor on the host
driving the device's RPC server (functions found in the system library's registry), the C
runtime's graph executor on the device (the same registry), the STM32 emitter's generated
network code (each function called directly by its C name, with three arguments), or the runner
hannah-tvm's GVSOCBuilder generates (direct calls as the emitter's; each parameter's data taken
from the archive's _lookup_linked_param)."""


@dataclass(frozen=True)
class GraphWalk:
    """How a consumer walks the archive's graph (mlfcheck writes the walk as a C plan for
    harnesses/graph_runner.c, `consumers.graphplan`): who walks it, the graph config and
    parameter files it reads (alternatives, '{module}' for the harness's module), the consumer
    lines that find and call each node's function and that take the system library, what the
    consumer does with an archive that has no graph config, and the dtypes its generator takes."""

    driver: str
    """One of GRAPH_DRIVERS."""
    config: tuple[str, ...]
    params: tuple[str, ...]
    calls: tuple[Evidence, ...]
    """The lines a function the graph names but the archive lacks fails at."""
    entry: tuple[Evidence, ...] = ()
    """The line that takes the system library (TVMSystemLibEntryPoint); registry drivers."""
    no_config: str | None = None
    """The error of a run without a graph config (an AOT archive); None: the harness proves
    the build links and says the run is not reproduced."""
    no_config_evidence: tuple[Evidence, ...] = ()
    dtypes: tuple[str, ...] = ()
    """The only entry dtypes the consumer's generator takes (empty: any)."""
    dtypes_evidence: tuple[Evidence, ...] = ()
    linked: tuple[Evidence, ...] = ()
    """The lines that take each parameter's data from _lookup_linked_param (a driver whose
    parameters are linked): where an archive without it fails."""


@dataclass(frozen=True)
class Arena:
    """A consumer that sizes its workspace arena from the metadata: main's workspace_size_bytes
    (summed over the modules) plus `plus` bytes, with the lines that size it."""

    plus: int
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class HarnessSpec:
    """How a consumer builds an archive, reproduced from its evidence lines: the archive files it
    compiles (globs), the include folders its build sets (archive folders or RUNTIME_HEADERS),
    mlfcheck's own C standing in for its application (files of consumers/harnesses/), where
    it runs ('host' or a board of board/boards.py) and, for a consumer that walks the graph
    config, how it walks it (the application is then harnesses/graph_runner.c with the plan)."""

    compiles: tuple[str, ...]
    includes: tuple[str, ...]
    app: tuple[str, ...]
    runs_on: str
    evidence: tuple[Evidence, ...] = ()
    """The consumer's build lines that set the include folders and the files compiled."""
    needs: tuple[tuple[str, str], ...] = ()
    """(header, library) the consumer's build brings and mlfcheck cannot supply."""
    graph: GraphWalk | None = None
    flags: tuple[str, ...] = ()
    """Optimisation and debug flags the consumer's build compiles with (after mlfcheck's)."""
    arena: Arena | None = None
    """How the consumer sizes its workspace arena from the metadata, if it does."""


@dataclass(frozen=True)
class Profile:
    """Everything one consumer needs from an archive."""

    name: str
    title: str
    description: str
    sources: tuple[Source, ...]
    certainty: str
    versions: tuple[int, ...]
    version_checked: bool
    formats: tuple[str, ...]
    member_names: str
    opened_with: str | None
    container_evidence: tuple[Evidence, ...]
    reads: tuple[Read, ...]
    origin: str
    """'built-in' or the file it was loaded from."""
    harness: HarnessSpec | None = None
    note: str | None = None
    """A caveat every verdict of this profile shows as a note."""


def _test(raw: dict[str, Any]) -> Test:
    count = raw.get("count", {})
    return Test(type=raw.get("type"),
                equals=(raw["equals"],) if "equals" in raw else None,
                contains=(raw["contains"],) if "contains" in raw else None,
                count_min=count.get("min"), count_max=count.get("max"))


def _targets(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _condition(raw: dict[str, Any]) -> Condition:
    if "struct" in raw:
        return Condition("struct", (raw["struct"],), Test(), raw["member"])
    kind = next(k for k in ("json", *MODULE_KINDS) if k in raw)
    if kind == "json":
        return Condition(kind, _targets(raw["json"]), _test(raw))
    return Condition(kind, (), Test(), raw[kind])


def _evidence(raw: list[dict[str, str]]) -> tuple[Evidence, ...]:
    return tuple(Evidence(e["at"], e.get("code")) for e in raw)


def _read(raw: dict[str, Any]) -> Read:
    kind = next(k for k in READ_KINDS if k in raw)
    when = raw.get("when")
    test = _test(raw)
    if kind == "glob" and test.count_min is None:
        test = Test(test.type, test.equals, test.contains, 1, test.count_max)
    targets = () if kind == "system_lib" else _targets(raw[kind])
    return Read(kind=kind, targets=targets, test=test,
                when=_condition(when) if when else None,
                optional=bool(raw.get("optional", False)), why=raw["why"],
                error=raw.get("error"), members=_targets(raw.get("member", [])),
                evidence=_evidence(raw.get("evidence", [])))


def _graph(raw: dict[str, Any] | None) -> GraphWalk | None:
    if raw is None:
        return None
    no_config = raw.get("no_config", {})
    dtypes = raw.get("dtypes", {})
    return GraphWalk(driver=raw["driver"], config=_targets(raw["config"]),
                     params=_targets(raw["params"]), calls=_evidence(raw["calls"]),
                     entry=_evidence(raw.get("entry", [])), no_config=no_config.get("error"),
                     no_config_evidence=_evidence(no_config.get("evidence", [])),
                     dtypes=tuple(dtypes.get("only", ())),
                     dtypes_evidence=_evidence(dtypes.get("evidence", [])),
                     linked=_evidence(raw.get("linked_params", [])))


def _harness(raw: dict[str, Any] | None) -> HarnessSpec | None:
    if raw is None:
        return None
    arena = raw.get("arena")
    return HarnessSpec(compiles=tuple(raw["compiles"]), includes=tuple(raw["includes"]),
                       app=tuple(raw["app"]), runs_on=raw["runs_on"],
                       evidence=_evidence(raw.get("evidence", [])),
                       needs=tuple(sorted(raw.get("needs", {}).items())),
                       graph=_graph(raw.get("graph")), flags=tuple(raw.get("flags", ())),
                       arena=Arena(arena["workspace_plus"], _evidence(arena["evidence"]))
                       if arena else None)


def parse_profile(doc: Any, origin: str) -> Profile:
    """A profile from a parsed document; ProfileError when it does not match the schema."""
    error = best_match(schemas.validator(SCHEMA).iter_errors(doc))
    if error is not None:
        where = error.json_path.removeprefix("$") or "the document"
        expected = json.dumps(error.validator_value)
        expected = expected if len(expected) <= 80 else expected[:77] + "..."
        raise ProfileError(f"{origin}: not a consumer profile: {where} fails "
                           f"'{error.validator}': {expected} (schema {SCHEMA}; the value is "
                           "not quoted)")
    container = doc["container"]
    return Profile(
        name=doc["name"], title=doc["title"], description=doc.get("description", ""),
        sources=tuple(Source(s["what"], s.get("commit"), s.get("reference"))
                      for s in doc["sources"]),
        certainty=doc["certainty"], versions=tuple(sorted(doc["versions"]["accepts"])),
        version_checked=doc["versions"]["checked"], formats=tuple(container["formats"]),
        member_names=container["member_names"], opened_with=container.get("opened_with"),
        container_evidence=_evidence(container.get("evidence", [])),
        reads=tuple(_read(r) for r in doc["reads"]), origin=origin,
        harness=_harness(doc.get("harness")), note=doc.get("note"))


def load_profile(path: str | Path) -> Profile:
    """Read a user's profile file (a regular file, size-capped, strict JSON); ProfileError says
    what is wrong with it."""
    try:
        data = userfile.read_bytes(path, "profile")
    except UsageError as exc:
        raise ProfileError(str(exc)) from None
    try:
        doc = parse_bytes(data, max_depth=MAX_PROFILE_DEPTH)
    except JSONDocError as exc:
        where = f"{exc.line}:{exc.column}" if exc.line is not None else f"byte {exc.offset}"
        raise ProfileError(f"{path}:{where}: profile is not strict JSON: {exc.message}") from None
    return parse_profile(doc.value, str(path))


def _order(profile: Profile) -> tuple[str, int, str]:
    """Family (name up to the first '-'), then the oldest version it reads, then the name."""
    return (profile.name.split("-")[0], profile.versions[0], profile.name)


@cache
def builtin_profiles() -> tuple[Profile, ...]:
    """The profiles shipped in mlfcheck/consumers/profiles/, grouped by family and era."""
    folder = resources.files("mlfcheck.consumers").joinpath("profiles")
    found = [parse_profile(json.loads(entry.read_text(encoding="utf-8")), "built-in")
             for entry in folder.iterdir() if entry.name.endswith(".json")]
    return tuple(sorted(found, key=_order))


def select_profiles(names: tuple[str, ...], files: tuple[str, ...], *,
                    every: bool) -> tuple[Profile, ...]:
    """The profiles a command asked for: named ones plus those loaded from files, or all.

    A file's profile replaces a built-in one of the same name. UsageError for unknown names.
    """
    loaded = [load_profile(f) for f in files]
    known = {p.name: p for p in builtin_profiles()}
    known.update({p.name: p for p in loaded})
    if every:
        return tuple(known.values())
    if not names:
        if loaded:
            return tuple(loaded)
        raise UsageError("choose a consumer with --consumer NAME, --all or --profile FILE")
    missing = [n for n in names if n not in known]
    if missing:
        raise UsageError(f"unknown consumer {missing[0]!r}; known: {', '.join(sorted(known))}")
    return tuple(known[n] for n in dict.fromkeys([*names, *(p.name for p in loaded)]))
