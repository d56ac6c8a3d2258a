"""The SIMD kernel library (`export --cpu`, issue 23 §2) against TFLite Micro, the TIR kernels
and itself, on generated int8 models.

Each kind (conv2d, depthwise conv2d, dense) is one model of several operators side by side
(`tflitegen_ops.parallel`: odd channel counts, depths not a multiple of four, padding, strides,
dilation, batches, per-tensor and per-channel scales, input zero points, fused clamps), exported
once for `cortex-m4`. On the host the library's plain C path runs (no DSP there): --verify
requires it equal to TVM running the TIR kernels and to TFLite Micro, and it is run again on
more inputs against TFLite Micro directly. On `mps2-an386` (Cortex-M4F) the SMLAD path runs and
on `mps2-an385` (Cortex-M3, no DSP) the plain path, both from the same archive: each must equal
TVM's TIR kernels bit for bit on the inputs the host --verify found equal to TFLite Micro, so
both equal TFLite Micro and each other. Last, what `--cpu` changes in the archive and what not.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
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
from mlfcheck.export.reference import TFLM  # noqa: E402
from mlfcheck.export.verify import build_and_run  # noqa: E402

EPOCH = 1700000000
CPU = "cortex-m4"
DSP_BOARD, PLAIN_BOARD = "mps2-an386", "mps2-an385"
"""Cortex-M4F (the library's SMLAD path) and Cortex-M3 (its plain C path)."""

CONV: dict[str, dict[str, Any]] = {
    "c3-c5-3x3-same-pt": dict(in_shape=(1, 9, 7, 3), out_channels=5),
    "c3-c5-3x3-same-s2-pc-relu6": dict(in_shape=(1, 9, 7, 3), out_channels=5, strides=(2, 2),
                                       per_channel=True, activation="relu6"),
    "c4-c6-3x3-same-d2-pc": dict(in_shape=(1, 8, 8, 4), out_channels=6, dilation=(2, 2),
                                 per_channel=True),
    "c5-c7-3x3-valid-d2-s2-pt": dict(in_shape=(1, 11, 9, 5), out_channels=7, dilation=(2, 2),
                                     strides=(2, 2), padding="VALID"),
    "c5-c7-1x1-pc-zp-128": dict(in_shape=(1, 6, 5, 5), out_channels=7, kernel=(1, 1),
                                padding="VALID", per_channel=True, x_zero_point=-128),
    "c3-c4-2x3-valid-s21-batch2-relu": dict(in_shape=(2, 6, 5, 3), out_channels=4,
                                            kernel=(2, 3), strides=(2, 1), padding="VALID",
                                            activation="relu"),
    "c8-c3-5x5-same-s21-relu6-zp100": dict(in_shape=(1, 7, 6, 8), out_channels=3, kernel=(5, 5),
                                           strides=(2, 1), activation="relu6", x_zero_point=100),
    "c2-c3-3x1-same-left-shift": dict(in_shape=(1, 5, 3, 2), out_channels=3, kernel=(3, 1),
                                      out_quant=(1e-5, 3)),
    "c2-c9-3x3-same-s2-batch2-pc": dict(in_shape=(2, 5, 5, 2), out_channels=9, strides=(2, 2),
                                        per_channel=True),
}
"""conv2d cases: depth (kh × kw × input channels) 27, 36, 45, 5, 18, 200, 6, 18; output
channels odd and even; output positions odd and even (the library's pairs); an output scale
below input × weight scale (a left shift in the requantization)."""
DEPTHWISE: dict[str, dict[str, Any]] = {
    "c8-m1-same-pc": dict(channels=8, multiplier=1, per_channel=True),
    "c6-m1-valid-s2-pt": dict(channels=6, multiplier=1, padding="VALID", strides=(2, 2)),
    "c3-m1-same-relu6": dict(channels=3, multiplier=1, activation="relu6"),
    "c13-m1-5x5-same-s2-pc": dict(channels=13, multiplier=1, kernel=(5, 5), strides=(2, 2),
                                  per_channel=True),
    "c4-m2-same-s2-pc": dict(channels=4, multiplier=2, strides=(2, 2), per_channel=True),
    "c3-m3-valid-pt": dict(channels=3, multiplier=3, padding="VALID"),
    "c5-m2-same-s12-relu6": dict(channels=5, multiplier=2, strides=(1, 2), activation="relu6"),
}
"""depthwise cases: multiplier 1 with channels a multiple of four (the SMLABB groups), with a
remainder and below four; multipliers 2 and 3 (plain loops on every core)."""
DENSE: dict[str, dict[str, Any]] = {
    "b1-d27-u5-pt": dict(batch=1, depth=27, units=5),
    "b3-d30-u7-pc-relu6": dict(batch=3, depth=30, units=7, per_channel=True,
                               activation="relu6"),
    "b2-d64-u10-pt": dict(batch=2, depth=64, units=10),
    "b4-d1-u3-pc": dict(batch=4, depth=1, units=3, per_channel=True),
    "b1-d250-u3-relu": dict(batch=1, depth=250, units=3, activation="relu"),
}
"""dense cases: depth a multiple of four and not (the last group read short), odd units
(a zero partner unit), batches."""
KINDS: dict[str, tuple[Callable[..., Any], dict[str, dict[str, Any]]]] = {
    "conv2d": (gen.conv2d_op, CONV),
    "depthwise_conv2d": (gen.depthwise_op, DEPTHWISE),
    "dense": (gen.dense_op, DENSE),
}
"""Kernel kind → the generator of its operators, and its cases."""


@dataclass(frozen=True)
class Exported:
    """One kind's model (its operators side by side), exported for CPU with --verify."""

    model: Path
    cases: dict[str, str]
    """Output name → the case that writes it."""
    result: ExportResult

    def named(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """`outputs` (by output name) keyed by case instead."""
        return {self.cases[n]: v for n, v in outputs.items()}


def _export(kind: str, out: Path) -> Exported:
    make, cases = KINDS[kind]
    model = out / f"{kind}.tflite"
    model.write_bytes(gen.parallel([make(**kw, seed=i) for i, kw in enumerate(cases.values())]))
    result = export_model(str(model), out / f"{kind}.tar", cpu=CPU, verify=True, epoch=EPOCH)
    names = [t.name for t in result.plan.outputs]
    return Exported(model, dict(zip(names, cases, strict=True)), result)


class _Exports(dict[str, Exported]):
    """Each kind's model exported on first use."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    def __missing__(self, kind: str) -> Exported:
        self[kind] = _export(kind, self.out)
        return self[kind]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Exported]:
    return _Exports(tmp_path_factory.mktemp("simd"))


def _member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"./{name}")
        assert member is not None
        return member.read()


def _lowering(archive: Path) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(_member(archive, "metadata.json"))["modules"]["default"]
    return dict(entry["lowering"])


def _inputs(result: ExportResult) -> list[list[Any]]:
    """More inputs than --verify's: two other seeds, every input at -128, every one at 127."""
    tensors = result.plan.inputs
    seeded = [[np.random.default_rng(s).integers(-128, 128, t.shape).astype("int8")
               for t in tensors] for s in (1, 2)]
    return [*seeded, *([np.full(t.shape, v, "int8") for t in tensors] for v in (-128, 127))]


@pytest.mark.parametrize("kind", KINDS)
def test_the_plain_path_equals_tflm_and_the_tir_kernels(exported: dict[str, Exported],
                                                         tmp_path: Path, kind: str) -> None:
    ex = exported[kind]
    result = ex.result
    assert result.lowering.kernels == {kind: len(KINDS[kind][1])}
    assert result.lowering.simd_cpu == CPU and result.lowering.stayed_float == ()
    check = result.verification
    assert check is not None and check.ok and check.runtime == TFLM
    assert ex.named(check.max_abs_error) == dict.fromkeys(KINDS[kind][1], 0.0)
    assert {ex.cases[a.name]: a.differing for a in check.reference or ()} == \
        dict.fromkeys(KINDS[kind][1], 0)
    root = unpack(result.path, tmp_path / "unpacked")
    for inputs in _inputs(result):
        got, _ = build_and_run(root, result.plan, result.name, inputs, link_params=True)
        want = gen.tflm_outputs(ex.model.read_bytes(), inputs)
        differing = {ex.cases[t.name]: int(np.count_nonzero(g != w.reshape(g.shape)))
                     for t, g, w in zip(result.plan.outputs, got, want, strict=True)}
        assert differing == dict.fromkeys(KINDS[kind][1], 0), (inputs[0].flat[0], differing)


ONE_CHANNEL = {"conv2d": (gen.conv2d_op, dict(in_shape=(1, 5, 3, 2), out_channels=1)),
               "dense": (gen.dense_op, dict(batch=1, depth=250, units=1))}
"""A single output channel (hello_world's last layer is a dense of one unit)."""


@pytest.mark.parametrize("kind", ONE_CHANNEL)
def test_one_output_channel_equals_tflm(tmp_path: Path, kind: str) -> None:
    make, kw = ONE_CHANNEL[kind]
    model = tmp_path / "one.tflite"
    model.write_bytes(gen.parallel([make(**kw)]))
    result = export_model(str(model), tmp_path / "one.tar", cpu=CPU, verify=True, epoch=EPOCH)
    assert result.lowering.simd_cpu == CPU
    assert result.verification is not None and result.verification.ok
    assert [a.differing for a in result.verification.reference or ()] == [0]


@pytest.mark.parametrize("kind", KINDS)
def test_the_archive_carries_the_library_and_says_so(exported: dict[str, Exported],
                                                     kind: str) -> None:
    archive = exported[kind].result.path
    assert _lowering(archive)["simd"] == {"cpu": CPU, "kernels": [kind]}
    call = "mlfcheck_dense(" if kind == "dense" else "mlfcheck_conv2d("
    assert call in _member(archive, "codegen/host/src/default_lib0.c").decode()


def test_without_a_dsp_cpu_the_archive_is_the_portable_one(exported: dict[str, Exported],
                                                          tmp_path: Path) -> None:
    """No --cpu, or a CPU without DSP (cortex-m3): byte for byte the same archive, the TIR
    kernels, no library, no `simd` in the metadata."""
    model = str(exported["conv2d"].model)
    plain = export_model(model, tmp_path / "plain.tar", epoch=EPOCH)
    m3 = export_model(model, tmp_path / "m3.tar", cpu="cortex-m3", epoch=EPOCH)
    assert m3.path.read_bytes() == plain.path.read_bytes()
    assert plain.lowering.simd_cpu is None and plain.lowering.kernels == {"conv2d": len(CONV)}
    assert "simd" not in _lowering(plain.path)
    assert "mlfcheck_" not in _member(plain.path, "codegen/host/src/default_lib0.c").decode()


def test_the_export_with_a_dsp_cpu_is_deterministic(exported: dict[str, Exported],
                                                    tmp_path: Path) -> None:
    ex = exported["dense"]
    again = export_model(str(ex.model), tmp_path / "again.tar", cpu=CPU, epoch=EPOCH)
    assert again.path.read_bytes() == ex.result.path.read_bytes()


# -- on the boards: the SMLAD path (Cortex-M4F) and the plain path (Cortex-M3) ----------------


@dataclass(frozen=True)
class OnBoards:
    """One kind's archive run on both boards against TVM's TIR kernels, tolerance 0."""

    exported: Exported
    runs: dict[str, Any]
    """Board name → its BoardVerification."""


@pytest.fixture(scope="module")
def on_boards(exported: dict[str, Exported]) -> Callable[[str], OnBoards]:
    """Each kind's archive verified on both boards once, when first asked for."""
    from board_helpers import require_toolchain

    require_toolchain()
    from mlfcheck.board.boards import board
    from mlfcheck.export.frontends import load_model
    from mlfcheck.export.integer import lower
    from mlfcheck.export.onboard import verify_on_boards

    done: dict[str, OnBoards] = {}

    def get(kind: str) -> OnBoards:
        if kind not in done:
            ex = exported[kind]
            imported = load_model(str(ex.model))
            tir = replace(imported, mod=lower(imported.mod, imported.entry).mod)
            result = ex.result
            runs = verify_on_boards(result.path, tir, result.plan, result.name,
                                    [board(DSP_BOARD), board(PLAIN_BOARD)], link_params=True,
                                    tolerance=0.0)
            done[kind] = OnBoards(ex, {r.board.name: r for r in runs})
        return done[kind]

    return get


@pytest.mark.board
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", [DSP_BOARD, PLAIN_BOARD])
def test_on_the_board_the_outputs_equal_tflm(on_boards: Callable[[str], OnBoards], kind: str,
                                             target: str) -> None:
    """Equal to the TIR kernels on --verify's inputs, on which the host --verify found the
    archive equal to both the TIR kernels and TFLite Micro: so equal to TFLite Micro, and the
    SMLAD and plain paths equal to each other."""
    got = on_boards(kind)
    check = got.exported.result.verification
    assert check is not None and all(a.differing == 0 for a in check.reference or ())
    run = got.runs[target]
    assert run.fault is None and not run.overflows and run.ok, run
    assert got.exported.named(run.max_abs_error) == dict.fromkeys(KINDS[kind][1], 0.0)


DSP = {"smlad", "smlabb", "smlatt", "sxtb16"}
"""The DSP extension's instructions the library uses (Cortex-M3 has none of them)."""
USES = {"conv2d": {"smlad", "sxtb16"}, "dense": {"smlad", "sxtb16"},
        "depthwise_conv2d": {"smlabb", "smlatt", "sxtb16"}}
"""Those each kind's loops use (gcc drops the library's functions a model never calls)."""


def _instructions(kind: str, archive: Path, target: str, work: Path) -> set[str]:
    """The mnemonics of the archive's kernels compiled for `target`'s CPU."""
    from mlfcheck.board import crossbuild
    from mlfcheck.board.boards import board

    root = unpack(archive, work / kind)
    done = subprocess.run([crossbuild.toolchain(run=False).gcc, *board(target).cpu_flags, "-Os",
                           "-S", "-o", "-", "-I", str(root / "runtime/include"),
                           "-I", str(root / "codegen/host/include"),
                           str(root / "codegen/host/src/default_lib0.c")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {line.split()[0] for line in done.stdout.splitlines()
            if line.startswith("\t") and not line.startswith("\t.")}


@pytest.mark.board
@pytest.mark.parametrize("kind", KINDS)
def test_the_dsp_core_runs_smlad_and_fewer_instructions(on_boards: Callable[[str], OnBoards],
                                                       tmp_path: Path, kind: str) -> None:
    got = on_boards(kind)
    archive = got.exported.result.path
    dsp, plain = (_instructions(kind, archive, b, tmp_path / b) for b in (DSP_BOARD, PLAIN_BOARD))
    assert dsp & DSP == USES[kind] and not plain & DSP
    fast, slow = (got.runs[b].instructions for b in (DSP_BOARD, PLAIN_BOARD))
    assert fast is not None and slow is not None and fast < slow


@pytest.mark.board
def test_weights_at_an_odd_address_do_not_fault(exported: dict[str, Exported],
                                                tmp_path: Path) -> None:
    """The int8 weight arrays are only byte-aligned (with --no-link-params the application's
    own): built so that GCC places them as declared, at odd addresses, the conv2d still runs on
    the board (the library reads weights with LDR, never LDRD) and exits cleanly."""
    from board_helpers import require_toolchain

    from mlfcheck.board import crossbuild, elfsize
    from mlfcheck.board.boards import board
    from mlfcheck.export.onboard import STRICT, archive_sources
    from mlfcheck.export.verify import driver_source, random_inputs

    require_toolchain()
    result = exported["conv2d"].result
    sources, includes = archive_sources(unpack(result.path, tmp_path / "a"))
    driver = tmp_path / "driver.c"
    driver.write_text(driver_source(result.plan, result.name, link_params=True))
    tools, target = crossbuild.toolchain(run=True), board(DSP_BOARD)
    objects = crossbuild.compile_objects(tools, target, [*sources, driver], includes, tmp_path,
                                         extra=[*STRICT, "-fno-toplevel-reorder"])
    assert crossbuild.link(tools, target, objects, tmp_path / "m.elf") == ()
    weights = [f"tvmgen_{result.name}_{t.name}" for t in result.plan.constants
               if t.dtype == "int8"]
    addresses = elfsize.symbol_values(tmp_path / "m.elf", tuple(weights))
    assert any(a % 4 for a in addresses.values()), addresses  # the case this test is about
    (tmp_path / "in.bin").write_bytes(b"".join(x.tobytes() for x in random_inputs(
        result.plan.inputs)))
    ran = crossbuild.run(tools, target, tmp_path / "m.elf")
    assert ran.fault is None and ran.exit_code == 0
