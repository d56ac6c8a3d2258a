"""The exporter: real models to v8 archives that validate, build alone and match TVM."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from export_helpers import REPO, build, c_block_after, run_cli, unpack

from mlfcheck.consumers import builtin_profiles, check_archive
from mlfcheck.validate import validate

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")

from mlfcheck.errors import ExportError  # noqa: E402
from mlfcheck.export import ExportResult, Verification, export_model  # noqa: E402
from mlfcheck.export.plan import ALIGN  # noqa: E402

REAL = {"hello_world_int8": "hello_world_int8.tflite",
        "hello_world_float": "hello_world_float.tflite",
        "mnist": "mnist-8.onnx"}
EPOCH = 1700000000


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> dict[str, ExportResult]:
    """Each real model and the default model exported once, with --verify."""
    out = tmp_path_factory.mktemp("real")
    results = {name: export_model(str(shared / "models" / model), out / f"{name}.tar",
                                  name=name, verify=True, epoch=EPOCH)
               for name, model in REAL.items()}
    results["default"] = export_model("default", out / "default.tar", verify=True, epoch=EPOCH)
    return results


def _metadata(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("./metadata.json")
        assert member is not None
        return json.load(member)


def test_a_v8_archive_is_read_by_the_v7_era_readers_the_aot_callers_and_the_folder_build(
        exported: dict[str, ExportResult]) -> None:
    verdicts = check_archive(exported["default"].path, builtin_profiles())
    assert {v.profile.name for v in verdicts if v.readable} == {
        "tvmc-v7", "tvmc-v7-2023", "tvm-micro-testing-v7", "mlonmcu-tvmaot", "folder-build",
        "zephyr-aot-demo"}


@pytest.mark.parametrize("name", [*REAL, "default"])
def test_each_model_exports_validates_as_v8_and_verifies(exported: dict[str, ExportResult],
                                                         name: str) -> None:
    result = exported[name]
    report = validate(result.path)
    assert report.ok, report.findings
    assert report.declared_version == 8 and report.detected_versions == (8,)
    assert report.findings == ()
    check = result.verification
    assert check is not None and check.ok, check


@pytest.mark.parametrize("name", [*REAL, "default"])
def test_the_memory_map_matches_the_workspace_the_c_run_touches(
        exported: dict[str, ExportResult], name: str) -> None:
    result = exported[name]
    main = _metadata(result.path)["modules"][name]["memory"]["functions"]["main"][0]
    check = result.verification
    assert check is not None
    assert main["workspace_size_bytes"] == check.workspace_planned == result.plan.arena_size
    assert main["workspace_size_bytes"] - ALIGN < check.workspace_measured \
        <= main["workspace_size_bytes"]


@pytest.mark.parametrize("name", [*REAL, "default"])
def test_blocks_live_at_the_same_step_never_share_bytes(exported: dict[str, ExportResult],
                                                        name: str) -> None:
    plan = exported[name].plan
    blocks = [*plan.storage, *plan.scratch.values()]
    live_together = 0
    for i, a in enumerate(blocks):
        assert a.offset % ALIGN == 0 and a.offset + a.size <= plan.arena_size
        for b in blocks[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
                live_together += 1
    assert live_together, blocks  # each model here has blocks live at once; else none was checked
    stored = _metadata(exported[name].path)["modules"][name]["storage"]
    assert [(s["size_bytes"], s["offset"]) for s in stored] == \
        [(b.size, b.offset) for b in plan.storage]


@pytest.mark.parametrize("name", ["mnist", "hello_world_int8"])
def test_params_round_trip_through_mlfchecks_reader_and_tvms_loader(
        exported: dict[str, ExportResult], name: str) -> None:
    import numpy as np
    import tvm

    from mlfcheck.reading.params import read_params

    result = exported[name]
    with tarfile.open(result.path) as tar:
        member = tar.extractfile(f"./parameters/{name}.params")
        assert member is not None
        raw = member.read()
    parsed = read_params(io.BytesIO(raw), len(raw), digest=True)
    assert parsed.trailing == 0
    plan = result.plan
    assert [(t.name, t.dtype, t.shape) for t in parsed.tensors] == \
        [(t.name, t.dtype, t.shape) for t in plan.constants]
    assert [t.sha256 for t in parsed.tensors] == \
        [hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
         for v in plan.constant_values]
    loaded = tvm.runtime.load_param_dict(raw)
    for t, value in zip(plan.constants, plan.constant_values, strict=True):
        np.testing.assert_array_equal(loaded[t.name].numpy(), value)


def test_the_main_c_in_the_v8_doc_builds_with_wall_werror_and_runs(
        exported: dict[str, ExportResult], tmp_path: Path) -> None:
    doc = (REPO / "docs" / "mlf-v8.md").read_text()
    main_c = c_block_after(doc, "### A complete program")
    assert len(main_c.strip().splitlines()) <= 22
    root = unpack(exported["default"].path, tmp_path / "model")
    (tmp_path / "main.c").write_text(main_c)
    exe = tmp_path / "run_model"
    build([*sorted((root / "codegen/host/src").glob("*.c")),
           *sorted((root / "runtime/src").glob("*.c")), tmp_path / "main.c"],
          [root / "codegen/host/include", root / "runtime/include"], exe)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    probabilities = [float(line.split(":")[1]) for line in out.splitlines()]
    assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 1e-3


def test_two_archives_with_different_names_link_into_one_program(
        exported: dict[str, ExportResult], tmp_path: Path) -> None:
    a = unpack(exported["mnist"].path, tmp_path / "a")
    b = unpack(exported["hello_world_float"].path, tmp_path / "b")
    (tmp_path / "main.c").write_text("""
