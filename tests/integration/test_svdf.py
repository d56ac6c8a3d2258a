"""SVDF (issue 22): stateful, integer, bit-exact with TFLite Micro over consecutive calls.

Generated single-operator SVDF models (int8 input, int16 or int8 time weights and state; rank 1
and 2; with and without bias; fused ReLU and none; and float) are exported and run for several
consecutive calls from the reset state, as one TFLite Micro interpreter invoked again and again,
and every call's output must equal TFLite Micro's element for element. The state test runs the
archive's C, then its reset, and reads the state region. Last, TFLM's keyword_scrambled models.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
from export_helpers import unpack
from shared_paths import REPO, models_dir

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
pytest.importorskip("tflite_micro")

import numpy as np  # noqa: E402
import tflitegen as gen  # noqa: E402

from mlfcheck.errors import ExportError  # noqa: E402
from mlfcheck.export import ExportResult, export_model  # noqa: E402
from mlfcheck.export.reference import TFLM, tflm_calls  # noqa: E402
from mlfcheck.export.verify import (  # noqa: E402
    CFLAGS,
    STATEFUL_CALLS,
    build_and_run_calls,
    build_archive,
    driver_prelude,
    random_inputs,
)

EPOCH = 1700000000
MEMORY, UNITS, INPUTS = 4, 4, 16
TFLM_MODELS = REPO / ".cache/tflm/src/tflite-micro-90b983c2b3f1/tensorflow/lite/micro/models"
"""Where bench/tflm_build.py extracts TFLite Micro's models folder (commit 90b983c)."""


def svdf_model(seed: int, *, rank: int, bias: bool, activation: str = "none",
               state: str = "int16", zero_bias: bool = False) -> bytes:
    """One int8 SVDF: a [1, 16] int8 input, UNITS × rank filters over MEMORY steps, `state`
    time weights and state, scales drawn so outputs spread over the int8 range."""
    import tflite

    rng = np.random.default_rng(seed)
    filters = UNITS * rank
    x = gen._Tensor((1, INPUTS), "int8", (0.02,), (int(rng.integers(-20, 20)),))
    feature = gen._Tensor((filters, INPUTS), "int8", (0.002,), (0,), 0,
                          rng.integers(-127, 128, (filters, INPUTS)).astype("int8"))
    limit, time_scale, state_q = ((3000, 0.0003, (2.0 ** -10, 0)) if state == "int16" else
                                  (127, 0.007, (0.02, int(rng.integers(-20, 20)))))
    time = gen._Tensor((filters, MEMORY), state, (time_scale,), (0,), 0,
                       rng.integers(-limit, limit + 1, (filters, MEMORY)).astype(state))
    bias_scale = float(np.float32(state_q[0]) * np.float32(time_scale))
    values = np.zeros(UNITS) if zero_bias else rng.uniform(-0.1, 0.1, UNITS) / bias_scale
    b = gen._Tensor((UNITS,), "int32", (bias_scale,), (0,), 0, values.astype("int32"))
    variable = gen._Tensor((1, filters * MEMORY), state, (state_q[0],), (state_q[1],),
                           variable=True)
    out = gen._Tensor((1, UNITS), "int8", (0.02,), (int(rng.integers(-10, 10)),))

    def options(builder: Any) -> Any:
        tflite.SVDFOptionsStart(builder)
        tflite.SVDFOptionsAddRank(builder, rank)
        tflite.SVDFOptionsAddFusedActivationFunction(builder, gen.ACTIVATIONS[activation])
        return tflite.SVDFOptionsEnd(builder)

    tensors = [x, feature, time, b, variable, out]
    step = gen._Step(tflite.BuiltinOperator.SVDF, [0, 1, 2, 3 if bias else -1, 4], [5],
                     (tflite.BuiltinOptions.SVDFOptions, options))
    return gen._build(gen._Graph(tensors, (step,), [5]))


