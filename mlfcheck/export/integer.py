"""Integer lowering: dequantize → float op → quantize patterns rewritten into int8 kernels.

TVM's TFLite frontend writes every quantized operator as dequantize → float op → quantize. This
pass walks the entry function's bindings in order and keeps, for each float value, what it is in
integer terms (an int8 tensor with scale and zero point, a quantized constant, or an operator not
yet emitted). `RULES`, one table at the end of this module, says what each Relax operator's
integer rule is and where it is matched: at its own binding (constants, dequantize, reshape, ...)
or when a quantize looks back at the operator that produced the float value (conv2d, matmul,
add, pools), where relu/relu6/clip just before the quantize fold into the clamp. A rule that
applies emits one int8 kernel (`qkernels`) with TFLite's requantization. Everything else is
emitted exactly as the frontend wrote it, in float, and listed in `Lowering.stayed_float` with
the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mlfcheck.board.boards import DSP_CPUS
from mlfcheck.export import fixedpoint, qkernels, simd

Value = Any
"""What an original binding variable stands for (see the classes below, or a new relax Expr)."""


@dataclass(frozen=True)
class FloatOperator:
    """One operator of the model left in float, where, and why."""

    operator: str
    """The Relax operator, e.g. 'relax.nn.softmax'."""
    at: str
    """The binding it produced in the imported Relax function, e.g. 'lv79'."""
    reason: str


@dataclass(frozen=True)
class Lowering:
    """The result of the pass: the module, and what became integer and what did not."""

    mod: Any
    quantized: bool
    """True when the model has quantized operators (dequantize calls)."""
    integer: bool
    """False when --no-integer asked for the frontend's float lowering."""
    kernels: dict[str, int] = field(default_factory=dict)
    """Integer kernel kind → how many were emitted."""
    stayed_float: tuple[FloatOperator, ...] = ()
    simd_cpu: str | None = None
    """The CPU whose DSP extension conv2d, depthwise and dense use through mlfcheck's SIMD
    kernel library (`simd`); None when no kernel calls it."""


@dataclass(frozen=True)
class QParams:
    """Scale(s) and zero point(s) of a quantized tensor; per channel along `axis` when several."""

    scale: Any
    """numpy float32, 1-D."""
    zero_point: Any
    """numpy int64, 1-D."""
    axis: int

    @property
    def per_tensor(self) -> bool:
        """True for one scale and zero point."""
        return bool(self.scale.size == 1 and self.zero_point.size == 1)


@dataclass(frozen=True)
class QTensor:
    """A float value that is dequantize(source), `source` an int8 variable of the original."""

    source: Any
    q: QParams


@dataclass(frozen=True)
class QConst:
    """A float value that is dequantize(constant integers)."""

    value: Any
    q: QParams


@dataclass(frozen=True)
class IntConst:
    """An integer constant (possibly transposed or reshaped from a model constant)."""

    value: Any


@dataclass(frozen=True)
class Lazy:
    """An original operator call not yet emitted; emitted unchanged when something needs it."""

    call: Any
    var: Any
    reason: str


@dataclass
class Deferred:
    """An int8 kernel not yet emitted: a later clip may still narrow its clamp."""

    kind: str
    build: Callable[[qkernels.Requant], Any]
    args: list[Any]
    shape: tuple[int, ...]
    rq: qkernels.Requant
    dtype: str = "int8"
    library: bool = False
    """True when the kernel calls the SIMD library, which reads (multiplier, shift) arrays one
    entry per output channel, also for a per-tensor rescaling."""


BindingRule = Callable[["_Rewriter", Any, Any], Value | None]
"""(rewriter, var, call) → what the binding stands for, or None to keep the call as it is."""
QuantizeRule = Callable[["_Rewriter", Lazy, QParams, int, int], Value | None]
"""(rewriter, operator, output qparams, clamp low, clamp high) → an int8 kernel, or None."""
Clamp = Callable[[Any], tuple[float, float | None]]
"""call → the float range an activation clamps to (None: no upper bound)."""


@dataclass(frozen=True)
class IntegerRule:
    """The integer rule of one Relax operator, by where it is matched (see `RULES`).

    `at_binding` runs when the operator's own binding is read; `at_quantize` when a quantize to
    int8 looks back at the operator (its only use) and may return an int8 kernel; `clamp` makes
    the operator an activation that such a quantize folds into the kernel's clamp.
    """

    op: str
    at_binding: BindingRule | None = None
    at_quantize: QuantizeRule | None = None
    clamp: Clamp | None = None

    @property
    def matched_at_quantize(self) -> bool:
        """True when a quantize looks for this operator (its reason when left float says so)."""
        return self.at_quantize is not None or self.clamp is not None


