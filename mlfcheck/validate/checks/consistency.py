"""Cross-file consistency: what metadata.json says against itself and against other members."""

from __future__ import annotations

from collections.abc import Iterator

from mlfcheck.findings import Code, Finding
from mlfcheck.reading.jsondoc import escape_token
from mlfcheck.reading.layouts import params_path
from mlfcheck.reading.loaded import Loaded
from mlfcheck.reading.model import dtype_bits, dtype_bytes, tensor_bytes
from mlfcheck.reading.params import ParamsFile
from mlfcheck.validate.checks.base import check
from mlfcheck.validate.checks.files import short_list


@check(Code.C001, Code.C002, needs="model")
def external_dependencies(ctx: Loaded) -> Iterator[Finding]:
    """`external_dependencies` with url_type mlf_path ⇔ that folder exists (mlf-spec.md §4)."""
    model = ctx.checked_model
    declared = False
    for module in model.modules:
        for i, dep in enumerate(module.external_dependencies):
            if dep.get("url_type") != "mlf_path":
                continue
            declared = True
            folder = str(dep.get("url", "")).removeprefix("./").rstrip("/")
            if folder and not ctx.archive.has_dir(folder):
                yield ctx.at(Code.C001, f"{dep.get('short_name', 'dependency')} points at "
                             f"{dep.get('url')!r}, which the archive does not contain",
                             f"{module.pointer}/external_dependencies/{i}/url")
    if not declared and ctx.archive.has_dir("runtime"):
        yield Finding(Code.C002, "runtime/ is present but no module lists it in "
                      "external_dependencies", member="runtime")


@check(Code.C003, Code.C004, needs="model")
def io_sizes(ctx: Loaded) -> Iterator[Finding]:
    """io_size_bytes against Σ inputs + outputs (equal for graph, at least for AOT); each size
    fits its dtype and shape as the archive's writer computed it."""
    model = ctx.checked_model
    for module in model.modules:
        for entry in module.main:
            if entry.inputs is None or entry.outputs is None:
                continue
            tensors = entry.inputs + entry.outputs
            total = sum(t.size for t in tensors)
            problem = _io_problem(module.executor, entry.io_size_bytes, total)
            if problem:
                yield ctx.at(Code.C003, problem, entry.pointer + "/io_size_bytes")
            for kind, group in (("inputs", entry.inputs), ("outputs", entry.outputs)):
                for t in group:
                    size = _size_problem(t.dtype, t.size, t.shape, model.version)
                    if size:
                        yield ctx.at(Code.C004, f"{kind[:-1]} {t.name!r}: {size}",
                                     f"{entry.pointer}/{kind}/{escape_token(t.name)}/size")
        for b in module.buffers:
            size = _size_problem(b.dtype, b.size_bytes, b.shape, model.version)
            if size:
                yield ctx.at(Code.C004, f"buffer of {b.function!r}: {size}",
                             f"{module.pointer}/memory/{escape_token(b.function)}")


def _io_problem(executor: str | None, io_size: int, total: int) -> str | None:
    """AOT main is in A-normal form since bc7f45e765: TVM adds every let-bound intermediate to
    io_size_bytes, so only a value below inputs + outputs is wrong there."""
    if executor == "aot":
        if io_size >= total:
            return None
        return f"io_size_bytes is {io_size}, below the {total} bytes its inputs and outputs take"
    if io_size == total:
        return None
    return f"io_size_bytes is {io_size} but inputs and outputs add up to {total}"


INT64_MAX = 2**63 - 1
"""Largest dimension a shape may have: TVM's shapes are int64."""


def _size_problem(dtype: str, size: int, shape: tuple[int, ...] | None,
                  version: int) -> str | None:
    width = dtype_bytes(dtype)
    if width is None:
        return None
    if shape is not None:
        if any(abs(d) > INT64_MAX for d in shape):
            return f"shape {short_list(list(shape))} has a dimension beyond int64"
        # one element takes at least one bit, so more than size x 8 elements never fit
        elements = _elements(shape, size * 8)
        expected = tensor_bytes(dtype, elements, version)
        if expected is not None and expected != size:
            formula = ("prod(shape) x bits, rounded up to bytes" if version <= 7
                       else f"prod(shape) x {width} bytes")
            shown = expected if elements <= size * 8 else f"more than {size}"
            return (f"size {size} differs from {shown} for shape {short_list(list(shape))} of "
                    f"{dtype} ({formula})")
        return None
    if (dtype_bits(dtype) or 8) % 8 == 0 and size % width:
        return f"size {size} is not a whole number of {dtype} elements ({width} bytes each)"
    return None


def _elements(shape: tuple[int, ...], cap: int) -> int:
    """The product of `shape`, or any value above `cap` once it is certain to pass it (so a
    shape of 100,000 dimensions costs no million-digit multiplications)."""
    if 0 in shape:
        return 0
    product = 1
    for d in shape:
        product *= d
        if abs(product) > cap:
            return cap + 1
    return product


@check(Code.C005, needs="model")
def module_names(ctx: Loaded) -> Iterator[Finding]:
    """modules.<m>.model_name equals <m> (mlf-spec.md §2.7)."""
    modules = ctx.meta.get("modules")
    if not isinstance(modules, dict):
        return
    for key, entry in sorted(modules.items()):
        if entry.get("model_name") != key:
            yield ctx.at(Code.C005, f"module key {key!r} but model_name "
                         f"{entry.get('model_name')!r}",
                         f"/modules/{escape_token(key)}/model_name")


@check(Code.C006, needs="model")
def constants_size(ctx: Loaded) -> Iterator[Finding]:
    """The parameters file holds no more tensor bytes than constants_size_bytes declares."""
    model = ctx.checked_model
    for module in model.modules:
        if not module.main:
            continue
        params = ctx.params(params_path(module))
        if not isinstance(params, ParamsFile):
            continue
        declared = sum(e.constants_size_bytes for e in module.main)
        if params.total_bytes > declared:
            yield ctx.at(Code.C006, f"{params_path(module)} holds {params.total_bytes} bytes of "
                         f"tensors but constants_size_bytes says {declared}",
                         module.main[0].pointer + "/constants_size_bytes")


@check(Code.C007, needs="model")
def workspace_covers_operators(ctx: Loaded) -> Iterator[Finding]:
    """main workspace ≥ every operator's workspace on the same device (mlf-spec.md §2.2)."""
    model = ctx.checked_model
    for module in model.modules:
        for entry in module.main:
            for op in module.operator_functions:
                for device, size in op.workspace:
                    if device == entry.device and size > entry.workspace_size_bytes:
                        yield ctx.at(Code.C007, f"workspace_size_bytes {entry.workspace_size_bytes}"
                                     f" on device {device} is smaller than {op.name}'s {size}",
                                     entry.pointer + "/workspace_size_bytes")