def float_svdf_model(seed: int, *, rank: int, activation: str) -> bytes:
    """One float32 SVDF with a bias, weights uniform in [-1, 1)."""
    import tflite

    rng = np.random.default_rng(seed)
    filters = UNITS * rank

    def weights(*shape: int) -> Any:
        return rng.uniform(-1, 1, shape).astype("float32")

    def options(builder: Any) -> Any:
        tflite.SVDFOptionsStart(builder)
        tflite.SVDFOptionsAddRank(builder, rank)
        tflite.SVDFOptionsAddFusedActivationFunction(builder, gen.ACTIVATIONS[activation])
        return tflite.SVDFOptionsEnd(builder)

    tensors = [gen._Tensor((1, INPUTS), "float32", (), ()),
               gen._Tensor((filters, INPUTS), "float32", (), (), 0, weights(filters, INPUTS)),
               gen._Tensor((filters, MEMORY), "float32", (), (), 0, weights(filters, MEMORY)),
               gen._Tensor((UNITS,), "float32", (), (), 0, weights(UNITS)),
               gen._Tensor((1, filters * MEMORY), "float32", (), (), variable=True),
               gen._Tensor((1, UNITS), "float32", (), ())]
    step = gen._Step(tflite.BuiltinOperator.SVDF, [0, 1, 2, 3, 4], [5],
                     (tflite.BuiltinOptions.SVDFOptions, options))
    return gen._build(gen._Graph(tensors, (step,), [5]))


def _write(tmp_path: Path, model: bytes, name: str = "svdf") -> Path:
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(model)
    return path


def _calls(result: ExportResult) -> list[list[Any]]:
    return [random_inputs(result.plan.inputs, k) for k in range(STATEFUL_CALLS)]


def _identical_to_tflm(result: ExportResult) -> None:
    check = result.verification
    assert check is not None and check.runtime == TFLM and check.calls == STATEFUL_CALLS
    assert check.reference is not None
    assert [(a.differing, a.max_diff) for a in check.reference] == [(0, 0.0)], check.reference
    assert check.ok and all(err == 0 for err in check.max_abs_error.values())


@pytest.mark.parametrize(("rank", "activation", "state"), [
    (1, "none", "int16"), (2, "relu", "int16"), (2, "none", "int8")])
def test_int8_svdf_equals_tflite_micro_over_consecutive_calls(
        tmp_path: Path, rank: int, activation: str, state: str) -> None:
    model = svdf_model(3, rank=rank, bias=True, activation=activation, state=state)
    result = export_model(str(_write(tmp_path, model)), tmp_path / "svdf.tar", verify=True,
                          epoch=EPOCH)
    _identical_to_tflm(result)
    assert result.lowering.stayed_float == ()
    assert result.lowering.kernels.get("svdf") == 1  # counted with the integer kernels
    (kept,) = result.plan.states
    assert (kept.shape, kept.dtype) == ((1, UNITS * rank * MEMORY), state)
    outputs = np.concatenate([c[0] for c in tflm_calls(model, _calls(result))])
    assert len(np.unique(outputs)) > 8  # not saturated: the comparison means something
    if activation == "relu":  # TFLite Micro's integer SVDF applies no fused activation
        assert outputs.min() < -10


@pytest.mark.parametrize("activation", ["relu", "none"])
def test_float_svdf_is_stateful_and_within_tolerance_of_tflite_micro(
        tmp_path: Path, activation: str) -> None:
    """A float SVDF stays float, keeps its state, and equals TFLite Micro's float kernel up to
    float rounding (TFLite Micro adds the bias first; the order of the sums differs)."""
    model = float_svdf_model(12, rank=2, activation=activation)
    result = export_model(str(_write(tmp_path, model)), tmp_path / "f.tar", verify=True,
                          epoch=EPOCH)
    check = result.verification
    assert check is not None and check.ok and check.calls == STATEFUL_CALLS
    assert check.reference is not None and all(a.max_diff < 1e-5 for a in check.reference)
    assert result.plan.states[0].dtype == "float32"
    outputs = np.concatenate([c[0] for c in tflm_calls(model, _calls(result))])
    assert (outputs.min() >= 0) == (activation == "relu")


def test_the_state_carries_over_between_calls(tmp_path: Path) -> None:
    """Later calls depend on earlier ones: the same inputs from a fresh state give another
    output, in TFLite Micro and in the archive alike."""
    model = svdf_model(4, rank=2, bias=True)
    result = export_model(str(_write(tmp_path, model)), tmp_path / "svdf.tar", epoch=EPOCH)
    calls = _calls(result)
    got, _ = build_and_run_calls(unpack(result.path, tmp_path / "u"), result.plan,
                                 result.name, calls, link_params=True)
    want = tflm_calls(model, calls)
    assert all(np.array_equal(g[0], w[0].reshape(g[0].shape)) for g, w in zip(got, want,
                                                                               strict=True))
    fresh = tflm_calls(model, [calls[-1]])[0][0]
    assert not np.array_equal(fresh, want[-1][0])


