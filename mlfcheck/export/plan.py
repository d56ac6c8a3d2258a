"""The memory plan: the entry function read as kernel steps over tensors, packed into one arena.

TVM's StaticPlanBlockMemory gives storage blocks and reuses them, but never places them in one
buffer. This module reads its result, adds each kernel's scratch (TVMBackendAllocWorkspace calls
in the generated C) as a block live only during that call, and packs all blocks at offsets
chosen by liveness: two blocks may overlap only if no step uses both.

A stateful model's state (`svdf`: parameters of `main` after the inputs, new values returned
after the outputs) is placed in a state region of its own, outside the workspace: kernels read
it there, write each new value into a workspace block, and the run ends by copying each new
value back (`Keep`), so no kernel writes a buffer it also reads.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from math import prod
from typing import Any

from mlfcheck.errors import ExportError
from mlfcheck.export.frontends import c_identifier
from mlfcheck.export.svdf import state_fills
from mlfcheck.reading.model import dtype_bytes

ALIGN = 64
"""Byte alignment of every block in the arena (TVM's kAllocAlignment)."""

_DEFINITION = re.compile(r"^TVM_DLL int32_t (\w+)\([^;{]*\)\s*\{", re.M)
_WORKSPACE_CALL = re.compile(
    r"TVMBackend(Alloc|Free)Workspace\([^,]+,[^,]+,\s*(?:\(uint64_t\)(\d+)|(\w+))")
_ASSIGNED = re.compile(r"(\w+)\s*=[^=]*$")


def align(n: int) -> int:
    """`n` rounded up to ALIGN."""
    return -(-n // ALIGN) * ALIGN


def dl_type(dtype: str) -> tuple[int, int, int]:
    """(DLDataType code, bits, lanes) of a TVM dtype string."""
    import tvm

    t = tvm.runtime.DataType(dtype)
    return int(t.type_code), int(t.bits), int(t.lanes)


def element_bytes(dtype: str) -> int:
    """Bytes per element of a dtype the planner places (bool and sub-byte types take one)."""
    width = dtype_bytes(dtype)
    if width is None:
        raise ValueError(f"unknown dtype {dtype!r}")
    return width


@dataclass(frozen=True)
class Ref:
    """Where a tensor lives: a storage block, an input, an output or a constant, and its type."""

    kind: str
    """'storage', 'input', 'output', 'constant' or 'state'."""
    index: int
    shape: tuple[int, ...]
    dtype: str
    offset: int = 0

    @property
    def nbytes(self) -> int:
        """Size in bytes."""
        return prod(self.shape) * element_bytes(self.dtype)


@dataclass(frozen=True)
class Call:
    """Run one kernel on these tensors."""

    kernel: str
    args: tuple[Ref, ...]


@dataclass(frozen=True)
class Copy:
    """Copy a tensor into an output buffer (an output that no kernel writes in place)."""

    source: Ref
    output: int


@dataclass(frozen=True)
class Keep:
    """Copy a state's new value (computed into the workspace) back into the state region."""

    source: Ref
    state: int


@dataclass(frozen=True)
class State:
    """A tensor the model keeps between runs: where it sits in the state region, and the value
    every element takes on reset."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    offset: int
    fill: int

    @property
    def nbytes(self) -> int:
        """Size in bytes."""
        return prod(self.shape) * element_bytes(self.dtype)


@dataclass(frozen=True)
class Block:
    """One region of the arena: a planner storage block or a kernel's scratch."""

    key: str
    """'storage<N>' for TVM's block N, 'scratch:<kernel>@<step>' for a kernel's scratch."""
    size: int
    first: int
    last: int
    offset: int = -1
    dtype: str = "uint8"


@dataclass(frozen=True)
class Tensor:
    """An input, output or constant of the model: name, shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        """Size in bytes."""
        return prod(self.shape) * element_bytes(self.dtype)


@dataclass(frozen=True)
class Plan:
    """Everything the AOT entry and the metadata say about memory and order."""

    steps: tuple[Call | Copy | Keep, ...]
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    constants: tuple[Tensor, ...]
    constant_values: tuple[Any, ...]
    """numpy arrays, parallel to `constants`."""
    storage: tuple[Block, ...]
    """TVM's planned blocks, placed."""
    scratch: dict[int, Block]
    """Step index → that call's scratch block, placed."""
    kernel_scratch: dict[str, int]
    """Kernel name → peak scratch bytes (aligned), for every kernel in the C source."""
    arena_size: int
    states: tuple[State, ...] = ()
    """What the model keeps between runs (empty for a stateless model)."""

    @property
    def state_size(self) -> int:
        """Bytes of the state region."""
        return max((st.offset + st.nbytes for st in self.states), default=0)

    @property
    def tvm_plan_bytes(self) -> int:
        """What TVM's plan needs without packing: the sum of its blocks."""
        return sum(b.size for b in self.storage)


def kernel_scratch(kernels_c: str, symbol_prefix: str) -> dict[str, int]:
    """Peak bytes each kernel takes with TVMBackendAllocWorkspace, each block aligned.

    TVM writes each kernel definition on one line (`TVM_DLL int32_t <symbol>(...) {`), so the
    allocations and frees between two definitions belong to the first.
    """
    starts = [(m.start(), m.group(1).removeprefix(symbol_prefix))
              for m in _DEFINITION.finditer(kernels_c) if m.group(1).startswith(symbol_prefix)]
    out = {kernel: 0 for _, kernel in starts}
    live: dict[str, int] = {}
    current = None
    for m in _WORKSPACE_CALL.finditer(kernels_c):
        owner = starts[bisect_right([at for at, _ in starts], m.start()) - 1][1]
        if owner != current:
            current, live = owner, {}
        if m.group(1) == "Alloc":
            line = kernels_c[kernels_c.rfind("\n", 0, m.start()) + 1:m.start()]
            var = _ASSIGNED.search(line)
            if var is None or m.group(2) is None:
                raise ExportError("codegen", f"cannot read a workspace allocation in {owner}")
            live[var.group(1)] = align(int(m.group(2)))
            out[owner] = max(out[owner], sum(live.values()))
        else:
            live.pop(m.group(3), None)
    return out


class _Reader:
    """Walks the planned entry function's bindings, building steps and references."""

    def __init__(self, fn: Any, output_names: tuple[str, ...] | None) -> None:
        self.fn = fn
        self.output_names = output_names
        self.refs: dict[Any, Ref | tuple[Ref, ...]] = {}
        self.storage_sizes: list[tuple[int, str]] = []
        self.storage_of: dict[Any, int] = {}
        self.pending = 0
        self.constants: list[Any] = []
        self.steps: list[Call | Copy | Keep] = []
        self.fills = state_fills(fn)
        self.states: list[Tensor] = []

    def read(self) -> tuple[list[Tensor], list[Tensor], list[Call | Copy | Keep]]:
        inputs = []
        first_state = len(self.fn.params) - len(self.fills)
        for i, p in enumerate(self.fn.params):
            shape, dtype = _type_of(p)
            if i >= first_state:
                self.refs[p] = Ref("state", i - first_state, shape, dtype)
                self.states.append(Tensor(c_identifier(p.name), shape, dtype))
                continue
            self.refs[p] = Ref("input", i, shape, dtype)
            inputs.append(Tensor(c_identifier(p.name), shape, dtype))
        for block in self.fn.body.blocks:
            for binding in block.bindings:
                self._bind(binding.var, binding.value)
        returned = self._value(self.fn.body.body)
        results = returned if isinstance(returned, tuple) else (returned,)
        outputs = self._outputs(results[:len(results) - len(self.fills)],
                                results[len(results) - len(self.fills):])
        return inputs, outputs, self.steps

    def _bind(self, var: Any, value: Any) -> None:
        import tvm

        if isinstance(value, tvm.ir.expr.Call):
            ref = self._call(value, var)
            if ref is not None:
                self.refs[var] = ref
        else:
            self.refs[var] = self._value(value)

    def _value(self, value: Any) -> Ref | tuple[Ref, ...]:
        import tvm

        if isinstance(value, tvm.ir.expr.Tuple):
            return tuple(self._single(v) for v in value.fields)
        if isinstance(value, tvm.ir.expr.TupleGetItem):
            group = self._value(value.tuple_value)
            assert isinstance(group, tuple)
            item: Ref = group[int(value.index)]
            return item
        if isinstance(value, tvm.ir.expr.GenericConst):
            return self._constant(value)
        if value in self.refs:
            return self.refs[value]
        raise ExportError("codegen", f"cannot place {type(value).__name__} in the AOT entry")

    def _single(self, value: Any) -> Ref:
        ref = self._value(value)
        if isinstance(ref, tuple):
            raise ExportError("codegen", "nested tuples are not supported by the AOT entry")
        return ref

    def _constant(self, const: Any) -> Ref:
        index = next((i for i, known in enumerate(self.constants) if known.same_as(const)), None)
        if index is None:
            index = len(self.constants)
            self.constants.append(const)
        shape, dtype = _type_of(const)
        return Ref("constant", index, shape, dtype)

    def _call(self, call: Any, var: Any) -> Ref | tuple[Ref, ...] | None:
        import tvm

        if isinstance(call.op, tvm.ir.GlobalVar):
            self.steps.append(Call(call.op.name_hint, tuple(self._single(a) for a in call.args)))
            return None
        op = getattr(call.op, "name", None)
        if op is None:  # an ExternFunc: a packed function the VM would look up at run time
            symbol = str(getattr(call.op, "global_symbol", call.op))
            raise ExportError("codegen", f"the model calls the external function {symbol}, "
                              "which a standalone C archive cannot provide", operator=symbol)
        if op == "relax.memory.alloc_storage":
            self.storage_of[var] = len(self.storage_sizes)
            self.storage_sizes.append((_ints(call.args[0])[0], str(call.args[3].value)))
            return None
        if op == "relax.memory.alloc_tensor":
            shape, dtype = _type_of(var)
            return Ref("storage", self.storage_of[call.args[0]], shape, dtype,
                       int(call.args[1].value))
        if op == "relax.builtin.alloc_tensor":
            shape, dtype = _type_of(var)
            self.pending += 1
            return Ref("output", -self.pending, shape, dtype)
        if op == "relax.reshape":
            source = self._single(call.args[0])
            shape, dtype = _type_of(var)
            return Ref(source.kind, source.index, shape, dtype, source.offset)
        raise ExportError("codegen", "the AOT entry cannot run this operator outside a kernel",
                          operator=op)

    def _outputs(self, results: tuple[Ref, ...], kept: tuple[Ref, ...]) -> list[Tensor]:
        """The outputs, steps copying what no kernel writes in place, and each state's new
        value (`kept`) moved into a workspace block of its own and kept after the last step."""
        names = self.output_names or (("output",) if len(results) == 1 else
                                      tuple(f"output{i}" for i in range(len(results))))
        if len(names) != len(results):
            raise ExportError("codegen", f"{len(names)} output names for {len(results)} outputs")
        claimed: dict[int, int] = {}
        for i, ref in enumerate(results):
            if ref.kind == "output" and ref.index not in claimed:
                claimed[ref.index] = i
            else:
                self.steps.append(Copy(ref, i))
        spilled: dict[int, Ref] = {}
        for k, ref in enumerate(kept):
            if ref.kind == "output" and ref.index < 0 and ref.index not in claimed:
                spilled[ref.index] = Ref("storage", len(self.storage_sizes), ref.shape,
                                         ref.dtype)
                self.storage_sizes.append((ref.nbytes, ref.dtype))
            self.steps.append(Keep(ref, k))
        self.steps = _early_keeps([_resolve(s, claimed, spilled) for s in self.steps])
        unclaimed = set(range(-self.pending, 0)) - set(claimed) - set(spilled)
        if unclaimed:
            raise ExportError("codegen", "an unplanned tensor is not a model output")
        return [Tensor(c_identifier(n), r.shape, r.dtype)
                for n, r in zip(names, results, strict=True)]


def _early_keeps(steps: list[Call | Copy | Keep]) -> list[Call | Copy | Keep]:
    """Each Keep moved to right after the last step that reads its state or touches its new
    value, so the new value's workspace block is free for the steps after it."""
    def refs(step: Call | Copy | Keep) -> tuple[Ref, ...]:
        return step.args if isinstance(step, Call) else (step.source,)

    keeps = [s for s in steps if isinstance(s, Keep)]
    order: list[Call | Copy | Keep] = [s for s in steps if not isinstance(s, Keep)]
    for keep in keeps:
        needed = [i for i, s in enumerate(order) for r in refs(s)
                  if r == keep.source or (r.kind == "state" and r.index == keep.state)]
        order.insert(max(needed, default=len(order) - 1) + 1, keep)
    return order


def _resolve(step: Call | Copy | Keep, claimed: dict[int, int],
             spilled: dict[int, Ref]) -> Call | Copy | Keep:
    """Replace pending output ids (negative) by output positions, or by the workspace block
    of a state's new value."""
    def fix(r: Ref) -> Ref:
        if r.kind != "output" or r.index >= 0:
            return r
        if r.index in spilled:
            return spilled[r.index]
        return Ref(r.kind, claimed[r.index], r.shape, r.dtype, r.offset)

    if isinstance(step, Call):
        return Call(step.kernel, tuple(fix(a) for a in step.args))
    if isinstance(step, Keep):
        return Keep(fix(step.source), step.state)
    return Copy(fix(step.source), step.output)


def _ints(shape_expr: Any) -> list[int]:
    return [int(v) for v in shape_expr.values]


def _type_of(expr: Any) -> tuple[tuple[int, ...], str]:
    ty = expr.ty
    try:
        return tuple(_ints(ty.shape)), str(ty.dtype)
    except (AttributeError, TypeError) as exc:
        raise ExportError("codegen", f"{getattr(expr, 'name', 'a tensor')} has no static "
                          f"shape ({ty})") from exc


def build_plan(fn: Any, kernels_c: str, symbol_prefix: str,
               output_names: tuple[str, ...] | None) -> Plan:
    """Read the planned entry function and pack its blocks and the kernels' scratch."""
    reader = _Reader(fn, output_names)
    inputs, outputs, steps = reader.read()
    scratch_need = kernel_scratch(kernels_c, symbol_prefix)
    blocks = _storage_blocks(reader.storage_sizes, steps)
    scratch = {i: Block(f"scratch:{s.kernel}@{i}", scratch_need.get(s.kernel, 0), i, i)
               for i, s in enumerate(steps)
               if isinstance(s, Call) and scratch_need.get(s.kernel, 0)}
    placed = _pack(blocks + list(scratch.values()))
    constants = [Tensor(f"p{i}", *_type_of(c)) for i, c in enumerate(reader.constants)]
    states, at = [], 0
    for t, fill in zip(reader.states, reader.fills, strict=True):
        states.append(State(t.name, t.shape, t.dtype, at, fill))
        at = align(at + t.nbytes)
    return Plan(
        steps=tuple(steps), inputs=tuple(inputs), outputs=tuple(outputs),
        constants=tuple(constants),
        constant_values=tuple(c.value.numpy() for c in reader.constants),
        storage=tuple(placed[b.key] for b in blocks),
        scratch={i: placed[b.key] for i, b in scratch.items()},
        kernel_scratch=scratch_need,
        arena_size=max((b.offset + b.size for b in placed.values()), default=0),
        states=tuple(states))


def _storage_blocks(sizes: list[tuple[int, str]],
                    steps: list[Call | Copy | Keep]) -> list[Block]:
    """TVM's blocks, each live from the first to the last step that touches it."""
    used: dict[int, list[int]] = {}
    for i, step in enumerate(steps):
        refs = step.args if isinstance(step, Call) else (step.source,)
        for r in refs:
            if r.kind == "storage":
                used.setdefault(r.index, []).append(i)
    return [Block(f"storage{n}", size, min(used.get(n, [0])), max(used.get(n, [0])), dtype=dt)
            for n, (size, dt) in enumerate(sizes)]


def _pack(blocks: list[Block]) -> dict[str, Block]:
    """Greedy first fit, largest first: the lowest aligned offset free for the block's lifetime."""
    placed: list[Block] = []
    for b in sorted(blocks, key=lambda b: (-b.size, b.first, b.key)):
        busy = sorted((p.offset, p.offset + p.size) for p in placed
                      if p.first <= b.last and b.first <= p.last)
        offset = 0
        for start, end in busy:
            if offset + b.size <= start:
                break
            offset = max(offset, align(end))
        placed.append(Block(b.key, b.size, b.first, b.last, offset, b.dtype))
    return {b.key: b for b in placed}
