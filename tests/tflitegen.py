"""Small TFLite models written with the `tflite` flatbuffer schema package.

`single_op_model` writes one quantized operator (one of OPERATORS) with seeded weights and
scales, per tensor or per channel, as real .tflite bytes that TVM's frontend, TFLite Micro and
LiteRT read. The tests use it to check the integer lowering against TFLite Micro (--verify's
reference) without downloading models.
One function per operator draws its tensors and options; `_OPERATORS` pairs it with the integer
kernel the operator must become (`expected_kernel`), so a new int8 kernel's test is one row
here; `_build` writes the model (a `_Graph`: one operator, or a few in a chain).

`import_model` writes the cases TVM's own TFLite converter got wrong and mlfcheck's importer
corrects or refuses (IMPORTS): FULLY_CONNECTED on a rank-4 input, a 1-D bias whose
quantized_dimension is 3, QUANTIZE/DEQUANTIZE with int16 and int32 tensors, SVDF with its
state variable, a conversion failing at operator 0 of 2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

ACTIVATIONS = {"none": 0, "relu": 1, "relu6": 3}
"""TFLite ActivationFunctionType codes."""
_SAME = 0
"""TFLite Padding.SAME."""

_Options = tuple[int, Callable[[Any], Any]]
"""An operator's options: (BuiltinOptions type, writer of the options table)."""


@dataclass(frozen=True)
class _Tensor:
    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0
    data: Any = None
    variable: bool = False
    """A TFLite variable tensor (state an operator keeps between invocations)."""


@dataclass(frozen=True)
class _Operator:
    """The one operator of a model: its builtin code, tensors, and options."""

    code: int
    tensors: list[_Tensor]
    inputs: list[int]
    outputs: list[int]
    options: _Options | None

    @property
    def graph(self) -> _Graph:
        """The model of this one operator."""
        return _Graph(self.tensors, (_Step(self.code, self.inputs, self.outputs, self.options),),
                      self.outputs)


@dataclass(frozen=True)
class _Step:
    """One operator of a graph: builtin code, tensor indices in and out, options."""

    code: int
    inputs: list[int]
    outputs: list[int]
    options: _Options | None


@dataclass(frozen=True)
class _Graph:
    """A model's one subgraph: its tensors, its operators in order, its outputs."""

    tensors: list[_Tensor]
    steps: tuple[_Step, ...]
    outputs: list[int]


def _vector(builder: Any, values: Any, kind: str) -> Any:
    import numpy as np

    return builder.CreateNumpyVector(np.asarray(values, kind))


def _offsets(builder: Any, start: Callable[[Any, int], Any], offsets: Sequence[Any]) -> Any:
    """A vector of table offsets, begun with the schema's `start` function."""
    start(builder, len(offsets))
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def _buffers(b: Any, tensors: list[_Tensor]) -> list[Any]:
    """Buffer 0 (empty, for tensors without data), then one buffer per tensor."""
    import numpy as np
    import tflite

    buffers = []
    for t in [None, *tensors]:
        data = None if t is None or t.data is None else b.CreateNumpyVector(
            np.ascontiguousarray(t.data).reshape(-1).view(np.uint8))
        tflite.BufferStart(b)
        if data is not None:
            tflite.BufferAddData(b, data)
        buffers.append(tflite.BufferEnd(b))
    return buffers


def _tensor(b: Any, index: int, t: _Tensor) -> Any:
    """Tensor `t{index}` with its quantization (none for a float tensor without a scale),
    reading buffer index + 1 when it has data."""
    import tflite

    types = {"int8": tflite.TensorType.INT8, "int16": tflite.TensorType.INT16,
             "int32": tflite.TensorType.INT32, "float32": tflite.TensorType.FLOAT32}
    name = b.CreateString(f"t{index}")
    shape = _vector(b, t.shape, "int32")
    quant = None
    if t.scale:
        scale = _vector(b, t.scale, "float32")
        zp = _vector(b, t.zero_point, "int64")
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scale)
        tflite.QuantizationParametersAddZeroPoint(b, zp)
        tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
        quant = tflite.QuantizationParametersEnd(b)
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, shape)
    tflite.TensorAddType(b, types[t.dtype])
    tflite.TensorAddBuffer(b, index + 1 if t.data is not None else 0)
    tflite.TensorAddName(b, name)
    tflite.TensorAddIsVariable(b, t.variable)
    if quant is not None:
        tflite.TensorAddQuantization(b, quant)
    return tflite.TensorEnd(b)


