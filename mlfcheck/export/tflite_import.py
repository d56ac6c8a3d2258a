"""The TFLite importer: a .tflite read as TFLite Micro reads it, converted to Relax by TVM's
TFLite converter with our corrections, or refused at the first operator it cannot take.

How: a subclass of TVM 0.27's `OperatorConverter`. Chosen over the alternatives by cost and
coverage: the converter already handles ~150 builtins and their options; what TFLite Micro's
examples need differs from it in the places listed below, each a method overridden here (this
module, screening included, is a few hundred lines). A flatbuffer pre-pass that rewrites the
model would need the flatbuffer object API the `tflite` package lacks, could not express what
Relax has no operator for (a QUANTIZE to int32), and would still leave the error messages to TVM;
an importer of our own for TFLite Micro's operator set (~90 builtins, each with options, types
and quantization rules) costs thousands of lines to cover what the converter covers already.

What differs from TVM's converter:

* Screening: before converting anything, each operator is checked in order, and the first one
  that cannot be exported raises UnsupportedModel naming its index and type, the tensor, the
  reason in TFLite's terms and what the user can do: custom operators, operators other than
  SVDF that keep state in variable tensors between invocations (the LSTMs), SVDF forms TFLite
  Micro has no kernel for, builtins TVM does not convert, quantized forms TVM lacks,
  dynamic-range quantization, a per-channel axis out of range.
* FULLY_CONNECTED on an input of rank > 2 with keep_num_dims false flattens it to [-1, depth]
  first, as TFLite does (TVM multiplies the unflattened input).
* Quantization is read as TFLite reads it: a per-tensor scale ignores `quantized_dimension`, and
  a 1-D tensor's only axis is 0 whatever the field says (person_detect's biases say 3).
* QUANTIZE between integer types other than int8 → int8 (int16 activations, an int32 output) is
  TFLite's Requantize: an integer kernel here, as TFLite computes it (relax.quantize cannot give
  int32, and its float rounding differs from TFLite's by one unit on some int16 inputs). int8 →
  int8 stays dequantize → quantize, which the integer lowering (`integer`) turns into its kernel.
* A failure inside TVM's conversion of an operator names that operator (index, type, tensor).
* SVDF is ours (`svdf`), not TVM's: TVM's float conversion reads the state as a constant and
  computes the output from the state before this step's shift (one step late), and it has no
  integer form. Ours is TFLite Micro's step, integer where TFLite Micro is, with the state as an
  explicit parameter and result of `main` that the archive keeps between calls of run().
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck.errors import ExportError, UnsupportedModel
from mlfcheck.export import svdf
from mlfcheck.export.stages import first_line

INTEGER_TYPES = ("int8", "int16", "int32")
"""Tensor types whose QUANTIZE between them is TFLite's integer Requantize."""
_TYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
               6: "bool", 7: "int16", 9: "int8", 10: "float64"}
"""TFLite TensorType codes → type names, for messages."""
_CUSTOM_REMEDIES = {
    "ethos-u": "the model was compiled by Vela for the Ethos-U NPU; export the model from before "
               "Vela compiled it",
    "Signal": "it belongs to TFLite Micro's signal library (audio feature extraction); compute "
              "the features in your own code and export the model that consumes them",
}
"""Custom operator name prefix → what the user can do instead."""


EXACT_QUANTIZED = frozenset({"PAD", "PADV2"})
"""Builtins TVM's converter converts exactly in quantized form (an int8 pad fills with the
zero point, as TFLite does) though its list of quantized operators leaves them out."""


@dataclass(frozen=True)
class Operator:
    """One operator of the model's main subgraph, as the refusal messages name it."""

    index: int
    code: str
    """The builtin's name (e.g. 'FULLY_CONNECTED'), 'CUSTOM' for a custom operator."""
    custom: str | None
    """A custom operator's name."""
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    @property
    def label(self) -> str:
        """'#2 FULLY_CONNECTED', '#0 CUSTOM SignalWindow': how a message names the operator."""
        return f"#{self.index} {self.code}" + (f" {self.custom}" if self.custom else "")


