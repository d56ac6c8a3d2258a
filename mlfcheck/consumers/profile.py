"""Consumer profiles as data: the record types, the file loader and the built-in profiles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match

from mlfcheck import schemas, userfile
from mlfcheck.errors import UsageError
from mlfcheck.jsondoc import JSONDocError, parse_bytes

MAX_PROFILE_DEPTH = 16
"""Deepest JSON nesting in a profile file (the schema needs 6)."""

SCHEMA = "consumer-profile.schema.json"
READ_KINDS = ("json", "file", "glob", "dir")
MODULE = "{module}"
"""Placeholder for each module name in paths and pointers."""


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
    """A read happens only when the value at one of `pointers` passes `test`."""

    pointers: tuple[str, ...]
    test: Test


@dataclass(frozen=True)
class Read:
    """One read a consumer performs: a metadata value, a member, a glob or a directory."""

    kind: str
    """One of READ_KINDS."""
    targets: tuple[str, ...]
    """Pointers or paths; alternatives, tried in order."""
    test: Test
    when: Condition | None
    optional: bool
    why: str
    error: str | None

    def describe(self) -> str:
        """'metadata.json /runtimes', 'file parameters/default.params', 'glob a or b'."""
        shown = " or ".join(self.targets)
        return f"metadata.json {shown}" if self.kind == "json" else f"{self.kind} {shown}"

    @property
    def per_module(self) -> bool:
        """True when a target or the condition names {module}."""
        texts = self.targets + (self.when.pointers if self.when else ())
        return any(MODULE in t for t in texts)


@dataclass(frozen=True)
class Source:
    """Where a profile's facts come from."""

    what: str
    commit: str | None
    reference: str | None

    def __str__(self) -> str:
        extra = "; ".join(x for x in (self.commit, self.reference) if x)
        return f"{self.what} ({extra})" if extra else self.what


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
    reads: tuple[Read, ...]
    origin: str
    """'built-in' or the file it was loaded from."""


def _test(raw: dict[str, Any]) -> Test:
    count = raw.get("count", {})
    return Test(type=raw.get("type"),
                equals=(raw["equals"],) if "equals" in raw else None,
                contains=(raw["contains"],) if "contains" in raw else None,
                count_min=count.get("min"), count_max=count.get("max"))


def _targets(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _read(raw: dict[str, Any]) -> Read:
    kind = next(k for k in READ_KINDS if k in raw)
    when = raw.get("when")
    test = _test(raw)
    if kind == "glob" and test.count_min is None:
        test = Test(test.type, test.equals, test.contains, 1, test.count_max)
    return Read(kind=kind, targets=_targets(raw[kind]), test=test,
                when=Condition(_targets(when["json"]), _test(when)) if when else None,
                optional=bool(raw.get("optional", False)), why=raw["why"],
                error=raw.get("error"))


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
        reads=tuple(_read(r) for r in doc["reads"]), origin=origin)


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
