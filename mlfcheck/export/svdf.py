"""TFLite's SVDF, stateful: its kernel (integer as TFLite Micro computes it, or float) and the
state it keeps between invocations, made explicit in the Relax module.

One SVDF step, as TFLite Micro's reference kernel computes it: the state ([batch, filters ·
memory], a variable tensor) shifts left by one element per filter row; the feature projection
(input · feature weights, per filter) becomes each row's newest column; each filter's dot
product of its row with its time weights, summed over the rank's filters of each unit, plus the
bias, is the output. In integers (int8 input and feature weights, int16 or int8 time weights and
state, int32 bias): the projection is requantized to the state's scale (effective scale
input · feature / state, clamped to the state type, plus the state's zero point, stored with the
state type's wrap-around), the time sum is requantized to the output (state · time / output,
plus the output zero point, clamped to int8). TFLite Micro's integer kernel applies no fused
activation, so none is applied here; its float kernel does.

In the module the state is explicit: each SVDF's state is an extra parameter of `main` after
the model's inputs, and its new value an extra result after the model's outputs; `main` carries
STATE_FILLS, the value each state is reset to (TFLite Micro resets an int8 variable tensor to
its zero point, others to 0). The plan keeps those parameters in a state region that outlives
run(), and writes the new values back into it after each run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATE_FILLS = "mlfcheck_state_fills"
"""Attribute of `main`: the reset value of each state parameter (the last ones of `main`)."""
_RANGES = {"int8": (-128, 127), "int16": (-32768, 32767)}


@dataclass(frozen=True)
class Geometry:
    """Shapes of one SVDF: batch, input size, filters, memory, rank (units = filters / rank)."""

    batch: int
    inputs: int
    filters: int
    memory: int
    rank: int

    @property
    def units(self) -> int:
        """Output features per batch row."""
        return self.filters // self.rank


@dataclass(frozen=True)
class IntegerParams:
    """The integer kernel's constants: zero points and the two (multiplier, shift) pairs."""

    input_zero_point: int
    state_zero_point: int
    output_zero_point: int
    feature: tuple[int, int]
    """input · feature weights / state scale, as QuantizeMultiplier gives it."""
    output: tuple[int, int]
    """state · time weights / output scale."""


def integer_params(scales: tuple[float, float, float, float, float],
                   zero_points: tuple[int, int, int]) -> IntegerParams:
    """From the scales of (input, feature weights, time weights, state, output) and the zero
    points of (input, state, output): the products are taken in float32, as TFLite Micro's
    Prepare does, then quantized in double."""
    import numpy as np

    from mlfcheck.export.fixedpoint import quantize_multiplier

    x, wf, wt, state, out = (np.float32(s) for s in scales)
    return IntegerParams(*zero_points, quantize_multiplier(float(x * wf / state)),
                         quantize_multiplier(float(state * wt / out)))


def integer_kernel(g: Geometry, state_dtype: str, params: IntegerParams, *,
                   bias: bool) -> Any:
    """The int8 SVDF step as a PrimFunc: (x int8, feature weights int8, time weights, [bias
    int32,] state) → (output int8, new state)."""
    from tvm import te, tirx

    from mlfcheck.export import fixedpoint, qkernels

    f, m = g.filters, g.memory
    x = te.placeholder((g.batch, g.inputs), "int8", "x")
    wf = te.placeholder((f, g.inputs), "int8", "weights_feature")
    wt = te.placeholder((f, m), state_dtype, "weights_time")
    b = te.placeholder((g.units,), "int32", "bias") if bias else None
    state = te.placeholder((g.batch, f * m), state_dtype, "state")
    c = te.reduce_axis((0, g.inputs), "c")
    acc = te.compute((g.batch, f), lambda i, r: te.sum(
        wf[r, c].astype("int32") * (x[i, c].astype("int32")
                                    - tirx.const(params.input_zero_point, "int32")), axis=c),
        name="acc")
    stages = qkernels._Stages()
    proj = stages.rescale((g.batch, f), lambda i, r: acc[i, r], lambda *i: params.feature[0],
                          lambda *i: params.feature[1], "f")
    low, high = _RANGES[state_dtype]
    feat = te.compute((g.batch, f), lambda i, r: (tirx.min(tirx.max(
        proj[i, r], tirx.const(low, "int64")), tirx.const(high, "int64"))
        + tirx.const(params.state_zero_point, "int64")).astype(state_dtype), name="feat")
    new = _shifted(state, feat, g)
    j = te.reduce_axis((0, m), "j")
    time = te.compute((g.batch, f), lambda i, r: te.sum(
        wt[r, j].astype("int32") * (new[i, r * m + j].astype("int32")
                                    - tirx.const(params.state_zero_point, "int32")), axis=j),
        name="time")
    total = _unit_sums(time, b, g, "int32")
    out_stages = qkernels._Stages()
    res = out_stages.rescale((g.batch, g.units), lambda i, u: total[i, u],
                             lambda *i: params.output[0], lambda *i: params.output[1], "o")
    out = te.compute((g.batch, g.units), lambda i, u: fixedpoint.to_int8(
        res[i, u], params.output_zero_point, *_RANGES["int8"]), name="out")
    args = [x, wf, wt, *([b] if b is not None else []), state, out, new]
    return _scheduled(args, {"feat": stages.names, "out": out_stages.names})