def _operator(b: Any, step: _Step, opcode: int) -> Any:
    """The operator table: its opcode index, inputs and outputs, its options."""
    import tflite

    option_offset = step.options[1](b) if step.options else None
    op_inputs = _vector(b, step.inputs, "int32")
    op_outputs = _vector(b, step.outputs, "int32")
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, opcode)
    tflite.OperatorAddInputs(b, op_inputs)
    tflite.OperatorAddOutputs(b, op_outputs)
    if step.options:
        tflite.OperatorAddBuiltinOptionsType(b, step.options[0])
        tflite.OperatorAddBuiltinOptions(b, option_offset)
    return tflite.OperatorEnd(b)


def _subgraph(b: Any, graph: _Graph, codes: list[int]) -> Any:
    """The one subgraph: every tensor, the operators; inputs are the tensors no operator
    writes that have no data and are not variables."""
    import tflite

    tensors = [_tensor(b, i, t) for i, t in enumerate(graph.tensors)]
    operators = [_operator(b, s, codes.index(s.code)) for s in graph.steps]
    written = {i for s in graph.steps for i in s.outputs}
    read = dict.fromkeys(i for s in graph.steps for i in s.inputs if i >= 0)
    graph_inputs = _vector(b, [i for i in read if i not in written
                               and graph.tensors[i].data is None
                               and not graph.tensors[i].variable], "int32")
    graph_outputs = _vector(b, graph.outputs, "int32")
    tensor_vec = _offsets(b, tflite.SubGraphStartTensorsVector, tensors)
    op_vec = _offsets(b, tflite.SubGraphStartOperatorsVector, operators)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensor_vec)
    tflite.SubGraphAddInputs(b, graph_inputs)
    tflite.SubGraphAddOutputs(b, graph_outputs)
    tflite.SubGraphAddOperators(b, op_vec)
    return tflite.SubGraphEnd(b)


def _build(graph: _Graph) -> bytes:
    """A one-subgraph model."""
    import flatbuffers
    import tflite

    b = flatbuffers.Builder(1024)
    buffers = _buffers(b, graph.tensors)
    codes = list(dict.fromkeys(s.code for s in graph.steps))
    subgraph = _subgraph(b, graph, codes)
    opcodes = []
    for code in codes:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, 1)
        opcodes.append(tflite.OperatorCodeEnd(b))
    code_vec = _offsets(b, tflite.ModelStartOperatorCodesVector, opcodes)
    graphs = _offsets(b, tflite.ModelStartSubgraphsVector, [subgraph])
    buffer_vec = _offsets(b, tflite.ModelStartBuffersVector, buffers)
    description = b.CreateString("mlfcheck tflitegen")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, code_vec)
    tflite.ModelAddSubgraphs(b, graphs)
    tflite.ModelAddBuffers(b, buffer_vec)
    tflite.ModelAddDescription(b, description)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@dataclass(frozen=True)
class _Draw:
    """What one operator's model is drawn from: the seeded generator, per channel or not, the
    fused activation, the input tensor and the output's quantization."""

    rng: Any
    per_channel: bool
    activation: int
    x: _Tensor
    out_q: tuple[tuple[float, ...], tuple[int, ...]]

    def weights(self, shape: tuple[int, ...], axis: int) -> _Tensor:
        """Symmetric int8 weights, scaled per channel along `axis` or per tensor."""
        channels = shape[axis] if self.per_channel else 1
        scales = tuple(float(s) for s in self.rng.uniform(0.002, 0.02, channels))
        return _Tensor(shape, "int8", scales, (0,) * channels, axis if self.per_channel else 0,
                       self.rng.integers(-127, 128, shape).astype("int8"))

    def bias(self, w: _Tensor, n: int) -> _Tensor:
        """int32 bias of `n` channels, scaled input scale × weight scale (as TFLite requires)."""
        import numpy as np

        scales = tuple(float(np.float32(self.x.scale[0]) * np.float32(s)) for s in w.scale)
        return _Tensor((n,), "int32", scales, (0,) * len(scales), 0,
                       self.rng.integers(-3000, 3000, n).astype("int32"))

    def out(self, shape: tuple[int, ...]) -> _Tensor:
        """The int8 output tensor, with the drawn output quantization."""
        return _Tensor(shape, "int8", *self.out_q)


