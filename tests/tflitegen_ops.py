"""Single-operator int8 TFLite models with chosen geometry and quantization, and TFLite Micro.

`tests/tflitegen.py` draws one fixed model per operator; the integer kernels of issue 22 need
more: depthwise convolutions of any depth multiplier, padding and stride, and softmax, logistic,
mean, pad and concatenation with the quantization each test names. Each function here writes
one such model as .tflite bytes (through `tflitegen`'s flatbuffer writer); `tflm_outputs` runs a
model on TFLite Micro's reference kernels, the reference the tests compare with bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tflitegen import ACTIVATIONS, _build, _Graph, _Operator, _Step, _Tensor

Quant = tuple[float, int]
"""A per-tensor (scale, zero point)."""
PADDING = {"SAME": 0, "VALID": 1}
"""TFLite Padding codes."""
TFLM_ARENA = 1 << 20


def _model(op: _Operator) -> bytes:
    return _build(op.graph)


def _int8(shape: tuple[int, ...], q: Quant) -> _Tensor:
    return _Tensor(shape, "int8", (q[0],), (q[1],))


def _int32_data(values: Sequence[Any], shape: tuple[int, ...] | None = None) -> _Tensor:
    import numpy as np

    data = np.asarray(values, "int32")
    return _Tensor(shape or data.shape, "int32", (1.0,), (0,), 0, data)


def depthwise(*, channels: int, multiplier: int, padding: str = "SAME",
              strides: tuple[int, int] = (1, 1), per_channel: bool = False,
              kernel: tuple[int, int] = (3, 3), size: tuple[int, int] = (9, 7),
              activation: str = "none", seed: int = 0) -> bytes:
    """DEPTHWISE_CONV_2D of a [1, H, W, channels] input with `multiplier` outputs per channel,
    seeded int8 weights (per output channel or per tensor) and int32 bias."""
    return _model(depthwise_op(channels=channels, multiplier=multiplier, padding=padding,
                               strides=strides, per_channel=per_channel, kernel=kernel,
                               size=size, activation=activation, seed=seed))


def depthwise_op(*, channels: int, multiplier: int, padding: str = "SAME",
                 strides: tuple[int, int] = (1, 1), per_channel: bool = False,
                 kernel: tuple[int, int] = (3, 3), size: tuple[int, int] = (9, 7),
                 activation: str = "none", seed: int = 0) -> _Operator:
    """The operator `depthwise` writes as a model (for `parallel`)."""
    import numpy as np
    import tflite

    rng = np.random.default_rng(seed)
    out_c = channels * multiplier
    x_q = (float(rng.uniform(0.02, 0.08)), int(rng.integers(-20, 20)))
    out_q = (float(rng.uniform(0.05, 0.2)), int(rng.integers(-10, 10)))
    scales = tuple(float(s) for s in rng.uniform(0.002, 0.02, out_c if per_channel else 1))
    w = _Tensor((1, *kernel, out_c), "int8", scales, (0,) * len(scales), 3 if per_channel else 0,
                rng.integers(-127, 128, (1, *kernel, out_c)).astype("int8"))
    bias = _bias(rng, x_q, scales, out_c)
    out_hw = _out_size(size, kernel, strides, (1, 1), padding)

    def options(b: Any) -> Any:
        tflite.DepthwiseConv2DOptionsStart(b)
        tflite.DepthwiseConv2DOptionsAddPadding(b, PADDING[padding])
        tflite.DepthwiseConv2DOptionsAddStrideW(b, strides[1])
        tflite.DepthwiseConv2DOptionsAddStrideH(b, strides[0])
        tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, multiplier)
        tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, 1)
        tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, 1)
        tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, ACTIVATIONS[activation])
        return tflite.DepthwiseConv2DOptionsEnd(b)

    tensors = [_int8((1, *size, channels), x_q), w, bias, _int8((1, *out_hw, out_c), out_q)]
    return _Operator(tflite.BuiltinOperator.DEPTHWISE_CONV_2D, tensors, [0, 1, 2], [3],
                     (tflite.BuiltinOptions.DepthwiseConv2DOptions, options))


def _bias(rng: Any, x_q: Quant, scales: Sequence[float], channels: int) -> _Tensor:
    """Seeded int32 bias of `channels`, scaled input scale × weight scale (as TFLite
    requires)."""
    import numpy as np

    bias_scales = tuple(float(np.float32(x_q[0]) * np.float32(s)) for s in scales)
    return _Tensor((channels,), "int32", bias_scales, (0,) * len(scales), 0,
                   rng.integers(-3000, 3000, channels).astype("int32"))


def _out_size(size: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
              dilation: Sequence[int], padding: str) -> list[int]:
    """Output height and width of a TFLite convolution."""
    if padding == "SAME":
        return [-(-n // s) for n, s in zip(size, strides, strict=True)]
    return [(n - (k - 1) * d - 1) // s + 1
            for n, k, s, d in zip(size, kernel, strides, dilation, strict=True)]


def _weights(rng: Any, shape: tuple[int, ...], axis: int, per_channel: bool) -> _Tensor:
    """Seeded symmetric int8 weights, scaled per channel along `axis` or per tensor."""
    channels = shape[axis] if per_channel else 1
    scales = tuple(float(s) for s in rng.uniform(0.002, 0.02, channels))
    return _Tensor(shape, "int8", scales, (0,) * channels, axis if per_channel else 0,
                   rng.integers(-127, 128, shape).astype("int8"))


def conv2d_op(*, in_shape: tuple[int, int, int, int], out_channels: int,
              kernel: tuple[int, int] = (3, 3), strides: tuple[int, int] = (1, 1),
              dilation: tuple[int, int] = (1, 1), padding: str = "SAME",
              per_channel: bool = False, activation: str = "none",
              x_zero_point: int | None = None, out_quant: Quant | None = None,
              seed: int = 0) -> _Operator:
    """CONV_2D of an NHWC `in_shape` input to `out_channels`, with any kernel, stride,
    dilation and padding; seeded weights (per output channel or per tensor), bias and
    quantization (the input zero point and the output quantization as given, else drawn)."""
    import numpy as np
    import tflite

    rng = np.random.default_rng(seed)
    zp = int(rng.integers(-20, 20))
    x_q = (float(rng.uniform(0.02, 0.08)), zp if x_zero_point is None else x_zero_point)
    drawn = (float(rng.uniform(0.05, 0.2)), int(rng.integers(-10, 10)))
    out_q = drawn if out_quant is None else out_quant
    w = _weights(rng, (out_channels, *kernel, in_shape[3]), 0, per_channel)
    out_hw = _out_size(in_shape[1:3], kernel, strides, dilation, padding)

    def options(b: Any) -> Any:
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, PADDING[padding])
        tflite.Conv2DOptionsAddStrideW(b, strides[1])
        tflite.Conv2DOptionsAddStrideH(b, strides[0])
        tflite.Conv2DOptionsAddDilationWFactor(b, dilation[1])
        tflite.Conv2DOptionsAddDilationHFactor(b, dilation[0])
        tflite.Conv2DOptionsAddFusedActivationFunction(b, ACTIVATIONS[activation])
        return tflite.Conv2DOptionsEnd(b)

    tensors = [_int8(in_shape, x_q), w, _bias(rng, x_q, w.scale, out_channels),
               _int8((in_shape[0], *out_hw, out_channels), out_q)]
    return _Operator(tflite.BuiltinOperator.CONV_2D, tensors, [0, 1, 2], [3],
                     (tflite.BuiltinOptions.Conv2DOptions, options))


def dense_op(*, batch: int, depth: int, units: int, per_channel: bool = False,
             activation: str = "none", seed: int = 0) -> _Operator:
    """FULLY_CONNECTED of a [batch, depth] input to `units`, seeded weights (per unit or per
    tensor), bias and quantization."""
    import numpy as np
    import tflite

    rng = np.random.default_rng(seed)
    x_q = (float(rng.uniform(0.02, 0.08)), int(rng.integers(-20, 20)))
    out_q = (float(rng.uniform(0.05, 0.2)), int(rng.integers(-10, 10)))
    w = _weights(rng, (units, depth), 0, per_channel)

    def options(b: Any) -> Any:
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, ACTIVATIONS[activation])
        return tflite.FullyConnectedOptionsEnd(b)

    tensors = [_int8((batch, depth), x_q), w, _bias(rng, x_q, w.scale, units),
               _int8((batch, units), out_q)]
    return _Operator(tflite.BuiltinOperator.FULLY_CONNECTED, tensors, [0, 1, 2], [3],
                     (tflite.BuiltinOptions.FullyConnectedOptions, options))


def parallel(ops: Sequence[_Operator]) -> bytes:
    """One model running each operator side by side: each reads its own inputs and writes its
    own output, the model's inputs and outputs in the order of `ops`."""
    tensors: list[_Tensor] = []
    steps, outputs = [], []
    for op in ops:
        base = len(tensors)
        tensors += op.tensors
        steps.append(_Step(op.code, [base + i for i in op.inputs],
                           [base + i for i in op.outputs], op.options))
        outputs += [base + i for i in op.outputs]
    return _build(_Graph(tensors, tuple(steps), outputs))


