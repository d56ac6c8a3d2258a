"""Integer kernels where TFLite's are integer (issue 22), against TFLite Micro bit for bit.

Each test writes a single-operator int8 model (`tflitegen_ops`), exports it, builds and runs the
archive's C on seeded (and chosen) inputs, and requires the outputs to equal TFLite Micro's
reference kernels element for element: depthwise convolutions of depth multiplier 1, 2 and 3,
softmax, logistic, mean and concatenation. Where TFLite has no integer kernel for the case, the
operator stays float and the archive's `lowering` says why. Last, the real classifiers: no float
left in their kernels, so no `expf` in the image.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from export_helpers import unpack

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
pytest.importorskip("tflite_micro")

import numpy as np  # noqa: E402
import tflitegen_ops as gen  # noqa: E402

from mlfcheck.export import ExportResult, export_model  # noqa: E402
from mlfcheck.export.verify import build_and_run  # noqa: E402

EPOCH = 1700000000
SEEDS = (0, 1)


def _seeded(result: ExportResult, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, t.shape).astype("int8") for t in result.plan.inputs]


def _equal_to_tflm(tmp_path: Path, model: bytes,
                   chosen: Sequence[list[Any]] = ()) -> ExportResult:
    """Export `model`, run its C on seeded inputs and on `chosen` ones, and require every
    output equal to TFLite Micro's."""
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    result = export_model(str(path), tmp_path / "model.tar", epoch=EPOCH)
    root = unpack(result.path, tmp_path / "unpacked")
    for inputs in [*(_seeded(result, s) for s in SEEDS), *chosen]:
        got, _ = build_and_run(root, result.plan, result.name, inputs, link_params=True)
        want = gen.tflm_outputs(model, inputs)
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w.reshape(g.shape)), (inputs, g, w)
    return result