_NO_RULE = "no integer rule for this operator"
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def lower(mod: Any, entry: str, *, integer: bool = True, cpu: str | None = None) -> Lowering:
    """Rewrite `mod`'s entry function's quantized patterns into int8 kernels; for a `cpu` with
    the DSP extension (boards.DSP_CPUS), conv2d, depthwise and dense call the SIMD library."""
    fn = mod[entry]
    blocks = list(fn.body.blocks)
    quantized = any(_quantized(b) for b in blocks)
    if not integer or not quantized:
        return Lowering(mod, quantized, integer)
    if len(blocks) != 1:
        return Lowering(mod, True, True, {}, (FloatOperator(
            "relax.dequantize", entry, "the entry function is not one dataflow block"),))
    use_simd = cpu in DSP_CPUS
    rewriter = _Rewriter(fn, blocks[0], use_simd)
    new = rewriter.run(entry)
    imported = _imported_kernels(mod, blocks[0])
    if not rewriter.counts and not rewriter.int8_ops:  # nothing became integer: as imported
        return Lowering(mod, True, True, imported, tuple(rewriter.stayed_float))
    for gv, other in mod.functions_items():
        if gv.name_hint != entry:
            new[gv] = other
    new = new.with_attrs(mod.attrs) if mod.attrs else new
    simd_used = any(k in rewriter.counts for k in simd.KINDS)
    counts = dict(imported)
    for kind, n in rewriter.counts.items():
        counts[kind] = counts.get(kind, 0) + n
    return Lowering(new, True, True, dict(sorted(counts.items())),
                    tuple(rewriter.stayed_float), cpu if use_simd and simd_used else None)


def _imported_kernels(mod: Any, block: Any) -> dict[str, int]:
    """Kind → how many calls of the integer kernels the importer emitted (qkernels.KIND)."""
    from tvm import relax

    counts: dict[str, int] = {}
    for binding in block.bindings:
        call = binding.value
        if not isinstance(call, relax.Call) or str(getattr(call.op, "name", "")) != \
                "relax.call_tir":
            continue
        attrs = mod[call.args[0]].attrs
        if attrs is not None and qkernels.KIND in attrs:
            kind = str(attrs[qkernels.KIND])
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def _quantized(block: Any) -> bool:
    """True when the block dequantizes, or computes on int8 tensors (integer-only models)."""
    return any(_op(b.value) == "relax.dequantize"
               or str(getattr(b.var.ty, "dtype", "")) == "int8" for b in block.bindings)


def _op(value: Any) -> str | None:
    import tvm

    if isinstance(value, tvm.ir.expr.Call) and hasattr(value.op, "name"):
        return str(value.op.name)
    return None


def _np(const: Any) -> Any:
    return const.value.numpy()


