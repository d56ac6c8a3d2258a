"""The Relax pipeline: legalize, fold constants, fuse, plan memory, then emit kernels as C."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlfcheck.errors import UnsupportedModel
from mlfcheck.export import simd
from mlfcheck.export.frontends import Imported
from mlfcheck.export.stages import stage

TARGET = "c"
_LIBRARY_CTX = re.compile(r"^void\* __tvm_ffi__library_ctx = NULL;\n", re.M)
_HALF = re.compile(r"\(half\*?\)|^\s*half\b", re.M)
"""Where TVM's C backend uses float16: casts to half and half declarations."""
_KERNEL = re.compile(r"^TVM_DLL int32_t (\w+)\(", re.M)
_QUIET_GCC = """\
/* TVM initialises reduction accumulators inside their loop (`if (k == 0)`), which GCC's
   -Wmaybe-uninitialized cannot follow; and when a kernel writes only some of its outputs
   (a split whose other part is unused) it still unpacks every buffer pointer. The code is
   correct, so those warnings are off. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-variable"
#elif defined(__clang__)
#pragma clang diagnostic ignored "-Wunused-but-set-variable"
#pragma clang diagnostic ignored "-Wunused-variable"
#endif
"""


@dataclass(frozen=True)
class Compiled:
    """What the exporter needs from TVM: the planned entry function and the kernels' C source."""

    planned: Any
    """The entry relax Function after StaticPlanBlockMemory (alloc_storage/alloc_tensor form)."""
    kernels_c: str
    """C source of every kernel, symbols prefixed `__tvm_ffi_tvmgen_<name>_`, link-safe."""
    target: str
    """str(tvm.target.Target) of the C target."""


def kernel_prefix(name: str) -> str:
    """The prefix TVM's system_lib_prefix gives kernel names of module `name`."""
    return f"tvmgen_{name}_"


def kernel_symbol(name: str, kernel: str) -> str:
    """The C symbol of one kernel (TVM-FFI packed calling convention)."""
    return f"__tvm_ffi_{kernel_prefix(name)}{kernel}"


def _passes() -> tuple[list[Any], list[Any]]:
    """(up to and including memory planning, after it) — tvm.compile's CPU pipeline plus fusion."""
    import tvm
    from tvm import relax

    planning = [
        relax.backend.DispatchSampling(), relax.backend.DispatchSortScan(),
        relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(), relax.transform.FuseOps(), relax.transform.FuseTIR(),
        relax.transform.RewriteDataflowReshape(), relax.transform.ToNonDataflow(),
        relax.transform.RemovePurityChecking(), relax.transform.CallTIRRewrite(),
        relax.transform.StaticPlanBlockMemory(),
    ]
    lowering = [
        relax.transform.RewriteCUDAGraph(), relax.transform.LowerAllocTensor(),
        relax.transform.KillAfterLastUse(), relax.transform.LowerRuntimeBuiltin(),
        relax.transform.ComputePrimValue(), relax.transform.VMShapeLower(),
        tvm.transform.module_pass(_attach_global_symbol, opt_level=0,
                                  name="AttachGlobalSymbolPastLibraryCalls"),
    ]
    return planning, lowering


def _attach_global_symbol(mod: Any, ctx: Any) -> Any:
    """TVM's AttachGlobalSymbol, past the kernels that call the SIMD library: when it renames
    functions it rewrites every PrimFunc and fails on a call whose arguments are pointers (TVM
    0.27), so those kernels go through it with an empty body and get theirs back after."""
    from tvm import relax, tirx

    bodies = {}
    for gv, func in mod.functions_items():
        if isinstance(func, tirx.PrimFunc) and func.attrs and simd.ATTR in func.attrs:
            bodies[gv.name_hint] = func.body
            mod[gv] = func.with_body(tirx.Evaluate(0))
    prefix = str(mod.attrs["system_lib_prefix"]) if mod.attrs and \
        "system_lib_prefix" in mod.attrs else ""
    mod = relax.transform.AttachGlobalSymbol()(mod)
    for gv, func in mod.functions_items():
        body = bodies.get(gv.name_hint.removeprefix(prefix))
        if body is not None and isinstance(func, tirx.PrimFunc):
            mod[gv] = func.with_body(body)
    return mod


