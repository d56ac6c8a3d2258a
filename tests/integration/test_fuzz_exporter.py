"""Exporter properties on generated models: the same checks `mlfcheck fuzz` runs, fewer examples."""

from __future__ import annotations

import runpy
import tempfile
from pathlib import Path
from typing import Any

import pytest
from export_helpers import run_cli
from fuzz_helpers import THOROUGH, budget
from hypothesis import HealthCheck, given, note, settings
from hypothesis.strategies import SearchStrategy

from mlfcheck.errors import UnsupportedModel
from mlfcheck.export import fixedpoint, verify
from mlfcheck.fuzz.exports import (
    export_is_clean,
    exports_are_identical,
    memory_map_holds,
    verify_catches_a_wrong_output,
)
from mlfcheck.fuzz.metamorphic import patterns_agree
from mlfcheck.fuzz.models import (
    BOOL_OUTPUT,
    Q_OPS,
    Input,
    Layer,
    ModelSpec,
    render,
    render_patterns,
)
from mlfcheck.fuzz.oracles import workspace_uses
from mlfcheck.fuzz.outcomes import Bucket, PropertyFailure
from mlfcheck.fuzz.properties import exporter_properties
from mlfcheck.fuzz.strategies import models

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")

QUICK = settings(deadline=None, derandomize=not THOROUGH, database=None,
                 suppress_health_check=[HealthCheck.too_slow,
                                        HealthCheck.function_scoped_fixture])


REFUSED_DTYPE = "float16"
"""The one documented refusal (UnsupportedModel): TVM's C backend cannot compile float16."""


def _check(spec: ModelSpec, tmp_path: Path, *, verify: bool) -> bool:
    """Every exporter property; True when the model was refused with UnsupportedModel, which
    only a model with a float16 input may be. Any other ExportError (none happens today) fails
    the test, as does a refusal of a model without float16."""
    workdir = Path(tempfile.mkdtemp(dir=tmp_path))
    model = workdir / "model.py"
    model.write_text(render(spec).source)
    note(render(spec).source)
    try:
        exporter_properties(model, workdir, verify=verify)
    except UnsupportedModel as exc:
        assert any(t.dtype == REFUSED_DTYPE for t in spec.inputs), f"refused: {exc}"
        return True
    return False


def _campaign(strategy: SearchStrategy[ModelSpec], examples: int, tmp_path: Path, *,
              verify: bool) -> None:
    """Check every drawn model: it exports with every property holding, or (float16) is
    refused; most are not refused, so the properties were checked."""
    refused: list[bool] = []

    @settings(QUICK, max_examples=examples)
    @given(spec=strategy)
    def each(spec: ModelSpec) -> None:
        refused.append(_check(spec, tmp_path, verify=verify))

    each()
    assert len(refused) >= examples // 2, f"only {len(refused)} of {examples} examples ran"
    assert sum(refused) * 2 < len(refused), f"{sum(refused)} of {len(refused)} were refused"


def _tvm_shapes(module: Any) -> tuple[list[tuple[tuple[int, ...], str]], ...]:
    import tvm

    fn = module["main"]
    ins = [(tuple(int(d) for d in p.ty.shape.values), str(p.ty.dtype)) for p in fn.params]
    ret = fn.ret_ty
    fields = ret.fields if isinstance(ret, tvm.relax.TupleType) else [ret]
    return ins, [(tuple(int(d) for d in f.shape.values), str(f.dtype)) for f in fields]


@settings(QUICK, max_examples=budget(100, 2000))
@given(spec=models())
def test_every_drawn_model_builds_with_the_shapes_its_spec_promises(
        spec: ModelSpec, tmp_path: Path) -> None:
    rendered = render(spec)
    path = tmp_path / "model.py"
    path.write_text(rendered.source)
    names = runpy.run_path(str(path))
    ins, outs = _tvm_shapes(names["model"])
    assert ins == [(s, d) for _, s, d in rendered.input_shapes]
    assert outs == [(s, d) for _, s, d in rendered.output_shapes]


def test_generated_models_export_validate_and_export_identically(tmp_path: Path) -> None:
    _campaign(models(max_ops=4), budget(25, 200), tmp_path, verify=False)


def test_generated_models_built_as_c_match_tvm(tmp_path: Path) -> None:
    _campaign(models(max_ops=3), budget(6, 50), tmp_path, verify=True)


FOUND = [  # shrunk counterexamples of `mlfcheck fuzz --examples 200 --seed 0 --verify`
    ModelSpec((Input((1, 1), "float32"),), (Layer("split"),)),
    ModelSpec((Input((1, 1, 1, 1), "float32"),), (Layer("flatten"), Layer("reshape")), (7, 2)),
    # `--examples 40 --seed 20261126`, example 5: TVM reuses one storage block for three values
    # ([0, 4) at steps 0-1, [0, 8) at 2-3, [0, 4) again at 4-5); the plan is right (--verify
    # matches, the C run agrees bit for bit), the C-read liveness merged the two [0, 4) values
    ModelSpec((Input((1, 1), "int32"),), tuple(Layer(op) for op in (
        "global_pool", "concat", "dense", "max_pool2d", "depthwise_conv2d"))),
]


@pytest.mark.parametrize("spec", FOUND, ids=["split-half-unused", "views-only",
                                             "one-block-reused-at-one-offset"])
