"""TFLite's fixed-point arithmetic: multipliers from real scales, and requantization as TIR.

The rules are TFLite's reference kernels' (QuantizeMultiplier, SaturatingRoundingDoublingHighMul,
RoundingDivideByPOT, double rounding), written here so integer kernels match them bit for bit.
The TIR helpers each take loads, not large expressions: kernels compute them as separate stages
so no expression is duplicated. gemmlowp's fixed-point exp, reciprocal and logistic (TFLite's
int8 SOFTMAX and LOGISTIC) and their constants follow, for kernels written with the IRBuilder.
"""

from __future__ import annotations

import math
from typing import Any

INT8_MIN, INT8_MAX = -128, 127
ADD_LEFT_SHIFT = 20
"""TFLite's int8 ADD scales both inputs up by 2**20 before rescaling them."""


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(Q31 multiplier, shift): real ≈ multiplier · 2**(shift − 31); shift > 0 shifts left."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    fixed = _round_away(fraction * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return fixed, shift


def _round_away(x: float) -> int:
    """std::round: halves away from zero."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def activation_range(scale: float, zero_point: int, low: float | None,
                     high: float | None) -> tuple[int, int]:
    """The int8 clamp of a fused activation clipping the real value to [low, high]."""
    import numpy as np

    def q(x: float) -> int:
        return zero_point + _round_away(float(np.float32(x) / np.float32(scale)))

    lo = INT8_MIN if low is None else max(INT8_MIN, q(low))
    hi = INT8_MAX if high is None else min(INT8_MAX, q(high))
    return lo, hi


def _i64(v: int) -> Any:
    from tvm import tirx

    return tirx.const(v, "int64")


def as_i64(v: Any) -> Any:
    """An int64 TIR expression of `v` (a TIR expression, a TE tensor element or an int)."""
    if hasattr(v, "dtype"):  # a TE tensor element
        return v.astype("int64")
    if not hasattr(v, "ty"):
        return _i64(int(v))
    return v if str(v.ty) == "int64" else v.astype("int64")


def scaled_product(acc: Any, multiplier: Any, shift: Any) -> Any:
    """acc · 2**max(shift, 0) · multiplier in int64: the first half of
    MultiplyByQuantizedMultiplier (a product, not a shift: acc may be negative)."""
    from tvm import tirx

    left = tirx.max(as_i64(shift), _i64(0))
    return acc.astype("int64") * (_i64(1) << left) * as_i64(multiplier)


def doubling_high_mul(product: Any) -> Any:
    """SaturatingRoundingDoublingHighMul's result from the int64 product (no saturation case:
    multipliers are positive)."""
    from tvm import tirx

    nudged = product + tirx.Select(product >= _i64(0), _i64(1 << 30), _i64(1 - (1 << 30)))
    return tirx.Select(nudged < _i64(0), nudged + _i64((1 << 31) - 1), nudged) >> _i64(31)


def rounding_divide(high: Any, shift: Any) -> Any:
    """RoundingDivideByPOT(high, max(−shift, 0)), halves away from zero."""
    from tvm import tirx

    right = tirx.max(_i64(0) - as_i64(shift), _i64(0))
    mask = (_i64(1) << right) - _i64(1)
    threshold = (mask >> _i64(1)) + tirx.Select(high < _i64(0), _i64(1), _i64(0))
    return (high >> right) + tirx.Select((high & mask) > threshold, _i64(1), _i64(0))


def to_int8(value: Any, zero_point: int, low: int, high: int, dtype: str = "int8") -> Any:
    """value (int64) + zero point, clamped to [low, high], as int8 (or `dtype`)."""
    from tvm import tirx

    out = value + tirx.const(zero_point, "int64")
    return tirx.min(tirx.max(out, tirx.const(low, "int64")),
                    tirx.const(high, "int64")).astype(dtype)


# -- gemmlowp's fixed-point functions, as TFLite's int8 softmax and logistic use them ----------
# A raw value is an int64 TIR expression holding an int32 (a Q<integer bits>.<31 − bits> number).
# These functions are called while a kernel is being written with TVM's TIR IRBuilder: each
# intermediate value is stored once into a one-element local buffer of that kernel (`bind`) and
# read from there, so no subexpression is written twice. (Let bindings would not do: TVM's
# simplifier substitutes them into their uses, which grows exponentially along these chains;
# the C compiler keeps such buffers in registers, and TVM's storage rewrite shares them.)

INT32_MAX = (1 << 31) - 1
SOFTMAX_DIFF_BITS = 5
"""Integer bits of the scaled input difference that TFLite's int8 softmax exponentiates."""
SOFTMAX_SUM_BITS = 12
"""Integer bits of TFLite's softmax sum of exponentials (so fewer than 4096 classes)."""
LOGISTIC_INPUT_BITS = 4
"""Integer bits of the rescaled input of TFLite's int8 logistic."""
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))
"""exp(−2**k) in Q0.31, for the bits of the input above a quarter (gemmlowp's barrel shifter)."""


