"""The evaluator: can a consumer read an archive, and which of its reads fail and why."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlfcheck.board.footprint import Counted
from mlfcheck.consumers.code import INCLUDE_DIR, SOURCE_DIR, SYSTEM_LIB_ENTRY, CodeFacts
from mlfcheck.consumers.harness import (
    DEFAULT_MODULE,
    Proof,
    UserHarness,
    count_entry,
    glob_match,
    prove,
    user_spec,
)
from mlfcheck.consumers.profile import (
    MODULE,
    MODULE_KINDS,
    Condition,
    Evidence,
    Profile,
    Read,
    Test,
)
from mlfcheck.errors import BoardError
from mlfcheck.findings import location
from mlfcheck.reading.archive import Archive, Limits
from mlfcheck.reading.csource import CParser
from mlfcheck.reading.jsondoc import JSONDoc, escape_token, is_json_type, json_type
from mlfcheck.reading.layouts import describe_versions
from mlfcheck.reading.loaded import METADATA, Loaded, Unavailable
from mlfcheck.reading.model import Model, Module
from mlfcheck.reading.schemas import is_version_number

BUILD = "build: "
"""How a harness failure's read starts ('build: compiles', 'build: links', 'build: runs')."""
CONTAINER = "container"
"""The read name of a consumer's container check (tar, tar.gz or folder, and member names)."""
_CONTAINER_NAMES = {"tar": "an uncompressed tar", "tar.gz": "a gzip-compressed tar",
                    "folder": "an extracted folder"}


@dataclass(frozen=True)
class Failure:
    """One read that fails (or, when optional, misses), and where."""

    read: str
    """The read as described in the profile ('metadata.json /runtimes', 'container')."""
    message: str
    """What the archive has instead."""
    why: str
    """What the consumer does with it."""
    error: str | None
    """What the consumer raises, or how its build fails."""
    module: str | None = None
    member: str | None = None
    pointer: str | None = None
    line: int | None = None
    column: int | None = None
    evidence: tuple[Evidence, ...] = ()
    """The consumer source lines that make this read."""

    def cause(self) -> tuple[str, str | None, str | None]:
        """What went wrong and where: reads that fail for the same cause are reported once."""
        return (self.message, self.member, self.pointer)

    def location(self) -> str:
        """'metadata.json:3:5#/runtimes', a member path, or '' for the archive."""
        return location(self.member, line=self.line, column=self.column, pointer=self.pointer)


@dataclass(frozen=True)
class Verdict:
    """Whether one consumer can read one archive."""

    profile: Profile
    path: str
    version: int | None
    """The declared version when it is an integer."""
    container: str
    """'tar', 'tar.gz' or 'folder'."""
    failures: tuple[Failure, ...]
    """Required reads that fail, in the order the consumer performs them."""
    misses: tuple[Failure, ...]
    """Optional reads that miss."""
    notes: tuple[str, ...]
    proof: Proof | None = None
    """What the consumer's harness proved by building here (compat --build, --harness)."""

    @property
    def level(self) -> str | None:
        """The highest level proved: 'reads' (requirements read from the consumer's source),
        or what the harness reached here ('compiles', 'links', 'runs', 'matches'); None when
        not even the reads succeed."""
        if self.proof is not None and self.proof.proved is not None:
            return self.proof.proved
        return None if any(not f.read.startswith(BUILD) for f in self.failures) else "reads"

    @property
    def level_certainty(self) -> str:
        """'verified' for a level the harness proved here, 'derived' for one read from the
        consumer's source."""
        return "verified" if self.level is not None and self.level != "reads" else "derived"

    @property
    def readable(self) -> bool:
        """True when every required read succeeds."""
        return not self.failures

    @property
    def container_only(self) -> bool:
        """True when the container is all the consumer refuses (pack the folder as a tar)."""
        return bool(self.failures) and all(f.read == CONTAINER for f in self.failures)

    @property
    def first(self) -> Failure | None:
        """The failure the consumer hits first."""
        return self.failures[0] if self.failures else None


