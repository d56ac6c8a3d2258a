"""Small int8 TFLite models written with the `tflite` flatbuffer schema package.

`single_op_model` writes one quantized operator (one of OPERATORS) with seeded weights and
scales, per tensor or per channel, as real .tflite bytes that both TVM's frontend and LiteRT
read. The tests use it to check the integer lowering against LiteRT without downloading models.
One function per operator draws its tensors and options; `_OPERATORS` pairs it with the integer
kernel the operator must become (`expected_kernel`), so a new int8 kernel's test is one row
here; `_build` writes the model.
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


@dataclass(frozen=True)
class _Operator:
    """The one operator of a model: its builtin code, tensors, and options."""

    code: int
    tensors: list[_Tensor]
    inputs: list[int]
    outputs: list[int]
    options: _Options | None


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
    """Tensor `t{index}` with its quantization, reading buffer index + 1 when it has data."""
    import tflite

    types = {"int8": tflite.TensorType.INT8, "int32": tflite.TensorType.INT32}
    name = b.CreateString(f"t{index}")
    shape = _vector(b, t.shape, "int32")
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
    tflite.TensorAddQuantization(b, quant)
    return tflite.TensorEnd(b)


def _operator(b: Any, op: _Operator) -> Any:
    """The operator table: opcode 0, its inputs and outputs, its options."""
    import tflite

    option_offset = op.options[1](b) if op.options else None
    op_inputs = _vector(b, op.inputs, "int32")
    op_outputs = _vector(b, op.outputs, "int32")
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, op_inputs)
    tflite.OperatorAddOutputs(b, op_outputs)
    if op.options:
        tflite.OperatorAddBuiltinOptionsType(b, op.options[0])
        tflite.OperatorAddBuiltinOptions(b, option_offset)
    return tflite.OperatorEnd(b)


def _subgraph(b: Any, op: _Operator) -> Any:
    """The one subgraph: every tensor, the operator; inputs are the tensors without data."""
    import tflite

    tensors = [_tensor(b, i, t) for i, t in enumerate(op.tensors)]
    operator = _operator(b, op)
    graph_inputs = _vector(b, [i for i in op.inputs if op.tensors[i].data is None], "int32")
    graph_outputs = _vector(b, op.outputs, "int32")
    tensor_vec = _offsets(b, tflite.SubGraphStartTensorsVector, tensors)
    op_vec = _offsets(b, tflite.SubGraphStartOperatorsVector, [operator])
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensor_vec)
    tflite.SubGraphAddInputs(b, graph_inputs)
    tflite.SubGraphAddOutputs(b, graph_outputs)
    tflite.SubGraphAddOperators(b, op_vec)
    return tflite.SubGraphEnd(b)


def _build(op: _Operator) -> bytes:
    """A one-subgraph, one-operator model."""
    import flatbuffers
    import tflite

    b = flatbuffers.Builder(1024)
    buffers = _buffers(b, op.tensors)
    graph = _subgraph(b, op)
    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(op.code, 127))
    tflite.OperatorCodeAddBuiltinCode(b, op.code)
    tflite.OperatorCodeAddVersion(b, 1)
    opcode = tflite.OperatorCodeEnd(b)
    codes = _offsets(b, tflite.ModelStartOperatorCodesVector, [opcode])
    graphs = _offsets(b, tflite.ModelStartSubgraphsVector, [graph])
    buffer_vec = _offsets(b, tflite.ModelStartBuffersVector, buffers)
    description = b.CreateString("mlfcheck tflitegen")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes)
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
    return _build(_OPERATORS[op].draw(draw))
