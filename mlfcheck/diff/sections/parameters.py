"""The parameters section: tensors by name (file order ignored), added, removed, reshaped,
retyped, or with other values (numeric dtypes decoded for a max-abs-difference)."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from functools import partial

from mlfcheck.diff.result import Change, Note, TensorType, ValueDiff
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.common import Comparator, Item, Pair, value_diff
from mlfcheck.errors import ArchiveError
from mlfcheck.reading.model import Module
from mlfcheck.reading.params import ParamsError, ParamTensor

SECTION = "parameters"
change = partial(Change, section=SECTION)
note = partial(Note, section=SECTION)

MAX_VALUE_BYTES = 64 * 1024 * 1024
"""Largest tensor whose values are decoded for a max-abs-difference."""

_FORMATS = {("int", 8): "b", ("uint", 8): "B", ("int", 16): "h", ("uint", 16): "H",
            ("int", 32): "i", ("uint", 32): "I", ("int", 64): "q", ("uint", 64): "Q",
            ("float", 16): "e", ("float", 32): "f", ("float", 64): "d"}
_DTYPE = re.compile(r"^(int|uint|float|bfloat)(\d+)(?:x(\d+))?$")


def decode(dtype: str, data: bytes) -> tuple[float, ...] | None:
    """Little-endian tensor data as numbers, None for dtypes without a numeric reading."""
    m = _DTYPE.match(dtype)
    if m is None:
        return None
    kind, bits = m.group(1), int(m.group(2))
    if kind == "bfloat" and bits == 16:
        widened = bytearray(len(data) * 2)
        widened[2::4], widened[3::4] = data[0::2], data[1::2]
        return struct.unpack(f"<{len(data) // 2}f", widened)
    fmt = _FORMATS.get((kind, bits))
    if fmt is None:
        return None
    return struct.unpack(f"<{len(data) // (bits // 8)}{fmt}", data)


def compare_parameters(p: Pair) -> Iterator[Item]:
    """Tensors by name (file order ignored): added, removed, shape, dtype, values."""
    for old_m, new_m, label in p.both():
        a, b = p.old.params(old_m), p.new.params(new_m)
        if isinstance(a, ParamsError) or isinstance(b, ParamsError):
            side = "old" if isinstance(a, ParamsError) else "new"
            yield note(module=label, kind="skipped", text=f"the {side} parameters file is "
                       "malformed; parameters not compared")
            continue
        old_t = {t.name: t for t in a.tensors} if a else {}  # TVM's loader: the last copy wins
        new_t = {t.name: t for t in b.tensors} if b else {}
        for name in sorted(set(old_t) | set(new_t)):
            yield from _tensor_change(p, old_m, new_m, label, old_t.get(name), new_t.get(name))
        old_order = [t.name for t in (a.tensors if a else ()) if t.name in new_t]
        if old_order != [t.name for t in (b.tensors if b else ()) if t.name in old_t]:
            yield note(module=label, kind="ordering", text="tensors are stored in a different "
                       "order (ordering only, not a change)")


def _param(t: ParamTensor) -> TensorType:
    return TensorType(t.dtype, tuple(t.shape), t.nbytes)


def _tensor_change(p: Pair, old_m: Module, new_m: Module, label: str, a: ParamTensor | None,
                   b: ParamTensor | None) -> Iterator[Item]:
    name = (a or b).name  # type: ignore[union-attr]
    subject = f"parameter {name}"
    if a is None or b is None:
        yield change(rule=Rule.D501 if a is None else Rule.D502, module=label, subject=subject,
                     old=None if a is None else _param(a), new=None if b is None else _param(b),
                     reason="only in the new parameters" if a is None else "only in the old "
                     "parameters")
        return
    if a.dtype != b.dtype:
        yield change(rule=Rule.D504, module=label, subject=subject, old=_param(a),
                     new=_param(b), reason="the tensor's element type changed")
    if a.shape != b.shape:
        yield change(rule=Rule.D503, module=label, subject=subject, old=_param(a),
                     new=_param(b), reason="the tensor's layout changed")
    if a.dtype == b.dtype and a.shape == b.shape and a.sha256 != b.sha256:
        values, why = _value_delta(p, old_m, new_m, a, b)
        yield change(rule=Rule.D505, module=label, subject=subject, old=_param(a),
                     new=_param(b), reason="the values differ, so the model computes something "
                     f"different{why}", values=values)


def _value_delta(p: Pair, old_m: Module, new_m: Module, a: ParamTensor,
                 b: ParamTensor) -> tuple[ValueDiff | None, str]:
    """How the values differ, or None and why they were not compared element by element."""
    if a.nbytes > MAX_VALUE_BYTES:
        return None, " (too large to compare element by element)"
    try:
        x = decode(a.dtype, p.old.tensor_bytes(old_m, a.data_offset, a.nbytes))
        y = decode(b.dtype, p.new.tensor_bytes(new_m, b.data_offset, b.nbytes))
    except ArchiveError:
        return None, " (data unreadable)"
    if x is None or y is None:
        return None, f" ({a.dtype} is not decoded)"
    return value_diff(x, y), ""


COMPARATOR = Comparator(
    section=SECTION, rules=(Rule.D501, Rule.D502, Rule.D503, Rule.D504, Rule.D505),
    fn=compare_parameters)
