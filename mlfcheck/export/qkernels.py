"""Integer kernels as TIR PrimFuncs: int8 in, int32 accumulation, TFLite requantization, int8 out.

Each builder returns a PrimFunc scheduled so that the int32 accumulator lives only per output
element (the epilogue is computed right after each reduction) and padding is never stored
(padded reads become conditions), so a kernel needs no more memory than its int8 tensors.
The kernels of gemmlowp's fixed-point functions (softmax, logistic) are written statement by
statement with TVM's TIR IRBuilder instead, their intermediates in one-element locals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlfcheck.export import fixedpoint

OPAQUE = 8
"""TVM's kOpaque op pattern: FuseOps leaves these kernels alone."""
KIND = "mlfcheck.kernel"
"""PrimFunc attribute naming the integer kernel kind of a kernel the importer emits (svdf,
requantize), so that the lowering counts it with its own."""


@dataclass(frozen=True)
class Requant:
    """Output rescaling: one (multiplier, shift) per channel, or one for the whole tensor."""

    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    zero_point: int
    low: int
    high: int

    @property
    def per_channel(self) -> bool:
        """True when the multipliers are per output channel (kernel takes them as tensors)."""
        return len(self.multipliers) > 1

    def arrays(self) -> list[Any]:
        """The constant tensors a per-channel kernel takes: multipliers int32, shifts int8."""
        import numpy as np

        if not self.per_channel:
            return []
        return [np.array(self.multipliers, "int32"), np.array(self.shifts, "int8")]

    def clamped(self, low: int, high: int) -> Requant:
        """The same rescaling with the clamp narrowed to [low, high]."""
        return Requant(self.multipliers, self.shifts, self.zero_point, max(self.low, low),
                       min(self.high, high))


def _requant_placeholders(rq: Requant, channels: int) -> list[Any]:
    from tvm import te

    if not rq.per_channel:
        return []
    return [te.placeholder((channels,), "int32", "multiplier"),
            te.placeholder((channels,), "int8", "shift")]