class _Facts:
    """What reads look at in one archive: members, the metadata value, module names, code."""

    def __init__(self, ctx: Loaded) -> None:
        self.ctx = ctx
        self.archive = ctx.archive
        metadata = ctx.metadata
        self.meta: Any = metadata.value if isinstance(metadata, JSONDoc) else None
        self.meta_problem = metadata.finding.message if isinstance(metadata, Unavailable) else None
        self.modules = _module_names(self.meta)
        self.code = CodeFacts(ctx.codegen)

    def container(self) -> str:
        if Path(self.archive.path).is_dir():
            return "folder"
        return "tar.gz" if self.archive.compressed else "tar"

    def version(self) -> int | None:
        raw = self.meta.get("version") if isinstance(self.meta, dict) else None
        return raw if is_version_number(raw) else None


def _module_names(meta: Any) -> tuple[str, ...]:
    if not isinstance(meta, dict):
        return ()
    if isinstance(meta.get("modules"), dict):
        return tuple(meta["modules"])
    return (meta["model_name"],) if isinstance(meta.get("model_name"), str) else ()


def evaluate(profile: Profile, ctx: Loaded) -> Verdict:
    """Run every read of `profile` against an opened archive."""
    facts = _Facts(ctx)
    failures: list[Failure] = []
    misses: list[Failure] = []
    failures += _container_failures(profile, facts)
    version_failure, notes = _version_check(profile, facts)
    notes += [profile.note] if profile.note else []
    failures += version_failure
    causes = {f.cause() for f in failures}
    for read in profile.reads:
        for failure in _run(read, facts):
            if isinstance(failure, str):
                notes.append(failure)
            elif failure.cause() not in causes:
                causes.add(failure.cause())
                (misses if read.optional else failures).append(failure)
    return Verdict(profile, facts.archive.path, facts.version(), facts.container(),
                   tuple(failures), tuple(misses), tuple(notes))


IO_FALLBACK = 64 * 1024
"""Bytes per input and output buffer of the counted caller when the metadata gives no io size."""


def check_archive(path: str | os.PathLike[str], profiles: Sequence[Profile], *,
                  limits: Limits | None = None, parser: CParser | None = None,
                  build: bool = False, user: UserHarness | None = None) -> tuple[Verdict, ...]:
    """Every profile's verdict on one archive, its C read by `parser` (default: one of its
    own); with `build`, each profile's harness built and run against it; with `user`, a last
    verdict for the user's own application. Raises ArchiveError when it cannot be read."""
    with Archive(path, limits=limits) as archive:
        ctx = Loaded(archive, parser=parser)
        verdicts = [evaluate(p, ctx) for p in profiles]
        if build:
            facts = _Facts(ctx)
            module = _harness_module(facts.modules)
            members = _interface_members(facts.code, module)
            verdicts = [proven(v, prove(archive, v.version, v.profile.harness, members=members,
                                        module=module))
                        if v.profile.harness is not None else v for v in verdicts]
        if user is not None:
            profile = user_profile(archive, user)
            assert profile.harness is not None
            mine = evaluate(profile, ctx)
            verdicts.append(proven(mine, prove(archive, mine.version, profile.harness,
                                               user=user, run=user.run)))
        return tuple(verdicts)


def count_on_board(path: str | os.PathLike[str], board: str, *, limits: Limits | None = None,
                   parser: CParser | None = None) -> Counted:
    """The archive's entry point called once on `board` and counted (`harness.count_entry`),
    for the module a harness builds for, or why it did not run. Raises ArchiveError when it
    cannot be read, BoardError when the toolchain is missing."""
    with Archive(path, limits=limits) as archive:
        ctx = Loaded(archive, parser=parser)
        facts = _Facts(ctx)
        module = _harness_module(facts.modules)
        model = ctx.model
        io = max((e.io_size_bytes for m in model.modules for e in m.main),
                 default=0) if isinstance(model, Model) else 0
        proof = count_entry(archive, facts.version(), board,
                            members=_interface_members(facts.code, module), module=module,
                            io_bytes=io or IO_FALLBACK)
    if proof.skipped:
        raise BoardError(proof.skipped)
    entry = f"tvmgen_{module}_run"
    if proof.instructions is not None:
        return Counted(entry, proof.instructions)
    if proof.failed:
        reached = f"{proof.proved}, then " if proof.proved else ""
        return Counted(entry, None, f"{reached}{proof.failed} failed: {proof.error}")
    return Counted(entry, None, f"{proof.proved or 'nothing'}; the archive's objects define "
                                f"no {entry}")


