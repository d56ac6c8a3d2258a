"""The normalised, version-independent view of an MLF metadata document.

Versions 1-8 spell the same facts differently (`runtimes` vs `executors`, a target dict vs a list,
a flat document vs `modules`). `Model.from_metadata` reads a schema-valid document of any version
into one shape, remembering the JSON Pointer each fact came from so findings can point back.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from mlfcheck.reading.jsondoc import escape_token

_DTYPE = re.compile(r"^(?:bfloat|float|int|uint|bool)([0-9]{0,9})(?:x([0-9]{1,9}))?$")
"""A TVM dtype string: bits and lanes in ASCII digits ('int٣٢' is no int32), at most nine
of them (int() refuses 4,300; no type is that wide)."""


def dtype_bytes(dtype: str) -> int | None:
    """Bytes per element of a TVM dtype string ('float32' → 4, 'int8x4' → 4), None if unknown."""
    if dtype == "bool":
        return 1
    m = _DTYPE.match(dtype)
    if m is None or not m.group(1):
        return None
    bits = int(m.group(1)) * int(m.group(2) or 1)
    return (bits + 7) // 8


def tensor_bytes(dtype: str, elements: int, version: int) -> int | None:
    """Bytes a tensor of this dtype and element count takes as the archive's writer counted
    them.

    TVM (v1-v7, model_library_format._shape_to_size and the operator buffer map) packs the
    elements: (prod(shape) x bits + 7) // 8 with the scalar width, so int4 takes half a byte.
    mlfcheck's v8 exporter stores each element in whole bytes. None for an unknown dtype.
    """
    width = dtype_bytes(dtype)
    bits = dtype_bits(dtype)
    if width is None or bits is None:
        return None
    if version >= 8:
        return elements * width
    return (elements * bits + 7) // 8


def dtype_bits(dtype: str) -> int | None:
    """Bits of one scalar element ('int4' → 4, 'int8x4' → 8, 'bool' → 8), None if unknown."""
    if dtype == "bool":
        return 8
    m = _DTYPE.match(dtype)
    return int(m.group(1)) if m is not None and m.group(1) else None


@dataclass(frozen=True)
class TensorSpec:
    """An input or output of `main`: dtype, size in bytes, and (v8) shape."""

    name: str
    dtype: str
    size: int
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class MainEntry:
    """Memory of `main` on one device."""

    device: int
    workspace_size_bytes: int
    constants_size_bytes: int
    io_size_bytes: int
    inputs: tuple[TensorSpec, ...] | None
    outputs: tuple[TensorSpec, ...] | None
    pointer: str


@dataclass(frozen=True)
class OperatorFunction:
    """A generated operator function and its workspace per device."""

    name: str
    workspace: tuple[tuple[int, int], ...]
    pointer: str

    @property
    def max_workspace(self) -> int:
        """Largest workspace over devices."""
        return max((size for _, size in self.workspace), default=0)


@dataclass(frozen=True)
class Sid:
    """A graph-executor storage entry (memory.sids)."""

    storage_id: int
    size_bytes: int
    input_binding: str | None


@dataclass(frozen=True)
class Buffer:
    """An operator-style buffer (memory.<func>[i])."""

    function: str
    size_bytes: int
    shape: tuple[int, ...]
    dtype: str
    input_binding: str | None


@dataclass(frozen=True)
class Module:
    """One compiled model (full-model) or operator library inside an archive."""

    name: str
    style: str
    executors: tuple[str, ...]
    targets: tuple[str, ...]
    export_datetime: str
    pointer: str
    main: tuple[MainEntry, ...] = ()
    operator_functions: tuple[OperatorFunction, ...] = ()
    sids: tuple[Sid, ...] | None = None
    buffers: tuple[Buffer, ...] = ()
    external_dependencies: tuple[dict[str, Any], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def executor(self) -> str | None:
        """'graph', 'aot' or None (operator style)."""
        return self.executors[0] if self.executors else None


@dataclass(frozen=True)
class Model:
    """All modules of one archive, with the version they were read as."""

    version: int
    modules: tuple[Module, ...]

    @classmethod
    def from_metadata(cls, meta: dict[str, Any], version: int) -> Model:
        """Read a metadata document that is valid against its version's schema."""
        try:
            if "modules" in meta:
                modules = tuple(
                    _module(entry, name, f"/modules/{escape_token(name)}", version)
                    for name, entry in sorted(meta["modules"].items()))
            else:
                modules = (_module(meta, meta["model_name"], "", version),)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"metadata lacks what MLF v{version} requires ({exc!r})") from None
        model = cls(version, modules)
        wrong = _mismatch(model, Model, "model")
        if wrong is not None:
            raise ModelError(f"metadata has a value of the wrong type at {wrong}")
        return model


