"""Bare-metal AOT callers' harnesses (compat --build): folder-build and the AOT test helper on
the host, the cmsis-nn and ethos-u demos on mps3-an547, on real and committed archives with the
real compilers; a library mlfcheck cannot supply stops a build with 'not built here', no level."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from export_helpers import pack, unpack
from harness_helpers import real, require, verdict_of
from shared_paths import REPO


@pytest.mark.shared
def test_folder_build_stops_where_esp_dl_is_needed() -> None:
    require("gcc")
    verdict = verdict_of(real("esp32s3-example-v7-aot"), "folder-build")
    assert verdict.proof is not None and verdict.proof.failed is None
    assert (verdict.proof.skipped or "").startswith("not built here: needs esp_kernel.h (esp-dl)")
    assert verdict.level == "reads" and verdict.level_certainty == "derived"
    assert verdict.readable


@pytest.mark.shared
def test_folder_build_does_not_link_a_2021_aot_archive() -> None:
    require("gcc")
    verdict = verdict_of(real("sine-aot-v5-zephyr"), "folder-build")
    assert verdict.proof is not None and verdict.proof.failed == "links"
    assert verdict.level == "compiles" and verdict.level_certainty == "verified"
    assert "undefined reference to `tvmgen_default_run'" in (verdict.proof.error or "")
    assert verdict.proof.cause[0].at.endswith("main/app_main.c:30")
    assert not verdict.readable


@pytest.mark.shared
def test_folder_build_runs_an_archive_with_the_c_interface(tmp_path: Path) -> None:
    """sine-aot-v5-zephyr with the `tvmgen_default_run(inputs, outputs)` TVM generated for
    `--interface-api=c`, calling its own `tvmgen_default_run_model`: built and run."""
    require("gcc")
    root = tmp_path / "c-interface"
    unpack(real("sine-aot-v5-zephyr"), root)
    header = (root / "codegen/host/include/tvmgen_default.h").read_text()
    assert "struct tvmgen_default_inputs" in header
    lib0 = root / "codegen/host/src/default_lib0.c"
    text = lib0.read_text()
    member_in = header.split("struct tvmgen_default_inputs {")[1].split(";")[0].split("*")[-1]
    member_out = header.split("struct tvmgen_default_outputs {")[1].split(";")[0].split("*")[-1]
    lib0.write_text(text + '#include "tvmgen_default.h"\n'
                    "int32_t tvmgen_default_run(struct tvmgen_default_inputs* inputs,\n"
                    "                           struct tvmgen_default_outputs* outputs) {\n"
                    f"  return tvmgen_default_run_model(inputs->{member_in.strip()}, "
                    f"outputs->{member_out.strip()});\n}}\n")
    archive = pack(root, tmp_path / "c-interface.tar")
    verdict = verdict_of(archive, "folder-build")
    assert verdict.readable and verdict.level == "runs", verdict.proof
    assert verdict.level_certainty == "verified"


# -- tvm-aot-test-helper (host) ---------------------------------------------------------------


@pytest.mark.shared
def test_aot_test_helper_runs_a_v5_archive_with_its_model_descriptor() -> None:
    require("gcc")
    verdict = verdict_of(real("gubprof-microspeech-v5-aot-a"), "tvm-aot-test-helper")
    assert verdict.proof is not None and verdict.proof.where == "host"
    assert verdict.level == "runs" and verdict.level_certainty == "verified", verdict.proof
    assert verdict.readable


@pytest.mark.shared
def test_aot_test_helper_does_not_link_a_graph_archive() -> None:
    require("gcc")
    verdict = verdict_of(real("gubprof-microspeech-v5-graph"), "tvm-aot-test-helper")
    assert verdict.proof is not None and verdict.proof.failed == "links"
    assert verdict.proof.error == "undefined reference to `tvmgen_default_network'"
    assert verdict.level == "compiles" and not verdict.readable


def test_aot_test_helper_does_not_link_a_committed_graph_archive() -> None:
    require("gcc")
    verdict = verdict_of(REPO / "fixtures/v6-graph-add.tar", "tvm-aot-test-helper")
    assert verdict.proof is not None and verdict.proof.failed == "links"
    assert verdict.proof.error == "undefined reference to `tvmgen_add_network'"
    assert not verdict.readable


# -- cmsisnn-demo, ethosu-demo (mps3-an547) ----------------------------------------------------


def _require_arm() -> None:
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi qemu-system-arm)")


def _with_runtime_include(tmp: Path) -> Path:
    """sine-aot-v5-zephyr with a runtime/include: mlfcheck's TVM runtime declarations and a
    stack_allocator.h, as the demos' Makefiles put on the include path."""
    from mlfcheck.board.archivebuild import RUNTIME_ABI

    root = tmp / "with-runtime"
    unpack(real("sine-aot-v5-zephyr"), root)
    shutil.copytree(RUNTIME_ABI, root / "runtime/include", ignore=shutil.ignore_patterns("*.md"))
    (root / "runtime/include/tvm/runtime/crt/stack_allocator.h").write_text(
        "#include <stdint.h>\n#include <tvm/runtime/crt/error_codes.h>\n")
    return pack(root, tmp / "with-runtime.tar")


@pytest.mark.shared
@pytest.mark.board
@pytest.mark.parametrize("consumer", ["ethosu-demo", "ethosu-demo-2022-01", "cmsisnn-demo"])
def test_demos_do_not_compile_an_archive_without_runtime(consumer: str) -> None:
    _require_arm()
    verdict = verdict_of(real("sine-aot-v5-zephyr"), consumer)
    assert verdict.proof is not None and verdict.proof.where == "mps3-an547"
    assert verdict.proof.failed == "compiles" and not verdict.readable
    assert (verdict.proof.error or "").startswith(
        "fatal error: tvm/runtime/c_backend_api.h: No such file or directory")


@pytest.mark.shared
@pytest.mark.board
@pytest.mark.parametrize("consumer", ["ethosu-demo", "ethosu-demo-2022-01"])
def test_ethosu_demo_stops_where_the_npu_driver_is_needed(consumer: str, tmp_path: Path) -> None:
    _require_arm()
    verdict = verdict_of(_with_runtime_include(tmp_path), consumer)
    assert verdict.proof is not None and verdict.proof.failed is None
    assert (verdict.proof.skipped or "").startswith(
        "not built here: needs ethosu_driver.h (Ethos-U-core-driver)")
    assert verdict.proof.proved is None and verdict.level_certainty == "derived"


@pytest.mark.shared
@pytest.mark.board
def test_cmsisnn_demo_does_not_compile_a_default_module(tmp_path: Path) -> None:
    _require_arm()
    verdict = verdict_of(_with_runtime_include(tmp_path), "cmsisnn-demo")
    assert verdict.proof is not None and verdict.proof.failed == "compiles"
    assert verdict.proof.error == "fatal error: tvmgen_detection.h: No such file or directory"
    assert not verdict.readable
