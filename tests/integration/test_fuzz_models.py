"""Model specs and their strategy: rendering is total and deterministic, failures shrink small."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import Phase, find, settings

from mlfcheck.fuzz.models import (
    BOOL_OUTPUT,
    OPS,
    Q_OPS,
    Input,
    Layer,
    ModelSpec,
    render,
    render_patterns,
)
from mlfcheck.fuzz.strategies import models

RENDER_AND_DRAW = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from mlfcheck.fuzz.campaign import draw
from mlfcheck.fuzz.models import render
from mlfcheck.fuzz.strategies import models
print("\\n".join(render(spec).source for spec in draw(models(max_ops=30), 30, 5)))
"""


def _in_a_fresh_process(hash_seed: str, *imports: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", RENDER_AND_DRAW, *imports], env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout


def test_the_same_seed_draws_and_renders_the_same_models_in_any_process() -> None:
    first, second = _in_a_fresh_process("1"), _in_a_fresh_process("2")
    assert first.count("bb.get()") == 30
    assert first == second


def test_what_a_seed_draws_does_not_depend_on_the_modules_loaded() -> None:
    """Hypothesis mixes the literal constants of loaded local modules into its draws: loading
    the exporter first (hundreds of constants) must not change a campaign's examples."""
    assert _in_a_fresh_process("1") == _in_a_fresh_process("1", "mlfcheck.export",
                                                            "mlfcheck.fuzz.builds")


def test_a_spec_renders_its_output_shapes() -> None:
    spec = ModelSpec((Input((1, 3, 4, 4), "float32"),), (Layer("conv2d"), Layer("dense")))
    assert render(spec).output_shapes == (("y0", (1, 1), "float32"),)


def test_every_operator_is_reachable_and_unknown_ones_are_refused() -> None:
    spec = ModelSpec((Input((1, 2, 4, 4), "float32"), Input((1, 8), "int8")),
                     tuple(Layer(op, option=i) for i, op in enumerate(OPS)), (0, 1, 2))
    used = set(render(spec).ops)
    assert {"conv2d", "matmul", "max_pool2d", "avg_pool2d", "quantize", "dequantize", "split",
            "concat", "permute_dims", "softmax"} <= used
    with pytest.raises(ValueError, match="unknown operator"):
        render(ModelSpec((Input((1, 4), "float32"),), (Layer("gelu"),)))
    with pytest.raises(ValueError, match="unknown"):
        models(ops=("gelu",))


def test_a_failure_shrinks_to_one_layer_on_the_smallest_input() -> None:
    def fails(spec: ModelSpec) -> bool:  # a stand-in bug: a split in a model with int8 input
        return "split" in render(spec).ops and any(t.dtype == "int8" for t in spec.inputs)

    smallest = find(models(), fails, settings=settings(
        database=None, derandomize=True, max_examples=2000,
        phases=[Phase.generate, Phase.shrink]))
    assert len(smallest.layers) == 1 and smallest.layers[0] == Layer("split")
    assert smallest.inputs == (Input((1, 1), "int8"),)
    assert smallest.seed == 0 and smallest.outputs == (0,)
    source = render(smallest).source
    assert len(source.splitlines()) < 40 and "op.split(v1, [1], axis=0)" in source


def test_deleting_any_layer_keeps_a_spec_renderable() -> None:
    spec = ModelSpec((Input((1, 3, 5, 5), "float32"), Input((1, 6), "int8")),
                     tuple(Layer(op, source=i % 3, other=i % 5, option=i * 7)
                           for i, op in enumerate(OPS)), (0, 2, 4))
    for i in range(len(spec.layers)):
        shorter = ModelSpec(spec.inputs, spec.layers[:i] + spec.layers[i + 1:], spec.outputs)
        assert "bb.get()" in render(shorter).source


def test_models_rejects_a_spec_without_inputs() -> None:
    with pytest.raises(ValueError, match="input"):
        render(ModelSpec((), (Layer("relu"),)))



KERNEL = {"requantize": "requantize", "qadd": "add", "qpool": "avg_pool2d", "qdense": "dense",
          "qconv2d": "conv2d", "qdepthwise": "depthwise_conv2d"}
"""The integer kernel each int8 pattern lowers to (qpool with option 0: TFLite's integer
average pool)."""


def _lowered(source: str, tmp_path: Path) -> dict[str, int]:
    from mlfcheck.export.integer import lower

    path = tmp_path / "model.py"
    path.write_text(source)
    kernels: dict[str, int] = lower(runpy.run_path(str(path))["model"], "main").kernels
    return kernels


@pytest.mark.tvm
@pytest.mark.parametrize("op", Q_OPS)
@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_each_int8_pattern_reaches_its_integer_rule(op: str, dtype: str, tmp_path: Path) -> None:
    pytest.importorskip("tvm")
    for option, other in ((0, 0), (77, 3), (254, 5)):  # per-channel or not, bias, activations
        spec = ModelSpec((Input((1, 3, 5, 6), dtype),), (Layer(op, 0, other, option),))
        kernels = _lowered(render(spec).source, tmp_path)
        want = KERNEL[op] if op != "qpool" else ("avg_pool2d", "avg_pool2d", "max_pool2d")[
            (option + 256 * other) % 3]
        assert kernels == {want: 1}, (option, other, render(spec).source)


@pytest.mark.tvm
def test_the_patterns_of_a_model_are_one_kernel_per_output(tmp_path: Path) -> None:
    pytest.importorskip("tvm")
    layers = [Layer(op, option=9 * i) for i, op in enumerate(Q_OPS)]
    spec = ModelSpec((Input((1, 2, 4, 4), "float32"),),
                     (*layers, Layer("relu"), Layer("qadd", other=2, option=1)))
    rendered = render_patterns(spec)
    assert rendered is not None and len(rendered.output_shapes) == len(Q_OPS) + 1
    assert all(dtype == "int8" for *_, dtype in rendered.input_shapes + rendered.output_shapes)
    assert sum(_lowered(rendered.source, tmp_path).values()) == len(Q_OPS) + 1
    assert render_patterns(ModelSpec((Input((1, 4), "float32"),), (Layer("relu"),))) is None


def test_outputs_may_repeat_as_duplicates_or_views_and_pick_a_bool() -> None:
    spec = ModelSpec((Input((1, 2, 4, 4), "float32"),),
                     (Layer("compare"), Layer("relu"), Layer("conv2d")), (0, 0, 0, BOOL_OUTPUT))
    rendered = render(spec)
    shapes = [(shape, dtype) for _, shape, dtype in rendered.output_shapes]
    assert shapes[0] == shapes[2] and shapes[1] == ((shapes[0][0][1] * 16,), "float32")
    assert shapes[3] == ((1, 2, 4, 4), "bool")
    assert "out = bb.emit_output(relax.Tuple([v4, v5, v4, v1]))" in rendered.source


def test_a_bool_output_is_made_when_no_layer_made_a_bool() -> None:
    spec = ModelSpec((Input((1, 6), "float32"),), (Layer("relu"), Layer("dense")),
                     (0, BOOL_OUTPUT))
    rendered = render(spec)
    (_, first, dtype), (_, shape, bool_dtype) = rendered.output_shapes
    assert (bool_dtype, shape) == ("bool", first) and dtype == "float32"
    assert "op.less(v2, " in rendered.source  # the newest value (v2) compared with 0
