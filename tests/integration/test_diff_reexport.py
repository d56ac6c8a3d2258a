"""Two real v8 exports of one model with the same interface (issue 20 §3): with and without
`--no-integer` they pass the gate, and a kernel renamed everywhere in one is one rename."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest
from cli_helpers import invoke

from mlfcheck.cli.diff import diff
from mlfcheck.diff import diff_archives
from mlfcheck.diff.rules import Rule
from mlfcheck.reading.archive import Archive

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")

from mlfcheck.export import export_model  # noqa: E402

EPOCH = 1700000000


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> tuple[Path, Path]:
    """hello_world_int8 exported with integer kernels and with --no-integer."""
    out = tmp_path_factory.mktemp("reexport")
    model = str(shared / "models" / "hello_world_int8.tflite")
    return (export_model(model, out / "integer.tar", epoch=EPOCH).path,
            export_model(model, out / "float.tar", epoch=EPOCH, integer=False).path)


def test_the_same_model_with_and_without_integer_kernels_passes_the_gate(
        exports: tuple[Path, Path]) -> None:
    for old, new in (exports, exports[::-1]):
        code, out, _ = invoke(diff, str(old), str(new))
        assert code == 0, out
        result = diff_archives(old, new)
        assert not [c for c in result.changes if c.rule in (Rule.D105, Rule.D415)]
        assert sorted(c.subject for c in result.changes if c.rule is Rule.D412) == [
            "#define TVMGEN_DEFAULT_CONSTANTS_SIZE", "#define TVMGEN_DEFAULT_WORKSPACE_SIZE"]


def test_a_kernel_renamed_everywhere_in_an_export_is_one_rename(
        exports: tuple[Path, Path], tmp_path: Path) -> None:
    with Archive(exports[0]) as archive:
        members = {m.name: archive.read(m.name) for m in archive.files()}
    renamed = tmp_path / "renamed.tar"
    with tarfile.open(renamed, "w") as tar:
        for name, data in sorted(members.items()):
            if not name.startswith("runtime/"):  # the kernel's names, in C, metadata and IR
                data = re.sub(rb"q_dense1(?![0-9])", b"q_dense7", data)
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    result = diff_archives(exports[0], renamed)
    assert [(c.rule, c.old, c.new) for c in result.changes] == [
        (Rule.D404, "__tvm_ffi_tvmgen_default_q_dense1", "__tvm_ffi_tvmgen_default_q_dense7")]