class _Rewriter:
    """One pass over the bindings with a BlockBuilder, emitting integer kernels where it can."""

    def __init__(self, fn: Any, block: Any, use_simd: bool) -> None:
        self.fn = fn
        self.block = block
        self.use_simd = use_simd
        self.values: dict[Any, Value] = {}
        self.emitted: dict[Any, Any] = {}
        self.uses = self._count_uses()
        self.counts: dict[str, int] = {}
        self.int8_ops = 0
        """Float operators rewritten as TVM's own operator on the int8 tensors (no kernel)."""
        self.stayed_float: list[FloatOperator] = []
        self.bb: Any = None

    def _count_uses(self) -> dict[Any, int]:
        import tvm
        from tvm import relax

        uses: dict[Any, int] = {}

        def visit(node: Any) -> None:
            if isinstance(node, tvm.ir.expr.Var):
                uses[node] = uses.get(node, 0) + 1

        for b in self.block.bindings:
            relax.analysis.post_order_visit(b.value, visit)
        relax.analysis.post_order_visit(self.fn.body.body, visit)
        return uses

    def run(self, entry: str) -> Any:
        from tvm import relax

        self.bb = relax.BlockBuilder()
        attrs = {k: v for k, v in (self.fn.attrs or {}).items() if k != "params"}
        with self.bb.function(entry, list(self.fn.params), attrs=attrs or None):
            with self.bb.dataflow():
                for p in self.fn.params:
                    self.values[p] = p
                for binding in self.block.bindings:
                    self.values[binding.var] = self._bind(binding.var, binding.value)
                out = self.bb.emit_output(self._expr_of(self.fn.body.body))
            self.bb.emit_func_output(out)
        return self.bb.get()

    # -- materialising -----------------------------------------------------------------------

    def _expr_of(self, node: Any) -> Any:
        """A new-function expression with the exact value of original expression `node`."""
        import tvm
        from tvm import relax

        if isinstance(node, _Emitted):
            return node.expr
        if isinstance(node, tvm.ir.expr.Tuple):
            return relax.Tuple([self._expr_of(f) for f in node.fields])
        if isinstance(node, tvm.ir.expr.TupleGetItem):
            return relax.TupleGetItem(self._expr_of(node.tuple_value), int(node.index))
        if not isinstance(node, tvm.ir.expr.Var):
            return node
        if node in self.emitted:
            return self.emitted[node]
        value = self.values[node]
        if isinstance(value, QTensor):
            expr = self.bb.emit(relax.op.dequantize(
                self._expr_of(value.source), relax.const(_scalar_or(value.q.scale)),
                relax.const(_scalar_or(value.q.zero_point.astype("int32"))),
                axis=value.q.axis))
        elif isinstance(value, QConst):
            expr = self.bb.emit(relax.op.dequantize(
                relax.const(value.value), relax.const(_scalar_or(value.q.scale)),
                relax.const(_scalar_or(value.q.zero_point.astype("int32"))),
                axis=value.q.axis))
        elif isinstance(value, IntConst):
            expr = relax.const(value.value)
        elif isinstance(value, Lazy):
            expr = self._emit_original(value)
        elif isinstance(value, Deferred):
            expr = self._emit_kernel(value)
        else:
            expr = value
        self.emitted[node] = expr
        return expr

    def _emit_original(self, lazy: Lazy) -> Any:
        from tvm import relax

        call = lazy.call
        args = [self._expr_of(a) for a in call.args]
        dtype = str(getattr(lazy.var.ty, "dtype", ""))
        op = str(call.op.name)
        if dtype.startswith("float") and op not in ("relax.dequantize",):
            self.stayed_float.append(FloatOperator(op, lazy.var.name, lazy.reason))
        return self.bb.emit(relax.Call(call.op, args, call.attrs, call.ty_args))

    def _emit_kernel(self, d: Deferred) -> Any:
        from tvm import relax

        func = d.build(d.rq)
        gv = self.bb.add_func(func, f"q_{d.kind}")
        arrays = simd.requant_arrays(d.rq, d.shape[-1]) if d.library else d.rq.arrays()
        args = list(d.args) + [relax.const(a) for a in arrays]
        self.counts[d.kind] = self.counts.get(d.kind, 0) + 1
        return self.bb.emit(relax.call_tir(gv, args, relax.TensorType(list(d.shape), d.dtype)))

    # -- binding rules -----------------------------------------------------------------------

    def _bind(self, var: Any, value: Any) -> Value:
        import tvm

        op = _op(value)
        if op is None:
            if isinstance(value, tvm.ir.expr.GenericConst):
                return IntConst(_np(value)) if _np(value).dtype.kind in "iu" else value
            if isinstance(value, tvm.ir.expr.Var):
                return self.values[value]
            return self._expr_of(value)
        rule = RULES.get(op)
        if rule is not None and rule.at_binding is not None:
            result = rule.at_binding(self, var, value)
            if result is not None:
                return result
        return Lazy(value, var, "its result is not requantized to int8 by an integer rule"
                    if rule is not None and rule.matched_at_quantize else _NO_RULE)

    def _const_ints(self, node: Any) -> Any | None:
        """numpy integers if `node` is an integer constant (directly or via earlier bindings)."""
        import tvm

        if isinstance(node, tvm.ir.expr.GenericConst):
            v = _np(node)
            return v if v.dtype.kind in "iu" else None
        value = self.values.get(node)
        return value.value if isinstance(value, IntConst) else None

    def _qparams(self, call: Any) -> QParams | None:
        """scale/zero point of a quantize or dequantize call, when both are constants."""
        import numpy as np
        import tvm

        scale, zp = call.args[1], call.args[2]
        if not (isinstance(scale, tvm.ir.expr.GenericConst)
                and isinstance(zp, tvm.ir.expr.GenericConst)):
            return None
        return QParams(np.atleast_1d(_np(scale)).astype("float32"),
                       np.atleast_1d(_np(zp)).astype("int64"), int(call.attrs.axis))

    def _dequantize(self, var: Any, call: Any) -> Value | None:
        """A dequantized int8 constant becomes a quantized constant (weights, biases); a
        per-tensor dequantized int8 tensor becomes that tensor with its scale and zero point."""
        q = self._qparams(call)
        if q is None:
            return None
        ints = self._const_ints(call.args[0])
        if ints is not None:
            return QConst(ints, q)
        if str(call.args[0].ty.dtype) == "int8" and q.per_tensor:
            return QTensor(call.args[0], q)
        return None

    def _layout_const(self, var: Any, call: Any) -> Value | None:
        """permute_dims / reshape of an integer constant, done in numpy."""
        import numpy as np

        ints = self._const_ints(call.args[0])
        if ints is None:
            return None
        if _op(call) == "relax.permute_dims":
            axes = call.attrs.axes
            return IntConst(np.transpose(ints, None if axes is None else [int(a) for a in axes]))
        shape = tuple(int(v) for v in var.ty.shape.values)
        return IntConst(ints.reshape(shape))

    def _reshape(self, var: Any, call: Any) -> Value | None:
        """A reshape of a quantized constant keeps its quantization (when the channel axis
        survives); of an int8 tensor, it stays int8; of an integer constant, done in numpy."""
        from tvm import relax

        source = self.values.get(call.args[0])
        if isinstance(source, QConst):
            shape = _shape(var)
            axis = _same_axis(source.value.shape, source.q.axis, shape)
            if axis is not None:
                return QConst(source.value.reshape(shape),
                              QParams(source.q.scale, source.q.zero_point, axis))
        if isinstance(source, QTensor):
            reshaped = self.bb.emit(relax.op.reshape(self._expr_of(source.source),
                                                     list(_shape(var))))
            return QTensor(_Emitted(reshaped), source.q)
        return self._layout_const(var, call)

    def _clip_int8(self, var: Any, call: Any) -> Value | None:
        """clip on an int8 kernel's output, used only here: narrow that kernel's clamp."""
        source = self.values.get(call.args[0])
        if not isinstance(source, Deferred) or self.uses.get(call.args[0], 0) != 1:
            return None
        lo, hi = int(call.args[1].value), int(call.args[2].value)
        self.emitted.pop(call.args[0], None)
        return replace(source, rq=source.rq.clamped(lo, hi))

    def _avg_pool_int(self, var: Any, call: Any) -> Value | None:
        """astype(int8) ∘ avg_pool2d(int32) ∘ astype(int32) of int8: TFLite's integer pool."""
        if str(var.ty.dtype) != "int8":
            return None
        pool = self.values.get(call.args[0])
        if not isinstance(pool, Lazy) or _op(pool.call) != "relax.nn.avg_pool2d":
            return None
        widened = self.values.get(pool.call.args[0])
        if not isinstance(widened, Lazy) or _op(widened.call) != "relax.astype" \
                or str(widened.call.args[0].ty.dtype) != "int8":
            return None
        geo = _pool_geometry(pool.call, widened.call.args[0], pool.var)
        if geo is None:
            return None
        return Deferred("avg_pool2d", lambda rq: qkernels.pool2d(geo, "avg", rq.low, rq.high),
                        [self._expr_of(widened.call.args[0])], geo.out_shape,
                        qkernels.Requant((1,), (0,), 0, fixedpoint.INT8_MIN,
                                         fixedpoint.INT8_MAX))

    # -- quantize: the integer rules ---------------------------------------------------------

    def _quantize(self, var: Any, call: Any) -> Value | None:
        """A per-tensor quantize to int8: of an int8 tensor, a requantize; of a float operator
        used only here, that operator's integer rule, with the activations folded into the
        clamp. A quantize to int16 of a softmax is TFLite's int8 → int16 softmax."""
        out = self._qparams(call)
        if out is not None and str(var.ty.dtype) == "int16" and out.per_tensor:
            softmax = self.values.get(call.args[0])
            if isinstance(softmax, Lazy) and self.uses.get(call.args[0], 0) == 1 \
                    and _op(softmax.call) == "relax.nn.softmax":
                return self._softmax_rule(softmax, out, INT16_MIN, INT16_MAX, dtype="int16")
            return None
        if out is None or str(var.ty.dtype) != "int8" or not out.per_tensor:
            return None
        source, low, high = self._fold_activations(call.args[0])
        scale, zp = float(out.scale[0]), int(out.zero_point[0])
        lo_q, hi_q = fixedpoint.activation_range(scale, zp, low, high)
        value = self.values.get(source)
        if isinstance(value, QTensor):
            return self._requantize(value, var, out, lo_q, hi_q)
        if not isinstance(value, Lazy) or self.uses.get(source, 0) != 1:
            return None
        rule = _rule_of(value)
        if rule is None or rule.at_quantize is None:
            return None
        return rule.at_quantize(self, value, out, lo_q, hi_q)

    def _fold_activations(self, source: Any) -> tuple[Any, float | None, float | None]:
        """From a quantize's operand back over the activations used only there: the operand
        below them, and the float range they clamp to together (None: unbounded)."""
        low: float | None = None
        high: float | None = None
        value = self.values.get(source)
        while isinstance(value, Lazy) and self.uses.get(source, 0) == 1 \
                and (rule := _rule_of(value)) is not None and rule.clamp is not None:
            lo, hi = rule.clamp(value.call)
            low = lo if low is None else max(low, lo)
            high = hi if high is None else high if hi is None else min(high, hi)
            source = value.call.args[0]
            value = self.values.get(source)
        return source, low, high

    def _requantize(self, x: QTensor, var: Any, out: QParams, lo: int, hi: int) -> Value:
        shape = tuple(int(v) for v in var.ty.shape.values)
        zp_in = int(x.q.zero_point[0])
        mult, shift = fixedpoint.quantize_multiplier(float(x.q.scale[0]) / float(out.scale[0]))
        rq = qkernels.Requant((mult,), (shift,), int(out.zero_point[0]), lo, hi)
        return Deferred("requantize", lambda r: qkernels.requantize(shape, zp_in, r),
                        [self._expr_of(x.source)], shape, rq)

    def _add_rule(self, add: Lazy, out: QParams, lo: int, hi: int) -> Value | None:
        """An add of a constant to a conv2d or dense folds in as its bias; an add of two int8
        tensors is TFLite's int8 add (both inputs rescaled to twice the larger scale)."""
        a, b = (self.values.get(arg) for arg in add.call.args)
        if isinstance(a, Lazy) and isinstance(b, QConst):
            return self._affine_rule(a, out, lo, hi, bias=(b, add.call.args[0]))
        if isinstance(b, Lazy) and isinstance(a, QConst):
            return self._affine_rule(b, out, lo, hi, bias=(a, add.call.args[1]))
        if not (isinstance(a, QTensor) and isinstance(b, QTensor)):
            return None
        s1, s2, so = float(a.q.scale[0]), float(b.q.scale[0]), float(out.scale[0])
        twice_max = 2 * max(s1, s2)
        real_out = twice_max / ((1 << fixedpoint.ADD_LEFT_SHIFT) * so)
        mo, so_shift = fixedpoint.quantize_multiplier(real_out)
        params = qkernels.AddParams(
            (int(a.q.zero_point[0]), int(b.q.zero_point[0])),
            (fixedpoint.quantize_multiplier(s1 / twice_max),
             fixedpoint.quantize_multiplier(s2 / twice_max)),
            qkernels.Requant((mo,), (so_shift,), int(out.zero_point[0]), lo, hi))
        shapes = (_shape(add.call.args[0]), _shape(add.call.args[1]))
        out_shape = _shape(add.var)

        def build(rq: qkernels.Requant) -> Any:
            return qkernels.add(shapes, out_shape,
                                qkernels.AddParams(params.zero_points, params.input_scales, rq))

        return Deferred("add", build, [self._expr_of(a.source), self._expr_of(b.source)],
                        out_shape, params.output)

    def _affine_rule(self, core: Lazy, out: QParams, lo: int, hi: int, *,
                     bias: tuple[QConst, Any] | None = None) -> Value | None:
        """conv2d / matmul of an int8 tensor and int8 weights, plus an int32 bias."""
        import numpy as np

        if bias is not None and self.uses.get(bias[1], 0) != 1:
            return None
        x = self.values.get(core.call.args[0])
        w = self.values.get(core.call.args[1])
        if not isinstance(x, QTensor):
            self._why(core, "its input is not an int8 tensor")
            return None
        if not isinstance(w, QConst) or np.any(w.q.zero_point != 0):
            self._why(core, "its weights are not symmetric int8 constants")
            return None
        op = _op(core.call)
        if op == "relax.matmul":
            weights, channel_axis = w.value, 1
            if weights.ndim != 2 or len(_shape(core.call.args[0])) != 2:
                self._why(core, "only 2-D matmul (dense) has an integer rule")
                return None
        else:
            prepared = _conv_weights(core.call, w.value)
            if prepared is None:
                self._why(core, "only NHWC conv2d with HWIO weights, or depthwise with HWOI "
                          "weights, has an integer rule")
                return None
            weights, channel_axis = prepared
        channels = weights.shape[-1]
        w_scale = np.broadcast_to(w.q.scale, (channels,))
        if not (w.q.per_tensor or w.q.scale.size == channels):
            self._why(core, "weight scales are neither per tensor nor per output channel")
            return None
        b_vals = np.zeros(channels, "int64")
        if bias is not None:
            b_vals = np.broadcast_to(bias[0].value.astype("int64"), (channels,))
        zp_in = int(x.q.zero_point[0])
        sums = weights.astype("int64").reshape(-1, channels).sum(axis=0)
        folded = (b_vals - zp_in * sums).astype("int32")
        in_scale, out_scale = float(x.q.scale[0]), float(out.scale[0])
        pairs = [fixedpoint.quantize_multiplier(in_scale * float(s) / out_scale)
                 for s in w_scale]
        if w.q.per_tensor:
            pairs = pairs[:1]
        rq = qkernels.Requant(tuple(m for m, _ in pairs), tuple(s for _, s in pairs),
                              int(out.zero_point[0]), lo, hi)
        out_shape = _shape(core.var)
        geo = None if op == "relax.matmul" else _conv_geometry(
            core.call, core.call.args[0], core.var, channel_axis == 2)
        if self.use_simd:
            return _simd_kernel(self._expr_of(x.source), weights, folded, geo, rq, zp_in,
                                out_shape)
        args = [self._expr_of(x.source), _const(weights), _const(folded)]
        if geo is None:
            batch, depth = _shape(core.call.args[0])
            return Deferred("dense", lambda r: qkernels.dense(batch, depth, channels, r), args,
                            out_shape, rq)
        return Deferred("depthwise_conv2d" if geo.depthwise else "conv2d",
                        lambda r: qkernels.conv2d(geo, r, zp_in), args, out_shape, rq)

    def _float_pool_rule(self, pool: Lazy, out: QParams, lo: int, hi: int) -> Value | None:
        """Max or average pooling of an int8 tensor in NHWC whose input and output quantization
        are equal, as TFLite requires: an int8 pool2d kernel."""
        x = self.values.get(pool.call.args[0])
        if not isinstance(x, QTensor):
            return None
        if float(x.q.scale[0]) != float(out.scale[0]) \
                or int(x.q.zero_point[0]) != int(out.zero_point[0]):
            self._why(pool, "input and output quantization differ (TFLite requires them equal)")
            return None
        geo = _pool_geometry(pool.call, pool.call.args[0], pool.var)
        if geo is None:
            self._why(pool, "only NHWC pooling without ceil mode has an integer rule")
            return None
        kind = "max" if _op(pool.call) == "relax.nn.max_pool2d" else "avg"
        return Deferred(f"{kind}_pool2d", lambda rq: qkernels.pool2d(geo, kind, rq.low, rq.high),
                        [self._expr_of(x.source)], geo.out_shape,
                        qkernels.Requant((1,), (0,), 0, lo, hi))

    def _softmax_rule(self, sm: Lazy, out: QParams, lo: int, hi: int, *,
                      dtype: str = "int8") -> Value | None:
        """Softmax of an int8 tensor over its last axis to int8 with scale 1/256 and zero
        point −128, or to int16 with scale 1/65536 and zero point −32768 (as TFLite requires):
        TFLite's integer softmax, exp and reciprocal in gemmlowp's fixed point."""
        x = self._int8_input(sm)
        if x is None:
            return None
        shape = _shape(sm.var)
        if int(sm.call.attrs.axis) not in (-1, len(shape) - 1):
            self._why(sm, "only softmax over the last axis has an integer rule (as in TFLite)")
            return None
        bits = 16 if dtype == "int16" else 8
        if not self._unit_output(sm, out, "softmax", bits):
            return None
        if shape[-1] >= 1 << fixedpoint.SOFTMAX_SUM_BITS:
            self._why(sm, "TFLite's fixed-point sum of exponentials holds fewer than 4096 "
                      "classes")
            return None
        params = fixedpoint.softmax_parameters(float(x.q.scale[0]))
        if params is None:
            self._why(sm, "the input scale is outside what TFLite's int8 softmax represents")
            return None
        mult, left, diff_min = params
        return Deferred("softmax", lambda rq: qkernels.softmax(shape, qkernels.SoftmaxParams(
            mult, left, diff_min, rq.low, rq.high, dtype)), [self._expr_of(x.source)], shape,
            qkernels.Requant((1,), (0,), -(1 << (bits - 1)), lo, hi), dtype)

    def _logistic_rule(self, op: Lazy, out: QParams, lo: int, hi: int) -> Value | None:
        """Sigmoid of an int8 tensor to int8 with scale 1/256 and zero point −128: TFLite's
        integer LOGISTIC (the input rescaled to Q4.27, gemmlowp's fixed-point logistic)."""
        x = self._int8_input(op)
        if x is None:
            return None
        if not self._unit_output(op, out, "logistic"):
            return None
        params = fixedpoint.logistic_parameters(float(x.q.scale[0]))
        if params is None:
            self._why(op, "the input scale is outside what TFLite's int8 logistic represents")
            return None
        shape = _shape(op.var)
        zp = int(x.q.zero_point[0])
        return Deferred("logistic", lambda rq: qkernels.logistic(shape, qkernels.LogisticParams(
            *params, zp, rq.low, rq.high)), [self._expr_of(x.source)], shape,
            qkernels.Requant((1,), (0,), fixedpoint.INT8_MIN, lo, hi))

    def _mean_rule(self, op: Lazy, out: QParams, lo: int, hi: int) -> Value | None:
        """Mean of an int8 tensor over some axes: TFLite's integer MEAN (an int32 sum, the
        input zero point and 1/count folded into the requantization)."""
        from math import prod

        x = self._int8_input(op)
        if x is None:
            return None
        in_shape, out_shape = _shape(op.call.args[0]), _shape(op.var)
        attr = op.call.attrs.axis
        axes = tuple(sorted({int(a) % len(in_shape) for a in attr} if attr is not None
                            else set(range(len(in_shape)))))
        if not out_shape:
            self._why(op, "a mean over every axis to a scalar has no integer rule")
            return None
        count = prod(in_shape[a] for a in axes)
        mult, shift = fixedpoint.mean_multiplier(float(x.q.scale[0]) / float(out.scale[0]),
                                                 count)
        offset = -int(x.q.zero_point[0]) * count
        rq = qkernels.Requant((mult,), (shift,), int(out.zero_point[0]), lo, hi)
        return Deferred("mean", lambda r: qkernels.mean(in_shape, axes, out_shape, offset, r),
                        [self._expr_of(x.source)], out_shape, rq)

    def _concat_rule(self, op: Lazy, out: QParams, lo: int, hi: int) -> Value | None:
        """Concatenation of int8 tensors quantized as the output is (TFLite Micro requires
        it): the int8 tensors concatenated as they are."""
        from tvm import relax

        parts = [self.values.get(f) for f in getattr(op.call.args[0], "fields", [None])]
        if not all(isinstance(p, QTensor) for p in parts) \
                or (lo, hi) != (fixedpoint.INT8_MIN, fixedpoint.INT8_MAX):
            self._why(op, "its inputs are not all int8 tensors, or an activation follows it")
            return None
        tensors = [p for p in parts if isinstance(p, QTensor)]
        if any(float(t.q.scale[0]) != float(out.scale[0])
               or int(t.q.zero_point[0]) != int(out.zero_point[0]) for t in tensors):
            self._why(op, "input and output quantization differ (TFLite Micro requires them "
                      "equal)")
            return None
        self.int8_ops += 1
        return self.bb.emit(relax.op.concat([self._expr_of(t.source) for t in tensors],
                                            axis=int(op.call.attrs.axis)))

    def _int8_input(self, lazy: Lazy) -> QTensor | None:
        """The int8 tensor the operator's only input dequantizes, else None (with why)."""
        x = self.values.get(lazy.call.args[0])
        if not isinstance(x, QTensor):
            self._why(lazy, "its input is not an int8 tensor")
            return None
        return x

    def _unit_output(self, lazy: Lazy, out: QParams, name: str, bits: int = 8) -> bool:
        """True when `out` is TFLite's fixed output quantization of softmax and logistic with
        `bits` bits: scale 1/2**bits (within TFLite's 0.1 %), zero point −2**(bits − 1); else
        the operator stays float with that reason."""
        if abs(float(out.scale[0]) * (1 << bits) - 1) <= 0.001 \
                and int(out.zero_point[0]) == -(1 << (bits - 1)):
            return True
        self._why(lazy, f"the output is not quantized with scale 1/{1 << bits} and zero point "
                  f"{-(1 << (bits - 1))}, which TFLite's int{bits} {name} requires")
        return False

    def _why(self, lazy: Lazy, reason: str) -> None:
        """Give the binding a specific reason, for when it is emitted in float."""
        self.values[lazy.var] = Lazy(lazy.call, lazy.var, reason)


