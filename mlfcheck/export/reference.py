"""The model's own runtime as reference: LiteRT for .tflite, onnxruntime for .onnx; run the model
file on given inputs and compare outputs element by element (quantized units for int outputs).

LiteRT runs with its reference kernels (OpResolverType.BUILTIN_REF), the integer arithmetic
TFLite specifies, not the optimised or XNNPACK kernels whose rounding may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck.errors import ExportError

NEEDS_LITERT = "comparing with LiteRT needs ai-edge-litert: pip install 'mlfcheck[tvm]'"
NEEDS_ORT = "comparing with onnxruntime needs onnxruntime: pip install 'mlfcheck[tvm]'"
RUNTIMES = {".tflite": "LiteRT (reference kernels)", ".onnx": "onnxruntime"}
"""Model file suffix → the runtime that serves as its reference."""


@dataclass(frozen=True)
class Agreement:
    """How one output compares with the reference, element by element."""

    name: str
    differing: int
    """Elements that differ."""
    total: int
    max_diff: float
    """Largest absolute difference, in quantized units for integer outputs."""
    integer: bool
    """True for an integer (quantized) output."""

    @property
    def identical(self) -> bool:
        """True when every element matches."""
        return self.differing == 0


def litert_outputs(model: Path | bytes, inputs: Sequence[Any]) -> list[Any]:
    """Run `model` (a .tflite path or its bytes) on `inputs`, in the model's input order."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise ExportError("verify", NEEDS_LITERT) from None
    content = model.read_bytes() if isinstance(model, Path) else model
    try:
        interpreter = Interpreter(model_content=content,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        interpreter.allocate_tensors()
        details = interpreter.get_input_details()
        if len(details) != len(inputs):
            raise ExportError("verify", f"LiteRT expects {len(details)} inputs, "
                              f"got {len(inputs)}")
        for detail, x in zip(details, inputs, strict=True):
            interpreter.set_tensor(detail["index"], x.reshape(detail["shape"]))
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    except (RuntimeError, ValueError) as exc:
        raise ExportError("verify", f"LiteRT could not run the model: {exc}") from None


def onnxruntime_outputs(model: Path, inputs: Sequence[Any]) -> list[Any]:
    """Run the ONNX model at `model` on `inputs` (graph input order) with onnxruntime's CPU
    provider."""
    try:
        import onnxruntime
    except ImportError:
        raise ExportError("verify", NEEDS_ORT) from None
    try:
        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)}
        return list(session.run(None, feeds))
    except (RuntimeError, ValueError) as exc:
        raise ExportError("verify", f"onnxruntime could not run the model: {exc}") from None


def compare(names: Sequence[str], got: Sequence[Any], want: Sequence[Any]) -> tuple[Agreement, ...]:
    """Per output: how many elements differ and by how much at most."""
    import numpy as np

    if len(got) != len(want):
        raise ExportError("verify", f"the reference gives {len(want)} outputs, the archive "
                          f"{len(got)}")
    out = []
    for name, g, w in zip(names, got, want, strict=True):
        diff = np.abs(np.asarray(g, np.float64).reshape(-1) - np.asarray(w, np.float64)
                      .reshape(-1))
        out.append(Agreement(name, int(np.count_nonzero(diff)), int(diff.size),
                             float(diff.max(initial=0.0)), np.asarray(w).dtype.kind in "iu"))
    return tuple(out)


def check_against_runtime(model: Path, names: Sequence[str], inputs: Sequence[Any],
                          got: Sequence[Any]) -> tuple[Agreement, ...]:
    """Outputs `got` (from any run of `model` on `inputs`) compared with the model's own
    runtime (RUNTIMES by suffix): the check --verify and the fuzzer share."""
    if model.suffix == ".onnx":
        return compare(names, got, onnxruntime_outputs(model, inputs))
    return compare(names, got, litert_outputs(model, inputs))