def import_tflite(path: Path, shapes: dict[str, tuple[int, ...]]) -> tuple[Any, tuple[str, ...]]:
    """The model at `path` as a Relax module and its output tensors' names."""
    import tflite
    from tvm.relax.frontend.tflite import from_tflite
    from tvm.relax.frontend.tflite.tflite_frontend import get_tensor_name

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    if model.SubgraphsLength() < 1:
        raise ExportError("import", f"{path}: the model has no subgraph")
    states: list[tuple[Any, Any, int]] = []
    mod = svdf.with_state(from_tflite(model, shape_dict=shapes or None,
                                      op_converter=_converter_class(states)), states)
    graph = model.Subgraphs(0)
    outputs = tuple(get_tensor_name(graph, graph.Outputs(i)) for i in range(graph.OutputsLength()))
    return mod, outputs


def _operators(model: Any, graph: Any, names: dict[int, str]) -> Iterator[Operator]:
    """The subgraph's operators in order; `names`: builtin code → name."""
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code_table = model.OperatorCodes(op.OpcodeIndex())
        code = max(code_table.DeprecatedBuiltinCode(), code_table.BuiltinCode())
        custom = code_table.CustomCode()
        yield Operator(i, names.get(code, f"builtin {code}"),
                       custom.decode() if names.get(code) == "CUSTOM" and custom else None,
                       tuple(int(t) for t in op.InputsAsNumpy()) if op.InputsLength() else (),
                       tuple(int(t) for t in op.OutputsAsNumpy()) if op.OutputsLength() else ())


def _describe(graph: Any, index: int) -> str:
    """"tensor 'name' (int16 [1, 32], variable)": a tensor as a refusal names it."""
    t = graph.Tensors(index)
    shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
    kind = _TYPE_NAMES.get(t.Type(), f"type {t.Type()}")
    name = repr(t.Name().decode()) if t.Name() is not None else f"#{index} (unnamed)"
    return f"tensor {name} ({kind} {shape}{', variable' if t.IsVariable() else ''})"


def _quantization(graph: Any, index: int) -> Any | None:
    """The tensor's quantization table when it carries scales, else None."""
    q = graph.Tensors(index).Quantization()
    return q if q is not None and q.ScaleLength() > 0 else None


@dataclass(frozen=True)
class _Screen:
    """What screening checks an operator against: TVM's converter's coverage."""

    converts: frozenset[str]
    """Builtins TVM's converter has a conversion for."""
    quantized: frozenset[str]
    """Builtins it converts in quantized form."""


def _screen(model: Any, graph: Any, names: dict[int, str], coverage: _Screen) -> None:
    """Raise UnsupportedModel at the first operator that cannot be exported."""
    for op in _operators(model, graph, names):
        refusal = _refusal(graph, op, coverage)
        if refusal is not None:
            tensor, reason, remedy = refusal
            raise UnsupportedModel("import", f"{_describe(graph, tensor)}: {reason}; {remedy}",
                                   operator=op.label)


def _refusal(graph: Any, op: Operator, coverage: _Screen) -> tuple[int, str, str] | None:
    """(tensor, reason, remedy) when `op` cannot be exported, else None."""
    written = op.outputs[0] if op.outputs else op.inputs[0]
    if op.custom is not None and op.custom != "TFLite_Detection_PostProcess":
        remedy = next((r for prefix, r in _CUSTOM_REMEDIES.items()
                       if op.custom.startswith(prefix)),
                      "replace it with TFLite builtin operators, or run the model with a "
                      "runtime that registers it")
        return (written, f"custom operator {op.custom!r} is code the runtime registers, not "
                "an operator the model describes", remedy)
    code = "DETECTION_POSTPROCESS" if op.custom else op.code
    if code == "SVDF":
        return _svdf_refusal(graph, op)
    stateful = [t for t in op.inputs if t >= 0 and graph.Tensors(t).IsVariable()]
    if stateful:
        return (stateful[0], f"{code} keeps state in this variable tensor between invocations, "
                "and the export keeps state between calls of run() only for SVDF (every call "
                "would start from a zero state)", "export a stateless form of the model (the "
                "state as an explicit input and output, or one invocation over the whole "
                "window), or run this model with TFLite Micro")
    if code not in coverage.converts:
        return (written, f"TVM's TFLite converter has no conversion for {code}",
                f"rewrite the model without {code} (TFLite builtins TVM converts), or run it "
                "with TFLite Micro")
    if code == "SOFTMAX" and (beta := _softmax_beta(graph, op.index)) != 1.0:
        return (written, f"SOFTMAX with beta {beta:g}: TVM's converter drops beta (it computes "
                "softmax(x), not softmax(beta·x))", "fold beta into the preceding layer's "
                "scale (beta 1), or run the model with TFLite Micro")
    return _quantization_refusal(graph, op, code, coverage)


