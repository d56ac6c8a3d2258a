"""Consumer harnesses (compat --build, --harness): builds that prove a verdict's level.

Each family's harness is built against a real archive (or one derived from it here, in a
temporary folder), with the real compilers: gcc on the host, arm-none-eabi-gcc and QEMU for a
board. A missing toolchain skips with the package to install.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import invoke
from export_helpers import pack, unpack
from harness_helpers import real, require, verdict_of

from mlfcheck import api
from mlfcheck.cli.compat import compat
from mlfcheck.consumers import UserHarness

APP = """#include <stdint.h>
#include <stdio.h>
#include "tvmgen_default.h"

static uint8_t image[TVMGEN_DEFAULT_IMAGE_SIZE];
static uint8_t probabilities[TVMGEN_DEFAULT_PROBABILITIES_SIZE];

int main(int argc, char** argv) {
  FILE* f = fopen(argv[1], "rb");
  if (argc != 3 || f == NULL || fread(image, 1, sizeof(image), f) != sizeof(image)) return 3;
  fclose(f);
  struct tvmgen_default_inputs inputs = {.image = image};
  struct tvmgen_default_outputs outputs = {.probabilities = probabilities};
  if (tvmgen_default_run(&inputs, &outputs) != 0) return 2;
  f = fopen(argv[2], "wb");
  fwrite(probabilities, 1, sizeof(probabilities), f);
  fclose(f);
  return 0;
}
"""


def _packed_v5(tmp: Path, workspace: int | None = None) -> Path:
    """gubprof-microspeech-v5-aot-a with the packed interface under the name the C interface
    uses: its static `__tvm_main__(args, type_codes, num_args, ...)` renamed
    `tvmgen_default_run`, as TVM's packed API of that era emitted it (with `workspace`, its
    metadata's main workspace_size_bytes, 21312, replaced)."""
    root = tmp / "packed"
    unpack(real("gubprof-microspeech-v5-aot-a"), root)
    lib0 = root / "codegen/host/src/default_lib0.c"
    text = lib0.read_text()
    lib0.write_text(text.replace("static int32_t __tvm_main__(", "int32_t tvmgen_default_run(")
                    .replace("&__tvm_main__", "&tvmgen_default_run"))
    if workspace is not None:
        meta = json.loads((root / "metadata.json").read_text())
        meta["memory"]["functions"]["main"][0]["workspace_size_bytes"] = workspace
        (root / "metadata.json").write_text(json.dumps(meta))
    return pack(root, tmp / "packed.tar")


@pytest.mark.shared
@pytest.mark.board
def test_zephyr_aot_demo_does_not_run_a_packed_interface_v5_archive(tmp_path: Path) -> None:
    require("arm-none-eabi-gcc", "qemu-system-arm")
    verdict = verdict_of(_packed_v5(tmp_path), "zephyr-aot-demo")
    assert verdict.proof is not None and verdict.proof.where == "mps2-an385"
    assert verdict.level == "links" and not verdict.readable
    assert verdict.proof.failed == "runs"
    assert "fault" in (verdict.proof.error or "")
    assert verdict.proof.cause[0].at.endswith("src/aot_demo/main.c:208")
    assert "--use-unpacked-api" in (verdict.proof.fix or "")


@pytest.mark.shared
@pytest.mark.board
def test_zephyr_aot_demo_runs_a_v5_archive_with_the_c_interface(tmp_path: Path) -> None:
    """The positive control: the same archive with the C interface TVM generated for
    `--interface-api=c` (a `tvmgen_default_run` taking the structs) runs on the board."""
    require("arm-none-eabi-gcc", "qemu-system-arm")
    root = tmp_path / "unpacked"
    unpack(real("gubprof-microspeech-v5-aot-a"), root)
    with (root / "codegen/host/src/default_lib0.c").open("a") as lib0:
        lib0.write("struct tvmgen_default_inputs { void* input_1; };\n"
                   "struct tvmgen_default_outputs { void* output; };\n"
                   "int32_t tvmgen_default_run(struct tvmgen_default_inputs* inputs,\n"
                   "                           struct tvmgen_default_outputs* outputs) {\n"
                   "  return tvmgen_default_run_model(inputs->input_1, outputs->output);\n}\n")
    archive = pack(root, tmp_path / "unpacked.tar")
    verdict = verdict_of(archive, "zephyr-aot-demo")
    assert verdict.readable and verdict.level == "runs", verdict.proof
    assert verdict.level_certainty == "verified"