@pytest.mark.parametrize("rank", [1, 2])
def test_svdf_without_bias_equals_tflite_micro_with_a_zero_bias(tmp_path: Path,
                                                               rank: int) -> None:
    """TFLite Micro cannot run an int8 SVDF without bias (its Prepare reads the bias scale),
    so --verify says so; the archive equals TFLite Micro on the same model with a zero bias."""
    path = _write(tmp_path, svdf_model(5, rank=rank, bias=False, activation="relu"))
    with pytest.raises(ExportError, match=r"TFLite Micro cannot run operator #0 SVDF: an int8 "
                                          r"SVDF without bias"):
        export_model(str(path), tmp_path / "v.tar", verify=True, epoch=EPOCH)
    result = export_model(str(path), tmp_path / "svdf.tar", epoch=EPOCH)
    calls = _calls(result)
    got, _ = build_and_run_calls(unpack(result.path, tmp_path / "u"), result.plan,
                                 result.name, calls, link_params=True)
    twin = svdf_model(5, rank=rank, bias=True, activation="relu", zero_bias=True)
    for g, w in zip(got, tflm_calls(twin, calls), strict=True):
        assert np.array_equal(g[0], w[0].reshape(g[0].shape))


_STATE_DRIVER = """
int main(void) {{
  static uint8_t in0[{in_bytes}];
  static uint8_t out0[{out_bytes}];
  struct tvmgen_default_inputs in = {{in0}};
  struct tvmgen_default_outputs out = {{out0}};
  size_t i;
  size_t changed = 0, reset = 0;
  {ctype}* state = ({ctype}*)tvmgen_default_state;
  for (i = 0; i < sizeof(in0); ++i) in0[i] = (uint8_t)(i * 37u + 11u);
  for (i = 0; i < {memory}; ++i) {{
    if (tvmgen_default_run(&in, &out) != 0) return 2;
  }}
  for (i = 0; i < {count}; ++i) changed += state[i] != {fill};
  tvmgen_default_reset();
  for (i = 0; i < {count}; ++i) reset += state[i] == {fill};
  printf("%zu %zu\\n", changed, reset);
  return 0;
}}
"""


@pytest.mark.parametrize("state", ["int16", "int8"])
def test_reset_sets_the_state_to_its_reset_value(tmp_path: Path, state: str) -> None:
    """After MEMORY runs the state region holds values; tvmgen_<m>_reset() sets every element to
    the reset value metadata.json lists (an int8 state's zero point, as TFLite Micro)."""
    from mlfcheck import children

    result = export_model(str(_write(tmp_path, svdf_model(6, rank=1, bias=True, state=state))),
                          tmp_path / "svdf.tar", epoch=EPOCH)
    with tarfile.open(result.path) as tar:
        member = tar.extractfile("./metadata.json")
        assert member is not None
        listed = json.load(member)["modules"]["default"]["state"]
    (tensor,) = listed["tensors"]
    assert (tensor["dtype"], tensor["offset"], listed["size_bytes"]) == (state, 0,
                                                                        tensor["size_bytes"])
    fill = tensor["reset_value"]
    assert fill == (0 if state == "int16" else result.plan.states[0].fill) and (
        state == "int16" or fill != 0)
    root = unpack(result.path, tmp_path / "u")
    _, lines = driver_prelude(result.plan, "default")
    count = int(np.prod(tensor["shape"]))
    driver = root / "state_driver.c"
    driver.write_text("\n".join(lines) + _STATE_DRIVER.format(
        in_bytes=result.plan.inputs[0].nbytes, out_bytes=result.plan.outputs[0].nbytes,
        ctype=f"{state}_t", count=count, fill=fill, memory=MEMORY))
    built = build_archive(root, driver, root / "state_driver", CFLAGS)
    assert built.ok, built.stderr
    ran = children.run([str(root / "state_driver")], limits=children.Limits(seconds=30))
    changed, reset = (int(v) for v in ran.stdout.split())
    assert changed >= count // 2 and reset == count


def test_the_header_declares_the_state_and_reset(tmp_path: Path) -> None:
    result = export_model(str(_write(tmp_path, svdf_model(7, rank=2, bias=True))),
                          tmp_path / "svdf.tar", epoch=EPOCH)
    with tarfile.open(result.path) as tar:
        member = tar.extractfile("./codegen/host/include/tvmgen_default.h")
        assert member is not None
        header = member.read().decode()
    size = result.plan.state_size
    assert f"#define TVMGEN_DEFAULT_STATE_SIZE {size}" in header
    assert f"extern uint8_t tvmgen_default_state[{size}];" in header
    assert "void tvmgen_default_reset(void);" in header
    assert re.search(r"WORKSPACE_SIZE (\d+)", header) is not None