def test_counterexamples_the_campaign_found_now_export_and_verify(spec: ModelSpec,
                                                                 tmp_path: Path) -> None:
    model = tmp_path / "model.py"
    model.write_text(render(spec).source)
    result = exporter_properties(model, tmp_path, verify=True)  # raises when one fails
    assert result.path.is_file() and result.plan.outputs


def test_a_rendered_model_file_replays_through_mlfcheck_export(tmp_path: Path) -> None:
    spec = ModelSpec((Input((1, 2, 4, 4), "float32"),),
                     (Layer("conv2d", option=3), Layer("max_pool2d"), Layer("dense", option=4)))
    model = tmp_path / "model.py"
    model.write_text(render(spec).source)
    done = run_cli(str(model), "-o", str(tmp_path / "model.tar"), "--verify")
    assert done.returncode == 0, done.stderr
    assert "verify: ok" in done.stdout


def test_differing_archives_are_reported_with_the_members_that_differ(tmp_path: Path) -> None:
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    spec = ModelSpec((Input((1, 4), "float32"),), (Layer("relu"),))
    model = tmp_path / "model.py"
    model.write_text(render(spec).source)
    first = exporter_properties(model, tmp_path, verify=False)
    a.write_bytes(first.path.read_bytes())
    b.write_bytes(first.path.read_bytes()[:-1024] + b"\1" * 1024)
    with pytest.raises(PropertyFailure) as caught:
        exports_are_identical(a, b)
    assert caught.value.bucket is Bucket.NONDETERMINISTIC
    memory_map_holds(first)


def test_a_float16_model_is_refused_with_one_line_naming_the_kernel(tmp_path: Path) -> None:
    model = tmp_path / "model.py"
    model.write_text(render(ModelSpec((Input((1, 8), "float16"),), (Layer("relu"),))).source)
    done = run_cli(str(model), "-o", str(tmp_path / "model.tar"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mlfcheck export: codegen failed (operator fused_cast_relu): float16 is not supported: "
        "TVM's C backend writes float16 arithmetic with a `half` type that C does not define; "
        "convert the model to float32"]
    assert not (tmp_path / "model.tar").exists()


ENTRY = """static int64_t tvmgen_m_shape0[2] = {1, 16};
int32_t tvmgen_m_run(struct tvmgen_m_inputs* inputs, struct tvmgen_m_outputs* outputs) {
    t[0] = tvmgen_m_tensor(inputs->x, 2, tvmgen_m_shape0, 2, 32, 1);
    t[1] = tvmgen_m_tensor(tvmgen_m_workspace + 0, 2, tvmgen_m_shape0, 2, 32, 1);
    status = tvmgen_m_call(__tvm_ffi_tvmgen_m_a, t, 2, NULL, 0);
    t[0] = tvmgen_m_tensor(tvmgen_m_workspace + 0, 2, tvmgen_m_shape0, 2, 32, 1);
    t[1] = tvmgen_m_tensor(tvmgen_m_workspace + OTHER, 2, tvmgen_m_shape0, 2, 32, 1);
    status = tvmgen_m_call(__tvm_ffi_tvmgen_m_b, t, 2, tvmgen_m_workspace + 128, 64);
}
"""


@pytest.mark.parametrize(("other", "overlaps"), [("64", False), ("63", True), ("130", True)])
def test_workspace_regions_are_read_from_the_c_in_call_order(other: str, overlaps: bool) -> None:
    uses = workspace_uses(ENTRY.replace("OTHER", other))
    assert [(u.start, u.end, u.step, u.scratch) for u in uses] == [
        (0, 64, 0, False), (0, 64, 1, False), (int(other), int(other) + 64, 1, False),
        (128, 192, 1, True)]
    live = [(u.start, u.end) for u in uses if u.step == 1]
    clash = any(a < d and c < b for i, (a, b) in enumerate(live) for c, d in live[i + 1:])
    assert clash is overlaps


def _int8_model(tmp_path: Path) -> Path:
    spec = ModelSpec((Input((1, 2, 5, 5), "int8"),),
                     (Layer("qconv2d", other=1, option=64), Layer("qpool"), Layer("compare")),
                     (1, BOOL_OUTPUT))
    model = tmp_path / "model.py"
    model.write_text(render(spec).source)
    return model


def test_a_verify_that_compares_the_c_output_with_itself_is_caught(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _int8_model(tmp_path)
    result = export_is_clean(model, tmp_path / "first.tar")
    verify_catches_a_wrong_output(model, result, tmp_path)  # the real --verify fails: passes
    monkeypatch.setattr(verify, "max_abs_errors",
                        lambda plan, got, want: {t.name: 0.0 for t in plan.outputs})
    with pytest.raises(PropertyFailure, match="accepts a wrong output"):
        verify_catches_a_wrong_output(model, result, tmp_path)


def test_the_int8_patterns_hold_against_float_and_a_zero_point_bug_does_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ModelSpec((Input((1, 3, 6, 6), "int8"),), tuple(  # per channel and not, SAME and
        Layer(op, other=other, option=option)  # VALID, relu, every pool, zero points ≠ 0
        for op in Q_OPS for other in (1, 2) for option in (0, 2, 37)))
    patterns = render_patterns(spec)
    assert patterns is not None
    patterns_agree(patterns.source, tmp_path)
    to_int8 = fixedpoint.to_int8
    monkeypatch.setattr(fixedpoint, "to_int8",
                        lambda value, zp, low, high: to_int8(value, -zp, low, high))
    with pytest.raises(PropertyFailure, match="integer kernels differ from the float model"):
        patterns_agree(patterns.source, tmp_path)