def softmax(shape: tuple[int, ...], x: Quant, out: Quant = (1 / 256, -128),
            beta: float = 1.0, out_dtype: str = "int8") -> bytes:
    """SOFTMAX over the last axis of an int8 tensor, to int8 or int16."""
    import tflite

    def options(b: Any) -> Any:
        tflite.SoftmaxOptionsStart(b)
        tflite.SoftmaxOptionsAddBeta(b, beta)
        return tflite.SoftmaxOptionsEnd(b)

    output = _Tensor(shape, out_dtype, (out[0],), (out[1],))
    return _model(_Operator(tflite.BuiltinOperator.SOFTMAX, [_int8(shape, x), output],
                            [0], [1], (tflite.BuiltinOptions.SoftmaxOptions, options)))


def logistic(shape: tuple[int, ...], x: Quant, out: Quant = (1 / 256, -128)) -> bytes:
    """LOGISTIC of an int8 tensor."""
    import tflite

    return _model(_Operator(tflite.BuiltinOperator.LOGISTIC,
                            [_int8(shape, x), _int8(shape, out)], [0], [1], None))


def mean(shape: tuple[int, ...], axes: Sequence[int], keep_dims: bool, x: Quant,
         out: Quant) -> bytes:
    """MEAN of an int8 tensor over `axes`."""
    import tflite

    out_shape = tuple(1 if i in axes else n for i, n in enumerate(shape) if keep_dims
                      or i not in axes)

    def options(b: Any) -> Any:
        tflite.ReducerOptionsStart(b)
        tflite.ReducerOptionsAddKeepDims(b, keep_dims)
        return tflite.ReducerOptionsEnd(b)

    tensors = [_int8(shape, x), _int32_data(list(axes)), _int8(out_shape, out)]
    return _model(_Operator(tflite.BuiltinOperator.MEAN, tensors, [0, 1], [2],
                            (tflite.BuiltinOptions.ReducerOptions, options)))


