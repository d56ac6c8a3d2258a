"""Sharded audits: `audit --shard K/N` audits items K-1, K-1+N, K-1+2N, … of the whole discovery
and writes a shard record; `audit --merge` reads the N records back and gives the audit of every
item, equal to the unsharded one (so each report format renders the same bytes).

A record holds which shard it is, the key of every item discovered (the N runs must have found
the same ones) and its `AuditResult` as JSON data: a dataclass as an object of its fields, an
enum by name, a tuple as an array, bytes as hex, each consumer profile once. It is read back by
the type hints of each field, so a file that is not a record is refused whole, never half read.
Records pass between runs of one mlfcheck version: the merge refuses another version's.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mlfcheck.audit import ArchiveAudit, AuditResult, picked
from mlfcheck.board.boards import Board
from mlfcheck.consumers import Profile
from mlfcheck.errors import UsageError
from mlfcheck.reading import userfile
from mlfcheck.version import __version__

FORMAT = "mlfcheck-audit-shard"
MAX_RECORD = 1 << 30
"""Largest shard record read (a record of a thousand archives is tens of megabytes)."""


@dataclass(frozen=True)
class ShardRecord:
    """One shard's audit: which shard (K, N), every item's key in discovery order, and the
    result of auditing its items (`mlfcheck.audit.picked`)."""

    shard: tuple[int, int]
    keys: tuple[str, ...]
    result: AuditResult


def to_json(record: ShardRecord) -> dict[str, Any]:
    """The record as JSON data (the reporter adds the format header)."""
    encoder = _Encoder()
    result = encoder.write(record.result)
    return {"shard": list(record.shard), "keys": list(record.keys),
            "profiles": [encoder.fields(p) for p in encoder.profiles], "result": result}


class _Encoder:
    """Writes values as JSON data: a dataclass as an object of its fields, an enum by name, a
    tuple or a list as an array, bytes as hex; strings, numbers, booleans, None and JSON
    objects (a consumer profile's test values) as they are. A consumer profile, the same in
    every verdict of every archive, is written once (`profiles`) and referred to by number."""

    def __init__(self) -> None:
        self.profiles: list[Profile] = []
        self._numbers: dict[int, int] = {}

    def write(self, value: Any) -> Any:
        if isinstance(value, Profile):
            return self._profile(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.fields(value)
        if isinstance(value, enum.Enum):
            return value.name
        if isinstance(value, tuple | list):
            return [self.write(v) for v in value]
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, dict):
            return {k: self.write(v) for k, v in value.items()}
        return value

    def fields(self, record: Any) -> dict[str, Any]:
        """A dataclass instance as an object of its fields."""
        return {f.name: self.write(getattr(record, f.name)) for f in dataclasses.fields(record)}

    def _profile(self, profile: Profile) -> int:
        if id(profile) not in self._numbers:
            if profile not in self.profiles:
                self.profiles.append(profile)
            self._numbers[id(profile)] = self.profiles.index(profile)
        return self._numbers[id(profile)]


class _NotARecord(Exception):
    """Where a value differs from the type its field declares."""


class _Decoder:
    """Reads JSON data back into the types a field declares, checking as it goes; each record
    class's type hints are resolved once per decoder."""

    def __init__(self) -> None:
        self._hints: dict[type, dict[str, Any]] = {}
        self.profiles: tuple[Profile, ...] = ()
        """The record's profiles, once read: a Profile field holds a number into them."""

    def read(self, value: Any, hint: Any, where: str) -> Any:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any:
            return value
        if hint is Profile and type(value) is int and 0 <= value < len(self.profiles):
            return self.profiles[value]
        if origin in (typing.Union, types.UnionType):
            return self._either(value, args, where)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self._record(value, hint, where)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            if isinstance(value, str) and value in hint.__members__:
                return hint[value]
        elif origin is tuple and isinstance(value, list):
            each = [args[0]] * len(value) if args[1:] == (Ellipsis,) else list(args)
            if len(each) == len(value):
                return tuple(self.read(v, a, f"{where}/{i}")
                             for i, (v, a) in enumerate(zip(value, each, strict=True)))
        elif hint is bytes and isinstance(value, str):
            try:
                return bytes.fromhex(value)
            except ValueError:
                pass
        elif hint is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        elif hint in (int, str, bool, type(None)) and type(value) is hint:
            return value
        raise _NotARecord(where)

    def _either(self, value: Any, options: tuple[Any, ...], where: str) -> Any:
        for option in options:
            try:
                return self.read(value, option, where)
            except _NotARecord:
                continue
        raise _NotARecord(where)

    def _record(self, value: Any, cls: type, where: str) -> Any:
        if cls not in self._hints:  # (Board is imported for type checking only where it is used)
            self._hints[cls] = typing.get_type_hints(cls, localns={"Board": Board})
        hints = self._hints[cls]
        fields = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(value, dict) or sorted(value) != sorted(fields):
            raise _NotARecord(where)
        return cls(**{n: self.read(value[n], hints[n], f"{where}/{n}") for n in fields})


def read_record(path: str) -> ShardRecord:
    """A shard record written by `audit --shard` of this mlfcheck version; UsageError (one line,
    quoting nothing of the file) otherwise."""
    text = userfile.read_text(path, "shard record", limit=MAX_RECORD)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise UsageError(f"{path}: not a shard record (not JSON, or nested too deep)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UsageError(f"{path}: not a shard record of mlfcheck audit --shard")
    if doc.get("tool") != {"name": "mlfcheck", "version": __version__}:
        raise UsageError(f"{path}: a shard record of another mlfcheck version; merge the "
                         f"records of one version ({__version__})")
    decoder = _Decoder()
    try:
        shard = decoder.read(doc.get("shard"), tuple[int, int], "/shard")
        keys = decoder.read(doc.get("keys"), tuple[str, ...], "/keys")
        decoder.profiles = decoder.read(doc.get("profiles"), tuple[Profile, ...], "/profiles")
        result = decoder.read(doc.get("result"), AuditResult, "/result")
    except _NotARecord as exc:
        raise UsageError(f"{path}: not a shard record: unexpected value at {exc}") from None
    k, n = shard
    if not 1 <= k <= n or len(picked(len(keys), shard)) != len(result.archives):
        raise UsageError(f"{path}: not a shard record: shard {k}/{n} of {len(keys)} items "
                         f"holds {len(result.archives)}")
    return ShardRecord(shard, keys, result)


_SHARED = (("removed", "the baseline items"), ("baseline", "--baseline"),
           ("consumers", "the consumer profiles"), ("fail_on", "--fail-on"),
           ("timestamp", "--timestamp"), ("board", "--board"),
           ("config_source", "the diff configuration"),
           ("config_overrides", "the diff configuration"),
           ("build", "the host build (or its compiler)"))
"""What every shard's result of one audit has alike (field, what an error calls it)."""


def merge(records: Sequence[ShardRecord], names: Sequence[str]) -> AuditResult:
    """The audit of every item from the records of all N shards of one audit (`names`: the
    file each came from, for errors): archives back in discovery order, the rest as every
    shard has it. UsageError when they are not the N shards of one audit."""
    first, count = records[0], records[0].shard[1]
    _check_shards(records, names)
    archives: list[ArchiveAudit | None] = [None] * len(first.keys)
    for record, name in zip(records, names, strict=True):
        for n, audited in zip(picked(len(first.keys), record.shard), record.result.archives,
                              strict=True):
            if audited.item.key != first.keys[n]:
                raise UsageError(f"{name}: not a shard record: item {n + 1} is not the one "
                                 "discovered there")
            archives[n] = audited
    missing = [k for k in range(1, count + 1) if k not in {r.shard[0] for r in records}]
    if missing:
        raise UsageError(f"shard {missing[0]}/{count} is missing (give all {count} records)")
    return replace(first.result, archives=tuple(a for a in archives if a is not None))


def _check_shards(records: Sequence[ShardRecord], names: Sequence[str]) -> None:
    """Each record is another shard of the first's audit: the same N, items and settings."""
    first, seen = records[0], dict[int, str]()
    for record, name in zip(records, names, strict=True):
        (k, n), count = record.shard, first.shard[1]
        if n != count:
            raise UsageError(f"{name}: shard {k}/{n}, but {names[0]} is one of {count}")
        if k in seen:
            raise UsageError(f"{name}: shard {k}/{n} is {seen[k]} again")
        seen[k] = name
        differ = ["the items found"] if record.keys != first.keys else []
        differ += [what for attr, what in _SHARED
                   if getattr(record.result, attr) != getattr(first.result, attr)]
        if differ:
            raise UsageError(f"{name} and {names[0]} are not shards of one audit: "
                             f"{differ[0]} differ")
