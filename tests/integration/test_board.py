"""export --verify --board: real models built with arm-none-eabi-gcc and run in qemu-system-arm.

Skips when the Debian toolchain is absent, except under CI (env CI set) where that is a
failure: .ci/run installs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from board_helpers import require_toolchain
from conftest import models_dir
from export_helpers import pack, run_cli, unpack

pytestmark = [pytest.mark.tvm, pytest.mark.board]
pytest.importorskip("tvm")

from mlfcheck.board import crossbuild  # noqa: E402
from mlfcheck.board.boards import BOARDS, board, board_names  # noqa: E402
from mlfcheck.errors import ExportError  # noqa: E402
from mlfcheck.export import ExportResult, export_model  # noqa: E402
from mlfcheck.export.frontends import load_model  # noqa: E402
from mlfcheck.export.onboard import BoardVerification, verify_on_boards  # noqa: E402

EPOCH = 1700000000
MODELS = {"default": None, "hello_world_float": "hello_world_float.tflite",
          "hello_world_int8": "hello_world_int8.tflite", "mnist": "mnist-8.onnx"}
CHECKED = ("mps2-an386", "mps2-an385")


@pytest.fixture(scope="module")
def tools() -> crossbuild.Toolchain:
    """The installed toolchain; skip (fail under CI) without it."""
    return require_toolchain()


class _Exports(dict[str, ExportResult]):
    """Each model exported on first use with --verify on the checked boards."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    def __missing__(self, name: str) -> ExportResult:
        model = MODELS[name]
        source = "default" if model is None else str(models_dir() / model)
        self[name] = export_model(source, self.out / f"{name}.tar", name=name, verify=True,
                                  epoch=EPOCH, boards=[board(b) for b in CHECKED])
        return self[name]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, tools: crossbuild.Toolchain,
             ) -> dict[str, ExportResult]:
    """The models by name, each exported (and run on the boards) once, when first asked for."""
    return _Exports(tmp_path_factory.mktemp("board"))


def _run(result: ExportResult, name: str) -> BoardVerification:
    return next(r for r in result.board_runs if r.board.name == name)


@pytest.mark.parametrize("target", CHECKED)
@pytest.mark.parametrize("model", [
    "default", *(pytest.param(m, marks=pytest.mark.shared) for m in MODELS if m != "default")])
def test_each_model_runs_on_the_board_and_matches_tvm(exported: dict[str, ExportResult],
                                                      model: str, target: str) -> None:
    result = exported[model]
    assert result.verification is not None and result.verification.ok
    run = _run(result, target)
    assert run.ok, run
    assert not run.overflows and run.fault is None
    assert set(run.max_abs_error) == {t.name for t in result.plan.outputs}
    assert all(err <= run.tolerance for err in run.max_abs_error.values())
    assert run.size is not None
    symbols = {s.name: s for s in run.size.own.symbols}
    # The model's own symbols: its entry function, its workspace (all of it in RAM), its
    # constants in flash; the driver, startup code and C library are the rest of the image.
    assert symbols[f"tvmgen_{model}_run"].kind == "function"
    workspace = symbols[f"tvmgen_{model}_workspace"]
    assert (workspace.kind, workspace.ram, workspace.flash) == \
        ("variable", max(1, result.plan.arena_size), 0)
    assert "main" not in symbols and "mlfcheck_reset" not in symbols
    assert 0 < run.size.own.flash < run.size.flash and 0 < run.size.own.ram <= run.size.ram
    constants = sum(t.nbytes for t in result.plan.constants)
    assert sum(s.flash for s in run.size.own.symbols if s.kind == "constant") >= constants
    assert 0 < run.stack_peak < run.stack_room
    # Counted in QEMU: every multiply-accumulate of the model is at least one instruction.
    assert run.instructions is not None and run.instructions > 1000


def test_soft_float_executes_more_instructions(exported: dict[str, ExportResult]) -> None:
    """The Cortex-M3 build calls the soft-float helpers where the M4F has FPU instructions."""
    soft, hard = (_run(exported["default"], b).instructions for b in ("mps2-an385", "mps2-an386"))
    assert soft is not None and hard is not None and soft > hard


def test_soft_float_and_hard_float_builds_differ(exported: dict[str, ExportResult]) -> None:
    soft, hard = (_run(exported["default"], b) for b in ("mps2-an385", "mps2-an386"))
    assert soft.size is not None and hard.size is not None
    soft_names = {s.name for s in soft.size.own.symbols}
    # Without an FPU the float kernels call the EABI soft-float helpers; their code is libgcc's,
    # not the model's, so the model's own flash differs while its RAM does not.
    assert soft.size.own.ram == hard.size.own.ram
    assert soft.size.flash != hard.size.flash
    assert soft_names == {s.name for s in hard.size.own.symbols}


