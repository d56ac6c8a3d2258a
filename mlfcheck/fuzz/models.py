"""Model specs for fuzzing: small operator DAGs as plain data, rendered to Python model files.

A `ModelSpec` names operators and which earlier value each one reads, never shapes: shapes are
worked out here while rendering, and every operator adapts to whatever it reads (a reshape to
4-D before a convolution, a dequantize before a sigmoid ...). So every spec, and every spec
with layers, inputs or outputs deleted, is a valid model: shrinking can never make it invalid.

The rendered file follows the exporter's Python-file convention (`model` is a tvm.IRModule with
its weights bound as constants, `output_names` names the outputs), so
`mlfcheck export model.py -o model.tar` replays it. Rendering needs no TVM.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from math import ceil, isqrt, log2, prod

FLOAT = "float32"
INT8 = "int8"
DTYPES = (FLOAT, INT8, "uint8", "int16", "int32", "float16")
"""Input dtypes; float16 models are refused by the exporter (UnsupportedModel), so the
strategy draws float16 rarely."""
CASTS = ("uint8", "int16", "int32", FLOAT, "bool")
"""Dtypes an `astype` layer converts to (bool through a comparison with zero)."""

OPS = ("relu", "clip", "add", "multiply", "sigmoid", "tanh", "softmax", "flatten", "reshape",
       "transpose", "concat", "split", "dense", "conv2d", "depthwise_conv2d", "max_pool2d",
       "avg_pool2d", "quantize", "dequantize", "relu6", "leaky_relu", "hard_swish", "mean",
       "global_pool", "reduce", "pad", "slice", "astype", "compare", "requantize", "qadd",
       "qpool", "qdense", "qconv2d", "qdepthwise")
"""Every operator a layer may use, simplest first (shrinking moves towards the front)."""
Q_OPS = ("requantize", "qadd", "qpool", "qdense", "qconv2d", "qdepthwise")
"""TFLite-style int8 patterns (dequantize → float op → quantize, NHWC, int8 weights with
per-channel scales, an int32 bias) that the exporter's integer pass lowers."""

QUANT_SCALES = (0.05, 0.01, 0.1, 0.5)
"""Quantization scales a quantize/dequantize layer picks from with its option."""
ZERO_POINTS = (0, -7, 5, 19, -1, 3)
"""Output zero points a q-operator picks from (int8 inputs have INPUT_ZERO_POINT)."""
INPUT_ZERO_POINT = -4
"""Zero point of an int8 model input (its scale is QUANT_SCALES[0])."""
WEIGHT_SCALES = (0.02, 0.005, 0.011, 0.04)
"""Weight scales of q-operators; per channel they cycle, so channels get different shifts."""
GAINS = (8.3, 12.1, 17.0)
"""Output scale of a q-operator = input scale × weight scale × √fan-in × gain: its int8
outputs spread over tens of units without saturating everywhere, and the rescaling ratio stays
below 1/8, so TFLite's double rounding (to 2**-shift, then to an integer) departs from one
rounding on at most 1/16 of the elements."""

BOOL_OUTPUT = 7
"""The output selector that picks the newest bool value (a comparison; one of the newest value
is made when there is none): 8 and 23 of 100 models have a bool output at seeds 0 and
20261126."""

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Input:
    """One model input: a static shape and a dtype."""

    shape: Shape
    dtype: str


@dataclass(frozen=True)
class Layer:
    """One operator applied to earlier values.

    Selectors count back from the newest value: 0 reads the value just made, 1 the one
    before, and so on (modulo the number of values), so small numbers make chains.
    """

    op: str
    source: int = 0
    """Selector of the value the operator reads."""
    other: int = 0
    """Selector of a second value (add, multiply, concat), when the option asks for one."""
    option: int = 0
    """Operator-specific choice: channels, axis, permutation, scale, broadcast form."""


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: inputs, layers in order, which values are outputs, the weight seed."""

    inputs: tuple[Input, ...]
    layers: tuple[Layer, ...]
    outputs: tuple[int, ...] = (0,)
    """Selectors over values made by layers (0 = the last one; BOOL_OUTPUT the newest bool
    value, or a comparison of the newest value made for it); a selector given twice makes the
    same output twice, or a flat view of it (so the C copies one output into another)."""
    seed: int = 0
    """Seed of the numpy generator that draws every weight."""


@dataclass(frozen=True)
class Value:
    """A value while rendering: its Python variable name, shape and dtype."""

    name: str
    shape: Shape
    dtype: str
    scale: float = QUANT_SCALES[0]
    """int8 values: the scale and zero point they are quantized with."""
    zp: int = 0

    @property
    def size(self) -> int:
        """Number of elements."""
        return prod(self.shape)


@dataclass
class _Builder:
    """Accumulates the lines of the function body and the values they define."""

    values: list[Value]
    lines: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    """Relax operators used, in order of first use (for summaries and signatures)."""
    made: int = 0
    """How many values the layers made (outputs choose among these)."""
    bound: int = 0
    """How many variables the body binds (names are v1, v2, ...)."""
    patterns: list[tuple[Layer, Value, Value]] = field(default_factory=list)
    """Each int8 pattern applied (a Q_OPS layer), the value it read and the layer's other."""

    def bind(self, expr: str, *, uses: str) -> str:
        """Bind `expr` to a fresh variable that is not a tensor value (e.g. a tuple)."""
        self.bound += 1
        name = f"v{self.bound}"
        self.lines.append(f"{name} = bb.emit({expr})")
        if uses not in self.ops:
            self.ops.append(uses)
        return name

    def emit(self, expr: str, shape: Shape, dtype: str, *, uses: str,
             q: tuple[float, int] = (QUANT_SCALES[0], 0)) -> Value:
        """Bind `expr` to a fresh variable holding a tensor value of this shape and dtype (and
        quantization `q`: scale, zero point)."""
        value = Value(self.bind(expr, uses=uses), shape, dtype, *q)
        self.values.append(value)
        self.made += 1
        return value

    def pick(self, selector: int) -> Value:
        return self.values[-1 - selector % len(self.values)]