@pytest.mark.tvm
def test_mlonmcu_does_not_compile_a_v8_export(v8: Path) -> None:
    require("gcc")
    verdict = verdict_of(v8, "mlonmcu-tvmaot")
    assert verdict.proof is not None and verdict.proof.where == "host"
    assert verdict.proof.failed == "compiles" and not verdict.readable
    assert "tvm/ffi/c_api.h" in (verdict.proof.error or "")


@pytest.mark.shared
@pytest.mark.board
def test_zephyr_aot_demo_does_not_link_the_real_v5_archive(tmp_path: Path) -> None:
    require("arm-none-eabi-gcc", "qemu-system-arm")
    verdict = verdict_of(real("gubprof-microspeech-v5-aot-a"), "zephyr-aot-demo")
    assert verdict.proof is not None and verdict.proof.failed == "links"
    assert "undefined reference to `tvmgen_default_run'" in (verdict.proof.error or "")
    assert "tvmgen_default_run_model" in (verdict.proof.fix or "")


@pytest.mark.shared
@pytest.mark.board
def test_arduino_v7_does_not_compile_a_v7_aot_archive() -> None:
    require("arm-none-eabi-gcc", "qemu-system-arm")
    verdict = verdict_of(real("esp32s3-example-v7-aot"), "arduino-v7")
    assert verdict.proof is not None and verdict.proof.failed == "compiles"
    assert verdict.level is None and not verdict.readable
    assert "tvmgen_default.h" in (verdict.proof.error or "")
    assert "codegen/host/include" in (verdict.proof.fix or "")


