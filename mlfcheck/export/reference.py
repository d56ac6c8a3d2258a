"""The model's own runtime as reference: TFLite Micro for .tflite, onnxruntime for .onnx; run the
model file on given inputs and compare outputs element by element (quantized units for int
outputs). For .tflite, LiteRT gives a second opinion that decides nothing.

TFLite Micro is the reference because it is what runs a .tflite on a microcontroller, the
archive's target: its reference kernels define the integer results a device gets. LiteRT's
reference kernels (OpResolverType.BUILTIN_REF) differ from them by a unit on some int8 outputs
(FULLY_CONNECTED's rounding), and refuse models TFLite Micro runs (a 1-D tensor whose
quantized_dimension is not 0), so LiteRT is reported beside TFLite Micro, never instead of it.

A stateful model is compared over consecutive calls: both runtimes keep a model's variable
tensors across invoke() on one interpreter, so each is created once and invoked once per call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck.errors import ExportError
from mlfcheck.export.stages import first_line

NEEDS_LITERT = "comparing with LiteRT needs ai-edge-litert: pip install 'mlfcheck[tvm]'"
NEEDS_TFLM = "comparing with TFLite Micro needs tflite-micro: pip install 'mlfcheck[tvm]'"
NEEDS_ORT = "comparing with onnxruntime needs onnxruntime: pip install 'mlfcheck[tvm]'"
TFLM = "TFLite Micro (reference kernels)"
LITERT = "LiteRT (reference kernels)"
RUNTIMES = {".tflite": TFLM, ".onnx": "onnxruntime"}
"""Model file suffix → the runtime that serves as its reference."""
SECOND_OPINIONS = {".tflite": LITERT}
"""Model file suffix → a runtime reported beside the reference, deciding nothing."""
SAID = 160
"""Characters of a runtime's error kept in a message (LiteRT repeats one per tensor)."""
ARENA_SLACK = 1 << 16
"""Bytes of TFLite Micro arena beyond twice the model's tensors (its own bookkeeping and
kernels' scratch buffers)."""


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


@dataclass(frozen=True)
class SecondOpinion:
    """How the outputs compare with a runtime that does not decide the verdict."""

    runtime: str
    agreement: tuple[Agreement, ...] | None
    """Per output, as for the reference; None when the runtime could not run the model."""
    error: str | None = None
    """Why the runtime could not run the model, in its words."""


def litert_outputs(model: Path | bytes, inputs: Sequence[Any]) -> list[Any]:
    """Run `model` (a .tflite path or its bytes) on `inputs`, in the model's input order."""
    return litert_calls(model, [inputs])[0]