@dataclass(frozen=True)
class Rendered:
    """A spec rendered: the Python source and what the model turned out to be."""

    source: str
    input_shapes: tuple[tuple[str, Shape, str], ...]
    output_shapes: tuple[tuple[str, Shape, str], ...]
    ops: tuple[str, ...]
    """Relax operators the model uses, in order of first use."""


def _const(shape: Shape, dtype: str, scale: float = 1.0) -> str:
    if dtype == FLOAT:
        return f"weights({shape}, scale={scale:g})"
    return f"weights({shape}, {dtype!r})"


def _scalar(value: float | int, dtype: str) -> str:
    return f"relax.const({value!r}, {dtype!r})"


def _array(values: list[float] | list[int], dtype: str) -> str:
    return f"relax.const(np.array({values!r}, {dtype!r}))"


def _cast(b: _Builder, v: Value, dtype: str) -> Value:
    return b.emit(f"op.astype({v.name}, {dtype!r})", v.shape, dtype, uses="astype")


def _as_float(b: _Builder, v: Value) -> Value:
    if v.dtype == FLOAT:
        return v
    if v.dtype != INT8:
        return _cast(b, v, FLOAT)
    return b.emit(f"op.dequantize({v.name}, {_scalar(v.scale, FLOAT)}, "
                  f"{_scalar(v.zp, INT8)})", v.shape, FLOAT, uses="dequantize")


def _as_int8(b: _Builder, v: Value) -> Value:
    if v.dtype == INT8:
        return v
    if v.dtype not in (FLOAT, "float16"):
        return _cast(b, v, INT8)
    return b.emit(f"op.quantize({_as_float(b, v).name}, {_scalar(QUANT_SCALES[0], FLOAT)}, "
                  f"{_scalar(0, INT8)})", v.shape, INT8, uses="quantize")


def _as_known(b: _Builder, v: Value) -> Value:
    """float32 and int8 stay; other dtypes become float32 (most layers compute in those)."""
    return v if v.dtype in (FLOAT, INT8) else _as_float(b, v)


def _reshape(b: _Builder, v: Value, shape: Shape) -> Value:
    if v.shape == shape:
        return v
    return b.emit(f"op.reshape({v.name}, {shape})", shape, v.dtype, uses="reshape",
                  q=(v.scale, v.zp))


def _side(n: int) -> int:
    """The largest divisor of n that is at most √n."""
    return max(d for d in range(1, isqrt(n) + 1) if n % d == 0)


