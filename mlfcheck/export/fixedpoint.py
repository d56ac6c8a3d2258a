"""TFLite's fixed-point arithmetic: multipliers from real scales, and requantization as TIR.

The rules are TFLite's reference kernels' (QuantizeMultiplier, SaturatingRoundingDoublingHighMul,
RoundingDivideByPOT, double rounding), written here so integer kernels match them bit for bit.
The TIR helpers each take loads, not large expressions: kernels compute them as separate stages
so no expression is duplicated.
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
    """An int64 TIR expression of `v` (an expression or a Python int)."""
    return v.astype("int64") if hasattr(v, "dtype") else _i64(int(v))


def scaled_product(acc: Any, multiplier: Any, shift: Any) -> Any:
    """acc · 2**max(shift, 0) · multiplier in int64: the first half of
    MultiplyByQuantizedMultiplier."""
    from tvm import tirx

    left = tirx.max(as_i64(shift), _i64(0))
    return (acc.astype("int64") << left) * as_i64(multiplier)


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


def to_int8(value: Any, zero_point: int, low: int, high: int) -> Any:
    """value (int64) + zero point, clamped to [low, high], as int8."""
    from tvm import tirx

    out = value + tirx.const(zero_point, "int64")
    return tirx.min(tirx.max(out, tirx.const(low, "int64")),
                    tirx.const(high, "int64")).astype("int8")