@dataclass(frozen=True)
class _Emitted:
    """A QTensor source already emitted in the new function (e.g. a reshaped int8 tensor)."""

    expr: Any


def _scalar_or(a: Any) -> Any:
    return a.reshape(()) if a.size == 1 else a


def _const(a: Any) -> Any:
    from tvm import relax

    return relax.const(a)


def _shape(expr: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in expr.ty.shape.values)


def _same_axis(old: tuple[int, ...], axis: int, new: tuple[int, ...]) -> int | None:
    """The axis of `new` holding the same elements as `axis` of `old` after a reshape."""
    from math import prod

    before = prod(old[:axis])
    for j in range(len(new)):
        if prod(new[:j]) == before and new[j] == old[axis]:
            return j
    return None


def _simd_kernel(x: Any, weights: Any, folded: Any, geo: qkernels.ConvGeometry | None,
                 rq: qkernels.Requant, zp_in: int, out_shape: tuple[int, ...]) -> Deferred:
    """The conv2d / depthwise / dense kernel that calls the SIMD library, its weights laid out
    for it."""
    channels = weights.shape[-1]
    if geo is None:
        laid = simd.dense_weights(weights)
        batch, depth = out_shape[0], weights.shape[0]
        return Deferred("dense", lambda r: simd.dense(batch, depth, channels, r, laid.size),
                        [x, _const(laid), _const(folded)], out_shape, rq, library=True)
    kind = "depthwise_conv2d" if geo.depthwise else "conv2d"
    if geo.depthwise and geo.in_shape[3] == 1:  # one input channel: a plain conv2d
        geo = replace(geo, depthwise=False)
        weights = weights.reshape(*weights.shape[:2], 1, weights.shape[2])
    laid = weights.reshape(-1) if geo.depthwise else simd.conv_weights(weights)
    return Deferred(kind, lambda r: simd.conv2d(geo, r, zp_in, laid.size),
                    [x, _const(laid), _const(folded)], out_shape, rq, library=True)