def _conv2d(d: _Draw) -> _Operator:
    import tflite

    w = d.weights((6, 3, 3, 4), 0)

    def options(b: Any) -> Any:
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, _SAME)
        tflite.Conv2DOptionsAddStrideW(b, 2)
        tflite.Conv2DOptionsAddStrideH(b, 2)
        tflite.Conv2DOptionsAddDilationWFactor(b, 1)
        tflite.Conv2DOptionsAddDilationHFactor(b, 1)
        tflite.Conv2DOptionsAddFusedActivationFunction(b, d.activation)
        return tflite.Conv2DOptionsEnd(b)

    return _Operator(tflite.BuiltinOperator.CONV_2D, [d.x, w, d.bias(w, 6), d.out((1, 5, 4, 6))],
                     [0, 1, 2], [3], (tflite.BuiltinOptions.Conv2DOptions, options))


def _depthwise_conv2d(d: _Draw) -> _Operator:
    import tflite

    w = d.weights((1, 3, 3, 4), 3)

    def options(b: Any) -> Any:
        tflite.DepthwiseConv2DOptionsStart(b)
        tflite.DepthwiseConv2DOptionsAddPadding(b, _SAME)
        tflite.DepthwiseConv2DOptionsAddStrideW(b, 1)
        tflite.DepthwiseConv2DOptionsAddStrideH(b, 1)
        tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
        tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, 1)
        tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, 1)
        tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, d.activation)
        return tflite.DepthwiseConv2DOptionsEnd(b)

    return _Operator(tflite.BuiltinOperator.DEPTHWISE_CONV_2D,
                     [d.x, w, d.bias(w, 4), d.out((1, 9, 7, 4))], [0, 1, 2], [3],
                     (tflite.BuiltinOptions.DepthwiseConv2DOptions, options))


def _fully_connected(d: _Draw) -> _Operator:
    import tflite

    x = _Tensor((2, 24), "int8", d.x.scale, d.x.zero_point)
    w = d.weights((10, 24), 0)

    def options(b: Any) -> Any:
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, d.activation)
        return tflite.FullyConnectedOptionsEnd(b)

    return _Operator(tflite.BuiltinOperator.FULLY_CONNECTED,
                     [x, w, d.bias(w, 10), d.out((2, 10))], [0, 1, 2], [3],
                     (tflite.BuiltinOptions.FullyConnectedOptions, options))


def _add(d: _Draw) -> _Operator:
    import tflite

    y = _Tensor((1, 9, 7, 4), "int8", (float(d.rng.uniform(0.02, 0.08)),),
                (int(d.rng.integers(-20, 20)),))

    def options(b: Any) -> Any:
        tflite.AddOptionsStart(b)
        tflite.AddOptionsAddFusedActivationFunction(b, d.activation)
        return tflite.AddOptionsEnd(b)

    return _Operator(tflite.BuiltinOperator.ADD, [d.x, y, d.out((1, 9, 7, 4))], [0, 1], [2],
                     (tflite.BuiltinOptions.AddOptions, options))


def _pool(d: _Draw, code: int) -> _Operator:
    """3×3 pooling, stride 2, SAME padding; the output keeps the input's quantization."""
    import tflite

    def options(b: Any) -> Any:
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, _SAME)
        tflite.Pool2DOptionsAddStrideW(b, 2)
        tflite.Pool2DOptionsAddStrideH(b, 2)
        tflite.Pool2DOptionsAddFilterWidth(b, 3)
        tflite.Pool2DOptionsAddFilterHeight(b, 3)
        tflite.Pool2DOptionsAddFusedActivationFunction(b, d.activation)
        return tflite.Pool2DOptionsEnd(b)

    out = _Tensor((1, 5, 4, 4), "int8", d.x.scale, d.x.zero_point)
    return _Operator(code, [d.x, out], [0], [1], (tflite.BuiltinOptions.Pool2DOptions, options))


def _average_pool_2d(d: _Draw) -> _Operator:
    import tflite

    return _pool(d, tflite.BuiltinOperator.AVERAGE_POOL_2D)


def _max_pool_2d(d: _Draw) -> _Operator:
    import tflite

    return _pool(d, tflite.BuiltinOperator.MAX_POOL_2D)


def _reshape(d: _Draw) -> _Operator:
    import numpy as np
    import tflite

    shape = _Tensor((2,), "int32", (1.0,), (0,), 0, np.array([1, 252], "int32"))
    out = _Tensor((1, 252), "int8", d.x.scale, d.x.zero_point)
    return _Operator(tflite.BuiltinOperator.RESHAPE, [d.x, shape, out], [0, 1], [2], None)


