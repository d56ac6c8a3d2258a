"""metadata.json of a version-8 archive: v7's full-model shape plus the v8 additions."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from mlfcheck.export import simd
from mlfcheck.export.integer import Lowering
from mlfcheck.export.pipeline import kernel_symbol
from mlfcheck.export.plan import Plan, Tensor
from mlfcheck.version import __version__

VERSION = 8
DEVICE_CPU = 1


def export_datetime(epoch: int) -> str:
    """`epoch` as v7's pattern, but in true UTC."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def generator() -> dict[str, str]:
    """Who wrote the archive: tool, tool version, TVM and TVM-FFI versions."""
    import tvm
    import tvm_ffi

    return {"tool": "mlfcheck", "tool_version": __version__, "tvm_version": tvm.__version__,
            "tvm_ffi_version": tvm_ffi.__version__}


def _tensors(tensors: tuple[Tensor, ...]) -> dict[str, dict[str, Any]]:
    return {t.name: {"dtype": t.dtype, "shape": list(t.shape), "size": t.nbytes}
            for t in tensors}


def lowering_entry(lowering: Lowering) -> dict[str, Any]:
    """`lowering`: integer or float, the integer kernels, what stayed float and why, and the
    CPU the SIMD kernel library was chosen for."""
    entry: dict[str, Any] = {
        "quantized": "integer" if lowering.integer else "float",
        "integer_kernels": dict(lowering.kernels),
        "stayed_float": [{"operator": f.operator, "at": f.at, "reason": f.reason}
                         for f in lowering.stayed_float]}
    if lowering.simd_cpu is not None:
        entry["simd"] = {"cpu": lowering.simd_cpu,
                         "kernels": sorted(k for k in lowering.kernels if k in simd.KINDS)}
    return entry


def state_entry(plan: Plan) -> dict[str, Any]:
    """`state`: the region that outlives run() (tvmgen_<m>_state) and each tensor in it."""
    return {"size_bytes": plan.state_size,
            "tensors": [{"name": st.name, "dtype": st.dtype, "shape": list(st.shape),
                         "size_bytes": st.nbytes, "offset": st.offset, "reset_value": st.fill}
                        for st in plan.states]}


def module_entry(plan: Plan, name: str, *, target: str, epoch: int,
                 with_runtime: bool, lowering: Lowering | None = None) -> dict[str, Any]:
    """One entry of `modules`."""
    io_bytes = sum(t.nbytes for t in plan.inputs + plan.outputs)
    main = {"constants_size_bytes": sum(t.nbytes for t in plan.constants),
            "device": DEVICE_CPU, "inputs": _tensors(plan.inputs), "io_size_bytes": io_bytes,
            "outputs": _tensors(plan.outputs), "workspace_size_bytes": plan.arena_size}
    operators = [{"function_name": kernel_symbol(name, k),
                  "workspace": [{"device": DEVICE_CPU, "workspace_size_bytes": size}]}
                 for k, size in sorted(plan.kernel_scratch.items())]
    entry: dict[str, Any] = {
        "executors": ["aot"],
        "export_datetime": export_datetime(epoch),
        "generator": generator(),
        "memory": {"functions": {"main": [main], "operator_functions": operators}},
        "model_name": name,
        "storage": [{"dtype": b.dtype, "offset": b.offset, "size_bytes": b.size,
                     "storage_id": i} for i, b in enumerate(plan.storage)],
        "style": "full-model",
        "target": [target],
    }
    if plan.states:
        entry["state"] = state_entry(plan)
    if lowering is not None and lowering.quantized:
        entry["lowering"] = lowering_entry(lowering)
    if with_runtime:
        entry["external_dependencies"] = [{"short_name": "mlfcheck_runtime", "url": "./runtime",
                                           "url_type": "mlf_path", "version_spec": __version__}]
    return entry


def metadata_json(entry: dict[str, Any], name: str) -> bytes:
    """The document, written as TVM wrote full-model metadata: sorted keys, indent 2."""
    doc = {"modules": {name: entry}, "version": VERSION}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
