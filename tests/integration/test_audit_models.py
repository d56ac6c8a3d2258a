"""`mlfcheck audit` on a model file: exported with TVM into a temporary archive, audited, and the
temporary archive gone afterwards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import invoke
from conftest import shared_dir

from mlfcheck.cli.audit import audit

MODELS = shared_dir() / "models"


pytestmark = pytest.mark.usefixtures("in_real_dir")


def run(*args: str) -> tuple[int, str, str]:
    return invoke(audit, *args, "--jobs", "1")


@pytest.mark.tvm
def test_a_model_is_exported_to_a_temporary_archive_and_audited(tmp_path: Path) -> None:
    pytest.importorskip("tvm")
    model = tmp_path / "hello.tflite"
    shutil.copy(MODELS / "hello_world_int8.tflite", model)
    code, out, _ = run(str(model), "--format", "json")
    assert code == 0, out
    [a] = json.loads(out)["archives"]
    assert (a["kind"], a["status"], a["validation"]["path"]) == ("model", "valid", str(model))
    assert a["validation"]["declared_version"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.tflite"]