def bind(value: Any) -> Any:
    """Store `value` (an integer expression) in a new local of the kernel being built; a read
    of it."""
    from tvm.tirx.script.builder import ir as builder

    local = builder.alloc_buffer((1,), str(value.ty))
    builder.buffer_store(local, value, [0])
    return local[0]


def high_mul(a: Any, b: Any) -> Any:
    """SaturatingRoundingDoublingHighMul of two raw values (never both −2**31 here)."""
    return doubling_high_mul(bind(a * b))


def divide_by_pot(x: Any, exponent: Any) -> Any:
    """RoundingDivideByPOT(x, exponent): x / 2**exponent, halves away from zero."""
    shift = _i64(-exponent) if isinstance(exponent, int) else bind(_i64(0) - as_i64(exponent))
    return rounding_divide(bind(x), shift)


def shift_left_saturating(x: Any, exponent: int) -> Any:
    """SaturatingRoundingMultiplyByPOT<exponent > 0>: x · 2**exponent clamped to int32."""
    from tvm import tirx

    return tirx.min(tirx.max(x * _i64(1 << exponent), _i64(-1 << 31)), _i64(INT32_MAX))


def _select(condition: Any, then: Any, otherwise: Any) -> Any:
    from tvm import tirx

    return tirx.Select(condition, then, otherwise)


def _exp_quarter(a: Any) -> Any:
    """exp(a) for a Q0.31 in [−1/4, 0): gemmlowp's Taylor expansion around −1/8."""
    c = _i64(1895147668)  # exp(−1/8)
    x = bind(a + _i64(1 << 28))
    x2 = bind(high_mul(x, x))
    x3 = bind(high_mul(x2, x))
    x4_over_4 = bind(divide_by_pot(high_mul(x2, x2), 2))
    # x⁴/24 + x³/6 + x²/2, with 715827883 = 1/3 in Q0.31
    series = bind(divide_by_pot(high_mul(x4_over_4 + x3, _i64(715827883)) + x2, 1))
    return c + high_mul(c, x + series)


def exp_on_negative_values(a: Any, integer_bits: int) -> Any:
    """gemmlowp's exp_on_negative_values: a ≤ 0 in Q<integer_bits> → exp(a) in Q0.31."""
    fraction_bits = 31 - integer_bits
    quarter = _i64(1 << (fraction_bits - 2))
    a = bind(a)
    low = bind((a & (quarter - _i64(1))) - quarter)
    result = bind(_exp_quarter(shift_left_saturating(low, integer_bits)))
    remainder = bind(low - a)
    for k, multiplier in _EXP_BARREL:
        if integer_bits > k:
            bit = _i64(1 << (fraction_bits + k))
            result = bind(_select((remainder & bit) != _i64(0),
                                  high_mul(result, _i64(multiplier)), result))
    return _select(a == _i64(0), _i64(INT32_MAX), result)