def _svdf_refusal(graph: Any, op: Operator) -> tuple[int, str, str] | None:
    """Why this SVDF cannot be exported (a form TFLite Micro has no kernel for), else None."""
    from tflite.SVDFOptions import SVDFOptions

    x, wf, wt, bias, state = (list(op.inputs) + [-1] * 5)[:5]
    types: list[str | None] = [_TYPE_NAMES.get(graph.Tensors(t).Type()) if t >= 0 else None
                               for t in (x, wf, wt, bias, state, op.outputs[0])]
    remedy = "re-convert the model with TFLite's converter, or run it with TFLite Micro"
    if state < 0 or not graph.Tensors(state).IsVariable():
        return (op.outputs[0], "SVDF without a variable state tensor (input 4)", remedy)
    shapes = [graph.Tensors(t).ShapeAsNumpy().tolist() if graph.Tensors(t).ShapeLength() else []
              for t in (x, wf, wt, state)]
    rank = _svdf_rank(graph, op.index)
    if len(shapes[0]) != 2 or len(shapes[2]) != 2 or rank < 1 or shapes[1][0] % rank \
            or shapes[3] != [shapes[0][0], shapes[1][0] * shapes[2][1]]:
        return (state, f"SVDF shapes input {shapes[0]}, feature weights {shapes[1]}, time "
                f"weights {shapes[2]}, state {shapes[3]} with rank {rank} are not TFLite's "
                "(a [batch, input] input, filters divisible by rank, a [batch, filters × "
                "memory] state)", remedy)
    if types[0] == "float32":
        options = builtin_options(graph.Operators(op.index), SVDFOptions)
        if options is not None and options.FusedActivationFunction() not in svdf.CLIPS:
            return (op.outputs[0], "float SVDF with a fused activation other than none, RELU, "
                    "RELU_N1_TO_1 or RELU6", remedy)
        wanted: list[str | None] = ["float32"] * 6
    else:
        wanted = ["int8", "int8", types[2], "int32", types[2], "int8"]
    if bias < 0:
        wanted[3] = types[3] = None
    if types != wanted or types[2] not in ("int8", "int16", "float32"):
        return (state, "SVDF with tensor types (input, feature weights, time weights, bias, "
                f"state, output) {tuple(types)}: TFLite Micro has kernels for int8 input with "
                "int16 or int8 time weights and state of that same type, and for float32",
                remedy)
    return _svdf_quantization_refusal(graph, op, types[0] == "float32")


def builtin_options(operator: Any, kind: type) -> Any | None:
    """A tflite Operator's builtin options read as `kind` (a tflite *Options class), or None
    when the model leaves them out."""
    table = operator.BuiltinOptions()
    if table is None:
        return None
    options = kind()
    options.Init(table.Bytes, table.Pos)
    return options


def _svdf_rank(graph: Any, index: int) -> int:
    """The rank of the SVDF at operator `index` (0 when the options leave it out)."""
    from tflite.SVDFOptions import SVDFOptions

    options = builtin_options(graph.Operators(index), SVDFOptions)
    return 0 if options is None else int(options.Rank())


def _svdf_quantization_refusal(graph: Any, op: Operator, floating: bool
                               ) -> tuple[int, str, str] | None:
    """An integer SVDF's quantization as TFLite Micro requires it: one scale per tensor, and a
    bias scale equal to state scale × time weights scale."""
    if floating:
        return None
    x, wf, wt, bias, state = op.inputs[:5]
    scales = {}
    for t in (x, wf, wt, state, op.outputs[0]):
        q = _quantization(graph, t)
        if q is None or q.ScaleLength() != 1:
            return (t, "integer SVDF needs one scale per tensor (TFLite Micro reads only the "
                    "first)", "re-quantize the model per tensor, or run it with TFLite Micro")
        scales[t] = float(q.Scale(0))
    if bias >= 0:
        q = _quantization(graph, bias)
        if q is None or abs(float(q.Scale(0)) - scales[state] * scales[wt]) >= 1e-5:
            return (bias, "the bias scale is not state scale × time weights scale, which "
                    "TFLite Micro requires", "re-convert the model")
    return None


def _softmax_beta(graph: Any, index: int) -> float:
    """The beta of the SOFTMAX at operator `index` (1 when the options leave it out)."""
    from tflite.SoftmaxOptions import SoftmaxOptions

    options = builtin_options(graph.Operators(index), SoftmaxOptions)
    return 1.0 if options is None else float(options.Beta())