class ModelError(ValueError):
    """Metadata that does not fit the model (possible only when it fails its schema)."""


@cache
def _field_hints(record: type) -> tuple[tuple[str, Any], ...]:
    """(field name, resolved type) of a record class, in declaration order."""
    hints = typing.get_type_hints(record)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(record))


def _mismatch(value: Any, hint: Any, where: str) -> str | None:
    """Where `value` first differs from the type `hint` (records checked field by field)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        fits = any(_mismatch(value, a, where) is None for a in args)
        return None if fits else where
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, hint):
            return where
        for name, field_hint in _field_hints(hint):
            found = _mismatch(getattr(value, name), field_hint, f"{where}.{name}")
            if found is not None:
                return found
        return None
    if origin is tuple:
        if not isinstance(value, tuple):
            return where
        each = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(each) != len(value):
            return where
        return next((m for i, (v, a) in enumerate(zip(value, each, strict=True))
                     if (m := _mismatch(v, a, f"{where}[{i}]")) is not None), None)
    if origin is dict:
        return None if isinstance(value, dict) else where
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else where
    return None if isinstance(value, hint) else where


def _targets(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, dict):
        return tuple(raw[k] for k in sorted(raw, key=lambda k: (len(k), k)))
    return tuple(raw)


def _tensors(raw: dict[str, Any] | None) -> tuple[TensorSpec, ...] | None:
    if raw is None:
        return None
    return tuple(TensorSpec(name, spec["dtype"], spec["size"],
                            tuple(spec["shape"]) if "shape" in spec else None)
                 for name, spec in raw.items())


def _module(entry: dict[str, Any], name: str, base: str, version: int) -> Module:
    style = entry.get("style", "full-model")
    executors = tuple(entry.get("executors", entry.get("runtimes", ())))
    memory = entry["memory"]
    common = dict(name=name, style=style, executors=executors,
                  targets=_targets(entry["target"]), export_datetime=entry["export_datetime"],
                  pointer=base,
                  external_dependencies=tuple(entry.get("external_dependencies", ())),
                  extra={k: v for k, v in entry.items() if k in ("generator", "storage", "state")})
    if style == "operator":
        buffers = tuple(Buffer(func, b["size_bytes"], tuple(b["shape"]), b["dtype"],
                               b.get("input_binding"))
                        for func, entries in memory.items() for b in entries)
        return Module(**common, buffers=buffers)
    if isinstance(memory, list):  # v1: the sid list is the whole memory map
        return Module(**common, sids=_sids(memory))
    functions = memory["functions"]
    main = tuple(
        MainEntry(e["device"], e["workspace_size_bytes"], e["constants_size_bytes"],
                  e["io_size_bytes"], _tensors(e.get("inputs")), _tensors(e.get("outputs")),
                  f"{base}/memory/functions/main/{i}")
        for i, e in enumerate(functions["main"]))
    ops = tuple(
        OperatorFunction(f["function_name"],
                         tuple((w["device"], w["workspace_size_bytes"]) for w in f["workspace"]),
                         f"{base}/memory/functions/operator_functions/{i}")
        for i, f in enumerate(functions["operator_functions"]))
    sids = _sids(memory["sids"]) if "sids" in memory else None
    return Module(**common, main=main, operator_functions=ops, sids=sids)


def _sids(raw: list[dict[str, Any]]) -> tuple[Sid, ...]:
    return tuple(Sid(s["storage_id"], s["size_bytes"], s.get("input_binding")) for s in raw)
