"""Harnesses and the archive's module name: a consumer that writes its calls for the module it
exported builds an archive whose module is not 'default'; one that hard-codes 'default' does
not. Real compilers (gcc on the host, arm-none-eabi-gcc for a board); a missing one skips."""

from __future__ import annotations

from dataclasses import replace

import pytest
from harness_helpers import require, verdict_of
from shared_paths import REPO

from mlfcheck.consumers.harness import Proof
from mlfcheck.reporters.compat import level_line

ADD = REPO / "fixtures/v5-aot-add.tar.gz"
"""v5 AOT, C interface, module 'add' (tvmgen_add.h, tvmgen_add_run)."""


@pytest.mark.parametrize("consumer", ["tvm-aot-test-helper", "mlonmcu-tvmaot", "folder-build"])
def test_a_consumer_writing_for_the_module_builds_module_add(consumer: str) -> None:
    """These consumers write test.c / aot_wrapper.c / app_main.c for the module they export:
    the harness includes tvmgen_add.h and calls tvmgen_add_run, so it compiles and links.
    The run then crashes in the fixture's own C (its tvmgen_add_run passes NULL for the
    parameters), which is a true verdict for every consumer that calls it."""
    require("gcc")
    proof = verdict_of(ADD, consumer).proof
    assert proof is not None and proof.where == "host"
    assert proof.proved == "links" and proof.failed == "runs", proof
    assert "SIGSEGV" in (proof.error or "")
    assert proof.cause and "tvmgen_default" not in proof.cause[0].code


def test_the_aot_test_helper_names_the_modules_descriptor_in_a_graph_archive() -> None:
    """A graph archive of module 'add' has no tvmgen_add_network: the runner still fails to
    link, on the descriptor of the archive's module."""
    require("gcc")
    proof = verdict_of(REPO / "fixtures/v6-graph-add.tar", "tvm-aot-test-helper").proof
    assert proof is not None and proof.failed == "links" and proof.proved == "compiles"
    assert proof.error == "undefined reference to `tvmgen_add_network'"


def test_a_consumer_hard_coding_default_still_refuses_module_add() -> None:
    """Zephyr's aot_demo main.c includes tvmgen_default.h whatever the archive: with the
    archive's own codegen/host/include on its path, the header is still not found, and no
    -I is suggested (the archive has no tvmgen_default.h)."""
    require("arm-none-eabi-gcc")
    verdict = verdict_of(ADD, "zephyr-aot-demo-2023")
    assert verdict.proof is not None and verdict.proof.failed == "compiles"
    assert verdict.proof.error == "fatal error: tvmgen_default.h: No such file or directory"
    assert verdict.level is None and not verdict.readable
    assert verdict.proof.fix is None


def test_no_include_fix_for_a_header_the_archive_does_not_have() -> None:
    """cmsis-nn's demo includes tvmgen_detection.h; v5-aot-add has only tvmgen_add.h."""
    require("arm-none-eabi-gcc")
    proof = verdict_of(ADD, "cmsisnn-demo").proof
    assert proof is not None and proof.failed == "compiles"
    assert "tvmgen_detection.h" in (proof.error or "")
    assert "tvmgen_detection.h" not in (proof.fix or "")


def test_a_library_the_build_needs_is_said_once() -> None:
    verdict = replace(verdict_of(ADD, "crt-host"), proof=Proof(
        None, None, None, skipped="not built here: needs esp_kernel.h (esp-dl); build your "
                                  "application with it: --harness FILE -I DIR"))
    line = level_line(verdict)
    assert line.count("not built") == 1, line
    assert "harness not built: needs esp_kernel.h (esp-dl)" in line