def _kernels_c(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("./codegen/host/src/default_lib0.c")
        assert member is not None
        return member.read().decode()


def _stayed_float(archive: Path) -> list[dict[str, str]]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("./metadata.json")
        assert member is not None
        entry = json.load(member)["modules"]["default"]
    return list(entry["lowering"]["stayed_float"])


DEPTHWISE = [
    # channels, multiplier, padding, strides, per channel
    (3, 1, "SAME", (1, 1), False),
    (3, 2, "SAME", (1, 1), True),
    (5, 2, "VALID", (2, 2), False),
    (3, 3, "SAME", (2, 1), True),
    (5, 3, "VALID", (1, 2), True),
    (7, 3, "SAME", (2, 2), False),
]


@pytest.mark.parametrize(("channels", "multiplier", "padding", "strides", "per_channel"),
                         DEPTHWISE, ids=[f"c{c}m{m}-{p}-s{s[0]}{s[1]}-{'pc' if q else 'pt'}"
                                         for c, m, p, s, q in DEPTHWISE])
def test_depthwise_of_any_multiplier_equals_tflm(tmp_path: Path, channels: int, multiplier: int,
                                                 padding: str, strides: tuple[int, int],
                                                 per_channel: bool) -> None:
    model = gen.depthwise(channels=channels, multiplier=multiplier, padding=padding,
                          strides=strides, per_channel=per_channel, seed=multiplier,
                          activation="relu6" if multiplier == 2 else "none")
    result = _equal_to_tflm(tmp_path, model)
    assert result.lowering.kernels == {"depthwise_conv2d": 1}
    assert result.lowering.stayed_float == ()


def test_depthwise_of_one_channel_is_a_convolution(tmp_path: Path) -> None:
    """micro_speech's form: one input channel times a multiplier is an ordinary conv2d."""
    model = gen.depthwise(channels=1, multiplier=8, per_channel=True, strides=(2, 2), seed=4)
    result = _equal_to_tflm(tmp_path, model)
    assert result.lowering.kernels == {"conv2d": 1}


SOFTMAX = [((1, 12), (0.1, 3)), ((1, 4, 10), (0.05, -7)), ((2, 3, 7), (0.5, 0)),
           ((1, 10), (1 / 256, -128)), ((1, 30), (0.02, 100)), ((1, 3, 6), (2.5, 10))]


@pytest.mark.parametrize(("shape", "quant"), SOFTMAX,
                         ids=[f"{'x'.join(map(str, s))}-{q[0]:g}-{q[1]}" for s, q in SOFTMAX])
def test_softmax_equals_tflm_and_leaves_no_float(tmp_path: Path, shape: tuple[int, ...],
                                                 quant: tuple[float, int]) -> None:
    result = _equal_to_tflm(tmp_path, gen.softmax(shape, quant))
    assert result.lowering.kernels == {"softmax": 1}
    assert result.lowering.stayed_float == ()
    kernels = _kernels_c(result.path)
    assert "expf" not in kernels and "float" not in kernels


@pytest.mark.parametrize(("shape", "quant"), SOFTMAX[:3],
                         ids=[f"{'x'.join(map(str, s))}-{q[0]:g}-{q[1]}" for s, q in SOFTMAX[:3]])
def test_softmax_to_int16_equals_tflm_and_leaves_no_float(tmp_path: Path,
                                                          shape: tuple[int, ...],
                                                          quant: tuple[float, int]) -> None:
    """TFLite's int8 → int16 softmax (scale 1/65536, zero point −32768; keyword_scrambled)."""
    model = gen.softmax(shape, quant, out=(1 / 65536, -32768), out_dtype="int16")
    result = _equal_to_tflm(tmp_path, model)
    assert result.lowering.kernels == {"softmax": 1}
    assert result.lowering.stayed_float == ()
    assert "expf" not in _kernels_c(result.path)


def test_softmax_rows_at_the_edges_equal_tflm(tmp_path: Path) -> None:
    """Rows all equal, one maximum among minima, the full range, differences around diff_min."""
    rows = np.array([[-128] * 10, [127] * 10, [127] + [-128] * 9, list(range(-128, 128, 26)),
                     [0, -1, -2, -3, -4, -120, -121, -122, 5, 5],
                     [-100, -99, 100, 99, -100, 100, 0, 1, -1, 50]], "int8")
    model = gen.softmax((1, 6, 10), (0.3, -4))
    _equal_to_tflm(tmp_path, model, [[rows.reshape(1, 6, 10)]])


def test_softmax_stays_float_where_tflite_has_no_int8_kernel(tmp_path: Path) -> None:
    path = tmp_path / "softmax.tflite"
    path.write_bytes(gen.softmax((1, 8), (0.1, 0), out=(1 / 128, 0)))
    result = export_model(str(path), tmp_path / "softmax.tar", epoch=EPOCH)
    assert result.lowering.kernels == {}
    assert [f.operator for f in result.lowering.stayed_float] == ["relax.nn.softmax"]
    assert "scale 1/256 and zero point -128" in _stayed_float(result.path)[0]["reason"]


LOGISTIC = [((2, 128), (0.05, 3)), ((2, 128), (0.2, -20)), ((2, 128), (0.002, 0)),
            ((1, 3, 5), (0.11, 60))]


@pytest.mark.parametrize(("shape", "quant"), LOGISTIC,
                         ids=[f"{'x'.join(map(str, s))}-{q[0]:g}-{q[1]}" for s, q in LOGISTIC])
def test_logistic_equals_tflm_on_every_int8_input(tmp_path: Path, shape: tuple[int, ...],
                                                  quant: tuple[float, int]) -> None:
    every = [[np.arange(-128, 128).astype("int8").reshape(shape)]] if shape == (2, 128) else []
    result = _equal_to_tflm(tmp_path, gen.logistic(shape, quant), every)
    assert result.lowering.kernels == {"logistic": 1}
    assert result.lowering.stayed_float == ()


MEAN = [((1, 6, 5, 8), (1, 2), True, (0.05, 3), (0.03, -5)),
        ((1, 6, 5, 8), (1, 2), False, (0.05, 3), (0.05, 3)),
        ((2, 7, 9), (2,), False, (0.1, -20), (0.01, 7)),
        ((1, 10, 8), (1,), True, (0.02, 0), (0.5, 0))]


@pytest.mark.parametrize(("shape", "axes", "keep", "x", "out"), MEAN,
                         ids=[f"{'x'.join(map(str, m[0]))}-axes{''.join(map(str, m[1]))}"
                              f"-{'keep' if m[2] else 'drop'}" for m in MEAN])
def test_mean_equals_tflm(tmp_path: Path, shape: tuple[int, ...], axes: tuple[int, ...],
                          keep: bool, x: tuple[float, int], out: tuple[float, int]) -> None:
    result = _equal_to_tflm(tmp_path, gen.mean(shape, axes, keep, x, out))
    assert result.lowering.kernels == {"mean": 1}
    assert result.lowering.stayed_float == ()


@pytest.mark.parametrize(("shapes", "axis"), [([(1, 4, 3), (1, 4, 5)], 2),
                                              ([(1, 4, 3), (1, 2, 3), (1, 1, 3)], 1)])
def test_concatenation_of_equally_quantized_tensors_stays_int8(
        tmp_path: Path, shapes: list[tuple[int, ...]], axis: int) -> None:
    q = (0.05, 2)
    result = _equal_to_tflm(tmp_path, gen.concatenation(shapes, axis, [q] * len(shapes), q))
    assert result.lowering.kernels == {} and result.lowering.stayed_float == ()
    assert "float" not in _kernels_c(result.path)


def test_concatenation_of_differently_quantized_tensors_stays_float(tmp_path: Path) -> None:
    """TFLite Micro refuses it; LiteRT requantizes in float."""
    path = tmp_path / "concat.tflite"
    path.write_bytes(gen.concatenation([(1, 4, 3), (1, 4, 5)], 2, [(0.05, 2), (0.07, 2)],
                                       (0.07, 2)))
    result = export_model(str(path), tmp_path / "concat.tar", epoch=EPOCH)
    assert [f.operator for f in result.lowering.stayed_float] == ["relax.concat"]
    assert "quantization differ" in _stayed_float(result.path)[0]["reason"]


def test_int8_pad_imports_and_equals_tflm(tmp_path: Path) -> None:
    """TVM's list of quantized operators leaves PAD out, though its conversion pads with the
    zero point as TFLite does: the import lets it through, and the C equals TFLite Micro."""
    result = _equal_to_tflm(tmp_path, gen.pad((1, 4, 5, 3), [(0, 0), (1, 2), (2, 1), (0, 0)],
                                              (0.05, -7)))
    assert result.lowering.stayed_float == ()


def test_softmax_with_a_beta_is_refused_naming_the_operator(tmp_path: Path) -> None:
    """TVM's converter drops beta, which would make the archive compute another function."""
    from mlfcheck.errors import ExportError

    path = tmp_path / "beta.tflite"
    path.write_bytes(gen.softmax((1, 10), (0.1, 3), beta=0.5))
    with pytest.raises(ExportError, match=r"#0 SOFTMAX.*SOFTMAX with beta 0\.5: TVM's converter "
                                          r"drops beta"):
        export_model(str(path), tmp_path / "beta.tar", epoch=EPOCH)


@pytest.mark.shared
@pytest.mark.parametrize("model", ["kws_ref_model", "micro_speech_quantized"])
def test_real_classifiers_have_no_float_in_their_image(tmp_path: Path, shared: Path,
                                                       model: str) -> None:
    result = export_model(str(shared / "models" / f"{model}.tflite"), tmp_path / "m.tar",
                          epoch=EPOCH)
    assert result.lowering.kernels["softmax"] == 1 and result.lowering.stayed_float == ()
    root = unpack(result.path, tmp_path / "unpacked")
    obj = tmp_path / "lib0.o"
    built = subprocess.run(["cc", "-std=c11", "-O1", "-c", "-I", str(root / "runtime/include"),
                            "-I", str(root / "codegen/host/include"),
                            str(root / "codegen/host/src/default_lib0.c"), "-o", str(obj)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    undefined = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True,
                               check=True).stdout.split()
    assert not {"expf", "exp", "nearbyintf", "roundf", "floorf"} & set(undefined), undefined
    assert "float" not in _kernels_c(result.path)