def float_kernel(g: Geometry, activation: tuple[float | None, float | None], *,
                 bias: bool) -> Any:
    """The float32 SVDF step as a PrimFunc, TFLite Micro's float kernel: (x, feature weights,
    time weights, [bias,] state) → (output, new state); `activation`: the fused activation's
    (low, high) clip, None for unbounded."""
    from tvm import te, tirx

    f, m = g.filters, g.memory
    x = te.placeholder((g.batch, g.inputs), "float32", "x")
    wf = te.placeholder((f, g.inputs), "float32", "weights_feature")
    wt = te.placeholder((f, m), "float32", "weights_time")
    b = te.placeholder((g.units,), "float32", "bias") if bias else None
    state = te.placeholder((g.batch, f * m), "float32", "state")
    c = te.reduce_axis((0, g.inputs), "c")
    feat = te.compute((g.batch, f), lambda i, r: te.sum(wf[r, c] * x[i, c], axis=c),
                      name="feat")
    new = _shifted(state, feat, g)
    j = te.reduce_axis((0, m), "j")
    time = te.compute((g.batch, f), lambda i, r: te.sum(wt[r, j] * new[i, r * m + j], axis=j),
                      name="time")
    total = _unit_sums(time, b, g, "float32")
    low, high = activation

    def clip(i: Any, u: Any) -> Any:
        v = total[i, u]
        v = v if low is None else tirx.max(v, tirx.const(low, "float32"))
        return v if high is None else tirx.min(v, tirx.const(high, "float32"))

    out = te.compute((g.batch, g.units), clip, name="out")
    args = [x, wf, wt, *([b] if b is not None else []), state, out, new]
    return _scheduled(args, {})