@dataclass(frozen=True)
class _Generated:
    """One operator `single_op_model` writes: how, and what the integer lowering must make of
    it."""

    draw: Callable[[_Draw], _Operator]
    kernel: str | None
    """The integer kernel it must become (None: TVM's own int8 op is exact, no kernel)."""


_OPERATORS: dict[str, _Generated] = {
    "conv2d": _Generated(_conv2d, "conv2d"),
    "depthwise_conv2d": _Generated(_depthwise_conv2d, "depthwise_conv2d"),
    "fully_connected": _Generated(_fully_connected, "dense"),
    "add": _Generated(_add, "add"),
    "average_pool_2d": _Generated(_average_pool_2d, "avg_pool2d"),
    "max_pool_2d": _Generated(_max_pool_2d, None),
    "reshape": _Generated(_reshape, None),
}
"""Each operator `single_op_model` writes, how, and the kernel it must become."""
OPERATORS = tuple(_OPERATORS)
"""The operators `single_op_model` writes, in the order tests run them."""


def expected_kernel(op: str) -> str | None:
    """The integer kernel operator `op` (one of OPERATORS) must become, or None when TVM's own
    int8 op is exact and no kernel is emitted."""
    return _OPERATORS[op].kernel


def single_op_model(op: str, *, per_channel: bool = False, activation: str = "none",
                    seed: int = 0) -> bytes:
    """A .tflite with one int8 operator `op` (see OPERATORS), seeded weights and scales."""
    import numpy as np

    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}; one of {', '.join(OPERATORS)}")
    rng = np.random.default_rng(seed)
    x = _Tensor((1, 9, 7, 4), "int8", (float(rng.uniform(0.02, 0.08)),),
                (int(rng.integers(-20, 20)),))
    out_q = ((float(rng.uniform(0.05, 0.2)),), (int(rng.integers(-10, 10)),))
    draw = _Draw(rng, per_channel, ACTIVATIONS[activation], x, out_q)
    return _build(_OPERATORS[op].draw(draw).graph)


# -- models for the TFLite import (what TFLite Micro imports and TVM's converter did not) ------


def _int_tensor(rng: Any, shape: tuple[int, ...], dtype: str) -> _Tensor:
    """An activation of `dtype` with a drawn scale; int16 is symmetric (zero point 0), as TFLite
    requires."""
    zp = int(rng.integers(-20, 20)) if dtype == "int8" else 0
    return _Tensor(shape, dtype, (float(rng.uniform(0.0005, 0.08)),), (zp,))


def _fully_connected_rank4(d: _Draw) -> _Graph:
    """FULLY_CONNECTED on a [2, 3, 2, 4] input with keep_num_dims false: TFLite flattens the
    input to [48 / 12, 12] before the product."""
    import tflite

    x = _Tensor((2, 3, 2, 4), "int8", d.x.scale, d.x.zero_point)
    w = d.weights((5, 12), 0)

    def options(b: Any) -> Any:
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, d.activation)
        tflite.FullyConnectedOptionsAddKeepNumDims(b, False)
        return tflite.FullyConnectedOptionsEnd(b)

    return _Operator(tflite.BuiltinOperator.FULLY_CONNECTED,
                     [x, w, d.bias(w, 5), d.out((4, 5))], [0, 1, 2], [3],
                     (tflite.BuiltinOptions.FullyConnectedOptions, options)).graph


def _depthwise_bias_dim3(d: _Draw) -> _Graph:
    """A per-channel depthwise convolution whose 1-D bias says quantized_dimension 3 (as
    person_detect's do): TFLite ignores the field on a 1-D tensor."""
    op = _depthwise_conv2d(_Draw(d.rng, True, d.activation, d.x, d.out_q))
    bias = op.tensors[2]
    tensors = [*op.tensors[:2], _Tensor(bias.shape, bias.dtype, bias.scale, bias.zero_point, 3,
                                        bias.data), op.tensors[3]]
    return _Operator(op.code, tensors, op.inputs, op.outputs, op.options).graph


_RATIO = {"int8": 256.0, "int16": 1 / 256, "int32": 1.0, "float32": 1.0}
"""Output scale over input scale per output type, so a full-range input mostly stays in range."""