@pytest.fixture(scope="module")
def v8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A v8 archive of the default model (`mlfcheck export default`)."""
    pytest.importorskip("tvm")
    from mlfcheck.export import export_model

    out = tmp_path_factory.mktemp("v8") / "default.tar"
    export_model("default", out, epoch=1700000000)
    return out


@pytest.mark.tvm
@pytest.mark.board
def test_v8_does_not_compile_in_a_template_without_runtime_include(v8: Path) -> None:
    require("arm-none-eabi-gcc", "qemu-system-arm")
    verdict = verdict_of(v8, "zephyr-aot-demo-2023")
    assert verdict.proof is not None and verdict.proof.failed == "compiles"
    assert "fatal error: tvm/ffi/c_api.h" in (verdict.proof.error or "")
    assert "runtime/include" in (verdict.proof.fix or "")


@pytest.mark.tvm
def test_own_harness_runs_a_v8_export_and_matches_its_reference(v8: Path,
                                                                 tmp_path: Path) -> None:
    require("gcc")
    import numpy as np

    from mlfcheck.export.frontends import load_model
    from mlfcheck.export.verify import reference_outputs

    image = np.random.default_rng(0).uniform(-1, 1, (1, 1, 8, 8)).astype(np.float32)
    want = reference_outputs(load_model("default"), [image])[0].astype(np.float32)
    app = tmp_path / "app.c"
    app.write_text(APP)
    verdict = api.compat_harness(v8, UserHarness((app,), run=True, inputs=image.tobytes(),
                                                 expect=want.tobytes()))
    assert verdict.proof is not None, verdict
    assert verdict.level == "matches", verdict.proof
    assert verdict.level_certainty == "verified" and verdict.readable
    wrong = api.compat_harness(v8, UserHarness((app,), run=True, inputs=image.tobytes(),
                                               expect=bytes(len(want.tobytes()))))
    assert wrong.level == "runs" and wrong.proof is not None and wrong.proof.failed == "matches"
    (tmp_path / "in.bin").write_bytes(image.tobytes())
    (tmp_path / "out.bin").write_bytes(want.tobytes())
    (tmp_path / "zero.bin").write_bytes(bytes(len(want.tobytes())))
    args = [str(v8), "--harness", str(app), "--run", "--input", str(tmp_path / "in.bin")]
    code, out, err = invoke(compat, *args, "--expect", str(tmp_path / "out.bin"))
    assert code == 0, (out, err)
    assert "your-application" in out and "level: matches (verified here: built on the host)" in out
    code, out, _ = invoke(compat, *args, "--expect", str(tmp_path / "zero.bin"))
    assert code == 1 and "build: matches" in out and "level: runs" in out


# -- the AOT test runners that size their arena with mlf_extract_workspace_size_bytes ----------


def _c_interface_v5(tmp: Path) -> Path:
    """sine-aot-v5-zephyr with the `tvmgen_default_run(inputs, outputs)` its header declares
    defined over its `tvmgen_default_run_model`, as TVM's C interface defined it from the next
    release on."""
    root = tmp / "c-interface"
    unpack(real("sine-aot-v5-zephyr"), root)
    with (root / "codegen/host/src/default_lib0.c").open("a") as lib0:
        lib0.write('#include "tvmgen_default.h"\n'
                   "int32_t tvmgen_default_run(struct tvmgen_default_inputs* inputs,\n"
                   "                           struct tvmgen_default_outputs* outputs) {\n"
                   "  return tvmgen_default_run_model(inputs->dense_4_input, outputs->output);\n"
                   "}\n")
    return pack(root, tmp / "c-interface.tar")


@pytest.mark.shared
@pytest.mark.parametrize(("consumer", "line"), [
    ("tvm-micro-testing-2021", "tests/python/relay/aot/aot_test_utils.py:413"),
    ("tvm-micro-testing-v7", "python/tvm/testing/aot.py:399")])
def test_micro_testing_runners_do_not_link_a_2021_aot_archive(consumer: str, line: str) -> None:
    """The helper reads the archive (its reads pass on v5 for the 2021 one), but the runner its
    test builds calls tvmgen_default_run, which 2021 AOT archives do not define."""
    require("gcc")
    verdict = verdict_of(real("gubprof-microspeech-v5-aot-a"), consumer)
    assert verdict.proof is not None and verdict.proof.where == "host"
    assert verdict.proof.failed == "links" and verdict.level == "compiles"
    assert verdict.proof.error == "undefined reference to `tvmgen_default_run'"
    assert verdict.proof.cause[0].at.endswith(line)
    assert not verdict.readable


@pytest.mark.shared
def test_a_link_failure_cites_the_call_the_preprocessor_keeps() -> None:
    """sine-aot-v5-zephyr has the interface header, so the 2021 runner compiles its C-interface
    branch: the undefined tvmgen_default_run is that branch's call (:364), not the packed
    call of the branch the preprocessor drops (:413), which names the same function."""
    require("gcc")
    proof = verdict_of(real("sine-aot-v5-zephyr"), "tvm-micro-testing-2021").proof
    assert proof is not None and proof.failed == "links"
    assert proof.error == "undefined reference to `tvmgen_default_run'"
    assert [e.at for e in proof.cause] == [
        "apache/tvm@dae71db771:tests/python/relay/aot/aot_test_utils.py:364"]


@pytest.mark.shared
@pytest.mark.parametrize("consumer", ["tvm-micro-testing-2021", "tvm-micro-testing-v7"])
def test_micro_testing_runners_run_a_packed_archive(consumer: str, tmp_path: Path) -> None:
    """The positive control: `tvmgen_default_run` with the packed signature, called with one
    DLTensor per buffer, runs in both runners."""
    require("gcc")
    verdict = verdict_of(_packed_v5(tmp_path), consumer)
    assert verdict.proof is not None and verdict.proof.failed is None, verdict.proof
    assert verdict.level == "runs" and verdict.level_certainty == "verified"


@pytest.mark.shared
@pytest.mark.parametrize(("consumer", "line"), [
    ("tvm-micro-testing-2021", "tests/python/relay/aot/aot_test_utils.py:413"),
    ("tvm-micro-testing-v7", "python/tvm/testing/aot.py:399")])
def test_micro_testing_runners_size_the_arena_from_the_metadata(consumer: str, line: str,
                                                                tmp_path: Path) -> None:
    """The test sizes its arena with the metadata's workspace (+ 8 alignment bytes): the packed
    archive runs with its own 21312 bytes (test above); told 4096, main's first 8000-byte
    buffer finds no room and tvmgen_default_run returns -1."""
    require("gcc")
    proof = verdict_of(_packed_v5(tmp_path, workspace=4096), consumer).proof
    assert proof is not None and proof.proved == "links" and proof.failed == "runs"
    assert proof.error == "the application exited with 255"
    assert proof.cause[0].at.endswith(line)


@pytest.mark.shared
def test_the_2021_runner_runs_the_c_interface_and_the_v7_runner_crashes_on_it(
        tmp_path: Path) -> None:
    """From 648154d808 the test calls the helper only for the packed interface: its runner
    passes packed arguments to a tvmgen_default_run that takes two structs, and crashes."""
    require("gcc")
    archive = _c_interface_v5(tmp_path)
    old = verdict_of(archive, "tvm-micro-testing-2021")
    assert old.readable and old.level == "runs", old.proof
    new = verdict_of(archive, "tvm-micro-testing-v7").proof
    assert new is not None and new.proved == "links" and new.failed == "runs"
    assert "SIGSEGV" in (new.error or "")
    assert new.cause[0].at.endswith("python/tvm/testing/aot.py:399")


# -- micro-custom-ide: the how-to's IDE project ------------------------------------------------


@pytest.mark.tvm
@pytest.mark.board
def test_micro_custom_ide_does_not_link_a_v8_export(v8: Path) -> None:
    """v8 has runtime/include and the header the project includes, but no templates/: the
    platform.c the how-to copies from templates/platform.c.template is not there, and main.c's
    TVMPlatformInitialize() is undefined."""
    require("arm-none-eabi-gcc")
    verdict = verdict_of(v8, "micro-custom-ide")
    assert verdict.proof is not None and verdict.proof.where == "mps2-an386"
    assert verdict.proof.failed == "links" and verdict.level == "compiles"
    assert verdict.proof.error == "undefined reference to `TVMPlatformInitialize'"
    assert verdict.proof.cause[0].at.endswith("micro_custom_ide.py:300")
    assert not verdict.readable


@pytest.mark.tvm
@pytest.mark.board
def test_micro_custom_ide_needs_the_crt_config_the_user_copies(v8: Path, tmp_path: Path) -> None:
    """An archive with the C runtime's sources, which include crt_config.h (the file the user
    copies from templates/crt_config.h.template), is not built here: no level is claimed."""
    require("arm-none-eabi-gcc")
    root = tmp_path / "with-crt"
    unpack(v8, root)
    common = root / "runtime/src/runtime/crt/common"
    common.mkdir(parents=True)
    (common / "crt_backend_api.c").write_text('#include "crt_config.h"\n')
    out = pack(root, tmp_path / "with-crt.tar")
    verdict = verdict_of(out, "micro-custom-ide")
    assert verdict.proof is not None and verdict.proof.failed is None
    assert (verdict.proof.skipped or "").startswith(
        "not built here: needs crt_config.h (templates/crt_config.h.template)")
    assert verdict.proof.proved is None and verdict.level_certainty == "derived"
