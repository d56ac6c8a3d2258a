"""Model import: ONNX, TFLite, a Python file or the embedded default model, to a Relax IRModule.

A Python model file defines, at module level, either

* ``model``: a ``tvm.IRModule`` whose entry function ``main`` has static input shapes and its
  weights bound as constants; or
* ``model``: a ``tvm.relax.frontend.nn.Module`` whose parameters all carry data
  (``param.data = numpy_array``), and ``input_spec``: ``{name: (shape, dtype)}`` for ``forward``.

Optionally ``output_names``: a sequence of names for the outputs, in order.
"""

from __future__ import annotations

import re
import runpy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck.errors import ExportError
from mlfcheck.export.stages import stage

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Imported:
    """A model as TVM sees it: the Relax module, its entry function and its output names."""

    mod: Any
    """tvm.IRModule with every weight bound as a constant."""
    entry: str
    output_names: tuple[str, ...] | None
    kind: str
    """'onnx', 'tflite', 'python' or 'default'."""
    source: Path | None = None
    """The model file, for references that run it themselves (LiteRT for .tflite)."""


def c_identifier(name: str) -> str:
    """`name` made into a C identifier (the spelling used in metadata and the header)."""
    ident = re.sub(r"\W", "_", name)
    return ident if ident and not ident[0].isdigit() else f"t_{ident}"


def load_model(model: str, *, input_shapes: Mapping[str, Shape] | None = None) -> Imported:
    """Import `model` (a path, or the literal 'default') and check every input shape is static."""
    shapes = dict(input_shapes or {})
    path = Path(model)
    if model == "default":
        from mlfcheck.export.default_model import default_model

        imported = _from_python_namespace(default_model(), "default")
    elif not path.is_file():
        raise ExportError("import", f"{model}: no such file")
    elif path.suffix == ".onnx":
        imported = _from_onnx(path, shapes)
    elif path.suffix == ".tflite":
        imported = _from_tflite(path, shapes)
    elif path.suffix == ".py":
        with stage("import"):
            namespace = runpy.run_path(str(path), run_name="mlfcheck_model")
        imported = _from_python_namespace(namespace, "python")
    else:
        raise ExportError("import", f"{model}: unknown model kind {path.suffix!r} "
                          "(expected .onnx, .tflite or .py)")
    require_static_inputs(imported)
    return imported


def require_static_inputs(imported: Imported) -> None:
    """Raise an import error naming the first input whose shape is not made of constants."""
    import tvm

    for param in imported.mod[imported.entry].params:
        shape = getattr(param.ty, "shape", None)
        values = getattr(shape, "values", None)
        if values is None or not all(isinstance(v, tvm.tirx.IntImm) for v in values):
            raise _dynamic(param.name, shape)


def _dynamic(name: str, shape: Any) -> ExportError:
    """The import error for an input whose shape is not static."""
    return ExportError("import", f"input {name!r} has dynamic shape {shape}; static shapes "
                       f"only: give --input-shape {name}=d0,d1,... with every dimension fixed")


def _from_onnx(path: Path, shapes: dict[str, Shape]) -> Imported:
    with stage("import"):
        import onnx
        from tvm.relax.frontend.onnx import from_onnx

        proto = onnx.load(str(path))
        initializers = {i.name for i in proto.graph.initializer}
        inputs = [i for i in proto.graph.input if i.name not in initializers]
        shape_dict = {i.name: list(shapes.get(i.name, _onnx_dims(i))) for i in inputs}
        for name, dims in shape_dict.items():
            if not all(isinstance(d, int) for d in dims):
                raise _dynamic(name, dims)
        mod = from_onnx(proto, shape_dict=shape_dict, keep_params_in_input=False)
        outputs = tuple(o.name for o in proto.graph.output)
    return Imported(mod, "main", outputs, "onnx", path)


def _onnx_dims(value_info: Any) -> list[Any]:
    """Static dims as ints; a symbolic dim as its name (TVM 0.27's importer cannot take those
    in shape_dict, so they are refused before it runs)."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def _from_tflite(path: Path, shapes: dict[str, Shape]) -> Imported:
    from mlfcheck.export.tflite_import import import_tflite

    with stage("import"):
        mod, outputs = import_tflite(path, shapes)
    return Imported(mod, "main", outputs, "tflite", path)


def _from_python_namespace(namespace: Mapping[str, Any], kind: str) -> Imported:
    """An Imported from the names a model file (or the default model) defines."""
    with stage("import"):
        import tvm
        from tvm.relax.frontend import nn

        model = namespace.get("model")
        names = namespace.get("output_names")
        outputs = tuple(names) if names is not None else None
        if isinstance(model, tvm.IRModule):
            if not _has(model, "main"):
                raise ExportError("import", "the IRModule in 'model' has no function 'main'")
            return Imported(model, "main", outputs, kind)
        if isinstance(model, nn.Module):
            return Imported(_export_nn(model, namespace.get("input_spec")), "forward",
                            outputs, kind)
    raise ExportError("import", "a model file must define 'model' as a tvm.IRModule or a "
                      "tvm.relax.frontend.nn.Module (with 'input_spec')")


def _has(mod: Any, name: str) -> bool:
    return any(gv.name_hint == name for gv in mod.get_global_vars())


def _export_nn(model: Any, spec: Mapping[str, tuple[Sequence[int], str]] | None) -> Any:
    """Export an nn.Module's `forward` with its parameters bound as constants."""
    from tvm import relax
    from tvm.relax.frontend import nn

    if not spec:
        raise ExportError("import", "an nn.Module model needs 'input_spec': "
                          "{name: (shape, dtype)} for forward")
    tensors = {name: nn.spec.Tensor(tuple(shape), dtype) for name, (shape, dtype) in spec.items()}
    mod, named = model.export_tvm(spec={"forward": tensors})
    missing = [name for name, p in named if p.data is None]
    if missing:
        raise ExportError("import", f"parameter {missing[0]!r} has no data; set param.data")
    fn = mod["forward"]
    weights = fn.params[len(tensors):]
    bound = relax.transform.BindParams("forward", {v: p.data for v, (_, p) in
                                                   zip(weights, named, strict=True)})(mod)
    return bound