def _quantization_refusal(graph: Any, op: Operator, code: str,
                          coverage: _Screen) -> tuple[int, str, str] | None:
    """The quantization reasons an operator cannot be exported, in TFLite's terms."""
    tensors = [t for t in op.inputs + op.outputs if t >= 0]
    quantized = [t for t in tensors if _quantization(graph, t) is not None]
    activations = [t for t in (*op.inputs[:1], *op.outputs) if t >= 0]
    if quantized and not any(t in quantized for t in activations):
        return (quantized[0], "int8 weights with float activations (dynamic-range "
                "quantization): TFLite dequantizes them at run time, which TVM does not "
                "convert", "quantize the model fully (integer activations and weights, "
                "TFLiteConverter with a representative dataset), or export the float model")
    if quantized and code not in coverage.quantized:
        return (quantized[0], f"TVM's converter has no quantized form of {code}",
                f"export the float model, or replace {code} by operators with a quantized form")
    for t in quantized:
        q = _quantization(graph, t)
        rank = graph.Tensors(t).ShapeLength()
        if q is not None and q.ScaleLength() > 1 and rank > 1 \
                and not 0 <= q.QuantizedDimension() < rank:
            return (t, f"per-channel quantization along axis {q.QuantizedDimension()}, which "
                    f"a rank-{rank} tensor does not have", "re-convert the model")
    return None


def _converter_class(states: list[tuple[Any, Any, int]]) -> type:
    """TVM's OperatorConverter with the corrections this module lists (built on first use so
    importing this module does not import TVM); each SVDF's state goes into `states`."""
    from tvm.relax.frontend.tflite.tflite_frontend import OperatorConverter

    class Converter(OperatorConverter):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.flatten: dict[int, list[int]] = {}
            self.states = states
            _attribute(self)

        def check_unsupported_ops(self) -> None:
            _screen(self.model, self.subgraph, self.builtin_op_code,
                   _Screen(frozenset(self.convert_map),
                           frozenset(self._SUPPORTED_QUANTIZED_OPS) | EXACT_QUANTIZED))

        def get_tensors(self, tensors_idx_list: Any) -> list[Any]:
            return [_as_tflite_reads(w) for w in super().get_tensors(tensors_idx_list)]

        def get_tensor_expr(self, tensor: Any, is_sparse: bool = False) -> Any:
            expr = super().get_tensor_expr(tensor, is_sparse)
            return _flattened(expr, self.flatten.get(tensor.tensor_idx))

        def convert_fully_connected(self, op: Any) -> Any:
            self.flatten = _fc_flatten(self, op)
            try:
                return super().convert_fully_connected(op)
            finally:
                self.flatten = {}

        def convert_svdf(self, op: Any) -> Any:
            from tflite.SVDFOptions import SVDFOptions

            options = builtin_options(op, SVDFOptions)
            assert options is not None  # screening refused an SVDF without them (rank 0)
            return svdf.convert(self, op, options)

        def convert_quantize(self, op: Any) -> Any:
            requantized = _requantize(self, op)
            return super().convert_quantize(op) if requantized is None else requantized

    return Converter


def _attribute(conv: Any) -> None:
    """Wrap every conversion so a failure inside it names the operator being converted."""
    positions = {conv.subgraph.Operators(i)._tab.Pos: i
                 for i in range(conv.subgraph.OperatorsLength())}
    found = {op.index: op for op in _operators(conv.model, conv.subgraph, conv.builtin_op_code)}
    for code, convert in list(conv.convert_map.items()):
        conv.convert_map[code] = _attributed(conv.subgraph, positions, found, convert)


def _attributed(graph: Any, positions: dict[int, int], found: dict[int, Operator],
                convert: Callable[..., Any]) -> Callable[..., Any]:
    def run(op: Any) -> Any:
        try:
            return convert(op=op)
        except ExportError:
            raise
        except Exception as exc:
            at = found[positions[op._tab.Pos]]
            tensor = at.outputs[0] if at.outputs else at.inputs[0]
            raise ExportError(
                "import", f"{_describe(graph, tensor)}: TVM's TFLite converter cannot convert "
                f"this {at.code}: {first_line(exc)}; rewrite the model without this form of "
                f"{at.code}, or run it with TFLite Micro", operator=at.label) from exc

    return run