#include <stdio.h>
#include "tvmgen_mnist.h"
#include "tvmgen_hello_world_float.h"
static float image[784], digits[10], x[1] = {1.5f}, y[1];
int main(void) {
  struct tvmgen_mnist_inputs mi = {image};
  struct tvmgen_mnist_outputs mo = {digits};
  struct tvmgen_hello_world_float_inputs hi = {x};
  struct tvmgen_hello_world_float_outputs ho = {y};
  if (tvmgen_mnist_run(&mi, &mo) != 0 || tvmgen_hello_world_float_run(&hi, &ho) != 0) return 1;
  printf("%f %f\\n", digits[0], y[0]);
  return 0;
}
""")
    exe = tmp_path / "both"
    build([*sorted((a / "codegen/host/src").glob("*.c")),
           *sorted((b / "codegen/host/src").glob("*.c")),
           *sorted((a / "runtime/src").glob("*.c")), tmp_path / "main.c"],
          [a / "codegen/host/include", b / "codegen/host/include", a / "runtime/include"], exe)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    sine = float(out.split()[1])
    assert abs(sine - 0.997) < 0.1  # the hello_world model approximates sin(1.5)


def test_unlinked_parameters_are_passed_by_the_caller_and_still_verify(tmp_path: Path) -> None:
    result = export_model("default", tmp_path / "nolink.tar", link_params=False, verify=True,
                          epoch=EPOCH)
    assert result.verification is not None and result.verification.ok
    assert validate(result.path).ok
    with tarfile.open(result.path) as tar:
        header = tar.extractfile("./codegen/host/include/tvmgen_default.h")
        assert header is not None
        assert b"struct tvmgen_default_constants" in header.read()


def test_same_model_gives_identical_bytes_across_processes_and_hash_seeds(
        tmp_path: Path) -> None:
    digests = []
    for seed in ("1", "2"):
        out = tmp_path / f"seed{seed}.tar"
        done = run_cli("default", "-o", str(out),
                       env={"PYTHONHASHSEED": seed, "SOURCE_DATE_EPOCH": str(EPOCH)})
        assert done.returncode == 0, done.stderr
        digests.append(out.read_bytes())
    assert digests[0] == digests[1]
    with tarfile.open(tmp_path / "seed1.tar") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == "." and names[1:] == sorted(names[1:])
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", EPOCH)}
    meta = _metadata(tmp_path / "seed1.tar")
    assert meta["modules"]["default"]["export_datetime"] == "2023-11-14 22:13:20Z"


def _fails_cleanly(done: subprocess.CompletedProcess[str], stage: str, out: Path) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mlfcheck export: {stage} failed"), lines
    assert "Traceback" not in done.stderr
    assert not out.exists() and list(out.parent.glob(f".{out.name}*")) == []
    return lines[0]


def test_a_corrupt_onnx_file_fails_at_import(tmp_path: Path) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"\x08\x07 this is not protobuf \xff\xff")
    out = tmp_path / "out" / "x.tar"
    out.parent.mkdir()
    _fails_cleanly(run_cli(str(model), "-o", str(out)), "import", out)


def test_tflite_micros_micro_speech_exports_and_equals_tflm(shared: Path, tmp_path: Path) -> None:
    """TVM's own converter refused it (FULLY_CONNECTED on a rank-4 input); mlfcheck's import
    flattens as TFLite does, and --verify holds the archive to TFLite Micro bit for bit."""
    out = tmp_path / "speech.tar"
    done = run_cli(str(shared / "models" / "micro_speech_quantized.tflite"), "-o", str(out),
                   "--verify")
    assert done.returncode == 0, done.stderr
    assert "  verify: ok " in done.stdout and out.is_file()


_SCRIPT_MODEL = '''
import tvm
from tvm.script import relax as R


@tvm.script.ir_module
class Model:
    @R.function
    def main(x: R.Tensor({shape}, "int8")) -> R.Tensor({shape}, "{out}"):
        y = R.astype(x, "{out}")
        return y


model = Model
'''


def test_a_sub_byte_dtype_fails_at_codegen_naming_the_kernel(tmp_path: Path) -> None:
    model = tmp_path / "int4.py"
    model.write_text(_SCRIPT_MODEL.format(shape="(4,)", out="int4"))
    out = tmp_path / "int4.tar"
    line = _fails_cleanly(run_cli(str(model), "-o", str(out)), "codegen", out)
    assert "(operator cast)" in line and "int4" in line


_EXTERN_MODEL = '''
import tvm
from tvm.script import relax as R


@tvm.script.ir_module
class Model:
    @R.function
    def main(x: R.Tensor((1, 8), "float32")) -> R.Tensor((1, 8), "float32"):
        y = R.call_dps_packed("my_vendor_kernel", (x,), R.Tensor((1, 8), "float32"))
        return y


model = Model
'''


def test_a_call_to_an_external_packed_function_fails_at_codegen_naming_it(
        tmp_path: Path) -> None:
    model = tmp_path / "extern.py"
    model.write_text(_EXTERN_MODEL)
    out = tmp_path / "extern.tar"
    line = _fails_cleanly(run_cli(str(model), "-o", str(out)), "codegen", out)
    assert "(operator my_vendor_kernel)" in line and "external function" in line


def test_a_dynamic_shape_fails_at_import(tmp_path: Path) -> None:
    model = tmp_path / "dynamic.py"
    model.write_text(_SCRIPT_MODEL.format(shape='("n", 4)', out="int32"))
    out = tmp_path / "dynamic.tar"
    line = _fails_cleanly(run_cli(str(model), "-o", str(out)), "import", out)
    assert "dynamic shape" in line


def test_a_build_failure_fails_at_verify_and_leaves_no_archive(tmp_path: Path) -> None:
    out = tmp_path / "v.tar"
    done = run_cli("--default", "-o", str(out), "--verify", env={"CC": "false"})
    assert "does not build" in _fails_cleanly(done, "verify", out)


def test_a_difference_beyond_the_tolerance_is_a_mismatch() -> None:
    check = Verification({"y": 2e-5}, 1e-5, 128, 128, 0.1)
    assert not check.ok
    assert Verification({"y": 1e-5}, 1e-5, 128, 128, 0.1).ok


def test_bad_module_names_are_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="module name"):
        export_model("default", tmp_path / "x.tar", name="Bad-Name")


def test_without_tvm_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    blocked = ("import sys; sys.modules['tvm'] = None; "
               "from mlfcheck.cli.export import export; export()")
    done = subprocess.run([sys.executable, "-c", blocked, "default", "-o", str(tmp_path / "x")],
                          capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 2
    assert done.stderr.strip() == "mlfcheck export needs TVM: pip install 'mlfcheck[tvm]'"


def test_importing_the_command_does_not_import_tvm() -> None:
    probe = "import sys, mlfcheck.cli.export; print('tvm' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO)}, check=True)
    assert done.stdout.strip() == "False"


def _dynamic_relu(path: Path) -> Path:
    """An ONNX model whose input 'x' has a symbolic batch dimension: Relu over [N, 4]."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_input_shape_fixes_a_dynamic_dimension(tmp_path: Path) -> None:
    model = _dynamic_relu(tmp_path / "dyn.onnx")
    out = tmp_path / "dyn.tar"
    line = _fails_cleanly(run_cli(str(model), "-o", str(out)), "import", out)
    assert "input 'x' has dynamic shape" in line and "--input-shape x=d0,d1,..." in line
    done = run_cli(str(model), "-o", str(out), "--input-shape", "x=3,4")
    assert done.returncode == 0, done.stderr
    with tarfile.open(out) as tar:
        stream = tar.extractfile("./metadata.json")
        assert stream is not None
        main = json.load(stream)["modules"]["default"]["memory"]["functions"]["main"][0]
    assert main["inputs"]["x"]["shape"] == [3, 4] and main["inputs"]["x"]["size"] == 48


@pytest.mark.parametrize("value", ["x", "x=", "=3,4", "x=3,0", "x=3,four"])
def test_a_malformed_input_shape_is_a_usage_error(value: str, tmp_path: Path) -> None:
    done = run_cli("--default", "-o", str(tmp_path / "m.tar"), "--input-shape", value)
    assert done.returncode == 2 and "is not name=d0,d1,... with positive dims" in done.stderr


def test_float_abs_exports_as_fabsf_and_verifies(tmp_path: Path) -> None:
    """TVM 0.27's C target cannot emit tirx.fabs on its own (abs, isinf): the exporter lowers
    it to fabsf, and the C equals TVM."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    graph = helper.make_graph([helper.make_node("Abs", ["x"], ["t"]),
                               helper.make_node("Sqrt", ["t"], ["y"])], "abs", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "abs.onnx"))
    result = export_model(str(tmp_path / "abs.onnx"), tmp_path / "abs.tar", verify=True)
    assert result.verification is not None and result.verification.ok
    with tarfile.open(result.path) as tar:
        kernels = tar.extractfile(f"./codegen/host/src/{result.name}_lib0.c")
        assert kernels is not None and b"fabsf(" in kernels.read()