def pad(shape: tuple[int, ...], paddings: Sequence[tuple[int, int]], x: Quant) -> bytes:
    """PAD of an int8 tensor with its zero point (input and output quantization equal)."""
    import tflite

    out_shape = tuple(n + lo + hi for n, (lo, hi) in zip(shape, paddings, strict=True))
    tensors = [_int8(shape, x), _int32_data([list(p) for p in paddings]), _int8(out_shape, x)]
    return _model(_Operator(tflite.BuiltinOperator.PAD, tensors, [0, 1], [2], None))


def concatenation(shapes: Sequence[tuple[int, ...]], axis: int, quants: Sequence[Quant],
                  out: Quant) -> bytes:
    """CONCATENATION of int8 tensors along `axis`."""
    import tflite

    out_shape = list(shapes[0])
    out_shape[axis] = sum(s[axis] for s in shapes)

    def options(b: Any) -> Any:
        tflite.ConcatenationOptionsStart(b)
        tflite.ConcatenationOptionsAddAxis(b, axis)
        tflite.ConcatenationOptionsAddFusedActivationFunction(b, 0)
        return tflite.ConcatenationOptionsEnd(b)

    tensors = [_int8(s, q) for s, q in zip(shapes, quants, strict=True)]
    tensors.append(_int8(tuple(out_shape), out))
    n = len(shapes)
    return _model(_Operator(tflite.BuiltinOperator.CONCATENATION, tensors, list(range(n)), [n],
                            (tflite.BuiltinOptions.ConcatenationOptions, options)))


def tflm_outputs(model: bytes, inputs: Sequence[Any]) -> list[Any]:
    """The outputs of TFLite Micro (its reference kernels) running `model` on `inputs`."""
    import tflite
    from tflite_micro.python.tflite_micro import runtime

    count = tflite.Model.GetRootAsModel(model, 0).Subgraphs(0).OutputsLength()
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=TFLM_ARENA)
    for i, x in enumerate(inputs):
        interpreter.set_input(x, i)
    interpreter.invoke()
    return [interpreter.get_output(i) for i in range(count)]
