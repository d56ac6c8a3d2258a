"""The TFLite importer (issue 22 §1): each case TVM's own converter got wrong, on a generated
model, exported with --verify and equal to TFLite Micro bit for bit; and refusals that name the
operator's index and type, the tensor, the reason in TFLite's terms and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from export_helpers import run_cli

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
pytest.importorskip("tflite_micro")

from tflitegen import import_model  # noqa: E402

from mlfcheck.errors import ExportError, UnsupportedModel  # noqa: E402
from mlfcheck.export import ExportResult, export_model  # noqa: E402
from mlfcheck.export.reference import TFLM, compare, tflm_outputs  # noqa: E402
from mlfcheck.export.verify import random_inputs  # noqa: E402

EPOCH = 1700000000
SEED = 1


def _write(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.tflite"
    path.write_bytes(import_model(case, seed=SEED))
    return path


def _export(tmp_path: Path, case: str) -> ExportResult:
    return export_model(str(_write(tmp_path, case)), tmp_path / f"{case}.tar", verify=True,
                        epoch=EPOCH)


def _equals_tflm(result: ExportResult) -> Any:
    """The verification, after checking TFLite Micro decided it and agrees on every element."""
    check = result.verification
    assert check is not None and check.runtime == TFLM and check.reference is not None
    assert [(a.differing, a.max_diff) for a in check.reference] == [(0, 0.0)], check.reference
    assert check.ok and all(err == 0 for err in check.max_abs_error.values())
    return check


def _tvm_alone(path: Path) -> Any:
    """The model through TVM's own converter, unmodified."""
    import tflite
    from tvm.relax.frontend.tflite import from_tflite

    return from_tflite(tflite.Model.GetRootAsModel(path.read_bytes(), 0))


def test_fully_connected_flattens_a_rank4_input_as_tflite_does(tmp_path: Path) -> None:
    result = _export(tmp_path, "fully_connected_rank4")
    _equals_tflm(result)
    assert result.lowering.kernels == {"dense": 1} and result.lowering.stayed_float == ()
    assert [t.shape for t in result.plan.outputs] == [(4, 5)]


def test_tvms_converter_alone_multiplies_the_unflattened_input(tmp_path: Path) -> None:
    """Why the importer flattens: TVM 0.27's converter fails on the same model."""
    with pytest.raises(Exception, match="Matmul requires the reduction length"):
        _tvm_alone(_write(tmp_path, "fully_connected_rank4"))


def test_a_1d_bias_quantized_dimension_is_ignored_as_tflite_micro_does(tmp_path: Path) -> None:
    result = _export(tmp_path, "depthwise_bias_dim3")
    check = _equals_tflm(result)
    assert result.lowering.kernels == {"depthwise_conv2d": 1}
    opinion = check.second_opinion  # LiteRT refuses the field; it does not decide
    assert opinion is not None and opinion.agreement is None
    assert opinion.error is not None and "quantized_dimension must be in range" in opinion.error


@pytest.mark.parametrize(("case", "types"), [
    ("quantize_int16_int8", ("int16", "int8")), ("quantize_int8_int16", ("int8", "int16")),
    ("quantize_int16_int32", ("int16", "int32")), ("dequantize_int16", ("int16", "float32"))])
def test_int16_activations_convert_as_tflite_micro_does(tmp_path: Path, case: str,
                                                        types: tuple[str, str]) -> None:
    result = _export(tmp_path, case)
    _equals_tflm(result)
    assert (result.plan.inputs[0].dtype, result.plan.outputs[0].dtype) == types
    assert result.plan.inputs[0].shape == (256, 256)  # seeded inputs: most int16 values
    assert result.lowering.stayed_float == ()


def test_tvms_float_quantize_from_int16_rounds_differently_from_tflite_micro(
        tmp_path: Path) -> None:
    """Why QUANTIZE from int16 is TFLite's integer Requantize here: TVM's dequantize → quantize
    in float disagrees with TFLite Micro by one unit on some inputs."""
    import tvm
    from tvm import relax

    path = _write(tmp_path, "quantize_int16_int8")
    vm = relax.VirtualMachine(tvm.compile(_tvm_alone(path), target="llvm"), tvm.cpu())
    x = random_inputs(export_model(str(path), tmp_path / "q.tar").plan.inputs)
    ours = vm["main"](tvm.runtime.tensor(x[0])).numpy()
    (agreement,) = compare(["y"], [ours], tflm_outputs(path, x))
    assert agreement.differing > 0 and agreement.max_diff == 1.0


def test_svdf_exports_with_its_state_and_equals_tflite_micro_over_calls(
        tmp_path: Path) -> None:
    """keyword_scrambled's pattern (QUANTIZE int16 → int8, then an int8 SVDF with an int16
    state): the state is kept between runs, and each of several consecutive calls equals
    TFLite Micro's (test_svdf.py covers the SVDF forms)."""
    path = _write(tmp_path, "svdf")
    out = tmp_path / "svdf.tar"
    done = run_cli(str(path), "-o", str(out), "--verify")
    assert done.returncode == 0, done.stderr
    result = _export(tmp_path, "svdf")
    check = _equals_tflm(result)
    assert check.calls > 1
    assert [(s.name, s.shape, s.dtype, s.fill) for s in result.plan.states] == [
        ("t5", (1, 32), "int16", 0)]


def test_a_failure_inside_tvms_conversion_names_that_operator(tmp_path: Path) -> None:
    """PAD is operator 0 of 2: the error names it, not the last operator TVM scanned."""
    with pytest.raises(ExportError) as failed:
        export_model(str(_write(tmp_path, "pad_then_relu")), tmp_path / "pad.tar")
    assert not isinstance(failed.value, UnsupportedModel)
    assert failed.value.operator == "#0 PAD"
    assert str(failed.value).startswith("import failed (operator #0 PAD): tensor 't2' (float32 "
                                        "[1, 6, 6, 2]): TVM's TFLite converter cannot convert "
                                        "this PAD: ")
    assert str(failed.value).endswith("rewrite the model without this form of PAD, or run it "
                                      "with TFLite Micro")