def _rule_of(lazy: Lazy) -> IntegerRule | None:
    """The integer rule of the operator `lazy` calls, if it has one."""
    return RULES.get(str(lazy.call.op.name))


def _conv_weights(call: Any, weights: Any) -> tuple[Any, int] | None:
    """Weights as HWIO (conv) or HWC (depthwise, C = input channels × depth multiplier), and
    the channel axis; None if unsupported."""
    attrs = call.attrs
    if str(attrs.data_layout) != "NHWC" or str(attrs.out_layout) != "NHWC" \
            or weights.ndim != 4:
        return None
    groups = int(attrs.groups)
    layout = str(attrs.kernel_layout)
    if groups == 1 and layout == "HWIO":
        return weights, 3
    cin = _shape(call.args[0])[3]
    if groups == cin and layout == "HWOI" and weights.shape[3] == 1 \
            and weights.shape[2] % cin == 0:
        return weights[:, :, :, 0], 2
    return None


def _conv_geometry(call: Any, x: Any, out: Any, depthwise: bool) -> qkernels.ConvGeometry:
    a = call.attrs
    in_shape = _shape(x)
    out_shape = _shape(out)
    weights_hw = tuple(int(v) for v in call.args[1].ty.shape.values)[:2]
    pad = [int(p) for p in a.padding]
    return qkernels.ConvGeometry(
        (in_shape[0], in_shape[1], in_shape[2], in_shape[3]), (weights_hw[0], weights_hw[1]),
        (int(a.strides[0]), int(a.strides[1])), (int(a.dilation[0]), int(a.dilation[1])),
        (pad[0], pad[1], pad[2], pad[3]),
        (out_shape[0], out_shape[1], out_shape[2], out_shape[3]), depthwise)