def one_over_one_plus_x(a: Any) -> Any:
    """gemmlowp's one_over_one_plus_x_for_x_in_0_1: a in Q0.31, [0, 1) → 1 / (1 + a) in
    Q0.31 (three Newton-Raphson steps in Q2.29 from 48/17 − 32/17 · (1 + a)/2)."""
    # RoundingHalfSum(a, 1 − 2**−31): the sum is positive, so the halving is a shift.
    half = bind((a + _i64(INT32_MAX) + _i64(1)) >> _i64(1))
    x = bind(_i64(1515870810) + high_mul(half, _i64(-1010580540)))
    for _ in range(3):
        error = bind(_i64(1 << 29) - high_mul(half, x))
        x = bind(x + shift_left_saturating(high_mul(x, error), 2))
    return shift_left_saturating(x, 1)


def count_leading_zeros(x: Any) -> Any:
    """CountLeadingZeros of x as a uint32, for 0 < x < 2**32 (a binary search)."""
    v, n = bind(x), _i64(0)
    for width in (16, 8, 4, 2, 1):
        small = v < _i64(1 << (32 - width))
        v = bind(_select(small, v << _i64(width), v))
        n = bind(_select(small, n + _i64(width), n))
    return n


def reciprocal(total: Any, integer_bits: int) -> tuple[Any, Any]:
    """TFLite's GetReciprocal of a positive Q<integer_bits> total: (1 / the total scaled into
    [1, 2), in Q0.31; the number of bits the total has above one)."""
    total = bind(total)
    zeros = bind(count_leading_zeros(total))
    inverse = bind(one_over_one_plus_x((total << zeros) - _i64(1 << 31)))
    return inverse, bind(_i64(integer_bits) - zeros)


def logistic(a: Any) -> Any:
    """gemmlowp's logistic: a in Q4.27 → 1 / (1 + exp(−a)) in Q0.31."""
    a = bind(a)
    magnitude = bind(_select(a > _i64(0), a, _i64(0) - a))
    positive = bind(one_over_one_plus_x(
        exp_on_negative_values(_i64(0) - magnitude, LOGISTIC_INPUT_BITS)))
    return _select(a == _i64(0), _i64(1 << 30),
                   _select(a > _i64(0), positive, _i64(INT32_MAX) - positive))


def input_radius(integer_bits: int, left_shift: int) -> int:
    """CalculateInputRadius: the largest input difference the rescaled input can hold."""
    return (((1 << integer_bits) - 1) << (31 - integer_bits)) >> left_shift


def softmax_parameters(input_scale: float) -> tuple[int, int, int] | None:
    """TFLite's int8 softmax constants for beta 1 (PreprocessSoftmaxScaling,
    CalculateInputRadius): (input multiplier, left shift, smallest difference from the row
    maximum that counts), or None when the scale is outside what the kernel represents (a
    multiplier not above one, or a scale of 8 or more, whose shift could overflow)."""
    real = min(input_scale * (1 << (31 - SOFTMAX_DIFF_BITS)), float(INT32_MAX))
    if not 1.0 < real < float(1 << 29):
        return None
    multiplier, shift = quantize_multiplier(real)
    return multiplier, shift, -input_radius(SOFTMAX_DIFF_BITS, shift)


def logistic_parameters(input_scale: float) -> tuple[int, int, int] | None:
    """TFLite Micro's int8 logistic constants: (input multiplier, left shift, input radius), or
    None where its Prepare would overflow (a multiplier rounding to 2**31, a shift outside
    [0, 30])."""
    fraction, shift = math.frexp(input_scale * (1 << (31 - LOGISTIC_INPUT_BITS)))
    fixed = _round_away(fraction * (1 << 31))
    if fixed > INT32_MAX or not 0 <= shift <= 30:
        return None
    return fixed, shift, input_radius(LOGISTIC_INPUT_BITS, shift)


def mean_multiplier(real: float, count: int) -> tuple[int, int]:
    """The (multiplier, shift) of TFLite's int8 MEAN: in/out scale with 1/count folded in
    (QuantizedMeanOrSum's integer division)."""
    multiplier, shift = quantize_multiplier(real)
    fold = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << fold) // count, shift - fold
