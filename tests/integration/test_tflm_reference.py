"""--verify on a .tflite (issue 22 §3): TFLite Micro decides, bit for bit on integer outputs;
LiteRT is reported beside it and decides nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_helpers import run_cli

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
pytest.importorskip("tflite_micro")
pytest.importorskip("ai_edge_litert")

from tflitegen import single_op_model  # noqa: E402

from mlfcheck.export import Verification, export_model  # noqa: E402
from mlfcheck.export.reference import (  # noqa: E402
    LITERT,
    TFLM,
    Agreement,
    SecondOpinion,
    compare,
    litert_outputs,
    tflm_outputs,
)
from mlfcheck.export.verify import REFERENCE_UNITS, random_inputs  # noqa: E402

EPOCH = 1700000000
LITERT_DIFFERS = 20
"""A seed of the generated int8 FULLY_CONNECTED on which LiteRT's reference kernels round one
output element differently from TFLite Micro's, on --verify's seeded inputs."""


def _fc(tmp_path: Path) -> Path:
    path = tmp_path / "fc.tflite"
    path.write_bytes(single_op_model("fully_connected", seed=LITERT_DIFFERS))
    return path


def test_the_two_runtimes_disagree_on_this_model(tmp_path: Path) -> None:
    path = _fc(tmp_path)
    x = random_inputs(export_model(str(path), tmp_path / "fc.tar").plan.inputs)
    (agreement,) = compare(["y"], tflm_outputs(path, x), litert_outputs(path, x))
    assert agreement.differing == 1 and agreement.max_diff == 1.0


def test_the_verdict_follows_tflite_micro_where_litert_differs(tmp_path: Path) -> None:
    result = export_model(str(_fc(tmp_path)), tmp_path / "fc.tar", verify=True, epoch=EPOCH)
    check = result.verification
    assert check is not None and check.runtime == TFLM and check.reference_units == 0
    assert [(a.differing, a.max_diff) for a in check.reference or ()] == [(0, 0.0)]
    opinion = check.second_opinion
    assert opinion is not None and opinion.runtime == LITERT and opinion.agreement is not None
    assert [(a.differing, a.max_diff) for a in opinion.agreement] == [(1, 1.0)]
    assert check.ok


def test_the_report_shows_both_and_which_decides(tmp_path: Path) -> None:
    done = run_cli(str(_fc(tmp_path)), "-o", str(tmp_path / "fc.tar"), "--verify",
                   "--source-date-epoch", str(EPOCH))
    assert done.returncode == 0, done.stderr
    assert ("  verify against TFLite Micro (reference kernels), same inputs (decides; integer "
            "outputs bit for bit):\n    t3: 0 of 20 elements differ, max difference 0\n"
            "  second opinion, LiteRT (reference kernels), same inputs (does not decide):\n"
            "    t3: 1 of 20 elements differ, max difference 1\n") in done.stdout + "\n"


def test_one_unit_from_tflite_micro_is_a_mismatch(tmp_path: Path) -> None:
    """--no-integer keeps TVM's own int8 average pool, which rounds differently: bit for bit
    means one unit fails the verify (exit 1)."""
    model = tmp_path / "pool.tflite"
    model.write_bytes(single_op_model("average_pool_2d", seed=3))
    done = run_cli(str(model), "-o", str(tmp_path / "pool.tar"), "--verify", "--no-integer")
    assert done.returncode == 1, done.stderr
    assert "verify: MISMATCH" in done.stdout
    assert "max difference 1\n" in done.stdout


def test_the_second_opinion_never_decides() -> None:
    same = (Agreement("y", 0, 20, 0.0, True),)
    off_by_one = (Agreement("y", 1, 20, 1.0, True),)

    def verdict(reference: tuple[Agreement, ...], litert: tuple[Agreement, ...] | None) -> bool:
        return Verification({"y": 0.0}, 1e-5, 0, 0, 0.1, reference, TFLM,
                            REFERENCE_UNITS[".tflite"],
                            SecondOpinion(LITERT, litert, None if litert else "refused")).ok

    assert verdict(same, off_by_one) and verdict(same, None)
    assert not verdict(off_by_one, same)
    assert REFERENCE_UNITS == {".tflite": 0, ".onnx": 1}