def test_an_svdf_form_tflite_micro_has_no_kernel_for_is_refused(tmp_path: Path) -> None:
    """int16 time weights with an int8 state: TFLite Micro reads the state as the time weights'
    type, so it has no kernel for the pair; the refusal names the operator and the types."""
    with pytest.raises(ExportError, match=r"operator #0 SVDF.*TFLite Micro has kernels for"):
        export_model(str(_write(tmp_path, _mixed_types_model())), tmp_path / "m.tar")


def _mixed_types_model() -> bytes:
    """An SVDF whose time weights are int16 and whose state is int8."""
    import tflite

    rng = np.random.default_rng(9)
    tensors = [
        gen._Tensor((1, INPUTS), "int8", (0.02,), (0,)),
        gen._Tensor((UNITS, INPUTS), "int8", (0.002,), (0,), 0,
                    rng.integers(-127, 128, (UNITS, INPUTS)).astype("int8")),
        gen._Tensor((UNITS, MEMORY), "int16", (0.0003,), (0,), 0,
                    rng.integers(-3000, 3000, (UNITS, MEMORY)).astype("int16")),
        gen._Tensor((UNITS,), "int32", (6e-6,), (0,), 0, np.zeros(UNITS, "int32")),
        gen._Tensor((1, UNITS * MEMORY), "int8", (0.02,), (0,), variable=True),
        gen._Tensor((1, UNITS), "int8", (0.02,), (0,))]

    def options(builder: Any) -> Any:
        tflite.SVDFOptionsStart(builder)
        tflite.SVDFOptionsAddRank(builder, 1)
        return tflite.SVDFOptionsEnd(builder)

    step = gen._Step(tflite.BuiltinOperator.SVDF, [0, 1, 2, 3, 4], [5],
                     (tflite.BuiltinOptions.SVDFOptions, options))
    return gen._build(gen._Graph(tensors, (step,), [5]))


def _keyword_model(name: str) -> Path:
    """TFLite Micro's keyword_scrambled model: from the shared models folder, else from the
    tflite-micro tree bench/tflm_build.py extracts; skipped when neither has it."""
    for folder in (models_dir() / "tflm", models_dir(), TFLM_MODELS):
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"{name} not found in {models_dir()} nor {TFLM_MODELS} (run "
                "bench/bench_board.py once to extract tflite-micro at 90b983c)")


@pytest.mark.shared
@pytest.mark.parametrize(("name", "state_bytes"), [
    ("keyword_scrambled.tflite", 10240), ("keyword_scrambled_8bit.tflite", 5120)])
def test_keyword_scrambled_exports_and_equals_tflite_micro(tmp_path: Path, name: str,
                                                           state_bytes: int) -> None:
    result = export_model(str(_keyword_model(name)), tmp_path / "kws.tar", verify=True,
                          epoch=EPOCH)
    _identical_to_tflm(result)
    assert len(result.plan.states) == 7 and result.plan.state_size == state_bytes
    assert result.lowering.kernels.get("dense") == 5 and result.lowering.kernels["svdf"] == 7
    assert result.lowering.stayed_float == ()


def test_the_v8_schema_accepts_the_state_and_checks_it(tmp_path: Path) -> None:
    """metadata.json's `state` validates against schemas/mlf-v8.schema.json; a state tensor
    without its reset value, or an empty region, does not."""
    from mlfcheck.reading.schemas import validator

    result = export_model(str(_write(tmp_path, svdf_model(10, rank=1, bias=True))),
                          tmp_path / "svdf.tar", epoch=EPOCH)
    with tarfile.open(result.path) as tar:
        member = tar.extractfile("./metadata.json")
        assert member is not None
        doc = json.load(member)
    check = validator("mlf-v8.schema.json")
    assert list(check.iter_errors(doc)) == []
    state = doc["modules"]["default"]["state"]
    del state["tensors"][0]["reset_value"]
    assert [e.validator for e in check.iter_errors(doc)] == ["required"]
    state["tensors"] = []
    assert "minItems" in [e.validator for e in check.iter_errors(doc)]


@pytest.mark.board
def test_board_verify_runs_the_calls_on_mps2_an386(tmp_path: Path) -> None:
    """--verify --board: the same consecutive calls, from the reset state, on the board."""
    from mlfcheck.board.boards import board

    model = svdf_model(11, rank=2, bias=True)
    result = export_model(str(_write(tmp_path, model)), tmp_path / "svdf.tar", verify=True,
                          epoch=EPOCH, boards=[board("mps2-an386")])
    _identical_to_tflm(result)
    (run,) = result.board_runs
    assert run.ok and all(err == 0 for err in run.max_abs_error.values())
    assert run.size is not None and "tvmgen_default_state" in {
        s.name for s in run.size.own.symbols}