def _harness_module(names: Sequence[str]) -> str:
    """The module a harness builds for: 'default' when the archive has it (or names none),
    else its first."""
    return DEFAULT_MODULE if DEFAULT_MODULE in names or not names else names[0]


def _interface_members(code: CodeFacts, module: str) -> dict[str, tuple[str, ...]]:
    """The members of the module's tvmgen_<m>_inputs and _outputs structs (the names a
    consumer that fills them from the model's tensors uses)."""
    found = {kind: code.struct(f"tvmgen_{module}_{kind}") for kind in ("inputs", "outputs")}
    return {kind: tuple(m.name for m in s.members) for kind, s in found.items() if s is not None}


def user_profile(archive: Archive, user: UserHarness) -> Profile:
    """The profile of the user's own application: no requirement but its build."""
    names = ", ".join(p.name for p in user.files)
    return Profile(name="your-application", title=f"your application ({names})",
                   description="", sources=(), certainty="derived", versions=(),
                   version_checked=False, formats=("tar", "tar.gz", "folder"),
                   member_names="any", opened_with=None, container_evidence=(), reads=(),
                   origin="--harness", harness=user_spec(archive, user))


def proven(verdict: Verdict, proof: Proof) -> Verdict:
    """The verdict with what its harness proved; a failed build, link, run or match becomes
    its last failure (read 'build: <level>'), so it is unreadable where the harness says so."""
    if proof.failed is None:
        return replace(verdict, proof=proof)
    where = "on the host" if proof.where == "host" else f"on {proof.where} (QEMU)"
    failure = Failure(f"{BUILD}{proof.failed}", proof.error or proof.failed,
                      f"is built as its build does, {where}", None,
                      member=proof.member, line=proof.line, evidence=proof.cause)
    return replace(verdict, failures=(*verdict.failures, failure), proof=proof)


def broken_by(old: Verdict, new: Loaded) -> tuple[Failure, ...]:
    """The reads of the consumer that succeed on the old archive (its verdict `old`) and fail on
    the new one; empty when it could not read the old archive either (nothing of it can break)
    or can still read the new one."""
    return evaluate(old.profile, new).failures if old.readable else ()


# -- container and version --------------------------------------------------------------------


def _container_failures(profile: Profile, facts: _Facts) -> list[Failure]:
    kind = facts.container()
    opened = profile.opened_with or " or ".join(_CONTAINER_NAMES[f] for f in profile.formats)
    out = []
    if kind not in profile.formats:
        out.append(Failure(CONTAINER, f"the archive is {_CONTAINER_NAMES[kind]}",
                           f"opens it with {opened}", _container_error(kind),
                           evidence=profile.container_evidence))
    elif (profile.member_names == "dot-rooted" and kind != "folder"
          and not facts.archive.rooted_at_dot):
        out.append(Failure(CONTAINER, "member names do not start with './'",
                           "looks members up by their exact tar names, e.g. './metadata.json'",
                           "KeyError or AssertionError: member not found",
                           evidence=profile.container_evidence))
    return out


def _container_error(kind: str) -> str:
    if kind == "folder":
        return "the consumer takes a tar file path; pack the folder with tar first"
    return "tarfile.ReadError: the consumer cannot open a compressed tar"


def _version_check(profile: Profile, facts: _Facts) -> tuple[list[Failure], list[str]]:
    version = facts.version()
    if version is None or version in profile.versions or not profile.versions:
        return [], []
    written_for = describe_versions(frozenset(profile.versions))
    if profile.version_checked:
        return [_at(facts, Failure("metadata.json /version",
                                   f"the archive declares v{version}",
                                   f"accepts only {written_for}", "the consumer refuses the "
                                   "version"), "/version")], []
    return [], [f"written for MLF {written_for}; this archive declares v{version} (the consumer "
                "never checks the version, so its reads decide)"]


# -- reads -------------------------------------------------------------------------------------


def _run(read: Read, facts: _Facts) -> Iterator[Failure | str]:
    """The failures of one read (once per module when it names {module}), or notes."""
    if not read.per_module:
        yield from _run_one(read, facts, None)
        return
    if not facts.modules:
        yield Failure(read.describe(), "metadata names no module (neither /modules nor "
                      "/model_name), so the path cannot be built", read.why, read.error,
                      member=METADATA, evidence=read.evidence)
        return
    for module in facts.modules:
        yield from _run_one(read, facts, module)


