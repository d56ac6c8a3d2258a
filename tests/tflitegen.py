"""Small int8 TFLite models written with the `tflite` flatbuffer schema package.

`single_op_model` writes one quantized operator (conv2d, depthwise_conv2d, fully_connected, add,
average_pool_2d, max_pool_2d, reshape) with seeded weights and scales, per tensor or per
channel, as real .tflite bytes that both TVM's frontend and LiteRT read. Tests and the fuzzer
use it to check the integer lowering against LiteRT without downloading models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPERATORS = ("conv2d", "depthwise_conv2d", "fully_connected", "add", "average_pool_2d",
             "max_pool_2d", "reshape")
ACTIVATIONS = {"none": 0, "relu": 1, "relu6": 3}
"""TFLite ActivationFunctionType codes."""
_SAME, _VALID = 0, 1


@dataclass(frozen=True)
class _Tensor:
    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0
    data: Any = None


def _vector(builder: Any, values: Any, kind: str) -> Any:
    import numpy as np

    return builder.CreateNumpyVector(np.asarray(values, kind))


def _build(tensors: list[_Tensor], code: int, inputs: list[int], outputs: list[int],
           options: tuple[int, Any] | None) -> bytes:
    """A one-subgraph, one-operator model; `options` is (BuiltinOptions type, writer)."""
    import flatbuffers
    import numpy as np
    import tflite

    b = flatbuffers.Builder(1024)
    buffers = []
    for t in [None, *tensors]:
        data = None if t is None or t.data is None else b.CreateNumpyVector(
            np.ascontiguousarray(t.data).reshape(-1).view(np.uint8))
        tflite.BufferStart(b)
        if data is not None:
            tflite.BufferAddData(b, data)
        buffers.append(tflite.BufferEnd(b))
    types = {"int8": tflite.TensorType.INT8, "int32": tflite.TensorType.INT32}
    tensor_offsets = []
    for i, t in enumerate(tensors):
        name = b.CreateString(f"t{i}")
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
        tflite.TensorAddBuffer(b, i + 1 if t.data is not None else 0)
        tflite.TensorAddName(b, name)
        tflite.TensorAddQuantization(b, quant)
        tensor_offsets.append(tflite.TensorEnd(b))
    option_offset = options[1](b) if options else None
    op_inputs = _vector(b, inputs, "int32")
    op_outputs = _vector(b, outputs, "int32")
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, op_inputs)
    tflite.OperatorAddOutputs(b, op_outputs)
    if options:
        tflite.OperatorAddBuiltinOptionsType(b, options[0])
        tflite.OperatorAddBuiltinOptions(b, option_offset)
    operator = tflite.OperatorEnd(b)
    graph_inputs = _vector(b, [i for i in inputs if tensors[i].data is None], "int32")
    graph_outputs = _vector(b, outputs, "int32")
    tflite.SubGraphStartTensorsVector(b, len(tensor_offsets))
    for off in reversed(tensor_offsets):
        b.PrependUOffsetTRelative(off)
    tensor_vec = b.EndVector()
    tflite.SubGraphStartOperatorsVector(b, 1)
    b.PrependUOffsetTRelative(operator)
    op_vec = b.EndVector()
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensor_vec)
    tflite.SubGraphAddInputs(b, graph_inputs)
    tflite.SubGraphAddOutputs(b, graph_outputs)
    tflite.SubGraphAddOperators(b, op_vec)
    graph = tflite.SubGraphEnd(b)
    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, 1)
    opcode = tflite.OperatorCodeEnd(b)
    tflite.ModelStartOperatorCodesVector(b, 1)
    b.PrependUOffsetTRelative(opcode)
    codes = b.EndVector()
    tflite.ModelStartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(graph)
    graphs = b.EndVector()
    tflite.ModelStartBuffersVector(b, len(buffers))
    for off in reversed(buffers):
        b.PrependUOffsetTRelative(off)
    buffer_vec = b.EndVector()
    description = b.CreateString("mlfcheck tflitegen")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes)
    tflite.ModelAddSubgraphs(b, graphs)
    tflite.ModelAddBuffers(b, buffer_vec)
    tflite.ModelAddDescription(b, description)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def single_op_model(op: str, *, per_channel: bool = False, activation: str = "none",
                    seed: int = 0) -> bytes:
    """A .tflite with one int8 operator `op` (see OPERATORS), seeded weights and scales."""
    import numpy as np
    import tflite

    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}; one of {', '.join(OPERATORS)}")
    rng = np.random.default_rng(seed)
    act = ACTIVATIONS[activation]
    x = _Tensor((1, 9, 7, 4), "int8", (float(rng.uniform(0.02, 0.08)),),
                (int(rng.integers(-20, 20)),))
    out_q = ((float(rng.uniform(0.05, 0.2)),), (int(rng.integers(-10, 10)),))
    builtin = tflite.BuiltinOperator
    options = tflite.BuiltinOptions

    def weights(shape: tuple[int, ...], axis: int) -> _Tensor:
        channels = shape[axis] if per_channel else 1
        scales = tuple(float(s) for s in rng.uniform(0.002, 0.02, channels))
        return _Tensor(shape, "int8", scales, (0,) * channels, axis if per_channel else 0,
                       rng.integers(-127, 128, shape).astype("int8"))

    def bias(w: _Tensor, n: int) -> _Tensor:
        scales = tuple(float(np.float32(x.scale[0]) * np.float32(s)) for s in w.scale)
        return _Tensor((n,), "int32", scales, (0,) * len(scales), 0,
                       rng.integers(-3000, 3000, n).astype("int32"))

    if op == "conv2d":
        w = weights((6, 3, 3, 4), 0)
        out = _Tensor((1, 5, 4, 6), "int8", *out_q)

        def conv_options(b: Any) -> Any:
            tflite.Conv2DOptionsStart(b)
            tflite.Conv2DOptionsAddPadding(b, _SAME)
            tflite.Conv2DOptionsAddStrideW(b, 2)
            tflite.Conv2DOptionsAddStrideH(b, 2)
            tflite.Conv2DOptionsAddDilationWFactor(b, 1)
            tflite.Conv2DOptionsAddDilationHFactor(b, 1)
            tflite.Conv2DOptionsAddFusedActivationFunction(b, act)
            return tflite.Conv2DOptionsEnd(b)

        return _build([x, w, bias(w, 6), out], builtin.CONV_2D, [0, 1, 2], [3],
                      (options.Conv2DOptions, conv_options))
    if op == "depthwise_conv2d":
        w = weights((1, 3, 3, 4), 3)
        out = _Tensor((1, 9, 7, 4), "int8", *out_q)

        def dw_options(b: Any) -> Any:
            tflite.DepthwiseConv2DOptionsStart(b)
            tflite.DepthwiseConv2DOptionsAddPadding(b, _SAME)
            tflite.DepthwiseConv2DOptionsAddStrideW(b, 1)
            tflite.DepthwiseConv2DOptionsAddStrideH(b, 1)
            tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
            tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, 1)
            tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, 1)
            tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
            return tflite.DepthwiseConv2DOptionsEnd(b)

        return _build([x, w, bias(w, 4), out], builtin.DEPTHWISE_CONV_2D, [0, 1, 2], [3],
                      (options.DepthwiseConv2DOptions, dw_options))
    if op == "fully_connected":
        x = _Tensor((2, 24), "int8", x.scale, x.zero_point)
        w = weights((10, 24), 0)
        out = _Tensor((2, 10), "int8", *out_q)

        def fc_options(b: Any) -> Any:
            tflite.FullyConnectedOptionsStart(b)
            tflite.FullyConnectedOptionsAddFusedActivationFunction(b, act)
            return tflite.FullyConnectedOptionsEnd(b)

        return _build([x, w, bias(w, 10), out], builtin.FULLY_CONNECTED, [0, 1, 2], [3],
                      (options.FullyConnectedOptions, fc_options))
    if op == "add":
        y = _Tensor((1, 9, 7, 4), "int8", (float(rng.uniform(0.02, 0.08)),),
                    (int(rng.integers(-20, 20)),))
        out = _Tensor((1, 9, 7, 4), "int8", *out_q)

        def add_options(b: Any) -> Any:
            tflite.AddOptionsStart(b)
            tflite.AddOptionsAddFusedActivationFunction(b, act)
            return tflite.AddOptionsEnd(b)

        return _build([x, y, out], builtin.ADD, [0, 1], [2], (options.AddOptions, add_options))
    if op in ("average_pool_2d", "max_pool_2d"):
        out = _Tensor((1, 5, 4, 4), "int8", x.scale, x.zero_point)

        def pool_options(b: Any) -> Any:
            tflite.Pool2DOptionsStart(b)
            tflite.Pool2DOptionsAddPadding(b, _SAME)
            tflite.Pool2DOptionsAddStrideW(b, 2)
            tflite.Pool2DOptionsAddStrideH(b, 2)
            tflite.Pool2DOptionsAddFilterWidth(b, 3)
            tflite.Pool2DOptionsAddFilterHeight(b, 3)
            tflite.Pool2DOptionsAddFusedActivationFunction(b, act)
            return tflite.Pool2DOptionsEnd(b)

        code = builtin.AVERAGE_POOL_2D if op == "average_pool_2d" else builtin.MAX_POOL_2D
        return _build([x, out], code, [0], [1], (options.Pool2DOptions, pool_options))
    shape = _Tensor((2,), "int32", (1.0,), (0,), 0, np.array([1, 252], "int32"))
    out = _Tensor((1, 252), "int8", x.scale, x.zero_point)
    return _build([x, shape, out], builtin.RESHAPE, [0, 1], [2], None)