@pytest.mark.parametrize("target", [b for b in BOARDS if b not in CHECKED])
def test_the_default_model_runs_on_every_other_board(tools: crossbuild.Toolchain,
                                                     exported: dict[str, ExportResult],
                                                     tmp_path: Path, target: str) -> None:
    result = export_model("default", tmp_path / "d.tar", verify=True, epoch=EPOCH,
                          boards=[board(target)])
    (run,) = result.board_runs
    assert run.ok, run
    assert run.size is not None and run.size.flash <= run.board.flash.length
    if target == "netduinoplus2":  # a Cortex-M4F built with mps2-an386's flags: the same code
        assert run.instructions == _run(exported["default"], "mps2-an386").instructions


def test_the_cli_reports_the_board_run(tools: crossbuild.Toolchain, tmp_path: Path) -> None:
    out = tmp_path / "d.tar"
    done = run_cli("--default", "-o", str(out), "--verify", "--board", "mps2-an386",
                   env={"SOURCE_DATE_EPOCH": str(EPOCH)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    head = next(ln for ln in lines if ln.startswith("  verify on mps2-an386 "))
    assert re.match(r"  verify on mps2-an386 \(Arm MPS2 AN386, Cortex-M4F\): ok \(tolerance "
                    r"1e-05; build \d+\.\d\d s, run \d+\.\d\d s\)$", head), head
    sizes = lines[lines.index(head) + 2]
    assert re.match(r"    flash \d+ bytes \(model \d+\), static RAM \d+ bytes \(model \d+\), "
                    r"peak stack \d+ of \d+ bytes$", sizes), sizes
    assert re.match(r"    \d+ instructions per inference \(tvmgen_\*_run, counted in QEMU\)$",
                    lines[lines.index(head) + 3])


_BIG_MODEL = '''
import tvm
from tvm.script import relax as R


@tvm.script.ir_module
class Model:
    @R.function
    def main(x: R.Tensor((1, 16384), "float32")) -> R.Tensor((1, 16384), "float32"):
        y = R.nn.relu(R.add(x, x))
        return y


model = Model
'''


def test_a_model_too_big_for_the_netduino_names_the_region_and_by_how_much(
        tools: crossbuild.Toolchain, tmp_path: Path) -> None:
    model = tmp_path / "big.py"
    model.write_text(_BIG_MODEL)
    out = tmp_path / "big.tar"
    done = run_cli(str(model), "-o", str(out), "--name", "big", "--verify",
                   "--board", "netduinoplus2", "--board", "mps2-an386")
    assert done.returncode == 1, (done.stdout, done.stderr)
    line = next(ln for ln in done.stdout.splitlines() if "netduinoplus2" in ln)
    match = re.search(r": DOES NOT FIT: RAM \(131072 bytes at 0x20000000\) overflowed by "
                      r"(\d+) bytes$", line)
    assert match, line
    # The same image on a board with room: its static RAM plus the heap and the least stack
    # the script reserves is what the netduino lacks, to within the padding between sections
    # (the io buffers and the workspace are 64-byte aligned).
    fits = re.search(r"static RAM (\d+) bytes", done.stdout)
    assert fits
    spare = board("netduinoplus2")
    need = int(fits.group(1)) + spare.heap + spare.stack - spare.ram.length
    assert 0 <= int(match.group(1)) - need <= 64
    assert out.is_file()


def _tampered(archive: Path, work: Path, code: str) -> Path:
    """A copy of the default model's archive whose entry function starts with `code`."""
    root = unpack(archive, work / "unpacked")
    lib1 = root / "codegen/host/src/default_lib1.c"
    text = lib1.read_text()
    head = "int32_t status = 0;\n"
    at = text.index(head, text.index("int32_t tvmgen_default_run(")) + len(head)
    lib1.write_text(text[:at] + f"  {code}\n" + text[at:])
    return pack(root, work / "tampered.tar")


@pytest.fixture(scope="module")
def default_model(tools: crossbuild.Toolchain, tmp_path_factory: pytest.TempPathFactory,
                  ) -> tuple[Path, ExportResult]:
    out = tmp_path_factory.mktemp("default") / "default.tar"
    return out, export_model("default", out, epoch=EPOCH)


def _verify(archive: Path, result: ExportResult, target: str,
            timeout: float = 30.0) -> BoardVerification:
    (run,) = verify_on_boards(archive, load_model("default"), result.plan, "default",
                              [board(target)], link_params=True, tolerance=1e-5,
                              timeout=timeout)
    return run


def test_a_hard_fault_in_the_model_is_reported_with_its_function(
        default_model: tuple[Path, ExportResult], tmp_path: Path) -> None:
    archive = _tampered(default_model[0], tmp_path, "__builtin_trap();")
    run = _verify(archive, default_model[1], "mps2-an386")
    assert not run.ok and run.fault is not None
    assert run.fault.describe().startswith("hard fault in tvmgen_default_run at pc 0x")
    assert "undefined instruction" in run.fault.describe()


def test_a_changed_input_is_a_mismatch(default_model: tuple[Path, ExportResult],
                                       tmp_path: Path) -> None:
    archive = _tampered(default_model[0], tmp_path, "((float*)inputs->image)[0] += 1.0f;")
    run = _verify(archive, default_model[1], "mps2-an385")
    assert run.fault is None and not run.ok
    assert max(run.max_abs_error.values()) > 1e-5


def test_a_hang_times_out_and_leaves_nothing_behind(default_model: tuple[Path, ExportResult],
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    archive = _tampered(default_model[0], tmp_path, "for (;;) {}")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(ExportError, match=r"^verify failed: mps2-an386: the run on mps2-an386 "
                                          r"did not finish within 2 s \(stopped QEMU\)$"):
        _verify(archive, default_model[1], "mps2-an386", timeout=2)
    assert list(scratch.iterdir()) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(scratch) not in ps


@pytest.mark.shared
def test_two_archives_with_different_names_link_into_one_cortex_m_image(
        exported: dict[str, ExportResult], tools: crossbuild.Toolchain, tmp_path: Path) -> None:
    a = unpack(exported["mnist"].path, tmp_path / "a")
    b = unpack(exported["hello_world_float"].path, tmp_path / "b")
    main = tmp_path / "main.c"
    main.write_text("""
#include <stdio.h>
#include "tvmgen_mnist.h"
#include "tvmgen_hello_world_float.h"
static float image[784], digits[10], x[1] = {1.5f}, y[1];
int main(int argc, char** argv) {
  struct tvmgen_mnist_inputs mi = {image};
  struct tvmgen_mnist_outputs mo = {digits};
  struct tvmgen_hello_world_float_inputs hi = {x};
  struct tvmgen_hello_world_float_outputs ho = {y};
  (void)argc;
  (void)argv;
  if (tvmgen_mnist_run(&mi, &mo) != 0 || tvmgen_hello_world_float_run(&hi, &ho) != 0) return 1;
  printf("sine %d\\n", (int)(y[0] * 1000));
  return 0;
}
""")
    target = board("mps2-an386")
    sources = [*sorted((a / "codegen/host/src").glob("*.c")),
               *sorted((b / "codegen/host/src").glob("*.c")),
               *sorted((a / "runtime/src").glob("*.c")), main]
    includes = [a / "codegen/host/include", b / "codegen/host/include", a / "runtime/include"]
    work = tmp_path / "image"
    work.mkdir()
    objects = crossbuild.compile_objects(tools, target, sources, includes, work)
    assert crossbuild.link(tools, target, objects, work / "both.elf") == ()
    ran = crossbuild.run(tools, target, work / "both.elf")
    assert ran.exit_code == 0 and ran.fault is None
    sine = re.search(r"sine (-?\d+)", ran.stdout)
    assert sine and abs(int(sine.group(1)) - 997) < 100  # hello_world approximates sin(1.5)


def _fails_cleanly(done: subprocess.CompletedProcess[str], out: Path) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, lines
    assert not out.exists() and list(out.parent.glob(f".{out.name}*")) == []
    return lines[0]


def test_a_missing_cross_compiler_names_the_package(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "x.tar"
    line = _fails_cleanly(run_cli("--default", "-o", str(out), "--verify", "--board",
                                  "mps2-an386", env={"PATH": str(empty)}), out)
    assert line == ("mlfcheck export: verify failed: arm-none-eabi-gcc not found: "
                    "apt-get install gcc-arm-none-eabi")


def test_a_missing_qemu_names_the_package(tools: crossbuild.Toolchain, tmp_path: Path) -> None:
    only_gcc = tmp_path / "bin"
    only_gcc.mkdir()
    (only_gcc / "arm-none-eabi-gcc").symlink_to(tools.gcc)
    out = tmp_path / "x.tar"
    line = _fails_cleanly(run_cli("--default", "-o", str(out), "--verify", "--board",
                                  "mps2-an386", env={"PATH": str(only_gcc)}), out)
    assert line == ("mlfcheck export: verify failed: qemu-system-arm not found: "
                    "apt-get install qemu-system-arm")


def test_an_unknown_board_is_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "x.tar"
    line = _fails_cleanly(run_cli("--default", "-o", str(out), "--verify", "--board", "uno"),
                          out)
    assert line == f"mlfcheck export: unknown board 'uno' (known: {board_names()})"
    assert board_names().startswith("mps2-an385, mps2-an386, ")  # the table's order


def test_a_board_without_verify_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "x.tar"
    line = _fails_cleanly(run_cli("--default", "-o", str(out), "--board", "mps2-an386"), out)
    assert line == "mlfcheck export: verify failed: boards are part of --verify; give --verify too"