def _substitute(text: str, module: str | None, *, pointer: bool) -> str:
    if module is None:
        return text
    return text.replace(MODULE, escape_token(module) if pointer else module)


def _run_one(read: Read, facts: _Facts, module: str | None) -> Iterator[Failure | str]:
    is_json = read.kind == "json"
    targets = tuple(_substitute(t, module, pointer=is_json) for t in read.targets)
    if read.when is not None and not _holds(read.when, facts, module):
        return
    shown = read.describe(targets)
    if read.kind in MODULE_KINDS:
        problems = _check_module(read.kind, targets[0], facts, module)
    elif read.kind in _CODE_CHECKS:
        problems = _CODE_CHECKS[read.kind](targets, read.members, facts)
    else:
        problems = _CHECKS[read.kind](targets, read.test, facts)
    for problem in problems:
        if problem.note:
            yield f"{shown}: {problem.message}"
            continue
        failure = Failure(shown, problem.message, read.why, read.error, module=module,
                          member=problem.member, line=problem.line,
                          column=1 if problem.line is not None else None, evidence=read.evidence)
        yield _at(facts, failure, problem.pointer) if problem.pointer is not None else failure


@dataclass(frozen=True)
class Problem:
    """Why one read fails, and where; a note when the archive cannot tell."""

    message: str
    member: str | None = None
    pointer: str | None = None
    """A JSON Pointer into metadata.json."""
    line: int | None = None
    note: bool = False


def _holds(cond: Condition, facts: _Facts, module: str | None) -> bool:
    if cond.kind == "struct":
        tagged = facts.code.struct(cond.pointers[0])
        return tagged is not None and any(m.name == cond.value for m in tagged.members)
    if cond.kind in MODULE_KINDS:
        modules = _modules(facts, module)
        return modules is not None and any(_module_fact(cond.kind, m) == cond.value
                                           for m in modules)
    pointers = tuple(_substitute(p, module, pointer=True) for p in cond.pointers)
    found = _first_resolved(facts.meta, pointers)
    return found is not None and not any(_test_value(cond.test, p, v) for p, v in found)


def _check_json(targets: tuple[str, ...], test: Test, facts: _Facts) -> Iterator[Problem]:
    if facts.meta is None:
        yield Problem(f"metadata.json cannot be read: {facts.meta_problem}", METADATA)
        return
    found = _first_resolved(facts.meta, targets)
    if found is None:
        if len(targets) == 1:
            message = _why_unresolved(facts.meta, targets[0])
        else:
            message = "no alternative exists: " + "; ".join(
                f"{t}: {_why_unresolved(facts.meta, t)}" for t in targets)
        yield Problem(message, METADATA, _deepest(facts.meta, targets[0]))
        return
    for pointer, value in found:
        problem = _test_value(test, pointer, value)
        if problem:
            yield Problem(problem, METADATA, pointer)


def _check_file(targets: tuple[str, ...], test: Test, facts: _Facts) -> Iterator[Problem]:
    if any(facts.archive.readable(t) for t in targets):
        return
    reasons = [_why_no_file(facts.archive, t) for t in targets]
    yield Problem("; ".join(reasons), targets[0])


def _check_glob(targets: tuple[str, ...], test: Test, facts: _Facts) -> Iterator[Problem]:
    names = [m.name for m in facts.archive.files()]
    for target in targets:
        matches = sum(glob_match(n, target) for n in names)
        if matches:
            message = _count_problem(test, matches, f"{target} matches")
            if message:
                yield Problem(message)
            return
    if _count_problem(test, 0, ""):
        yield Problem(f"no member matches {' or '.join(targets)}")


def _check_dir(targets: tuple[str, ...], test: Test, facts: _Facts) -> Iterator[Problem]:
    if not any(facts.archive.has_dir(t) for t in targets):
        what = " or ".join(f"{t}/" for t in targets)
        yield Problem(f"the archive has no directory {what}")


_CHECKS = {"json": _check_json, "file": _check_file, "glob": _check_glob, "dir": _check_dir}


# -- code: symbols the build links, structs it compiles against ---------------------------------


