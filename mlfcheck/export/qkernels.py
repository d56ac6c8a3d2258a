"""Integer kernels as TIR PrimFuncs: int8 in, int32 accumulation, TFLite requantization, int8 out.

Each builder returns a PrimFunc scheduled so that the int32 accumulator lives only per output
element (the epilogue is computed right after each reduction) and padding is never stored
(padded reads become conditions), so a kernel needs no more memory than its int8 tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlfcheck.export import fixedpoint

OPAQUE = 8
"""TVM's kOpaque op pattern: FuseOps leaves these kernels alone."""


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
    right), output shape, and whether it is depthwise (channel multiplier 1)."""

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
        def conv(b: Any, i: Any, j: Any, c: Any) -> Any:
            return te.sum(pad[b, i * sy + ry * dy, j * sx + rx * dx, c].astype("int32")
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
        def shifted(*idx: Any, i: int = i) -> Any:
            return (load(xs[i], shapes[i], idx).astype("int32")
                    - tirx.const(p.zero_points[i], "int32")) << tirx.const(
                        fixedpoint.ADD_LEFT_SHIFT, "int32")

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