def _as_tflite_reads(wrapper: Any) -> Any:
    """A tensor's quantization axis as TFLite reads it: per-tensor scales ignore
    quantized_dimension, and a 1-D tensor's only axis is 0."""
    q = wrapper.qnn_params
    if not q:
        return wrapper
    rank = wrapper.tensor.ShapeLength()
    per_tensor = q["scale"].value.numpy().size == 1
    if q["axis"] != 0 and (rank == 1 or (per_tensor and q["axis"] >= rank)):
        q["axis"] = 0
    return wrapper


def _fc_flatten(conv: Any, op: Any) -> dict[int, list[int]]:
    """FULLY_CONNECTED's input flattened to [-1, depth] as TFLite does when keep_num_dims is
    false and the input has rank > 2: {tensor index: new shape}, or {} when nothing to do."""
    from tflite.FullyConnectedOptions import FullyConnectedOptions

    options = builtin_options(op, FullyConnectedOptions)
    if options is not None and options.KeepNumDims():
        return {}
    x, weights = conv.get_input_tensors(op)[:2]
    shape = [int(d) for d in x.tensor.ShapeAsNumpy()] if x.tensor.ShapeLength() else []
    depth = int(weights.tensor.ShapeAsNumpy()[-1])
    if len(shape) <= 2:
        return {}
    size = math.prod(shape)
    if size % depth:
        raise ExportError("import", f"{_describe(conv.subgraph, x.tensor_idx)}: "
                          f"{size} elements do not flatten to rows of the weights' depth "
                          f"{depth}; re-convert the model")
    return {x.tensor_idx: [size // depth, depth]}


def _flattened(expr: Any, shape: list[int] | None) -> Any:
    from tvm import relax

    return expr if shape is None else relax.op.reshape(expr, shape)


def _requantize(conv: Any, op: Any) -> Any | None:
    """QUANTIZE from an integer tensor, unless int8 → int8: TFLite's Requantize as an integer
    kernel. None when TVM's conversion applies."""
    from tvm import relax

    from mlfcheck.export import fixedpoint, qkernels

    (x,), (out,) = conv.get_input_tensors(op), conv.get_output_tensors(op)
    types = (conv.get_tensor_type_str(x.tensor.Type()),
             conv.get_tensor_type_str(out.tensor.Type()))
    if types == ("int8", "int8") or not set(types) <= set(INTEGER_TYPES) \
            or not (x.qnn_params and out.qnn_params):
        return None
    scale_in, zp_in = _scalar(x.qnn_params["scale"]), int(_scalar(x.qnn_params["zero_point"]))
    scale_out = _scalar(out.qnn_params["scale"])
    multiplier, shift = fixedpoint.quantize_multiplier(float(scale_in) / float(scale_out))
    shape = [int(d) for d in x.tensor.ShapeAsNumpy()] if x.tensor.ShapeLength() else []
    kernel = _requantize_kernel(tuple(shape), types, (zp_in, int(_scalar(
        out.qnn_params["zero_point"]))), (multiplier, shift))
    gv = conv.bb.add_func(kernel.with_attr(qkernels.KIND, "requantize"),
                          f"tflite_requantize_{types[0]}_{types[1]}")
    return relax.call_tir(gv, [conv.get_tensor_expr(x)], relax.TensorType(shape, types[1]))


def _scalar(const: Any) -> Any:
    return const.value.numpy().reshape(-1)[0]


def _requantize_kernel(shape: tuple[int, ...], types: tuple[str, str],
                      zero_points: tuple[int, int], rescale: tuple[int, int]) -> Any:
    """TFLite's Requantize as a PrimFunc: (x − input zero point) rescaled by (multiplier,
    shift) with MultiplyByQuantizedMultiplier, plus the output zero point, clamped to the output
    type."""
    import numpy as np
    from tvm import te, tirx

    from mlfcheck.export import qkernels

    x = te.placeholder(shape, types[0], "x")
    stages = qkernels._Stages()
    res = stages.rescale(shape, lambda *i: x[i].astype("int32")
                         - tirx.const(zero_points[0], "int32"),
                         lambda *i: rescale[0], lambda *i: rescale[1], "o")
    info = np.iinfo(types[1])

    def clamp(*i: Any) -> Any:
        value = res[i] + tirx.const(zero_points[1], "int64")
        return tirx.min(tirx.max(value, tirx.const(int(info.min), "int64")),
                        tirx.const(int(info.max), "int64")).astype(types[1])

    out = te.compute(shape, clamp, name="out")
    return qkernels._finish([x, out], stages)