def _convert(d: _Draw, code: int, dtype: str) -> _Graph:
    """One QUANTIZE or DEQUANTIZE of a [256, 256] int16 input (int8 for an int16 output), so
    seeded inputs cover most int16 values."""
    x = _int_tensor(d.rng, (256, 256), "int8" if dtype == "int16" else "int16")
    scale = (x.scale[0] * _RATIO[dtype] * float(d.rng.uniform(0.8, 1.25)),)
    into = _Tensor((256, 256), dtype, () if dtype == "float32" else scale,
                   () if dtype == "float32" else (0,))
    return _Operator(code, [x, into], [0], [1], None).graph


def _quantize_to(dtype: str) -> Callable[[_Draw], _Graph]:
    import tflite

    return lambda d: _convert(d, tflite.BuiltinOperator.QUANTIZE, dtype)


def _dequantize_int16(d: _Draw) -> _Graph:
    import tflite

    return _convert(d, tflite.BuiltinOperator.DEQUANTIZE, "float32")


def _svdf(d: _Draw) -> _Graph:
    """keyword_scrambled's pattern: QUANTIZE int16 → int8, then an int8 SVDF (rank 2, 8
    filters, memory 4, ReLU as TFLite requires) with int16 time weights and an int16 state
    variable."""
    import tflite

    x16 = _int_tensor(d.rng, (1, 16), "int16")
    x8 = _int_tensor(d.rng, (1, 16), "int8")
    feature = d.weights((8, 16), 0)
    time = _Tensor((8, 4), "int16", (float(d.rng.uniform(0.001, 0.004)),), (0,), 0,
                   d.rng.integers(-3000, 3000, (8, 4)).astype("int16"))
    bias = _Tensor((4,), "int32", (1e-5,), (0,), 0, d.rng.integers(-3000, 3000, 4).astype("int32"))
    state = _Tensor((1, 32), "int16", (0.004,), (0,), variable=True)

    def options(b: Any) -> Any:
        tflite.SVDFOptionsStart(b)
        tflite.SVDFOptionsAddRank(b, 2)
        tflite.SVDFOptionsAddFusedActivationFunction(b, ACTIVATIONS["relu"])
        return tflite.SVDFOptionsEnd(b)

    tensors = [x16, x8, feature, time, bias, state, d.out((1, 4))]
    return _Graph(tensors, (_Step(tflite.BuiltinOperator.QUANTIZE, [0], [1], None),
                            _Step(tflite.BuiltinOperator.SVDF, [1, 2, 3, 4, 5], [6],
                                  (tflite.BuiltinOptions.SVDFOptions, options))), [6])


def _pad_then_relu(d: _Draw) -> _Graph:
    """Float PAD whose paddings are a graph input (TFLite allows it; TVM's converter reads them
    as constants), then RELU: a conversion that fails at operator 0 of 2."""
    import tflite

    tensors = [_Tensor((1, 4, 4, 2), "float32", (), ()), _Tensor((4, 2), "int32", (), ()),
               _Tensor((1, 6, 6, 2), "float32", (), ()), _Tensor((1, 6, 6, 2), "float32", (), ())]
    return _Graph(tensors, (_Step(tflite.BuiltinOperator.PAD, [0, 1], [2], None),
                            _Step(tflite.BuiltinOperator.RELU, [2], [3], None)), [3])


_IMPORTS: dict[str, Callable[[_Draw], _Graph]] = {
    "fully_connected_rank4": _fully_connected_rank4,
    "depthwise_bias_dim3": _depthwise_bias_dim3,
    "quantize_int16_int8": _quantize_to("int8"),
    "quantize_int8_int16": _quantize_to("int16"),
    "quantize_int16_int32": _quantize_to("int32"),
    "dequantize_int16": _dequantize_int16,
    "svdf": _svdf,
    "pad_then_relu": _pad_then_relu,
}
IMPORTS = tuple(_IMPORTS)
"""The models `import_model` writes: each a case TVM's own TFLite converter got wrong."""


def import_model(case: str, *, seed: int = 0) -> bytes:
    """A .tflite for one of IMPORTS, seeded like `single_op_model`."""
    import numpy as np

    if case not in _IMPORTS:
        raise ValueError(f"unknown case {case!r}; one of {', '.join(IMPORTS)}")
    rng = np.random.default_rng(seed)
    x = _Tensor((1, 9, 7, 4), "int8", (float(rng.uniform(0.02, 0.08)),),
                (int(rng.integers(-20, 20)),))
    out_q = ((float(rng.uniform(0.05, 0.2)),), (int(rng.integers(-10, 10)),))
    return _build(_IMPORTS[case](_Draw(rng, False, ACTIVATIONS["none"], x, out_q)))
