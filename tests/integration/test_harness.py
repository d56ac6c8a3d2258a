"""Consumer harnesses (compat --build, --harness): builds that prove a verdict's level.

Each family's harness is built against a real archive (or one derived from it here, in a
temporary folder), with the real compilers: gcc on the host, arm-none-eabi-gcc and QEMU for a
board. A missing toolchain skips with the package to install.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from harness_helpers import real, require, verdict_of

from mlfcheck import api
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


def _packed_v5(tmp: Path) -> Path:
    """gubprof-microspeech-v5-aot-a with the packed interface under the name the C interface
    uses: its static `__tvm_main__(args, type_codes, num_args, ...)` renamed
    `tvmgen_default_run`, as TVM's packed API of that era emitted it."""
    root = tmp / "packed"
    with tarfile.open(real("gubprof-microspeech-v5-aot-a")) as tar:
        tar.extractall(root, filter="data")
    lib0 = root / "codegen/host/src/default_lib0.c"
    text = lib0.read_text()
    lib0.write_text(text.replace("static int32_t __tvm_main__(", "int32_t tvmgen_default_run(")
                    .replace("&__tvm_main__", "&tvmgen_default_run"))
    out = tmp / "packed.tar"
    with tarfile.open(out, "w") as tar:
        tar.add(root, arcname=".")
    return out


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
    with tarfile.open(real("gubprof-microspeech-v5-aot-a")) as tar:
        tar.extractall(root, filter="data")
    with (root / "codegen/host/src/default_lib0.c").open("a") as lib0:
        lib0.write("struct tvmgen_default_inputs { void* input_1; };\n"
                   "struct tvmgen_default_outputs { void* output; };\n"
                   "int32_t tvmgen_default_run(struct tvmgen_default_inputs* inputs,\n"
                   "                           struct tvmgen_default_outputs* outputs) {\n"
                   "  return tvmgen_default_run_model(inputs->input_1, outputs->output);\n}\n")
    archive = tmp_path / "unpacked.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".")
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
