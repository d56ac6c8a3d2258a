"""Integer lowering: each operator on a generated int8 model, and the real int8 models, against
LiteRT's reference kernels; footprint against TFLite Micro's arena; --no-integer; metadata."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from export_helpers import run_cli

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
pytest.importorskip("ai_edge_litert")

from tflitegen import OPERATORS, expected_kernel, single_op_model  # noqa: E402

from mlfcheck.export import ExportResult, export_model  # noqa: E402
from mlfcheck.export.fixedpoint import quantize_multiplier  # noqa: E402
from mlfcheck.validate import validate  # noqa: E402

EPOCH = 1700000000
TFLM_ARENA = {"kws_ref_model": 24272, "pretrainedResnet_quant": 55984}
"""TFLite Micro's arena for each model (issue 14, measured with the tflite-micro package)."""


def _export(tmp_path: Path, model: bytes | Path, name: str, **kw: Any) -> ExportResult:
    path = model if isinstance(model, Path) else tmp_path / f"{name}.tflite"
    if not isinstance(model, Path):
        path.write_bytes(model)
    return export_model(str(path), tmp_path / f"{name}.tar", verify=True, epoch=EPOCH, **kw)


def _lowering(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("./metadata.json")
        assert member is not None
        entry: dict[str, Any] = json.load(member)["modules"]["default"]
    return dict(entry["lowering"])


def test_quantize_multiplier_follows_tflite() -> None:
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(0.25) == (1 << 30, -1)
    assert quantize_multiplier(1.5) == (3 << 29, 1)
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(2.0 ** -40) == (0, 0)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
@pytest.mark.parametrize("op", OPERATORS)
def test_each_operator_matches_litert_bit_for_bit(tmp_path: Path, op: str,
                                                  per_channel: bool) -> None:
    activation = "relu6" if op in ("conv2d", "add", "average_pool_2d") else "none"
    result = _export(tmp_path, single_op_model(op, per_channel=per_channel,
                                               activation=activation, seed=3), op)
    check = result.verification
    assert check is not None and check.reference is not None
    assert [(a.differing, a.max_diff) for a in check.reference] == [(0, 0.0)]
    assert check.ok and all(err == 0 for err in check.max_abs_error.values())
    kernel = expected_kernel(op)
    assert result.lowering.kernels == ({kernel: 1} if kernel else {})
    assert result.lowering.stayed_float == ()
    assert all(t.dtype in ("int8", "int32") for t in result.plan.constants)
    assert validate(result.path).ok


def test_tvm_own_integer_average_pool_rounds_differently(tmp_path: Path) -> None:
    """Why avg_pool2d needs its kernel: --no-integer keeps TVM's int pool, LiteRT disagrees."""
    model = single_op_model("average_pool_2d", seed=3)
    result = _export(tmp_path, model, "pool", integer=False)
    check = result.verification
    assert check is not None and check.reference is not None
    assert check.reference[0].differing > 0 and check.reference[0].max_diff == 1.0


def test_no_integer_keeps_float_kernels_and_says_so(tmp_path: Path) -> None:
    result = _export(tmp_path, single_op_model("conv2d", seed=1), "conv", integer=False)
    assert not result.lowering.integer and result.lowering.kernels == {}
    assert any(t.dtype == "float32" for t in result.plan.constants)
    assert _lowering(result.path) == {"quantized": "float", "integer_kernels": {},
                                      "stayed_float": []}
    assert validate(result.path).ok


def test_cli_summary_names_integer_kernels_and_litert(tmp_path: Path) -> None:
    model = tmp_path / "fc.tflite"
    model.write_bytes(single_op_model("fully_connected", per_channel=True, seed=2))
    done = run_cli(str(model), "-o", str(tmp_path / "fc.tar"), "--verify",
                   "--source-date-epoch", str(EPOCH))
    assert done.returncode == 0, done.stderr
    assert "  quantized operators: integer kernels: dense ×1\n" in done.stdout
    assert "    t3: 0 of 20 elements differ, max difference 0\n" in done.stdout
    float_run = run_cli(str(model), "-o", str(tmp_path / "fc-float.tar"), "--no-integer")
    assert float_run.returncode == 0, float_run.stderr
    assert "quantized operators: float (dequantize → float op → quantize, --no-integer)" \
        in float_run.stdout


@pytest.mark.shared
def test_hello_world_int8_is_identical_to_litert(tmp_path: Path, shared: Path) -> None:
    result = _export(tmp_path, shared / "models" / "hello_world_int8.tflite", "hello")
    check = result.verification
    assert check is not None and check.reference is not None
    assert [(a.differing, a.max_diff) for a in check.reference] == [(0, 0.0)]
    assert result.lowering.kernels == {"dense": 3} and result.lowering.stayed_float == ()


@pytest.mark.shared
@pytest.mark.parametrize("model", sorted(TFLM_ARENA))
def test_real_int8_models_fit_tflm_arena_and_agree_with_litert(tmp_path: Path, shared: Path,
                                                               model: str) -> None:
    path = shared / "models" / f"{model}.tflite"
    result = _export(tmp_path, path, model)
    check = result.verification
    assert check is not None and check.reference is not None
    assert all(a.max_diff <= 1 for a in check.reference), check.reference
    assert result.plan.arena_size <= TFLM_ARENA[model]
    assert check.workspace_measured <= TFLM_ARENA[model]
    assert {t.dtype for t in result.plan.constants} <= {"int8", "int32"}
    lowering = _lowering(result.path)
    assert lowering["quantized"] == "integer"
    assert lowering["stayed_float"] == [] and lowering["integer_kernels"]["softmax"] == 1
    assert validate(result.path).ok


def _onnx_qdq_matmul(path: Path) -> None:
    """x (int8) → DequantizeLinear → MatMul with a DequantizeLinear'd int8 weight →
    QuantizeLinear: the QDQ form ONNX quantizers write."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    consts = {"W": rng.integers(-127, 128, (24, 10)).astype(np.int8),
              "ws": np.array(0.01, np.float32), "wz": np.array(0, np.int8),
              "xs": np.array(0.05, np.float32), "xz": np.array(3, np.int8),
              "ys": np.array(0.1, np.float32), "yz": np.array(-5, np.int8)}
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]),
             helper.make_node("DequantizeLinear", ["W", "ws", "wz"], ["wf"]),
             helper.make_node("MatMul", ["xf", "wf"], ["yf"]),
             helper.make_node("QuantizeLinear", ["yf", "ys", "yz"], ["y"])]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.INT8, [2, 24])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [2, 10])],
        [numpy_helper.from_array(v, k) for k, v in consts.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def test_onnx_qdq_goes_through_the_same_pass_and_checks_against_onnxruntime(
        tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = tmp_path / "qdq.onnx"
    _onnx_qdq_matmul(model)
    result = export_model(str(model), tmp_path / "qdq.tar", verify=True, epoch=EPOCH)
    assert result.lowering.kernels == {"dense": 1}
    check = result.verification
    assert check is not None and check.runtime == "onnxruntime" and check.reference
    assert check.ok and all(a.max_diff <= 1 for a in check.reference)