def _pool_geometry(call: Any, x: Any, out: Any) -> qkernels.PoolGeometry | None:
    a = call.attrs
    if str(a.layout) != "NHWC" or bool(a.ceil_mode) or any(int(d) != 1 for d in a.dilation):
        return None
    if _op(call) == "relax.nn.avg_pool2d" and bool(a.count_include_pad):
        return None
    i, o = _shape(x), _shape(out)
    return qkernels.PoolGeometry((i[0], i[1], i[2], i[3]), (o[0], o[1], o[2], o[3]),
                                 (int(a.pool_size[0]), int(a.pool_size[1])),
                                 (int(a.strides[0]), int(a.strides[1])),
                                 (int(a.padding[0]), int(a.padding[1])))


RULES: dict[str, IntegerRule] = {rule.op: rule for rule in (
    IntegerRule("relax.dequantize", at_binding=_Rewriter._dequantize),
    IntegerRule("relax.quantize", at_binding=_Rewriter._quantize),
    IntegerRule("relax.permute_dims", at_binding=_Rewriter._layout_const),
    IntegerRule("relax.reshape", at_binding=_Rewriter._reshape),
    IntegerRule("relax.astype", at_binding=_Rewriter._avg_pool_int),
    IntegerRule("relax.clip", at_binding=_Rewriter._clip_int8,
                clamp=lambda call: (float(call.args[1].value), float(call.args[2].value))),
    IntegerRule("relax.nn.relu", clamp=lambda call: (0.0, None)),
    IntegerRule("relax.nn.relu6", clamp=lambda call: (0.0, 6.0)),
    IntegerRule("relax.add", at_quantize=_Rewriter._add_rule),
    IntegerRule("relax.nn.conv2d", at_quantize=_Rewriter._affine_rule),
    IntegerRule("relax.matmul", at_quantize=_Rewriter._affine_rule),
    IntegerRule("relax.nn.max_pool2d", at_quantize=_Rewriter._float_pool_rule),
    IntegerRule("relax.nn.avg_pool2d", at_quantize=_Rewriter._float_pool_rule),
    IntegerRule("relax.nn.softmax", at_quantize=_Rewriter._softmax_rule),
    IntegerRule("relax.sigmoid", at_quantize=_Rewriter._logistic_rule),
    IntegerRule("relax.mean", at_quantize=_Rewriter._mean_rule),
    IntegerRule("relax.concat", at_quantize=_Rewriter._concat_rule),
)}
"""Every integer rule, by Relax operator: the one table `_Rewriter` dispatches on. An int8
kernel for a new operator is a builder in `qkernels`, a `_Rewriter` method, and a row here."""