def _image_shape(n: int) -> Shape:
    """(1, C, H, W) holding n elements: C the largest divisor ≤ 4, H×W as square as it gets."""
    c = max(d for d in range(1, 5) if n % d == 0)
    hw = n // c
    h = _side(hw)
    return (1, c, h, hw // h)


def _as_image(b: _Builder, v: Value) -> Value:
    return v if len(v.shape) == 4 else _reshape(b, v, _image_shape(v.size))


def _as_row(b: _Builder, v: Value) -> Value:
    return _reshape(b, v, (1, v.size))


def _requantize(b: _Builder, acc: str, shape: Shape, reduction: int, uses: str, *,
                fixed_point: bool = False) -> Value:
    """An int32 accumulator expression brought back to int8: shift (or a fixed-point
    multiply in int64 with rounding, then shift), clip, cast."""
    shift = max(0, ceil(log2(max(1, reduction) * 8)))
    if fixed_point:
        acc = (f"op.right_shift(op.add(op.multiply(op.astype({acc}, 'int64'), "
               f"{_scalar(1518500250, 'int64')}), {_scalar(1 << (shift + 30), 'int64')}), "
               f"{_scalar(shift + 31, 'int64')})")
        return b.emit(f"op.astype(op.clip({acc}, -128, 127), {INT8!r})", shape, INT8,
                      uses=uses)
    return b.emit(f"op.astype(op.clip(op.right_shift({acc}, {_scalar(shift, 'int32')}), "
                  f"-128, 127), {INT8!r})", shape, INT8, uses=uses)


def _elementwise(b: _Builder, layer: Layer, a: Value) -> Value:
    """add / multiply: the second operand is a constant or a value broadcast into `a`."""
    form = layer.option % 5
    other = b.pick(layer.other)
    if form == 4 and other.name != a.name:  # another computed value, reduced to a scalar
        reduced = (f"op.mean({_as_float(b, other).name})" if a.dtype == FLOAT
                   else f"op.max({_as_int8(b, other).name})")
        rhs = b.emit(reduced, (), a.dtype, uses="mean" if a.dtype == FLOAT else "reduce").name
    elif form == 3 and other.name != a.name and len(other.shape) <= len(a.shape) and all(
            o in (1, s) for o, s in zip(reversed(other.shape), reversed(a.shape), strict=False)):
        rhs = (_as_float(b, other) if a.dtype == FLOAT else _as_int8(b, other)).name
    elif form == 1:
        rhs = _scalar(0.5, FLOAT) if a.dtype == FLOAT else _scalar(3, INT8)
    elif form == 2:
        shape: Shape = (1, a.shape[1], 1, 1) if len(a.shape) == 4 else (a.shape[-1],)
        rhs = _const(shape, a.dtype)
    else:
        rhs = _const(a.shape, a.dtype)
    name = "op.add" if layer.op == "add" else "op.multiply"
    return b.emit(f"{name}({a.name}, {rhs})", a.shape, a.dtype, uses=layer.op)


def _concat(b: _Builder, layer: Layer, a: Value) -> Value:
    other = b.pick(layer.other)
    if other.dtype != a.dtype or len(other.shape) != len(a.shape):
        other = a
    differing = [i for i, (x, y) in enumerate(zip(a.shape, other.shape, strict=True)) if x != y]
    if len(differing) > 1:
        other = a
        differing = []
    axis = differing[0] if differing else layer.option % len(a.shape)
    shape = tuple(x + y if i == axis else x
                  for i, (x, y) in enumerate(zip(a.shape, other.shape, strict=True)))
    return b.emit(f"op.concat([{a.name}, {other.name}], axis={axis})", shape, a.dtype,
                  uses="concat")


def _split(b: _Builder, layer: Layer, a: Value) -> Value:
    """Split in two along the first axis (from the option on) of length ≥ 2; a value with no
    such axis is first doubled along axis 0 (R.split into one section is not a tuple)."""
    rank = len(a.shape)
    axes = [(layer.option + i) % rank for i in range(rank)]
    axis = next((ax for ax in axes if a.shape[ax] >= 2), None)
    if axis is None:
        axis = 0
        a = b.emit(f"op.concat([{a.name}, {a.name}], axis=0)",
                   (2 * a.shape[0], *a.shape[1:]), a.dtype, uses="concat")
    cut = a.shape[axis] // 2
    parts = b.bind(f"op.split({a.name}, [{cut}], axis={axis})", uses="split")
    first = tuple(cut if i == axis else d for i, d in enumerate(a.shape))
    second = tuple(d - cut if i == axis else d for i, d in enumerate(a.shape))
    b.emit(f"relax.TupleGetItem({parts}, 0)", first, a.dtype, uses="split")
    return b.emit(f"relax.TupleGetItem({parts}, 1)", second, a.dtype, uses="split")


def _dense(b: _Builder, layer: Layer, a: Value) -> Value:
    row = _as_row(b, _as_known(b, a))
    k, n = row.size, 1 + layer.option % 16
    if row.dtype == FLOAT:
        return b.emit(f"op.add(op.matmul({row.name}, {_const((k, n), FLOAT, k ** -0.5)}), "
                      f"{_const((n,), FLOAT, 0.1)})", (1, n), FLOAT, uses="matmul")
    acc = f"op.matmul({row.name}, {_const((k, n), INT8)}, out_dtype='int32')"
    return _requantize(b, acc, (1, n), k, "matmul", fixed_point=layer.option % 3 == 0)


_KERNELS = ((3, 3), (1, 1), (5, 5), (1, 3), (3, 1))


def _conv(b: _Builder, layer: Layer, a: Value, *, depthwise: bool) -> Value:
    """Convolution; the option picks channels, kernel (3×3, 1×1, 5×5, 1×3, 3×1), stride,
    dilation and symmetric or asymmetric (bottom/right) padding."""
    image = _as_image(b, _as_known(b, a))
    n, c, h, w = image.shape
    kh, kw = _KERNELS[layer.option // 8 % len(_KERNELS)]
    stride = 2 if layer.option // 40 % 2 else 1
    dilation = 2 if layer.option // 80 % 2 else 1
    eh, ew = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    pads = ((0, 0, eh - 1, ew - 1) if layer.option // 160 % 2
            else ((eh - 1) // 2, (ew - 1) // 2, (eh - 1) // 2, (ew - 1) // 2))
    if depthwise:
        out, groups, per_group = c * (1 + layer.option % 2), c, 1
    else:
        out, groups, per_group = 1 + layer.option % 8, 1, c
    oh = (h + pads[0] + pads[2] - eh) // stride + 1
    ow = (w + pads[1] + pads[3] - ew) // stride + 1
    shape = (n, out, oh, ow)
    weight_shape = (out, per_group, kh, kw)
    args = (f"strides=({stride}, {stride}), padding={pads}"
            + (f", dilation=({dilation}, {dilation})" if dilation > 1 else "")
            + (f", groups={groups}" if groups > 1 else ""))
    fan_in = per_group * kh * kw
    if image.dtype == FLOAT:
        return b.emit(f"op.nn.conv2d({image.name}, {_const(weight_shape, FLOAT, fan_in ** -0.5)}"
                      f", {args})", shape, FLOAT, uses="conv2d")
    acc = (f"op.nn.conv2d({image.name}, {_const(weight_shape, INT8)}, {args}, "
           "out_dtype='int32')")
    return _requantize(b, acc, shape, fan_in, "conv2d", fixed_point=layer.option % 3 == 0)


def _pool(b: _Builder, layer: Layer, a: Value) -> Value:
    """2×2 pooling with stride 2, or (odd options) padded 3×3 pooling with stride 1 or 2."""
    image = _as_image(b, _as_known(b, a))
    if layer.op == "avg_pool2d":
        image = _as_float(b, image)
    n, c, h, w = image.shape
    if layer.option % 2:
        stride = 1 + layer.option // 2 % 2
        shape = (n, c, (h - 1) // stride + 1, (w - 1) // stride + 1)
        return b.emit(f"op.nn.{layer.op}({image.name}, pool_size=(3, 3), "
                      f"strides=({stride}, {stride}), padding=(1, 1))", shape, image.dtype,
                      uses=layer.op)
    size = 2 if h >= 2 and w >= 2 else 1
    shape = (n, c, h // size, w // size)
    return b.emit(f"op.nn.{layer.op}({image.name}, pool_size=({size}, {size}), "
                  f"strides=({size}, {size}))", shape, image.dtype, uses=layer.op)


def _activation(b: _Builder, layer: Layer, a: Value) -> Value:
    """relu6, leaky_relu (float) and hard_swish (float: x · relu6(x + 3) / 6)."""
    if layer.op == "relu6":
        x = _as_known(b, a)
        return b.emit(f"op.clip({x.name}, 0, 6)", x.shape, x.dtype, uses="relu6")
    x = _as_float(b, a)
    if layer.op == "leaky_relu":
        alpha = (0.01, 0.1, 0.2)[layer.option % 3]
        return b.emit(f"op.nn.leakyrelu({x.name}, {alpha})", x.shape, FLOAT, uses="leaky_relu")
    return b.emit(f"op.multiply({x.name}, op.divide(op.clip(op.add({x.name}, "
                  f"{_scalar(3.0, FLOAT)}), 0, 6), {_scalar(6.0, FLOAT)}))", x.shape, FLOAT,
                  uses="hard_swish")


def _reduce(b: _Builder, layer: Layer, a: Value) -> Value:
    """mean over one axis or the spatial axes, global average pooling (keeps 1×1), sum / max
    over one axis; keepdims from the option."""
    if layer.op == "global_pool":
        image = _as_float(b, _as_image(b, a))
        n, c, _, _ = image.shape
        return b.emit(f"op.nn.adaptive_avg_pool2d({image.name}, output_size=1)", (n, c, 1, 1),
                      FLOAT, uses="global_pool")
    x = _as_float(b, a) if layer.op == "mean" else _as_known(b, a)
    if layer.op == "reduce" and x.dtype == INT8 and layer.option % 2 == 0:
        x = _as_float(b, x)  # an int8 sum would overflow: only max stays int8
    axes = [2, 3] if len(x.shape) == 4 and layer.option // 4 % 2 else [
        layer.option % len(x.shape)]
    keep = bool(layer.option // 2 % 2)
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes)
    if not shape:
        keep, shape = True, tuple(1 for _ in x.shape)
    name = "mean" if layer.op == "mean" else ("max" if layer.option % 2 else "sum")
    return b.emit(f"op.{name}({x.name}, axis={axes}, keepdims={keep})", shape, x.dtype,
                  uses=f"{layer.op}")


def _pad(b: _Builder, layer: Layer, a: Value) -> Value:
    """Constant padding of an image by 0–2 elements on each side (from the option)."""
    image = _as_image(b, _as_known(b, a))
    n, c, h, w = image.shape
    top, bottom, left, right = ((layer.option >> (2 * i) & 3) % 3 for i in range(4))
    widths = [0, 0, 0, 0, top, bottom, left, right]
    return b.emit(f"op.nn.pad({image.name}, {widths})", (n, c, h + top + bottom,
                                                         w + left + right),
                  image.dtype, uses="pad")


def _slice(b: _Builder, layer: Layer, a: Value) -> Value:
    """A strided slice along one axis of length ≥ 2 (none: the value itself, sliced whole)."""
    axis = next((ax for ax in ((layer.option + i) % len(a.shape) for i in range(len(a.shape)))
                 if a.shape[ax] >= 2), 0)
    length = a.shape[axis]
    begin = layer.option // 4 % max(1, length // 2)
    stride = 1 + layer.option // 16 % 2
    size = len(range(begin, length, stride))
    shape = tuple(size if i == axis else d for i, d in enumerate(a.shape))
    return b.emit(f"op.strided_slice({a.name}, axes=[{axis}], begin=[{begin}], "
                  f"end=[{length}], strides=[{stride}])", shape, a.dtype, uses="slice")


def _astype(b: _Builder, layer: Layer, a: Value) -> Value:
    """A cast to another dtype; bool through `x > 0`."""
    dtype = CASTS[layer.option % len(CASTS)]
    if dtype == "bool":
        x = _as_known(b, a)
        return b.emit(f"op.greater({x.name}, {_scalar(0, x.dtype)})", x.shape, "bool",
                      uses="greater")
    if dtype == a.dtype:
        dtype = FLOAT if a.dtype != FLOAT else "int16"
    return _cast(b, a, dtype)


def _unary(b: _Builder, layer: Layer, a: Value) -> Value:
    a = _as_known(b, a)
    if layer.op == "relu":
        return b.emit(f"op.nn.relu({a.name})", a.shape, a.dtype, uses="relu")
    if layer.op == "clip":
        low, high = (-0.5, 0.5) if a.dtype == FLOAT else (-64, 64)
        return b.emit(f"op.clip({a.name}, {low}, {high})", a.shape, a.dtype, uses="clip")
    x = _as_float(b, a)
    if layer.op == "softmax":
        axis = -1 - layer.option % len(x.shape)
        return b.emit(f"op.nn.softmax({x.name}, axis={axis})", x.shape, FLOAT, uses="softmax")
    return b.emit(f"op.{layer.op}({x.name})", x.shape, FLOAT, uses=layer.op)


def _shape_op(b: _Builder, layer: Layer, a: Value) -> Value:
    if layer.op == "flatten":
        if a.shape == (1, a.size):
            return b.emit(f"op.reshape({a.name}, ({a.size},))", (a.size,), a.dtype,
                          uses="reshape")
        return b.emit(f"op.reshape({a.name}, (1, {a.size}))", (1, a.size), a.dtype,
                      uses="reshape")
    if layer.op == "reshape":
        d = next((d for d in range(2, a.size) if a.size % d == 0), 1)
        shapes = [(1, d, a.size // d), (a.size,), (1, a.size), _image_shape(a.size)]
        candidates = [s for s in shapes if s != a.shape]
        shape = candidates[layer.option % len(candidates)]
        return b.emit(f"op.reshape({a.name}, {shape})", shape, a.dtype, uses="reshape")
    perms = [p for p in itertools.permutations(range(len(a.shape)))
             if list(p) != sorted(p)] or [tuple(range(len(a.shape)))]
    perm = perms[layer.option % len(perms)]
    shape = tuple(a.shape[i] for i in perm)
    return b.emit(f"op.permute_dims({a.name}, {list(perm)})", shape, a.dtype,
                  uses="permute_dims")


def _quant(b: _Builder, layer: Layer, a: Value) -> Value:
    scale = _scalar(QUANT_SCALES[layer.option % len(QUANT_SCALES)], FLOAT)
    zero = _scalar(layer.option // len(QUANT_SCALES) % 3 - 1, INT8)
    if layer.op == "quantize":
        x = _as_float(b, a)
        if len(x.shape) == 4 and layer.option // 12 % 2:  # per channel
            c = x.shape[1]
            scales = [QUANT_SCALES[(layer.option + i) % len(QUANT_SCALES)] for i in range(c)]
            zeros = [(layer.option + i) % 3 - 1 for i in range(c)]
            return b.emit(f"op.quantize({x.name}, relax.const(np.array({scales}, 'float32')), "
                          f"relax.const(np.array({zeros}, 'int8')), axis=1)", x.shape, INT8,
                          uses="quantize")
        return b.emit(f"op.quantize({x.name}, {scale}, {zero})", x.shape, INT8,
                      uses="quantize")
    q = _as_int8(b, a)
    return b.emit(f"op.dequantize({q.name}, {scale}, {zero})", q.shape, FLOAT,
                  uses="dequantize")


# -- TFLite-style int8 patterns (what the exporter's integer pass lowers) ----------------------

def _as_nhwc(b: _Builder, v: Value) -> Value:
    """An int8 image: 4-D values are read as NHWC; others reshaped to (1, H, W, C)."""
    q = _as_int8(b, v)
    if len(q.shape) == 4:
        return q
    _, c, h, w = _image_shape(q.size)
    return _reshape(b, q, (1, h, w, c))


def _dq(v: Value) -> str:
    """The dequantize of an int8 value with its own quantization (a QTensor to the pass)."""
    return f"op.dequantize({v.name}, {_scalar(v.scale, FLOAT)}, {_scalar(v.zp, INT8)})"


def _choices(layer: Layer, *sizes: int) -> list[int]:
    """Independent choices of a q-operator, read in turn from `option` + 256 × `other` (so
    zeroing either while shrinking moves every choice towards its first, simplest value)."""
    n, out = layer.option + 256 * layer.other, []
    for size in sizes:
        n, pick = divmod(n, size)
        out.append(pick)
    return out


def _activation_of(expr: str, choice: int) -> str:
    """None, relu, relu6 or clip(-1, 2) after a q-operator's float result (folded into the
    kernel's clamp)."""
    return (expr, f"op.nn.relu({expr})", f"op.nn.relu6({expr})",
            f"op.clip({expr}, -1.0, 2.0)")[choice]


def _quantized(b: _Builder, expr: str, shape: Shape, scale: float, zp: int, uses: str) -> Value:
    """quantize(expr) to int8 with `scale` (rounded to 4 digits) and zero point ZERO_POINTS[zp]."""
    q = (float(f"{scale:.4g}"), ZERO_POINTS[zp])
    return b.emit(f"op.quantize({expr}, {_scalar(q[0], FLOAT)}, {_scalar(q[1], INT8)})",
                  shape, INT8, uses=uses, q=q)


def _weights_dq(shape: Shape, scales: list[float], axis: int) -> str:
    """dequantize(int8 constant, scales along `axis`, zero points 0): symmetric weights."""
    if len(scales) == 1:
        return (f"op.dequantize({_const(shape, INT8)}, {_scalar(scales[0], FLOAT)}, "
                f"{_scalar(0, INT8)})")
    return (f"op.dequantize({_const(shape, INT8)}, {_array(scales, 'float32')}, "
            f"{_array([0] * len(scales), INT8)}, axis={axis})")


def _with_bias(core: str, x: Value, scales: list[float], channels: int, bias: bool) -> str:
    """core + dequantize(int32 constant, input scale × weight scale, 0): TFLite's bias."""
    if not bias:
        return core
    full = [float(f"{x.scale * s:.6g}") for s in (scales * channels if len(scales) == 1
                                                  else scales)]
    return (f"op.add({core}, op.dequantize(bias({channels}), {_array(full, 'float32')}, "
            f"{_array([0] * channels, 'int32')}, axis=0))")


def _weight_scales(per_tensor: int, start: int, channels: int) -> list[float]:
    """One scale, or one per channel cycling through WEIGHT_SCALES from `start`."""
    if per_tensor:
        return [WEIGHT_SCALES[start]]
    return [WEIGHT_SCALES[(start + i) % len(WEIGHT_SCALES)] for i in range(channels)]


def _qconv(b: _Builder, layer: Layer, a: Value, *, depthwise: bool) -> Value:
    """NHWC int8 conv2d (HWIO weights) or depthwise (HWOI, multiplier 1–3) with an optional
    int32 bias and folded activation, requantized to int8. The choices: per-channel scales,
    kernel, stride, bias, SAME or VALID padding, channels or multiplier, activation, output
    zero point, gain, first weight scale."""
    x = _as_nhwc(b, a)
    n, h, w, c = x.shape
    per_tensor, kernel, stride, no_bias, valid, width, act, zp, gain, start = _choices(
        layer, 2, 5, 2, 2, 2, 4, 4, len(ZERO_POINTS), len(GAINS), len(WEIGHT_SCALES))
    kh, kw = ((3, 3), (1, 1), (3, 1), (1, 3), (5, 5))[kernel]
    if depthwise:
        out = c * (1, 2, 1, 3)[width]
        wshape, axis = (kh, kw, out, 1), 2
        args = f", groups={c}, data_layout='NHWC', kernel_layout='HWOI'"
    else:
        out = (4, 1, 8, 3)[width]
        wshape, axis = (kh, kw, c, out), 3
        args = ", data_layout='NHWC', kernel_layout='HWIO'"
    pads = (0, 0, 0, 0) if valid and kh <= h and kw <= w else (
        (kh - 1) // 2, (kw - 1) // 2, kh // 2, kw // 2)
    oh = (h + pads[0] + pads[2] - kh) // (1 + stride) + 1
    ow = (w + pads[1] + pads[3] - kw) // (1 + stride) + 1
    scales = _weight_scales(per_tensor, start, out)
    core = (f"op.nn.conv2d({_dq(x)}, {_weights_dq(wshape, scales, axis)}, "
            f"strides=({1 + stride}, {1 + stride}), padding={pads}{args})")
    fan_in = kh * kw * (1 if depthwise else c)
    return _quantized(b, _activation_of(_with_bias(core, x, scales, out, not no_bias), act),
                      (n, oh, ow, out), x.scale * max(scales) * fan_in ** 0.5 * GAINS[gain],
                      zp, "qdepthwise" if depthwise else "qconv2d")


def _qdense(b: _Builder, layer: Layer, a: Value) -> Value:
    """int8 dense: (1, K) input times (K, N) int8 weights, an optional int32 bias and folded
    activation, requantized to int8."""
    x = _reshape(b, _as_int8(b, a), (1, a.size))
    per_tensor, no_bias, act, zp, gain, start, units = _choices(
        layer, 2, 2, 4, len(ZERO_POINTS), len(GAINS), len(WEIGHT_SCALES), 16)
    k, n = x.size, 1 + units
    scales = _weight_scales(per_tensor, start, n)
    core = f"op.matmul({_dq(x)}, {_weights_dq((k, n), scales, 1)})"
    return _quantized(b, _activation_of(_with_bias(core, x, scales, n, not no_bias), act),
                      (1, n), x.scale * max(scales) * k ** 0.5 * GAINS[gain], zp, "qdense")


def _requantize_op(b: _Builder, layer: Layer, a: Value) -> Value:
    """quantize(dequantize(x)) to another scale and zero point: TFLite's requantize. The
    ratios of scales (and of the sums in `_qadd`) have odd numerators, so no value lands
    exactly half-way between two integers, where fixed-point and float rounding may differ;
    and they are at least 1/2, so TFLite rounds once (a smaller ratio rounds twice)."""
    x = _as_int8(b, a)
    ratio, zp = _choices(layer, 4, len(ZERO_POINTS))
    return _quantized(b, _dq(x), x.shape, x.scale * (1.7, 1.0, 1.3, 0.7)[ratio], zp,
                      "requantize")


def _qadd(b: _Builder, layer: Layer, a: Value) -> Value:
    """QDQ add of two int8 tensors of one shape (a value and another of its size, or itself),
    with an optional folded activation."""
    x = _as_int8(b, a)
    other = b.pick(layer.other)
    y = _as_int8(b, other) if other.size == x.size and other.name != x.name else x
    y = _reshape(b, y, x.shape)
    ratio, act, zp = _choices(replace(layer, other=0), 3, 4, len(ZERO_POINTS))
    return _quantized(b, _activation_of(f"op.add({_dq(x)}, {_dq(y)})", act), x.shape,
                      2 * max(x.scale, y.scale) * (1.9, 0.7, 1.3)[ratio], zp, "qadd")


def _qpool(b: _Builder, layer: Layer, a: Value) -> Value:
    """int8 NHWC pooling: TFLite's integer average pool (astype int32 → avg_pool2d → astype
    int8), or QDQ average or max pooling with equal input and output quantization."""
    x = _as_nhwc(b, a)
    if min(x.shape[1:3]) < 2:  # a window of one cell does not average: make it 2-D if it can
        x = _reshape(b, x, next(((1, h, x.size // c // h, c) for c in (4, 3, 2, 1)
                                 if x.size % c == 0 and (h := _side(x.size // c)) >= 2),
                                x.shape))
    n, h, w, c = x.shape
    kind, padded, stride = _choices(layer, 3, 2, 2)
    if padded and h >= 3 and w >= 3:
        stride += 1
        window = f"pool_size=(3, 3), strides=({stride}, {stride}), padding=(1, 1)"
        shape = (n, (h - 1) // stride + 1, (w - 1) // stride + 1, c)
    else:
        size = 2 if h >= 2 and w >= 2 else 1
        window = f"pool_size=({size}, {size}), strides=({size}, {size})"
        shape = (n, h // size, w // size, c)
    if kind == 0:
        return b.emit(f"op.astype(op.nn.avg_pool2d(op.astype({x.name}, 'int32'), {window}, "
                      f"layout='NHWC'), {INT8!r})", shape, INT8, uses="qpool",
                      q=(x.scale, x.zp))
    pool = "avg_pool2d" if kind == 1 else "max_pool2d"
    return b.emit(f"op.quantize(op.nn.{pool}({_dq(x)}, {window}, layout='NHWC'), "
                  f"{_scalar(x.scale, FLOAT)}, {_scalar(x.zp, INT8)})", shape, INT8,
                  uses="qpool", q=(x.scale, x.zp))


def _compare(b: _Builder, layer: Layer, a: Value) -> Value:
    """A bool value: x > 0, x < 0 or x == 0 (int8 against its zero point)."""
    x = _as_known(b, a)
    name = ("greater", "less", "equal")[layer.option % 3]
    zero = _scalar(x.zp, INT8) if x.dtype == INT8 else _scalar(0.0, FLOAT)
    return b.emit(f"op.{name}({x.name}, {zero})", x.shape, "bool", uses="compare")


_APPLIED_WHOLE = {
    "requantize": _requantize_op, "qadd": _qadd, "qpool": _qpool, "qdense": _qdense,
    "qconv2d": lambda b, layer, a: _qconv(b, layer, a, depthwise=False),
    "qdepthwise": lambda b, layer, a: _qconv(b, layer, a, depthwise=True),
    "compare": _compare}
"""The operators added with the int8 patterns, each applied whole (its result's quantization is
its own, not inherited from what it read)."""
_KEEPS_QUANTIZATION = frozenset({"relu", "clip", "relu6", "flatten", "reshape", "transpose",
                                 "concat", "split", "max_pool2d", "pad", "slice", "reduce"})
"""Operators whose int8 result keeps the quantization of the int8 value they read."""


def _apply(b: _Builder, layer: Layer) -> None:
    if layer.op not in OPS:
        raise ValueError(f"unknown operator {layer.op!r}; known: {', '.join(OPS)}")
    a = b.pick(layer.source)
    if not a.shape:  # a scalar (a reduced operand of add/multiply): give it an axis
        a = _reshape(b, a, (1, 1))
    if layer.op in _APPLIED_WHOLE:
        if layer.op in Q_OPS:
            b.patterns.append((layer, a, b.pick(layer.other)))
        _APPLIED_WHOLE[layer.op](b, layer, a)
        return
    made = len(b.values)
    _apply_float(b, layer, a)
    if layer.op in _KEEPS_QUANTIZATION and a.dtype == INT8:
        b.values[made:] = [replace(v, scale=a.scale, zp=a.zp) if v.dtype == INT8 else v
                           for v in b.values[made:]]


def _apply_float(b: _Builder, layer: Layer, a: Value) -> None:
    """The operators of the first generation (float, or int8 with plain integer arithmetic)."""
    if layer.op in ("add", "multiply"):
        _elementwise(b, layer, _as_known(b, a))
    elif layer.op == "concat":
        _concat(b, layer, a)
    elif layer.op == "split":
        _split(b, layer, a)
    elif layer.op == "dense":
        _dense(b, layer, a)
    elif layer.op in ("conv2d", "depthwise_conv2d"):
        _conv(b, layer, a, depthwise=layer.op == "depthwise_conv2d")
    elif layer.op in ("max_pool2d", "avg_pool2d"):
        _pool(b, layer, a)
    elif layer.op in ("flatten", "reshape", "transpose"):
        _shape_op(b, layer, a)
    elif layer.op in ("quantize", "dequantize"):
        _quant(b, layer, a)
    elif layer.op in ("relu6", "leaky_relu", "hard_swish"):
        _activation(b, layer, a)
    elif layer.op in ("mean", "global_pool", "reduce"):
        _reduce(b, layer, a)
    elif layer.op == "pad":
        _pad(b, layer, a)
    elif layer.op == "slice":
        _slice(b, layer, a)
    elif layer.op == "astype":
        _astype(b, layer, a)
    else:
        _unary(b, layer, a)


_PRELUDE = '''\
import numpy as np
from tvm import relax
from tvm.relax import op

rng = np.random.default_rng({seed})


def weights(shape, dtype="float32", scale=1.0):
    """A constant drawn from the seeded generator: floats in [-scale, scale), int8 in [-8, 8)."""
    if dtype == "float32":
        return relax.const((rng.uniform(-1, 1, shape) * scale).astype("float32"))
    return relax.const(rng.integers(-8, 8, shape).astype(dtype))


def bias(channels):
    """An int32 bias drawn from the seeded generator, in [-2000, 2000)."""
    return relax.const(rng.integers(-2000, 2000, (channels,)).astype("int32"))


bb = relax.BlockBuilder()
'''


def render(spec: ModelSpec, *, title: str = "A model generated by mlfcheck fuzz.") -> Rendered:
    """The spec as a Python model file (the exporter's convention), and its resolved shapes."""
    inputs, b = _built(spec)
    made = b.values[len(inputs):]
    chosen: list[Value] = []
    bools = [v for v in made if v.dtype == "bool"]
    for n, selector in enumerate(spec.outputs or (0,)):
        if selector == BOOL_OUTPUT and not bools:  # a comparison of the newest value
            bools.append(_compare(b, Layer("compare", option=n), made[-1]))
        value = bools[-1] if selector == BOOL_OUTPUT else made[-1 - selector % len(made)]
        if value in chosen and (selector + n) % 2 and len(value.shape) != 1:
            value = b.emit(f"op.reshape({value.name}, ({value.size},))", (value.size,),
                           value.dtype, uses="reshape")  # a view of another output
        chosen.append(value)  # a repeat without a view: the same output twice
    return _rendered(title, spec.seed, inputs, b, chosen)


def _built(spec: ModelSpec) -> tuple[list[Value], _Builder]:
    """The model's inputs and the builder after every layer."""
    if not spec.inputs:
        raise ValueError("a model needs at least one input")
    inputs = [Value(f"x{i}", t.shape, t.dtype, zp=INPUT_ZERO_POINT if t.dtype == INT8 else 0)
              for i, t in enumerate(spec.inputs)]
    b = _Builder(values=list(inputs))
    for layer in spec.layers:
        _apply(b, layer)
    if b.made == 0:
        _apply(b, Layer("relu"))
    return inputs, b


def _rendered(title: str, seed: int, inputs: list[Value], b: _Builder,
              chosen: list[Value]) -> Rendered:
    params = ", ".join(v.name for v in inputs)
    head = [f'"""{title}"""', "", _PRELUDE.format(seed=seed)]
    head += [f"{v.name} = relax.Var({v.name!r}, relax.TensorType({v.shape}, {v.dtype!r}))"
             for v in inputs]
    body = [f"with bb.function('main', [{params}]):", "    with bb.dataflow():"]
    body += [f"        {line}" for line in b.lines]
    if len(chosen) == 1:
        body.append(f"        out = bb.emit_output({chosen[0].name})")
    else:
        fields = ", ".join(v.name for v in chosen)
        body.append(f"        out = bb.emit_output(relax.Tuple([{fields}]))")
    body.append("    bb.emit_func_output(out)")
    names = [f"y{i}" for i in range(len(chosen))]
    tail = ["", "model = bb.get()", f"output_names = {names!r}", ""]
    return Rendered(
        source="\n".join([*head, *body, *tail]),
        input_shapes=tuple((v.name, v.shape, v.dtype) for v in inputs),
        output_shapes=tuple((n, v.shape, v.dtype) for n, v in zip(names, chosen, strict=True)),
        ops=tuple(b.ops))


def render_patterns(spec: ModelSpec) -> Rendered | None:
    """Each int8 pattern (Q_OPS layer) of the model alone, on int8 inputs of its own with the
    shape and quantization of what it read, all of them outputs: so each output is one integer
    kernel, and a kernel's error cannot spread to the next. None when the model has none."""
    _, model = _built(spec)
    if not model.patterns:
        return None
    inputs: list[Value] = []
    b = _Builder(values=[])
    chosen = []
    for layer, *read in model.patterns:
        x, y = (Value(f"x{len(inputs) + i}", v.shape, INT8,
                      *((v.scale, v.zp) if v.dtype == INT8 else (QUANT_SCALES[0], 0)))
                for i, v in enumerate(read))
        inputs += [x, y] if layer.op == "qadd" else [x]
        b.values += [y, x]
        chosen.append(_APPLIED_WHOLE[layer.op](b, replace(layer, source=0, other=1), x))
    return _rendered("The int8 patterns of a model generated by mlfcheck fuzz.", spec.seed,
                     inputs, b, chosen)


def describe(spec: ModelSpec) -> str:
    """One line: inputs and the layer operators, e.g. 'x0:float32[1,3,4,4] → relu → dense'."""
    ins = ", ".join(f"{t.dtype}{list(t.shape)}" for t in spec.inputs)
    return f"({ins}) → " + " → ".join(layer.op for layer in spec.layers)
