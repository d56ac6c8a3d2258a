"""The checkers checked: `--verify` fails on an archive whose C writes a wrong element; the
fixed-point helpers of the integer kernels equal an exact reference on random values; an int8 →
int8 QUANTIZE with non-zero zero points matches LiteRT bit for bit."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlfcheck.export.fixedpoint import quantize_multiplier

INT32 = (-(2**31), 2**31 - 1)
EPOCH = 1700000000


# -- an exact reference of TFLite's fixed-point arithmetic (Python integers and fractions) -----

def round_half_away(x: Fraction) -> int:
    """std::round: the nearest integer, halves away from zero."""
    n = math.floor(abs(x) + Fraction(1, 2))
    return n if x >= 0 else -n


def reference_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier, exactly: real = f · 2**shift with f in [1/2, 1), the Q31
    multiplier f · 2**31 rounded half away from zero (2**31 carried into the shift); below
    2**-32 nothing, from 2**31 on the largest multiplier."""
    if real == 0:
        return 0, 0
    f, shift = Fraction(real), 0
    while f >= 1:
        f, shift = f / 2, shift + 1
    while f < Fraction(1, 2):
        f, shift = f * 2, shift - 1
    q = round_half_away(f * 2**31)
    if q == 2**31:
        q, shift = q // 2, shift + 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return 2**31 - 1, 30
    return q, shift