def relax_pipeline() -> Any:
    """The whole pass list as one Sequential: what `tvm.compile` runs with our passes (the
    export benchmark's baseline)."""
    import tvm

    planning, lowering = _passes()
    return tvm.transform.Sequential(planning + lowering)


def compile_model(imported: Imported, name: str) -> Compiled:
    """Run the passes on the C target and generate the kernels' C source."""
    import tvm
    from tvm import relax

    planning, lowering = _passes()
    target = tvm.target.Target(TARGET)
    _lower_fabs_in_c()
    mod = imported.mod.with_attr("system_lib_prefix", kernel_prefix(name))
    with stage("compile"), target:
        planned = tvm.transform.Sequential(planning)(mod)
    with stage("codegen"), target:
        final = tvm.transform.Sequential(lowering)(planned)
    with stage("codegen", operator=lambda: _failing_kernel(final, target, name)), target:
        executable = relax.build(final, target=target, relax_pipeline=None, system_lib=True)
        source = executable.mod.imports[0].inspect_source()
    _refuse_half(source, name)
    return Compiled(planned[imported.entry], _link_safe(source), str(target))


def _lower_fabs_in_c() -> None:
    """TVM 0.27's C target cannot emit `tirx.fabs` (abs, isinf, isfinite of floats): give it
    a lowering to C's fabsf/fabs. TVM keeps it with the operator for the process, so it is
    registered once."""
    import tvm

    if not tvm.ir.Op.get("tirx.fabs").has_attr(f"{TARGET}.FLowerIntrinsic"):
        tvm.tirx.register_intrin_lowering("tirx.fabs", target=TARGET, f=_fabs_in_c, level=99)


def _fabs_in_c(op: Any) -> Any:
    import tvm

    dtype = str(op.ty.dtype)
    function = {"float32": "fabsf", "float64": "fabs"}.get(dtype)
    return tvm.tirx.call_pure_extern(dtype, function, op.args[0]) if function else op


def _failing_kernel(final: Any, target: Any, name: str) -> str | None:
    """After a failed build: the first kernel that cannot be emitted as C on its own."""
    import tvm

    for gv, fn in final.functions_items():
        if isinstance(fn, tvm.tirx.PrimFunc):
            try:
                tvm.tirx.build(tvm.IRModule({gv: fn}), target=target)
            except Exception:
                return str(gv.name_hint).removeprefix(kernel_prefix(name))
    return None


def _refuse_half(source: str, name: str) -> None:
    """Raise UnsupportedModel when a kernel computes in float16: TVM writes such kernels with a
    `half` type that no C header defines, so the archive would not compile."""
    use = _HALF.search(source)
    if use is None:
        return
    kernels = [m for m in _KERNEL.finditer(source) if m.start() < use.start()]
    kernel = kernels[-1].group(1).rsplit(kernel_prefix(name), 1)[-1] if kernels else None
    raise UnsupportedModel("codegen", "float16 is not supported: TVM's C backend writes "
                           "float16 arithmetic with a `half` type that C does not define; "
                           "convert the model to float32", operator=kernel)


def _link_safe(source: str) -> str:
    """Drop the module-loader context TVM defines in every C file (unused, clashes at link),
    and silence GCC's false maybe-uninitialized warning so `-Wall -Werror` builds work; the
    SIMD kernel library goes there too when a kernel calls it."""
    calls = re.search(rf"\b{simd.CALL_PREFIX}\w+\(", source) is not None
    insert = _QUIET_GCC + (simd.source() if calls else "")
    return _LIBRARY_CTX.sub(lambda _: insert, source, count=1)
