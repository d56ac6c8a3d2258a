"""mlfcheck size: an archive's C compiled for a board with arm-none-eabi-gcc, sized per symbol."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from board_helpers import require_toolchain
from cli_helpers import invoke

from mlfcheck.board import crossbuild
from mlfcheck.board.archivebuild import RUNTIME_ABI
from mlfcheck.cli.size import size

pytestmark = pytest.mark.board


@pytest.fixture(scope="module")
def tools() -> crossbuild.Toolchain:
    """The installed toolchain; skip (fail under CI) without it."""
    return require_toolchain()


@pytest.fixture(scope="module")
def default_archive(tools: crossbuild.Toolchain, tmp_path_factory: pytest.TempPathFactory,
                    ) -> tuple[Path, object]:
    """The embedded default model exported, verified and run on mps2-an386."""
    pytest.importorskip("tvm")
    from mlfcheck.board.boards import board
    from mlfcheck.export import export_model

    out = tmp_path_factory.mktemp("size") / "default.tar"
    return out, export_model("default", out, verify=True, epoch=0,
                             boards=[board("mps2-an386")])


def test_the_text_table_lists_every_symbol_with_its_share(
        default_archive: tuple[Path, object]) -> None:
    code, out, err = invoke(size, str(default_archive[0]), "--board", "mps2-an386")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{default_archive[0]} on mps2-an386 (Arm MPS2 AN386, "
                               "Cortex-M4F): -mcpu=cortex-m4 ")
    assert lines[0].endswith(", compile only, 2 source files")
    workspace = next(ln for ln in lines if " tvmgen_default_workspace " in ln)
    assert re.match(r"\s+0 +0\.0% +2048 +\d+\.\d% +variable +tvmgen_default_workspace "
                    r"\(default_lib1\.c\)$", workspace), workspace
    total = lines[-1].split()
    rows = [ln.split() for ln in lines[3:-1]]
    assert total[4] == "TOTAL" and int(total[5]) == len(rows)
    assert int(total[0]) == sum(int(r[0]) for r in rows)
    assert int(total[2]) == sum(int(r[2]) for r in rows)


def test_json_sizes_agree_with_the_linked_image_of_the_board_run(
        default_archive: tuple[Path, object]) -> None:
    code, out, err = invoke(size, str(default_archive[0]), "--board", "mps2-an386",
                            "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["board"]["name"] == "mps2-an386"
    assert doc["totals"]["flash"] == sum(s["flash"] for s in doc["symbols"])
    assert doc["totals"]["ram"] == sum(s["ram"] for s in doc["symbols"])
    # The same compiler flags give the same bytes per symbol in the objects (size) and in the
    # linked, garbage-collected image (--verify --board): two readings of two different files.
    (run,) = default_archive[1].board_runs  # type: ignore[attr-defined]
    linked = {s.name: (s.kind, s.flash, s.ram) for s in run.size.own.symbols}
    compiled = {s["name"]: (s["kind"], s["flash"], s["ram"]) for s in doc["symbols"]}
    # Every symbol the link kept (--gc-sections drops kernels the entry never calls, such as
    # a reshape that only aliases) costs the same bytes in both.
    kept = set(compiled) & set(linked)
    assert {"tvmgen_default_run", "tvmgen_default_workspace", "tvmgen_default_p2"} <= kept
    assert len(kept) >= len(compiled) - 2
    assert {name: linked[name] for name in kept} == {name: compiled[name] for name in kept}
    assert set(linked) - {"tvmgen_platform_set_scratch", "tvmgen_platform_last_error",
                          "TVMBackendAllocWorkspace", "TVMBackendFreeWorkspace",
                          "TVMFFIErrorSetRaisedFromCStrParts", "scratch_base", "scratch_size",
                          "scratch_top", "last_error"} <= set(compiled)


def test_markdown_is_a_table_with_totals(default_archive: tuple[Path, object]) -> None:
    code, out, _ = invoke(size, str(default_archive[0]), "--board", "mps2-an385",
                          "--format", "markdown")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("**mlfcheck size** `") and lines[2] == \
        "| flash | RAM | kind | symbol | file |"
    assert "| 0 | 2048 | variable | `tvmgen_default_workspace` | `default_lib1.c` |" in lines
    assert lines[-1].startswith("| **")


@pytest.mark.shared
def test_a_real_v7_archive_without_runtime_names_the_headers_it_lacks(
        tools: crossbuild.Toolchain, real: dict[str, Path]) -> None:
    code, out, err = invoke(size, str(real["esp32s3-example-v7-aot"]), "--board", "mps2-an386")
    assert (code, out) == (2, "")
    assert err == ("mlfcheck size: error: headers not found in the archive or the include "
                   "paths: esp_kernel.h, tvm/runtime/c_backend_api.h, "
                   "tvm/runtime/c_runtime_api.h (add a folder holding them with --include)\n")


@pytest.mark.shared
def test_include_folders_supply_what_the_archive_lacks(
        tools: crossbuild.Toolchain, real: dict[str, Path], tmp_path: Path) -> None:
    # A folder with the ESP project's kernel header narrows the list to TVM's own headers.
    (tmp_path / "esp_kernel.h").write_text("/* the ESP project's header, not in the archive */\n")
    code, _, err = invoke(size, str(real["esp32s3-example-v7-aot"]), "--board", "mps2-an386",
                          "--include", str(tmp_path))
    assert code == 2
    assert "paths: tvm/runtime/c_backend_api.h, tvm/runtime/c_runtime_api.h (add" in err


def test_an_unknown_board_and_a_missing_include_folder_are_one_line_each(
        tools: crossbuild.Toolchain, tmp_path: Path) -> None:
    code, _, err = invoke(size, str(tmp_path), "--board", "uno")
    assert code == 2 and err.startswith("mlfcheck size: error: unknown board 'uno' (known: ")
    code, _, err = invoke(size, str(tmp_path), "--board", "mps2-an386", "-I",
                          str(tmp_path / "nowhere"))
    assert (code, err) == (2, f"mlfcheck size: error: include folder {tmp_path / 'nowhere'} "
                              "does not exist\n")


def test_without_the_cross_compiler_size_names_the_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, err = invoke(size, str(tmp_path), "--board", "mps2-an386")
    assert (code, out) == (2, "")
    assert err == ("mlfcheck size: error: arm-none-eabi-gcc not found: "
                   "apt-get install gcc-arm-none-eabi\n")


@pytest.mark.shared
def test_audit_with_a_board_sizes_each_archive_or_says_why_not(
        default_archive: tuple[Path, object], real: dict[str, Path], tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator

    from mlfcheck.cli import main
    from mlfcheck.reading import schemas

    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "default.tar").write_bytes(default_archive[0].read_bytes())
    (folder / "sine.tar").write_bytes(real["sine-aot-v5-zephyr"].read_bytes())
    code, out, err = invoke(main, "audit", str(folder), "--board", "netduinoplus2",
                            "--jobs", "1", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    validator = Draft202012Validator(schemas.load("audit-report.schema.json"))
    assert [e.message for e in validator.iter_errors(doc)] == []
    boards = {a["key"]: a["board"] for a in doc["archives"]}
    _, sized, _ = invoke(size, str(default_archive[0]), "--board", "netduinoplus2",
                         "--format", "json")
    totals = json.loads(sized)["totals"]
    (checked,) = default_archive[1].board_runs  # type: ignore[attr-defined]
    # netduinoplus2 is a Cortex-M4F built with mps2-an386's flags: the export's count there.
    assert boards["default.tar"] == {
        "name": "netduinoplus2", "error": None, "flash_bytes": totals["flash"],
        "ram_bytes": totals["ram"], "symbols": totals["symbols"],
        "instructions": checked.instructions, "not_run": None}
    assert boards["sine.tar"]["flash_bytes"] is None
    assert boards["sine.tar"]["error"] == (
        "headers not found in the archive or the include paths: "
        "tvm/runtime/c_backend_api.h, tvm/runtime/c_runtime_api.h")
    code, html, _ = invoke(main, "audit", str(folder), "--board", "netduinoplus2", "--jobs",
                           "1", "--format", "html")
    assert code == 0
    assert "<h2>On the board</h2>" in html
    assert 'aria-label="flash and RAM on netduinoplus2"' in html
    assert f"default.tar: flash {totals['flash']:,} bytes" in html
    assert f"<td class=\"\">{checked.instructions:,}</td>" in html


def test_audit_refuses_an_unknown_board_in_one_line(tmp_path: Path) -> None:
    from mlfcheck.cli import main

    code, out, err = invoke(main, "audit", str(tmp_path), "--board", "uno")
    assert (code, out) == (2, "")
    assert err.startswith("mlfcheck audit: error: unknown board 'uno' (known: mps2-an385, ")
    assert err.count("\n") == 1


@pytest.fixture(scope="module")
def unlinked_archive(default_archive: tuple[Path, object]) -> Path:
    """The default model again, its constants left to the caller (10 KiB less flash)."""
    from mlfcheck.export import export_model

    out = default_archive[0].parent / "unlinked.tar"
    export_model("default", out, epoch=0, link_params=False)
    return out


def _diff_json(*args: str) -> tuple[int, dict[str, object]]:
    from mlfcheck.cli import main

    code, out, err = invoke(main, "diff", *args, "--format", "json")
    assert code in (0, 1), err
    doc = json.loads(out)
    from jsonschema import Draft202012Validator

    from mlfcheck.reading import schemas

    validator = Draft202012Validator(schemas.load("diff-report.schema.json"))
    assert [e.message for e in validator.iter_errors(doc)] == []
    return code, doc


def test_diff_with_a_board_compares_symbols_and_applies_the_flash_threshold(
        default_archive: tuple[Path, object], unlinked_archive: Path) -> None:
    linked = str(default_archive[0])
    code, doc = _diff_json(linked, str(unlinked_archive), "--board", "mps2-an386")
    board = doc["board"]
    assert isinstance(board, dict) and board["name"] == "mps2-an386"
    _, out, _ = invoke(size, linked, "--board", "mps2-an386", "--format", "json")
    _, out2, _ = invoke(size, str(unlinked_archive), "--board", "mps2-an386", "--format", "json")
    old, new = json.loads(out)["totals"], json.loads(out2)["totals"]
    assert board["totals"] == {"old_flash": old["flash"], "new_flash": new["flash"],
                               "old_ram": old["ram"], "new_ram": new["ram"]}
    p2 = next(s for s in board["symbols"] if s["name"] == "tvmgen_default_p2")
    assert (p2["kind"], p2["old_flash"], p2["new_flash"]) == ("constant", 10240, 0)
    rules = {c["rule"]: c for c in doc["changes"]}  # type: ignore[union-attr]
    assert "D212" in rules and "D211" not in rules  # flash shrank: information only
    assert doc["thresholds"] == {"code": "5%", "constants": "5%", "flash": "5%",
                                 "instructions": "5%", "ram": "5%", "workspace": "5%"}
    # The unlinked archive's entry point takes its constants as a third argument, which a
    # caller written for the two-struct interface does not pass: no count, and a note says so.
    assert any("instructions per inference on mps2-an386 not compared: the new archive's "
               "tvmgen_default_run did not run (compiles failed: error: too few arguments to "
               "function 'tvmgen_default_run')" in n["text"] for n in doc["notes"]), doc["notes"]
    # Growing back is over the default 5 %, and within a threshold set above it.
    code, doc = _diff_json(str(unlinked_archive), linked, "--board", "mps2-an386",
                           "--fail-on", "warning")
    grew = next(c for c in doc["changes"] if c["rule"] == "D211")  # type: ignore[union-attr]
    assert code == 1 and grew["level"] == "warning"
    assert (grew["reason"], grew["threshold"]) == ("over the flash threshold", "5%")
    code, doc = _diff_json(str(unlinked_archive), linked, "--board", "mps2-an386",
                           "--fail-on", "warning", "--threshold", "flash=300%")
    rules = {c["rule"] for c in doc["changes"]}  # type: ignore[union-attr]
    assert "D212" in rules and "D211" not in rules  # (the C API itself changed: D409, D410)


@pytest.mark.shared
def test_diff_with_a_board_notes_an_archive_that_does_not_compile(
        tools: crossbuild.Toolchain, real: dict[str, Path]) -> None:
    sine = str(real["sine-aot-v5-zephyr"])
    code, doc = _diff_json(sine, sine, "--board", "mps2-an386")
    assert code == 0 and "board" not in doc and doc["changes"] == []
    assert {"section": "memory", "module": "", "kind": "skipped", "text": (
        "--board mps2-an386: the old archive's C does not compile: headers not found in the "
        "archive or the include paths: tvm/runtime/c_backend_api.h, "
        "tvm/runtime/c_runtime_api.h")} in doc["notes"]  # type: ignore[operator]


def test_diff_with_a_board_but_no_cross_compiler_names_the_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlfcheck.cli import main

    v6 = str(Path(__file__).resolve().parents[2] / "fixtures" / "v6-graph-add.tar")
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, err = invoke(main, "diff", v6, v6, "--board", "mps2-an386")
    assert (code, out) == (2, "")
    assert err == ("mlfcheck diff: error: arm-none-eabi-gcc not found: "
                   "apt-get install gcc-arm-none-eabi\n")
    code, _, err = invoke(main, "diff", v6, v6, "--board", "uno")
    assert code == 2 and err.startswith("mlfcheck diff: error: unknown board 'uno' (known: ")


def test_run_counts_one_call_of_the_entry_point_as_the_export_check_does(
        default_archive: tuple[Path, object]) -> None:
    """`size --run`: mlfcheck's own caller of tvmgen_default_run, counted in QEMU; the same
    count as the export's board check of the same archive (the same function on the same
    board)."""
    archive, result = default_archive
    code, out, err = invoke(size, str(archive), "--board", "mps2-an386", "--run")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith(", compiled, linked with a caller and run in QEMU, 2 source files")
    (checked,) = result.board_runs  # type: ignore[attr-defined]
    assert lines[-1] == (f"{checked.instructions} instructions per inference "
                         "(tvmgen_default_run, counted in QEMU)")
    code, out, err = invoke(size, str(archive), "--board", "mps2-an386", "--run",
                            "--format", "json")
    assert json.loads(out)["run"] == {"entry": "tvmgen_default_run",
                                      "instructions": checked.instructions, "not_run": None}


@pytest.mark.shared
def test_run_says_why_an_archive_without_the_struct_entry_point_is_not_counted(
        tools: crossbuild.Toolchain, real: dict[str, Path]) -> None:
    code, out, err = invoke(size, str(real["sine-aot-v5-zephyr"]), "--board", "mps2-an386",
                            "--run", "-I", str(RUNTIME_ABI))
    assert code == 0, err
    assert out.splitlines()[-1] == (
        "instructions per inference: not counted (tvmgen_default_run did not run: compiles, "
        "then links failed: undefined reference to `tvmgen_default_run')")


def test_diff_with_a_board_judges_instructions_per_inference(
        tools: crossbuild.Toolchain, tmp_path: Path) -> None:
    """The same int8 convolution exported with its integer kernel and with the float lowering
    (--no-integer): both run, their counts differ, and D215/D216 follow the threshold."""
    pytest.importorskip("tvm")
    from tflitegen import single_op_model

    from mlfcheck.api import count_entry_point
    from mlfcheck.export import export_model

    model = tmp_path / "conv.tflite"
    model.write_bytes(single_op_model("conv2d"))
    paths = {}
    for name, integer in (("int", True), ("float", False)):
        paths[name] = str(tmp_path / f"{name}.tar")
        export_model(str(model), paths[name], epoch=0, integer=integer)
    counts = {k: count_entry_point(v, "mps2-an386").instructions for k, v in paths.items()}
    assert None not in counts.values() and counts["int"] != counts["float"], counts
    low, high = sorted(paths, key=lambda k: counts[k])
    _, doc = _diff_json(paths[low], paths[high], "--board", "mps2-an386")
    grew = next(c for c in doc["changes"] if c["subject"] ==  # type: ignore[union-attr]
                "instructions per inference on mps2-an386")
    assert grew["rule"] == "D215" and grew["reason"] == "over the instructions threshold"
    _, doc = _diff_json(paths[high], paths[low], "--board", "mps2-an386")
    fell = next(c for c in doc["changes"] if c["subject"] ==  # type: ignore[union-attr]
                "instructions per inference on mps2-an386")
    assert fell["rule"] == "D216" and fell["reason"] == "the instructions shrank"