def reference_high_mul(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul(a, b) for a multiplier b ≥ 0: a·b / 2**31 to the
    nearest integer, halves upwards (gemmlowp's nudge, then a division truncating to zero)."""
    return math.floor(Fraction(a * b, 2**31) + Fraction(1, 2))


def reference_divide(x: int, exponent: int) -> int:
    """RoundingDivideByPOT(x, exponent): x / 2**exponent, halves away from zero."""
    return round_half_away(Fraction(x, 2**exponent))


def test_the_reference_is_tflites_on_known_values() -> None:
    assert reference_multiplier(0.5) == (1 << 30, 0)
    assert reference_multiplier(1.5) == (3 << 29, 1)
    assert reference_multiplier(0.7) == (1503238554, 0)  # 0.7 · 2**31 = 1503238553.6: up
    assert reference_high_mul(-(2**30), 1) == 0 and reference_high_mul(2**30, 1) == 1
    assert [reference_divide(x, 1) for x in (-3, -1, 1, 3)] == [-2, -1, 1, 2]


# -- the helpers against it --------------------------------------------------------------------

@given(st.one_of(st.floats(min_value=0.0, max_value=2.0**40, allow_nan=False,
                           allow_infinity=False),
                 st.floats(min_value=1e-4, max_value=8.0),
                 st.sampled_from([0.0, 5e-324, 2.0**-32, 2.0**-31, 1.0 - 2.0**-53,
                                  2.0**30, 2.0**31, 0.1, 0.3])))
def test_quantize_multiplier_rounds_as_tflite(real: float) -> None:
    multiplier, shift = quantize_multiplier(real)
    assert (multiplier, shift) == reference_multiplier(real)
    if 2.0**-31 <= real < 2.0**30:
        assert 2**30 <= multiplier < 2**31
        error = abs(Fraction(multiplier) * Fraction(2) ** (shift - 31) - Fraction(real))
        assert error <= Fraction(2) ** (shift - 32)


@pytest.fixture(scope="module")
def tir_helpers() -> Any:
    """The TIR helpers compiled (LLVM) elementwise over int64 vectors (a, b, e): the product
    a·b's doubling high mul, a's rounding divide by 2**e (a shift of −e), and the whole rescale
    of a by multiplier b and shift e (scaled_product, doubling_high_mul, rounding_divide)."""
    tvm = pytest.importorskip("tvm")
    from tvm import te

    from mlfcheck.export import fixedpoint

    n = te.var("n")
    a, b, e = (te.placeholder((n,), "int64", name) for name in ("a", "b", "e"))
    high = te.compute((n,), lambda i: fixedpoint.doubling_high_mul(a(i) * b(i)), name="high")
    divided = te.compute((n,), lambda i: fixedpoint.rounding_divide(a(i), -e(i)), name="div")
    prod = te.compute((n,), lambda i: fixedpoint.scaled_product(a(i), b(i), e(i)), name="p")
    rescaled = te.compute((n,), lambda i: fixedpoint.rounding_divide(
        fixedpoint.doubling_high_mul(prod(i)), e(i)), name="rescaled")
    lib = tvm.compile(te.create_prim_func([a, b, e, high, divided, rescaled]), target="llvm")

    def run(rows: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        import numpy as np

        columns = [tvm.runtime.tensor(np.array(c, "int64")) for c in zip(*rows, strict=True)]
        outs = [tvm.runtime.tensor(np.zeros(len(rows), "int64")) for _ in range(3)]
        lib(*columns, *outs)
        return list(zip(*(o.numpy().tolist() for o in outs), strict=True))

    return run


int32s = st.one_of(st.integers(*INT32), st.sampled_from([INT32[0], INT32[1], 0, 1, -1,
                                                         2**30, -(2**30)]))
multipliers = st.one_of(st.integers(2**30, 2**31 - 1), st.just(0))


@given(st.lists(st.tuples(int32s, multipliers, st.integers(0, 31)), min_size=1, max_size=64))
def test_doubling_high_mul_and_rounding_divide_equal_the_reference(
        tir_helpers: Any, rows: list[tuple[int, int, int]]) -> None:
    for (a, b, e), (high, divided, _) in zip(rows, tir_helpers(rows), strict=True):
        assert high == reference_high_mul(a, b), (a, b)
        assert divided == reference_divide(a, e), (a, e)


@st.composite
def rescales(draw: st.DrawFn) -> tuple[int, int, int]:
    """(accumulator, Q31 multiplier, shift) within TFLite's domain: the accumulator shifted
    left by a positive shift still fits int32."""
    shift = draw(st.integers(-31, 30))
    bound = 2**31 >> max(shift, 0)
    return (draw(st.integers(-bound, bound - 1)), draw(st.integers(2**30, 2**31 - 1)), shift)


@given(st.lists(rescales(), min_size=1, max_size=64))
def test_multiply_by_quantized_multiplier_equals_the_reference(
        tir_helpers: Any, rows: list[tuple[int, int, int]]) -> None:
    for (acc, multiplier, shift), (_, _, got) in zip(rows, tir_helpers(rows), strict=True):
        high = reference_high_mul(acc * 2 ** max(shift, 0), multiplier)
        assert got == reference_divide(high, max(-shift, 0)), (acc, multiplier, shift)
        exact = Fraction(acc * multiplier) * Fraction(2) ** (shift - 31)
        assert abs(got - exact) <= 1


# -- single-operator models against LiteRT, and --verify itself -------------------------------

def quantize_model(x_q: tuple[float, int], y_q: tuple[float, int]) -> bytes:
    """A .tflite of one QUANTIZE from int8 (scale, zero point) `x_q` to int8 `y_q` (the
    operator described here, written by tflitegen's writer)."""
    import tflite
    from tflitegen import _build, _Operator, _Tensor

    shape = (1, 6, 5, 3)
    x = _Tensor(shape, "int8", (x_q[0],), (x_q[1],))
    y = _Tensor(shape, "int8", (y_q[0],), (y_q[1],))
    return _build(_Operator(tflite.BuiltinOperator.QUANTIZE, [x, y], [0], [1], None).graph)


@pytest.mark.tvm
@pytest.mark.parametrize(("x_q", "y_q"), [((0.05, -9), (0.11, 7)), ((0.2, 13), (0.03, -5)),
                                          ((0.0625, 100), (0.0625, -3))],
                         ids=["narrower", "wider", "same-scale"])
def test_int8_quantize_with_zero_points_matches_litert(tmp_path: Path, x_q: tuple[float, int],
                                                       y_q: tuple[float, int]) -> None:
    pytest.importorskip("tvm")
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("tflite")
    from mlfcheck.export import export_model

    model = tmp_path / "quantize.tflite"
    model.write_bytes(quantize_model(x_q, y_q))
    result = export_model(str(model), tmp_path / "quantize.tar", verify=True, epoch=EPOCH)
    assert result.lowering.kernels == {"requantize": 1}
    check = result.verification
    assert check is not None and check.reference is not None
    assert [(a.differing, a.total, a.max_diff) for a in check.reference] == [(0, 90, 0.0)]
    assert check.ok and check.max_abs_error == {"t1": 0.0}


@pytest.mark.tvm
def test_verify_fails_when_the_c_writes_one_wrong_element(tmp_path: Path) -> None:
    """verify_archive compares the archive's own C run with TVM and with LiteRT: one output
    element one unit off, planted in the C after the model ran, is seen by both."""
    pytest.importorskip("tvm")
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("tflite")
    from mlfcheck.export import export_model
    from mlfcheck.export.frontends import load_model
    from mlfcheck.export.verify import DEFAULT_TOLERANCE, verify_archive
    from mlfcheck.export.writer import tar_bytes
    from mlfcheck.reading.archive import Archive

    model = tmp_path / "quantize.tflite"
    model.write_bytes(quantize_model((0.05, -9), (0.11, 7)))
    result = export_model(str(model), tmp_path / "clean.tar", epoch=EPOCH)
    lowered = replace(load_model(str(model)), mod=result.lowering.mod)
    with Archive(result.path) as archive:
        files = {m.name: archive.read(m.name) for m in archive.files()}
    before, end = files["codegen/host/src/default_lib1.c"].decode().rsplit(
        "  return status;\n}", 1)  # the end of tvmgen_default_run, the file's last function
    files["codegen/host/src/default_lib1.c"] = (
        before + "  ((int8_t*)outputs->t1)[5] ^= 1;\n  return status;\n}" + end).encode()
    wrong = tmp_path / "wrong.tar"
    wrong.write_bytes(tar_bytes(files, EPOCH))

    def verify(path: Path) -> Any:
        return verify_archive(path, lowered, result.plan, "default", link_params=True,
                              tolerance=DEFAULT_TOLERANCE, model_file=model)

    clean = verify(result.path)
    assert clean.ok and clean.max_abs_error == {"t1": 0.0}
    check = verify(wrong)
    assert not check.ok
    assert check.max_abs_error == {"t1": 1.0}
    assert check.reference is not None
    assert [(a.differing, a.max_diff) for a in check.reference] == [(1, 1.0)]


def test_the_reference_vm_gives_tvms_default_outputs_bit_for_bit(tmp_path: Path) -> None:
    """verify.reference_vm drops TVM's optimising TIR passes and LLVM's IR optimisations: on a
    model of float operators and int8 patterns the integer pass lowered, every output on every
    input set equals TVM's default compilation's."""
    pytest.importorskip("tvm")
    import numpy as np
    import tvm
    from tvm import relax

    from mlfcheck.export.frontends import load_model
    from mlfcheck.export.integer import lower
    from mlfcheck.export.plan import Tensor
    from mlfcheck.export.verify import reference_vm, run_vm
    from mlfcheck.fuzz.builds import inputs_for
    from mlfcheck.fuzz.models import Input, Layer, ModelSpec, render

    spec = ModelSpec((Input((1, 3, 8, 8), "float32"), Input((1, 40), "int8")), tuple(
        Layer(op, selector, 0, option) for op, selector, option in (
            ("qconv2d", 1, 3), ("qdepthwise", 0, 5), ("qpool", 0, 1), ("conv2d", 2, 3),
            ("sigmoid", 0, 0), ("avg_pool2d", 0, 1), ("requantize", 4, 2), ("qdense", 0, 7),
            ("softmax", 2, 0), ("mean", 0, 1))), (0, 1, 2), seed=7)
    model = tmp_path / "model.py"
    model.write_text(render(spec).source)
    imported = load_model(str(model))
    lowered = lower(imported.mod, imported.entry)
    assert lowered.kernels, "the int8 patterns reach integer kernels"
    default = relax.VirtualMachine(tvm.compile(lowered.mod, target="llvm"), tvm.cpu())
    reference = reference_vm(lowered.mod)
    tensors = tuple(Tensor(p.name, tuple(int(d) for d in p.ty.shape.values), str(p.ty.dtype))
                    for p in lowered.mod[imported.entry].params)
    for inputs in inputs_for(tensors).values():
        got = run_vm(reference, imported.entry, inputs)
        want = run_vm(default, imported.entry, inputs)
        assert [g.tobytes() for g in got] == [w.tobytes() for w in want]
        assert all(np.asarray(g).size for g in got)