class _Stages:
    """The TE stages of one kernel's epilogue, in order, for the scheduler."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def rescale(self, shape: Sequence[int], value: Callable[..., Any],
                multiplier: Callable[..., Any], shift: Callable[..., Any], tag: str) -> Any:
        """int64 stage: MultiplyByQuantizedMultiplier(value, multiplier, shift), elementwise."""
        from tvm import te

        prod = te.compute(shape, lambda *i: fixedpoint.scaled_product(
            value(*i), multiplier(*i), shift(*i)), name=f"{tag}prod")
        high = te.compute(shape, lambda *i: fixedpoint.doubling_high_mul(prod[i]),
                          name=f"{tag}high")
        res = te.compute(shape, lambda *i: fixedpoint.rounding_divide(high[i], shift(*i)),
                         name=f"{tag}res")
        self.names += [f"{tag}prod", f"{tag}high", f"{tag}res"]
        return res

    def requant(self, rq: Requant, params: list[Any], shape: Sequence[int],
                value: Callable[..., Any]) -> Any:
        """The int8 output: value (int32, channel last) requantized by `rq`, clamped."""
        from tvm import te

        if rq.per_channel:
            def mult(*i: Any) -> Any:
                return params[0][i[-1]]

            def shift(*i: Any) -> Any:
                return params[1][i[-1]]
        else:
            def mult(*i: Any) -> Any:
                return rq.multipliers[0]

            def shift(*i: Any) -> Any:
                return rq.shifts[0]
        res = self.rescale(shape, value, mult, shift, "o")
        return te.compute(shape, lambda *i: fixedpoint.to_int8(res[i], rq.zero_point, rq.low,
                                                               rq.high), name="out")


def _finish(tensors: list[Any], stages: _Stages, inline: Sequence[str] = (),
            reduction: str | None = None, at_loop: int = 0) -> Any:
    """PrimFunc of `tensors`, padding inlined, every epilogue stage computed per element:
    right after the reduction's loop `at_loop`, or inside the output's innermost loop."""
    import tvm
    from tvm import te

    func = te.create_prim_func(tensors)
    sch = tvm.s_tir.Schedule(func)
    for name in inline:
        sch.compute_inline(sch.get_sblock(name))
    if reduction is not None:
        loop = sch.get_loops(sch.get_sblock(reduction))[at_loop]
        for name in [*stages.names, "out"]:
            sch.reverse_compute_at(sch.get_sblock(name), loop)
    else:
        for name in reversed(stages.names):
            sch.compute_at(sch.get_sblock(name), sch.get_loops(sch.get_sblock("out"))[-1])
    return sch.mod["main"].without_attr("global_symbol").with_attr("op_pattern", OPAQUE)


@dataclass(frozen=True)
class ConvGeometry:
    """NHWC conv2d: input shape, kernel size, strides, dilation, padding (top, left, bottom,
    right), output shape, and whether it is depthwise (output channel c reads input channel
    c // (output channels / input channels), TFLite's depth multiplier)."""

    in_shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    depthwise: bool


def _padded(x: Any, shape: Sequence[int], pad: Sequence[tuple[int, int]], value: Any,
            name: str = "pad") -> Any:
    """x padded per axis with `value` (a TE stage meant to be inlined)."""
    from tvm import te, tirx

    out_shape = [s + lo + hi for s, (lo, hi) in zip(shape, pad, strict=True)]

    def at(*idx: Any) -> Any:
        inside = [tirx.all(i >= lo, i < lo + s) for i, s, (lo, _) in zip(idx, shape, pad,
                                                                             strict=True)
                  if lo or _]
        src = [i - lo for i, (lo, _) in zip(idx, pad, strict=True)]
        return tirx.if_then_else(tirx.all(*inside), x[tuple(src)], value) if inside \
            else x[tuple(src)]

    return te.compute(out_shape, at, name=name)


def conv2d(geo: ConvGeometry, rq: Requant, input_zero_point: int) -> Any:
    """int8 NHWC conv2d (weights HWIO, or HWC for depthwise) + int32 bias, requantized."""
    from tvm import te, tirx

    cin = geo.in_shape[3]
    cout = geo.out_shape[3]
    kh, kw = geo.kernel
    x = te.placeholder(geo.in_shape, "int8", "x")
    weight = te.placeholder((kh, kw, cout) if geo.depthwise else (kh, kw, cin, cout), "int8",
                            "weight")
    bias = te.placeholder((cout,), "int32", "bias")
    params = _requant_placeholders(rq, cout)
    top, left, bottom, right = geo.padding
    pad = _padded(x, geo.in_shape, [(0, 0), (top, bottom), (left, right), (0, 0)],
                  tirx.const(input_zero_point, "int8"))
    ry = te.reduce_axis((0, kh), "ry")
    rx = te.reduce_axis((0, kw), "rx")
    (sy, sx), (dy, dx) = geo.strides, geo.dilation
    if geo.depthwise:
        multiplier = cout // cin

        def conv(b: Any, i: Any, j: Any, c: Any) -> Any:
            source = c if multiplier == 1 else tirx.floordiv(c, multiplier)
            return te.sum(pad[b, i * sy + ry * dy, j * sx + rx * dx, source].astype("int32")
                          * weight[ry, rx, c].astype("int32"), axis=[ry, rx])
    else:
        rc = te.reduce_axis((0, cin), "rc")

        def conv(b: Any, i: Any, j: Any, c: Any) -> Any:
            return te.sum(pad[b, i * sy + ry * dy, j * sx + rx * dx, rc].astype("int32")
                          * weight[ry, rx, rc, c].astype("int32"), axis=[ry, rx, rc])
    acc = te.compute(geo.out_shape, conv, name="acc")
    stages = _Stages()
    out = stages.requant(rq, params, geo.out_shape, lambda b, i, j, c: acc[b, i, j, c] + bias[c])
    return _finish([x, weight, bias, *params, out], stages, ["pad"], "acc", 3)


def dense(batch: int, depth: int, units: int, rq: Requant) -> Any:
    """int8 (batch, depth) · (depth, units) + int32 bias, requantized."""
    from tvm import te

    x = te.placeholder((batch, depth), "int8", "x")
    weight = te.placeholder((depth, units), "int8", "weight")
    bias = te.placeholder((units,), "int32", "bias")
    params = _requant_placeholders(rq, units)
    k = te.reduce_axis((0, depth), "k")
    acc = te.compute((batch, units), lambda b, u: te.sum(
        x[b, k].astype("int32") * weight[k, u].astype("int32"), axis=k), name="acc")
    stages = _Stages()
    out = stages.requant(rq, params, (batch, units), lambda b, u: acc[b, u] + bias[u])
    return _finish([x, weight, bias, *params, out], stages, (), "acc", 1)


@dataclass(frozen=True)
class AddParams:
    """TFLite int8 ADD: each input's zero point and (multiplier, shift), and the output's."""

    zero_points: tuple[int, int]
    input_scales: tuple[tuple[int, int], tuple[int, int]]
    output: Requant


def add(shapes: tuple[tuple[int, ...], tuple[int, ...]], out_shape: tuple[int, ...],
        p: AddParams) -> Any:
    """int8 + int8 with numpy broadcasting, TFLite's ADD arithmetic."""
    from tvm import te, tirx

    xs = [te.placeholder(s, "int8", f"x{i}") for i, s in enumerate(shapes)]

    def load(x: Any, shape: tuple[int, ...], idx: tuple[Any, ...]) -> Any:
        lead = len(out_shape) - len(shape)
        return x[tuple(0 if d == 1 else idx[lead + a] for a, d in enumerate(shape))]

    stages = _Stages()
    scaled = []
    for i in range(2):
        def shifted(*idx: Any, i: int = i) -> Any:  # × 2**20 (a negative value: no shift)
            return (load(xs[i], shapes[i], idx).astype("int32")
                    - tirx.const(p.zero_points[i], "int32")) * tirx.const(
                        1 << fixedpoint.ADD_LEFT_SHIFT, "int32")

        mult, shift = p.input_scales[i]
        scaled.append(stages.rescale(out_shape, shifted, lambda *_, m=mult: m,
                                     lambda *_, s=shift: s, f"in{i}"))
    out = stages.requant(p.output, [], out_shape,
                         lambda *idx: (scaled[0][idx] + scaled[1][idx]).astype("int32"))
    return _finish([*xs, out], stages)


def requantize(shape: tuple[int, ...], input_zero_point: int, rq: Requant) -> Any:
    """int8 → int8 with new scale and zero point (TFLite's QUANTIZE from int8)."""
    from tvm import te, tirx

    x = te.placeholder(shape, "int8", "x")
    stages = _Stages()
    out = stages.requant(rq, [], shape, lambda *i: x[i].astype("int32")
                         - tirx.const(input_zero_point, "int32"))
    return _finish([x, out], stages)


@dataclass(frozen=True)
class PoolGeometry:
    """NHWC pooling window: input and output shapes, window, strides, padding (top, left)."""

    in_shape: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    window: tuple[int, int]
    strides: tuple[int, int]
    padding: tuple[int, int]


def pool2d(geo: PoolGeometry, kind: str, low: int, high: int) -> Any:
    """TFLite int8 AVERAGE_POOL_2D ('avg': valid cells only, rounded half away from zero)
    or MAX_POOL_2D ('max'), clamped to [low, high]."""
    from tvm import te, tirx

    _, h, w, _ = geo.in_shape
    x = te.placeholder(geo.in_shape, "int8", "x")
    ry = te.reduce_axis((0, geo.window[0]), "ry")
    rx = te.reduce_axis((0, geo.window[1]), "rx")
    (sy, sx), (py, px) = geo.strides, geo.padding

    def cell(b: Any, i: Any, j: Any, c: Any) -> tuple[Any, Any]:
        y, z = i * sy - py + ry, j * sx - px + rx
        return tirx.all(y >= 0, y < h, z >= 0, z < w), x[b, y, z, c]

    if kind == "max":
        def reduce(b: Any, i: Any, j: Any, c: Any) -> Any:
            ok, v = cell(b, i, j, c)
            return te.max(tirx.if_then_else(ok, v, tirx.const(-128, "int8")), axis=[ry, rx])

        acc = te.compute(geo.out_shape, reduce, name="acc")
        out = te.compute(geo.out_shape, lambda *i: fixedpoint.to_int8(
            acc[i].astype("int64"), 0, low, high), name="out")
        return _finish([x, out], _Stages(), (), "acc", 3)

    def total(b: Any, i: Any, j: Any, c: Any) -> Any:
        ok, v = cell(b, i, j, c)
        return te.sum(tirx.if_then_else(ok, v.astype("int32"), tirx.const(0, "int32")),
                      axis=[ry, rx])

    def count(start: Any, size: int, extent: int) -> Any:
        lo = tirx.max(start, 0)
        hi = tirx.min(start + extent, size)
        return hi - lo

    acc = te.compute(geo.out_shape, total, name="acc")

    def average(b: Any, i: Any, j: Any, c: Any) -> Any:
        n = (count(i * sy - py, h, geo.window[0]) * count(j * sx - px, w, geo.window[1])) \
            .astype("int32")
        s = acc[b, i, j, c]
        half = tirx.truncdiv(n, 2)
        mean = tirx.truncdiv(tirx.Select(s > 0, s + half, s - half), n)
        return fixedpoint.to_int8(mean.astype("int64"), 0, low, high)

    out = te.compute(geo.out_shape, average, name="out")
    return _finish([x, out], _Stages(), (), "acc", 3)


@dataclass(frozen=True)
class SoftmaxParams:
    """TFLite's int8 SOFTMAX constants (fixedpoint.softmax_parameters) and the output clamp."""

    multiplier: int
    left_shift: int
    diff_min: int
    low: int
    high: int
    dtype: str = "int8"
    """int8 (scale 1/256, zero point −128) or int16 (scale 1/65536, zero point −32768)."""


def written(args: Sequence[tuple[str, tuple[int, ...], str]],
             body: Callable[..., None]) -> Any:
    """A PrimFunc written statement by statement with TVM's TIR IRBuilder: `body` receives the
    argument buffers (name, shape, dtype each) and emits the loops."""
    from tvm.script.ir_builder import IRBuilder
    from tvm.tirx.script.builder import ir as builder

    with IRBuilder() as ib, builder.prim_func():
        builder.func_name("main")
        buffers = [builder.arg(name, builder.buffer(shape, dtype))
                   for name, shape, dtype in args]
        with builder.sblock("root"):  # Relax's pattern analysis expects a root block
            body(*buffers)
    return ib.get().without_attr("global_symbol").with_attr("op_pattern", OPAQUE)


def _grid_index(loop_vars: Any) -> list[Any]:
    """The loop variables of an IRBuilder grid as a list (a one-loop grid gives a variable)."""
    return [loop_vars] if hasattr(loop_vars, "ty") else list(loop_vars)


def softmax(shape: tuple[int, ...], p: SoftmaxParams) -> Any:
    """TFLite's SOFTMAX of int8 over the last axis, to int8 (scale 1/256, zero point −128) or
    int16 (1/65536, −32768): per row, exp of each scaled difference from the maximum (Q5.26 →
    Q0.31), their sum (Q12.19), its reciprocal, and each exp times it; differences below
    diff_min give the output's minimum."""
    from tvm import tirx
    from tvm.tirx.script.builder import ir as builder

    depth = shape[-1]
    i64 = fixedpoint.as_i64
    out_bits = 16 if p.dtype == "int16" else 8

    def body(x: Any, out: Any) -> None:
        top = builder.alloc_buffer((1,), "int8")
        total = builder.alloc_buffer((1,), "int32")

        def exp_of(row: tuple[Any, ...], c: Any) -> tuple[Any, Any]:
            """(counted, exp of the difference), the difference clamped to [diff_min, 0] so
            that no intermediate overflows where it does not count."""
            at = (*row, c)
            diff = fixedpoint.bind(x[at].astype("int64") - top[0].astype("int64"))
            kept = fixedpoint.bind(tirx.max(diff, i64(p.diff_min)))
            rescaled = fixedpoint.high_mul(kept * i64(1 << p.left_shift), i64(p.multiplier))
            return diff >= i64(p.diff_min), fixedpoint.bind(fixedpoint.exp_on_negative_values(
                rescaled, fixedpoint.SOFTMAX_DIFF_BITS))

        with builder.grid(*(shape[:-1] or (1,))) as loop_vars:  # one pass for a 1-D tensor
            row = tuple(_grid_index(loop_vars))[:len(shape) - 1]
            builder.buffer_store(top, tirx.const(fixedpoint.INT8_MIN, "int8"), [0])
            with builder.serial(0, depth) as c:
                at = (*row, c)
                builder.buffer_store(top, tirx.max(top[0], x[at]), [0])
            builder.buffer_store(total, tirx.const(0, "int32"), [0])
            with builder.serial(0, depth) as c:
                counted, e = exp_of(row, c)
                term = tirx.Select(counted, fixedpoint.divide_by_pot(
                    e, fixedpoint.SOFTMAX_SUM_BITS), i64(0))
                builder.buffer_store(total, total[0] + term.astype("int32"), [0])
            inverse, bits = fixedpoint.reciprocal(total[0].astype("int64"),
                                                  fixedpoint.SOFTMAX_SUM_BITS)
            with builder.serial(0, depth) as c:  # exp / sum, from Q0.31 to the output's bits
                counted, e = exp_of(row, c)
                value = tirx.Select(counted, fixedpoint.divide_by_pot(
                    fixedpoint.high_mul(inverse, e), bits + i64(31 - out_bits)), i64(0))
                builder.buffer_store(out, fixedpoint.to_int8(value, -(1 << (out_bits - 1)),
                                                             p.low, p.high, p.dtype), [*row, c])

    return written([("x", shape, "int8"), ("out", shape, p.dtype)], body)


@dataclass(frozen=True)
class LogisticParams:
    """TFLite Micro's int8 LOGISTIC constants (fixedpoint.logistic_parameters), the input zero
    point and the output clamp."""

    multiplier: int
    left_shift: int
    radius: int
    zero_point: int
    low: int
    high: int


def logistic(shape: tuple[int, ...], p: LogisticParams) -> Any:
    """TFLite's int8 LOGISTIC, output scale 1/256 and zero point −128: the input rescaled to
    Q4.27, gemmlowp's logistic in Q0.31, rounded to the output; inputs at or beyond the radius
    saturate."""
    from tvm import tirx
    from tvm.tirx.script.builder import ir as builder

    i64 = fixedpoint.as_i64

    def body(x: Any, out: Any) -> None:
        with builder.grid(*shape) as loop_vars:
            index = _grid_index(loop_vars)
            v = fixedpoint.bind(x[index].astype("int64") - i64(p.zero_point))
            kept = tirx.min(tirx.max(v, i64(1 - p.radius)), i64(p.radius - 1))
            rescaled = fixedpoint.high_mul(kept * i64(1 << p.left_shift), i64(p.multiplier))
            y = fixedpoint.divide_by_pot(fixedpoint.logistic(rescaled), 31 - 8)
            value = tirx.Select(v <= i64(-p.radius), i64(0), tirx.Select(
                v >= i64(p.radius), i64(255), y))
            builder.buffer_store(out, fixedpoint.to_int8(value, fixedpoint.INT8_MIN, p.low,
                                                         p.high), index)

    return written([("x", shape, "int8"), ("out", shape, "int8")], body)


def mean(in_shape: tuple[int, ...], axes: tuple[int, ...], out_shape: tuple[int, ...],
         offset: int, rq: Requant) -> Any:
    """TFLite's int8 MEAN over `axes` (kept as size 1 when `out_shape` has the input's rank):
    the int32 sum plus `offset` (−input zero point × count), requantized by `rq` (1/count
    folded into its multiplier)."""
    from tvm import te, tirx

    x = te.placeholder(in_shape, "int8", "x")
    reduced = [te.reduce_axis((0, in_shape[a]), f"r{a}") for a in axes]
    keep = len(out_shape) == len(in_shape)

    def source(out_index: tuple[Any, ...]) -> tuple[Any, ...]:
        kept = iter(i for a, i in enumerate(out_index) if not keep or a not in axes)
        sums = iter(reduced)
        return tuple(next(sums) if a in axes else next(kept) for a in range(len(in_shape)))

    acc = te.compute(out_shape, lambda *i: te.sum(x[source(i)].astype("int32"), axis=reduced),
                     name="acc")
    stages = _Stages()
    out = stages.requant(rq, [], out_shape, lambda *i: acc[i] + tirx.const(offset, "int32"))
    return _finish([x, out], stages, (), "acc", len(out_shape) - 1)
