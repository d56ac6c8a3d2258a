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
from dataclasses import dataclass, field
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
       "global_pool", "reduce", "pad", "slice", "astype")
"""Every operator a layer may use, simplest first (shrinking moves towards the front)."""

QUANT_SCALES = (0.05, 0.01, 0.1, 0.5)
"""Quantization scales a quantize/dequantize layer picks from with its option."""

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
    """Selectors over values made by layers (0 = the last one); duplicates are dropped."""
    seed: int = 0
    """Seed of the numpy generator that draws every weight."""


@dataclass(frozen=True)
class Value:
    """A value while rendering: its Python variable name, shape and dtype."""

    name: str
    shape: Shape
    dtype: str

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

    def bind(self, expr: str, *, uses: str) -> str:
        """Bind `expr` to a fresh variable that is not a tensor value (e.g. a tuple)."""
        self.bound += 1
        name = f"v{self.bound}"
        self.lines.append(f"{name} = bb.emit({expr})")
        if uses not in self.ops:
            self.ops.append(uses)
        return name

    def emit(self, expr: str, shape: Shape, dtype: str, *, uses: str) -> Value:
        """Bind `expr` to a fresh variable holding a tensor value of this shape and dtype."""
        value = Value(self.bind(expr, uses=uses), shape, dtype)
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


def _cast(b: _Builder, v: Value, dtype: str) -> Value:
    return b.emit(f"op.astype({v.name}, {dtype!r})", v.shape, dtype, uses="astype")


def _as_float(b: _Builder, v: Value) -> Value:
    if v.dtype == FLOAT:
        return v
    if v.dtype != INT8:
        return _cast(b, v, FLOAT)
    return b.emit(f"op.dequantize({v.name}, {_scalar(QUANT_SCALES[0], FLOAT)}, "
                  f"{_scalar(0, INT8)})", v.shape, FLOAT, uses="dequantize")


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
    return b.emit(f"op.reshape({v.name}, {shape})", shape, v.dtype, uses="reshape")


def _image_shape(n: int) -> Shape:
    """(1, C, H, W) holding n elements: C the largest divisor ≤ 4, H×W as square as it gets."""
    c = max(d for d in range(1, 5) if n % d == 0)
    hw = n // c
    h = max(d for d in range(1, isqrt(hw) + 1) if hw % d == 0)
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


def _apply(b: _Builder, layer: Layer) -> None:
    if layer.op not in OPS:
        raise ValueError(f"unknown operator {layer.op!r}; known: {', '.join(OPS)}")
    a = b.pick(layer.source)
    if not a.shape:  # a scalar (a reduced operand of add/multiply): give it an axis
        a = _reshape(b, a, (1, 1))
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


bb = relax.BlockBuilder()
'''


def render(spec: ModelSpec, *, title: str = "A model generated by mlfcheck fuzz.") -> Rendered:
    """The spec as a Python model file (the exporter's convention), and its resolved shapes."""
    if not spec.inputs:
        raise ValueError("a model needs at least one input")
    inputs = [Value(f"x{i}", t.shape, t.dtype) for i, t in enumerate(spec.inputs)]
    b = _Builder(values=list(inputs))
    for layer in spec.layers:
        _apply(b, layer)
    if b.made == 0:
        _apply(b, Layer("relu"))
    made = b.values[len(inputs):]
    chosen: list[Value] = []
    for selector in spec.outputs or (0,):
        value = made[-1 - selector % len(made)]
        if value not in chosen:
            chosen.append(value)
    params = ", ".join(v.name for v in inputs)
    head = [f'"""{title}"""', "", _PRELUDE.format(seed=spec.seed)]
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


def describe(spec: ModelSpec) -> str:
    """One line: inputs and the layer operators, e.g. 'x0:float32[1,3,4,4] → relu → dense'."""
    ins = ", ".join(f"{t.dtype}{list(t.shape)}" for t in spec.inputs)
    return f"({ins}) → " + " → ".join(layer.op for layer in spec.layers)