def _no_code(code: CodeFacts, what: str) -> Problem | None:
    """Why the generated C cannot answer for `what` (a note for object files), or None."""
    if code.objects_only:
        return Problem(f"cannot check {what}: the generated code is object files "
                       "(codegen/host/lib), whose symbols are not read", note=True)
    if not code.sources:
        return Problem(f"the archive has no generated C under {SOURCE_DIR}/", SOURCE_DIR)
    return None


def _entry_points(code: CodeFacts) -> str:
    found = code.entry_points
    return (f"it defines {', '.join(found)}" if found
            else "it defines no tvmgen_<m>_run, _run_model or ___tvm_main__ entry point")


def _check_symbol(targets: tuple[str, ...], _members: tuple[str, ...],
                  facts: _Facts) -> Iterator[Problem]:
    code = facts.code
    missing = _no_code(code, " or ".join(targets))
    if missing is not None:
        yield missing
    elif not any(code.defines(t) for t in targets):
        names = targets[0] if len(targets) == 1 else "any of " + ", ".join(targets)
        yield Problem(f"{SOURCE_DIR} does not define {names} ({_entry_points(code)})",
                      SOURCE_DIR)


def _check_system_lib(_targets: tuple[str, ...], _members: tuple[str, ...],
                      facts: _Facts) -> Iterator[Problem]:
    code = facts.code
    missing = _no_code(code, SYSTEM_LIB_ENTRY)
    if missing is not None:
        yield missing
    elif not code.defines(SYSTEM_LIB_ENTRY):
        yield Problem(f"{SOURCE_DIR} does not define {SYSTEM_LIB_ENTRY}: the model is no "
                      f"system library (built for AOT, or without system-lib; "
                      f"{_entry_points(code)})", SOURCE_DIR)


def _check_struct(targets: tuple[str, ...], members: tuple[str, ...],
                  facts: _Facts) -> Iterator[Problem]:
    found = next((s for s in map(facts.code.struct, targets) if s is not None), None)
    if found is None:
        headers = [h.name for h in facts.archive.files(INCLUDE_DIR) if h.name.endswith(".h")]
        where = (f"no header in {INCLUDE_DIR}/ defines" if headers
                 else f"the archive has no {INCLUDE_DIR}/*.h declaring")
        yield Problem(f"{where} struct {' or '.join(targets)}", INCLUDE_DIR)
    elif members and not set(members) & {m.name for m in found.members}:
        has = ", ".join(m.name for m in found.members) or "none"
        yield Problem(f"struct {found.name} has no member {' or '.join(members)} "
                      f"(its members: {has})", found.file, line=found.span.first_line)


_CODE_CHECKS = {"symbol": _check_symbol, "struct": _check_struct,
                "system_lib": _check_system_lib}


# -- module facts: executor, style, name -------------------------------------------------------


def _modules(facts: _Facts, name: str | None) -> tuple[Module, ...] | None:
    """The modules a requirement is about (one when `name` is given); None when unknown."""
    model = facts.ctx.model
    if not isinstance(model, Model):
        return None
    return tuple(m for m in model.modules if name is None or m.name == name)


def _module_fact(kind: str, module: Module) -> str | None:
    return {"executor": module.executor, "style": module.style,
            "module_name": module.name}[kind]


def _fact_pointer(kind: str, module: Module, meta: Any) -> str:
    """Where metadata.json states a module's executor, style or name."""
    found = _first_resolved(meta, (module.pointer,))
    entry = found[0][1] if found else None
    wanted = {"executor": ("executors", "runtimes"), "style": ("style",),
              "module_name": ("model_name",)}[kind]
    key = next((k for k in wanted if isinstance(entry, dict) and k in entry), None)
    return f"{module.pointer}/{key}" if key else module.pointer


def _check_module(kind: str, value: str, facts: _Facts, name: str | None) -> Iterator[Problem]:
    modules = _modules(facts, name)
    what = kind.replace("_", " ")
    if modules is None:
        yield Problem(f"the {what} is not known: metadata.json does not match its version's "
                      "schema (run mlfcheck validate)", METADATA)
        return
    for module in modules:
        actual = _module_fact(kind, module)
        if actual != value:
            shown = ("no executor (operator style)" if actual is None
                     else f"{what} {actual!r}")
            yield Problem(f"module {module.name!r} has {shown}, the consumer needs {value!r}",
                          METADATA, _fact_pointer(kind, module, facts.meta))