def _shifted(state: Any, feat: Any, g: Geometry) -> Any:
    """The state shifted left by one per filter row, the row's last column the projection."""
    from tvm import te, tirx

    m = g.memory
    return te.compute(state.shape, lambda i, k: tirx.Select(
        k % m == m - 1, feat[i, k // m], state[i, tirx.min(k + 1, g.filters * m - 1)]),
        name="new_state")


def _unit_sums(time: Any, bias: Any | None, g: Geometry, dtype: str) -> Any:
    """Per unit: the bias (0 without one) plus the rank's filter sums, in filter order."""
    from tvm import te, tirx

    r = te.reduce_axis((0, g.rank), "r")
    summed = te.compute((g.batch, g.units), lambda i, u: te.sum(time[i, u * g.rank + r], axis=r),
                        name="summed")
    return te.compute((g.batch, g.units), lambda i, u: summed[i, u] + (
        bias[u] if bias is not None else tirx.const(0, dtype)), name="total")


def _scheduled(args: list[Any], chains: dict[str, list[str]]) -> Any:
    """PrimFunc of `args`, each requantization chain computed per element inside the loop of
    the stage it feeds (so no intermediate needs a buffer of its own)."""
    import tvm
    from tvm import te

    from mlfcheck.export.qkernels import OPAQUE

    sch = tvm.s_tir.Schedule(te.create_prim_func(args))
    for consumer, names in chains.items():
        for name in reversed(names):
            sch.compute_at(sch.get_sblock(name), sch.get_loops(sch.get_sblock(consumer))[-1])
    return sch.mod["main"].without_attr("global_symbol").with_attr("op_pattern", OPAQUE)


def with_state(mod: Any, states: list[tuple[Any, Any, int]]) -> Any:
    """`mod` with its `main` taking each state as a parameter after the inputs and returning
    each new state after the outputs; `states`: (parameter var, new value var, reset fill)."""
    from tvm import relax

    if not states:
        return mod
    fn = mod["main"]
    ret = fn.body.body
    outputs = ([relax.TupleGetItem(ret, i) for i in range(len(ret.ty.fields))]
               if isinstance(ret.ty, relax.TupleType) else [ret])
    result = relax.Var("results", relax.TupleType(
        [o.ty for o in outputs] + [new.ty for _, new, _ in states]))
    *before, last = fn.body.blocks
    block = type(last)([*last.bindings, relax.VarBinding(result, relax.Tuple(
        [*outputs, *(new for _, new, _ in states)]))])
    body = relax.SeqExpr([*before, block], result)
    params = [*fn.params, *(var for var, _, _ in states)]
    attrs = dict(fn.attrs) if fn.attrs is not None else {}
    attrs["num_input"] = len(params)
    attrs[STATE_FILLS] = [fill for _, _, fill in states]
    mod["main"] = relax.Function(params, body, result.ty, True, tvm_attrs(attrs))
    return relax.transform.Normalize()(mod)


def tvm_attrs(attrs: dict[str, Any]) -> Any:
    """A function's attributes as TVM takes them."""
    import tvm

    return tvm.ir.make_node("ir.DictAttrs", **attrs)


def state_fills(fn: Any) -> tuple[int, ...]:
    """The reset values of a function's state parameters (its last ones); () when stateless."""
    attrs = fn.attrs
    if attrs is None or STATE_FILLS not in attrs:
        return ()
    return tuple(int(v) for v in attrs[STATE_FILLS])


CLIPS = {0: (None, None), 1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}
"""TFLite fused activation code → the float (low, high) clip: NONE, RELU, RELU_N1_TO_1, RELU6
(the ones the float kernel applies here; screening refuses the others)."""


def _quant(tensor: Any) -> tuple[float, int]:
    """(scale, zero point) of a TFLite tensor as stored (float32 scale)."""
    q = tensor.Quantization()
    return float(q.Scale(0)), int(q.ZeroPoint(0)) if q.ZeroPointLength() else 0


def convert(conv: Any, op: Any, options: Any) -> Any:
    """One SVDF of the model (`conv`: the TFLite converter converting it; `options` its
    SVDFOptions): its kernel called on the input, weights, bias and its state parameter; the
    new state recorded in `conv.states` as (parameter, new value, reset fill). The output
    expression."""
    from tvm import relax
    from tvm.relax.frontend.tflite.tflite_frontend import get_tensor_name

    from mlfcheck.export import qkernels

    x, wf, wt, bias, state = conv.get_input_tensors(op)
    shape = [int(d) for d in state.tensor.ShapeAsNumpy()]
    g = Geometry(int(x.tensor.ShapeAsNumpy()[0]), int(x.tensor.ShapeAsNumpy()[1]),
                 int(wf.tensor.ShapeAsNumpy()[0]), int(wt.tensor.ShapeAsNumpy()[1]),
                 int(options.Rank()))
    dtype = conv.get_tensor_type_str(state.tensor.Type())
    has_bias = bias.tensor_idx >= 0
    (out,) = conv.get_output_tensors(op)
    if dtype == "float32":
        kernel = float_kernel(g, CLIPS[options.FusedActivationFunction()], bias=has_bias)
        fill = 0
    else:
        (sx, zx), (sf, _), (st, _), (ss, zs), (so, zo) = (
            _quant(t.tensor) for t in (x, wf, wt, state, out))
        kernel = integer_kernel(g, dtype, integer_params((sx, sf, st, ss, so), (zx, zs, zo)),
                                bias=has_bias)
        fill = zs if dtype == "int8" else 0
    name = get_tensor_name(conv.subgraph, state.tensor_idx)
    var = relax.Var(name, relax.TensorType(shape, dtype))
    args = [conv.get_tensor_expr(t) for t in (x, wf, wt, *([bias] if has_bias else []))]
    if dtype != "float32":  # counted with the lowering's integer kernels
        kernel = kernel.with_attr(qkernels.KIND, "svdf")
    gv = conv.bb.add_func(kernel, f"tflite_svdf_{dtype}")
    out_type = "float32" if dtype == "float32" else "int8"
    pair = conv.bb.emit(relax.call_tir(gv, [*args, var], [
        relax.TensorType([g.batch, g.units], out_type), relax.TensorType(shape, dtype)]))
    conv.states.append((var, conv.bb.emit_output(relax.TupleGetItem(pair, 1)), fill))
    return relax.TupleGetItem(pair, 0)