def litert_calls(model: Path | bytes, calls: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Run `model` on consecutive calls (each call's inputs) on one interpreter, from a fresh
    state: each call's outputs."""
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
        out = []
        for inputs in calls:
            if len(details) != len(inputs):
                raise ExportError("verify", f"LiteRT expects {len(details)} inputs, "
                                  f"got {len(inputs)}")
            for detail, x in zip(details, inputs, strict=True):
                interpreter.set_tensor(detail["index"], x.reshape(detail["shape"]))
            interpreter.invoke()
            out.append([interpreter.get_tensor(d["index"])
                        for d in interpreter.get_output_details()])
        return out
    except (RuntimeError, ValueError) as exc:
        said = first_line(exc)
        said = said if len(said) <= SAID else said[:SAID - 3] + "..."
        raise ExportError("verify", f"LiteRT could not run the model: {said}") from None


def tflm_outputs(model: Path | bytes, inputs: Sequence[Any]) -> list[Any]:
    """Run `model` (a .tflite path or its bytes) on `inputs` with TFLite Micro's interpreter,
    from a fresh state (variable tensors reset), in the model's input order."""
    return tflm_calls(model, [inputs])[0]


def tflm_calls(model: Path | bytes, calls: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Run `model` with TFLite Micro on consecutive calls (each call's inputs) on one
    interpreter, from a fresh state: each call's outputs."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise ExportError("verify", NEEDS_TFLM) from None
    content = model.read_bytes() if isinstance(model, Path) else model
    counts = _io_counts(content)
    for inputs in calls:
        if counts[0] != len(inputs):
            raise ExportError("verify", f"TFLite Micro expects {counts[0]} inputs, got "
                              f"{len(inputs)}")
    _runs_in_tflm(content)
    printed: list[str] = []
    try:
        with _stderr_into(printed):
            interpreter = runtime.Interpreter.from_bytes(content, arena_size=tflm_arena(content))
            out = []
            for inputs in calls:
                for i, x in enumerate(inputs):
                    interpreter.set_input(x.reshape(interpreter.get_input_details(i)["shape"]),
                                          i)
                interpreter.invoke()
                out.append([interpreter.get_output(i) for i in range(counts[1])])
            return out
    except (RuntimeError, ValueError) as exc:
        said = [line.strip() for line in "".join(printed).splitlines() if line.strip()]
        raise ExportError("verify", "TFLite Micro could not run the model: "
                          + (f"{said[0]} ({first_line(exc)})" if said else first_line(exc))
                          ) from None


@contextmanager
def _stderr_into(printed: list[str]) -> Iterator[None]:
    """Within it, what C code writes to file descriptor 2 (TFLite Micro's MicroPrintf) goes
    into `printed` instead of the terminal: its reasons become part of one error line."""
    import os
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            printed.append(sink.read().decode(errors="replace"))


def _integer_svdfs(content: bytes) -> Iterator[tuple[int, list[int]]]:
    """(operator index, input tensor types, -1 for an absent one) of each SVDF with an int8
    input in the model's main subgraph."""
    import tflite

    model = tflite.Model.GetRootAsModel(content, 0)
    graph = model.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != tflite.BuiltinOperator.SVDF:
            continue
        types = [graph.Tensors(int(t)).Type() if t >= 0 else -1 for t in op.InputsAsNumpy()]
        if types and types[0] == tflite.TensorType.INT8:
            yield i, types


def _runs_in_tflm(content: bytes) -> None:
    """Raise ExportError for a model TFLite Micro would crash on rather than refuse: an
    integer SVDF without bias (its Prepare reads the absent bias's scale)."""
    for i, types in _integer_svdfs(content):
        if len(types) < 4 or types[3] < 0:
            raise ExportError("verify", f"TFLite Micro cannot run operator #{i} SVDF: an int8 "
                              "SVDF without bias (its kernel reads the bias scale); give the "
                              "SVDF a zero bias to compare with TFLite Micro")


def _litert_refusal(content: bytes) -> str | None:
    """Why LiteRT must not be asked to run the model (it would abort this process), or None:
    an int8 SVDF with int8 time weights, which LiteRT's integer SVDF (written for int16 time
    weights and state) reads out of bounds."""
    import tflite

    for i, types in _integer_svdfs(content):
        if len(types) > 2 and types[2] == tflite.TensorType.INT8:
            return (f"LiteRT has no int8-time-weights SVDF (operator #{i}): it corrupts its "
                    "heap on this model, so it was not run")
    return None


def tflm_arena(content: bytes) -> int:
    """An arena TFLite Micro can surely run the model in: twice the bytes of every tensor
    without constant data (at 8 bytes an element, the widest type), plus ARENA_SLACK (for a
    verification run, not a footprint)."""
    import numpy as np
    import tflite

    model = tflite.Model.GetRootAsModel(content, 0)
    total = 0
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.TensorsLength()):
            t = graph.Tensors(i)
            if model.Buffers(t.Buffer()).DataLength() == 0:
                shape = t.ShapeAsNumpy() if t.ShapeLength() else np.ones(1, np.int64)
                total += int(np.prod(np.maximum(shape, 1))) * 8
    return 2 * total + ARENA_SLACK


def _io_counts(content: bytes) -> tuple[int, int]:
    """(inputs, outputs) of the model's main subgraph."""
    import tflite

    graph = tflite.Model.GetRootAsModel(content, 0).Subgraphs(0)
    return graph.InputsLength(), graph.OutputsLength()


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


def check_against_runtime(model: Path, names: Sequence[str], calls: Sequence[Sequence[Any]],
                          got: Sequence[Sequence[Any]]) -> tuple[Agreement, ...]:
    """Outputs `got` (each call's, from any run of `model` on consecutive `calls` from the
    reset state) compared with the model's own runtime (RUNTIMES by suffix) over all calls."""
    if model.suffix == ".onnx":
        want = [onnxruntime_outputs(model, inputs) for inputs in calls]
    else:
        want = tflm_calls(model, calls)
    return compare(names, joined(got), joined(want))


def joined(calls: Sequence[Sequence[Any]]) -> list[Any]:
    """Per output: its values over every call, one flat array (comparisons cover all
    calls)."""
    import numpy as np

    return [np.concatenate([np.asarray(c[i]).reshape(-1) for c in calls])
            for i in range(len(calls[0]))]


def second_opinion(model: Path, names: Sequence[str], calls: Sequence[Sequence[Any]],
                   got: Sequence[Sequence[Any]]) -> SecondOpinion | None:
    """Outputs `got` (each call's) compared with the model's second-opinion runtime
    (SECOND_OPINIONS by suffix), or why that runtime could not run the model; None when there
    is none."""
    runtime = SECOND_OPINIONS.get(model.suffix)
    if runtime is None:
        return None
    refused = _litert_refusal(model.read_bytes())
    if refused is not None:
        return SecondOpinion(runtime, None, refused)
    try:
        return SecondOpinion(runtime, compare(names, joined(got),
                                              joined(litert_calls(model, calls))))
    except ExportError as exc:
        return SecondOpinion(runtime, None, str(exc).removeprefix("verify failed: "))