def _why_no_file(archive: Archive, path: str) -> str:
    member = archive.members.get(path)
    if member is None:
        return f"no member {path}"
    if member.is_dir:
        return f"{path} is a directory"
    return f"{path} is over the member size limit"


# -- JSON Pointers with '*' --------------------------------------------------------------------


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _children(value: Any, token: str) -> list[tuple[str, Any]] | None:
    """(token, child) pairs for one step, None when the step is impossible."""
    if token == "*":
        if isinstance(value, dict):
            return list(value.items())
        if isinstance(value, list):
            return [(str(i), v) for i, v in enumerate(value)]
        return None
    if isinstance(value, dict):
        return [(token, value[token])] if token in value else None
    if isinstance(value, list) and token.isascii() and token.isdigit() \
            and len(token) <= 18 and int(token) < len(value):  # (int() reads 4300 digits)
        return [(token, value[int(token)])]
    return None


def _resolve(doc: Any, pointer: str) -> tuple[list[tuple[str, Any]], str, str] | None:
    """All (pointer, value) the pointer reaches, or None; also where it stopped and why."""
    frontier: list[tuple[str, Any]] = [("", doc)]
    for token in _tokens(pointer):
        step: list[tuple[str, Any]] = []
        for at, value in frontier:
            kids = _children(value, token)
            if kids is None:
                return [], at, _missing(value, token)
            step += [(f"{at}/{escape_token(k)}", v) for k, v in kids]
        if not step:
            return [], frontier[0][0], "has no entries"
        frontier = step
    return frontier, "", ""


def _missing(value: Any, token: str) -> str:
    if isinstance(value, dict):
        return f"has no key {token!r}"
    if isinstance(value, list):
        return f"has {len(value)} entries, no index {token}" if token != "*" else "is empty"
    return f"is {_type_name(value)}, not an object or array"


def _first_resolved(doc: Any, pointers: tuple[str, ...]) -> list[tuple[str, Any]] | None:
    for pointer in pointers:
        resolved = _resolve(doc, pointer)
        if resolved is not None and resolved[0]:
            return resolved[0]
    return None


def _why_unresolved(doc: Any, pointer: str) -> str:
    resolved = _resolve(doc, pointer)
    assert resolved is not None
    _, at, why = resolved
    return f"{at or 'the document'} {why}"


def _deepest(doc: Any, pointer: str) -> str:
    resolved = _resolve(doc, pointer)
    return resolved[1] if resolved is not None else ""


def _type_name(value: Any) -> str:
    name = json_type(value)
    return name if name == "null" else ("an " if name[0] in "aeiou" else "a ") + name


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _test_value(test: Test, pointer: str, value: Any) -> str | None:
    """Why `value` fails `test`, or None."""
    if test.type is not None and not is_json_type(value, test.type):
        return f"{pointer} is {_type_name(value)}, expected {test.type}"
    if test.equals is not None and value != test.equals[0]:
        return f"{pointer} is {_shown(value)}, expected {_shown(test.equals[0])}"
    if test.contains is not None and (not isinstance(value, list)
                                      or test.contains[0] not in value):
        return f"{pointer} is {_shown(value)}, which does not contain {_shown(test.contains[0])}"
    if test.count_min is not None or test.count_max is not None:
        size = len(value) if isinstance(value, (dict, list)) else 0
        return _count_problem(test, size, f"{pointer} has")
    return None


def _count_problem(test: Test, size: int, subject: str) -> str | None:
    low, high = test.count_min, test.count_max
    if (low is None or size >= low) and (high is None or size <= high):
        return None
    if low == high:
        wanted = f"exactly {low}"
    elif high is None:
        wanted = f"at least {low}"
    elif low is None:
        wanted = f"at most {high}"
    else:
        wanted = f"{low} to {high}"
    return f"{subject} {size} entr{'y' if size == 1 else 'ies'}, expected {wanted}"


def _at(facts: _Facts, failure: Failure, pointer: str) -> Failure:
    """The failure placed at a JSON Pointer of metadata.json (line and column when known)."""
    doc = facts.ctx.doc
    pos = doc.position(pointer) if doc is not None else None
    return Failure(failure.read, failure.message, failure.why, failure.error, failure.module,
                   METADATA, pointer, pos[0] if pos else None, pos[1] if pos else None,
                   failure.evidence)
