"""The exporter oracles each catch the class of bug they are for, planted into a real export: a
residual model (two storage blocks live at once, kernel scratch), a model whose outputs are a
view, a bool, and a copy of another output, and an int8 model the integer lowering turns into
an integer kernel."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mlfcheck.export import ExportResult
from mlfcheck.fuzz.exports import EPOCH, export_is_clean
from mlfcheck.fuzz.metamorphic import diffs_are_expected, renamed, reordered, with_identity
from mlfcheck.fuzz.models import Input, Layer, ModelSpec, render
from mlfcheck.fuzz.oracles import (
    c_builds_agree,
    dtypes_agree,
    header_matches_metadata,
    operator_workspace_matches,
    output_copies_are_whole,
    params_are_the_constants,
    plan_matches_use,
)
from mlfcheck.fuzz.outcomes import Bucket, PropertyFailure

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")

RESIDUAL = ModelSpec((Input((1, 4, 8, 8), "float32"),), (
    Layer("conv2d", option=3), Layer("max_pool2d", option=1), Layer("conv2d", option=3),
    Layer("max_pool2d", option=1), Layer("add", other=2, option=3)))
OUTPUTS = """\
from tvm import relax
from tvm.relax import op

bb = relax.BlockBuilder()
x0 = relax.Var("x0", relax.TensorType((1, 16), "float32"))
with bb.function("main", [x0]):
    with bb.dataflow():
        v1 = bb.emit(op.nn.relu(x0))
        v2 = bb.emit(op.reshape(v1, (4, 4)))
        v3 = bb.emit(op.greater(v1, relax.const(0.5, "float32")))
        v4 = bb.emit(op.add(v1, v1))
        out = bb.emit_output(relax.Tuple([v2, v3, v4, v1]))
    bb.emit_func_output(out)

model = bb.get()
output_names = ["y0", "y1", "y2", "y3"]
"""
"""Outputs the AOT entry fills in every way: y0 a view kernels write through, y1 bool, y2 a
kernel's result, y3 a duplicate of y0 (a `memcpy` step)."""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ExportResult]:
    folder = tmp_path_factory.mktemp("residual")
    model = folder / "model.py"
    model.write_text(render(RESIDUAL).source)
    result = export_is_clean(model, folder / "model.tar")
    assert len(result.plan.storage) == 2 and result.plan.scratch
    return model, result


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    folder = tmp_path_factory.mktemp("outputs")
    (folder / "model.py").write_text(OUTPUTS)
    return export_is_clean(folder / "model.py", folder / "model.tar")


def _member(result: ExportResult, name: str) -> str:
    from mlfcheck.reading.archive import Archive

    with Archive(result.path) as archive:
        return archive.read(name).decode()


def _edited(result: ExportResult, tmp_path: Path, member: str, old: str, new: str) -> \
        ExportResult:
    """The archive again with `old` replaced by `new` (once) in one member."""
    text = _member(result, member)
    assert text.count(old) == 1, old
    return _rewritten(result, tmp_path, {member: text.replace(old, new).encode()})


def _rewritten(result: ExportResult, tmp_path: Path, edits: dict[str, bytes]) -> ExportResult:
    """The archive again, with members replaced (archive path → bytes)."""
    from mlfcheck.export.writer import tar_bytes
    from mlfcheck.reading.archive import Archive

    with Archive(result.path) as archive:
        files = {m.name: archive.read(m.name) for m in archive.files()}
    files.update(edits)
    path = tmp_path / "edited.tar"
    path.write_bytes(tar_bytes(files, EPOCH))
    return replace(result, path=path)


def _regenerated(result: ExportResult, tmp_path: Path, plan_edit: dict[str, object]) -> \
        ExportResult:
    from mlfcheck.export import cgen

    plan = replace(result.plan, **plan_edit)  # type: ignore[arg-type]
    generated = cgen.generate(plan, result.name, link_params=True, summary="edited")
    return _rewritten(result, tmp_path,
                      {"codegen/host/src/default_lib1.c": generated.entry_c.encode()})


def test_the_real_export_passes_every_oracle(exported: tuple[Path, ExportResult]) -> None:
    model, result = exported
    assert result.link_params  # c_builds_agree checks nothing without linked parameters
    params_are_the_constants(result)
    header_matches_metadata(result)
    operator_workspace_matches(result)
    plan_matches_use(result)
    c_builds_agree(model, result, 1e-5)


def test_two_live_blocks_placed_on_each_other_are_seen_in_the_c(
        exported: tuple[Path, ExportResult], tmp_path: Path) -> None:
    _, result = exported
    first, second = result.plan.storage
    broken = _regenerated(result, tmp_path, {"storage": (first, replace(
        second, offset=first.offset + 8))})
    with pytest.raises(PropertyFailure) as caught:
        plan_matches_use(broken)
    assert caught.value.bucket is Bucket.MEMORY_MAP
    assert caught.value.signature == "two live regions of the workspace overlap"


def test_a_block_too_small_for_its_kernel_trips_the_canary_after_it(
        exported: tuple[Path, ExportResult]) -> None:
    model, result = exported
    first, second = result.plan.storage
    small = replace(result, plan=replace(result.plan, storage=(replace(first, size=1000),
                                                               second)))
    with pytest.raises(PropertyFailure) as caught:
        c_builds_agree(model, small, 1e-5)
    assert caught.value.bucket is Bucket.MEMORY_SAFETY
    assert "canary: after storage0 +" in caught.value.detail


def test_a_header_size_four_bytes_short_contradicts_the_metadata(
        exported: tuple[Path, ExportResult], tmp_path: Path) -> None:
    _, result = exported
    from mlfcheck.reading.archive import Archive

    with Archive(result.path) as archive:
        header = archive.read("codegen/host/include/tvmgen_default.h").decode()
    short = header.replace("#define TVMGEN_DEFAULT_X0_SIZE 1024",
                           "#define TVMGEN_DEFAULT_X0_SIZE 1020")
    assert short != header
    broken = _rewritten(result, tmp_path,
                        {"codegen/host/include/tvmgen_default.h": short.encode()})
    with pytest.raises(PropertyFailure) as caught:
        header_matches_metadata(broken)
    assert caught.value.bucket is Bucket.ARCHIVE_MODEL
    assert "x0: macro 1020, metadata float32[1, 4, 8, 8] = 1024 bytes" in caught.value.detail


def test_one_changed_parameter_byte_is_seen_by_both_readers(
        exported: tuple[Path, ExportResult], tmp_path: Path) -> None:
    _, result = exported
    from mlfcheck.reading.archive import Archive

    with Archive(result.path) as archive:
        params = bytearray(archive.read("parameters/default.params"))
    params[-1] ^= 0x01
    broken = _rewritten(result, tmp_path, {"parameters/default.params": bytes(params)})
    with pytest.raises(PropertyFailure) as caught:
        params_are_the_constants(broken)
    assert caught.value.bucket is Bucket.ARCHIVE_MODEL
    last = result.plan.constants[-1].name
    assert caught.value.detail.splitlines() == [
        f"{last}: mlfcheck's reader sees other bytes than TVM's constant",
        f"{last}: TVM's loader sees other bytes than TVM's constant"]


def test_known_changes_of_the_model_give_only_their_diff_rules(
        exported: tuple[Path, ExportResult], tmp_path: Path) -> None:
    model, result = exported
    source = model.read_text()
    assert reordered(source) is None  # a chain: no two adjacent layers are independent
    branches = render(ModelSpec((Input((1, 4, 8, 8), "float32"),), (
        Layer("conv2d", option=3), Layer("relu", source=1), Layer("add", other=1, option=3)))
                      ).source
    swapped = reordered(branches)
    assert swapped is not None and sorted(swapped.splitlines()) == sorted(branches.splitlines())
    for transform in (renamed, with_identity):
        changed = transform(source)
        assert changed is not None and changed != source
    diffs_are_expected(model, result.path, tmp_path)
    (tmp_path / "branches.py").write_text(branches)
    first = export_is_clean(tmp_path / "branches.py", tmp_path / "branches.tar")
    diffs_are_expected(tmp_path / "branches.py", first.path, tmp_path)


def test_a_diff_with_other_rules_than_the_relation_allows_is_a_failure(
        exported: tuple[Path, ExportResult], tmp_path: Path) -> None:
    model, _ = exported
    other = tmp_path / "other.py"
    other.write_text(render(ModelSpec((Input((1, 4, 8, 8), "float32"),),
                                      (Layer("relu"),))).source)
    unrelated = export_is_clean(other, tmp_path / "other.tar")
    with pytest.raises(PropertyFailure) as caught:
        diffs_are_expected(model, unrelated.path, tmp_path)
    assert caught.value.bucket is Bucket.METAMORPHIC
    assert caught.value.signature.startswith("rename input x0: unexpected ")


def test_an_operator_workspace_other_than_its_kernel_asks_for_is_seen(
        exported: tuple[Path, ExportResult], tmp_path: Path) -> None:
    _, result = exported
    from mlfcheck.reading.archive import Archive

    with Archive(result.path) as archive:
        metadata = archive.read("metadata.json").decode()
    edited = metadata.replace('"workspace_size_bytes": 2624', '"workspace_size_bytes": 1536')
    assert edited != metadata
    broken = _rewritten(result, tmp_path, {"metadata.json": edited.encode()})
    with pytest.raises(PropertyFailure) as caught:
        operator_workspace_matches(broken)
    assert caught.value.detail == ("__tvm_ffi_tvmgen_default_fused_max_pool2d_add: metadata "
                                   "workspace 1536, the C asks for [1600, 1024]")


def test_outputs_of_every_kind_pass_the_oracles_without_c(outputs: ExportResult) -> None:
    entry = _member(outputs, "codegen/host/src/default_lib1.c")
    assert "memcpy(outputs->y3, outputs->y0, 64);" in entry
    assert "tvmgen_default_tensor(outputs->y1, 2, tvmgen_default_shape0, 6, 8, 1)" in entry
    header_matches_metadata(outputs)
    dtypes_agree(outputs)
    output_copies_are_whole(outputs)
    plan_matches_use(outputs)
    params_are_the_constants(outputs)


def test_an_output_copy_one_element_short_is_seen(outputs: ExportResult,
                                                  tmp_path: Path) -> None:
    broken = _edited(outputs, tmp_path, "codegen/host/src/default_lib1.c",
                     "memcpy(outputs->y3, outputs->y0, 64);",
                     "memcpy(outputs->y3, outputs->y0, 60);")
    header_matches_metadata(broken)
    with pytest.raises(PropertyFailure) as caught:
        output_copies_are_whole(broken)
    assert caught.value.bucket is Bucket.ARCHIVE_MODEL
    assert caught.value.detail == "step 3: memcpy of 60 bytes into output y3 (64 bytes)"


def test_an_output_no_step_writes_is_seen(outputs: ExportResult, tmp_path: Path) -> None:
    broken = _edited(outputs, tmp_path, "codegen/host/src/default_lib1.c",
                     "memcpy(outputs->y3, outputs->y0, 64);", "")
    with pytest.raises(PropertyFailure) as caught:
        output_copies_are_whole(broken)
    assert caught.value.detail == "y3: no step writes this output"


def test_metadata_calling_a_bool_output_uint8_is_seen(outputs: ExportResult,
                                                      tmp_path: Path) -> None:
    metadata = json.loads(_member(outputs, "metadata.json"))
    main = metadata["modules"]["default"]["memory"]["functions"]["main"][0]
    assert main["outputs"]["y1"]["dtype"] == "bool"
    main["outputs"]["y1"]["dtype"] = "uint8"
    broken = _rewritten(outputs, tmp_path,
                        {"metadata.json": json.dumps(metadata, indent=2).encode()})
    header_matches_metadata(broken)  # one byte an element either way: sizes cannot tell
    with pytest.raises(PropertyFailure) as caught:
        dtypes_agree(broken)
    assert caught.value.bucket is Bucket.ARCHIVE_MODEL
    assert caught.value.detail.splitlines() == [
        "y1: metadata uint8[1, 16], header comment bool[1, 16]",
        "y1: metadata uint8 is DLDataType (1, 8, 1), the C passes (6, 8, 1)"]


def test_a_dltensor_of_another_dtype_than_the_metadata_is_seen(outputs: ExportResult,
                                                               tmp_path: Path) -> None:
    broken = _edited(outputs, tmp_path, "codegen/host/src/default_lib1.c",
                     "tvmgen_default_tensor(outputs->y1, 2, tvmgen_default_shape0, 6, 8, 1)",
                     "tvmgen_default_tensor(outputs->y1, 2, tvmgen_default_shape0, 1, 8, 1)")
    with pytest.raises(PropertyFailure) as caught:
        dtypes_agree(broken)
    assert caught.value.detail == ("y1: metadata bool is DLDataType (6, 8, 1), the C passes "
                                   "(1, 8, 1)")


def test_the_entry_is_read_as_c_whatever_its_layout(exported: tuple[Path, ExportResult],
                                                    tmp_path: Path) -> None:
    """The plan ≡ use oracle reads the C's symbol table, not its spelling: the overlap planted
    above is still seen with the run function's calls broken over lines and commented."""
    _, result = exported
    first, second = result.plan.storage
    overlapping = _regenerated(result, tmp_path, {"storage": (first, replace(
        second, offset=first.offset + 8))})
    entry = _member(overlapping, "codegen/host/src/default_lib1.c")
    run = entry.index("int32_t tvmgen_default_run(")
    respelled = entry[:run] + entry[run:].replace(", ", " /* , */ ,\n\t").replace(
        " + ", "+/* plus */")
    (tmp_path / "respelled").mkdir()
    broken = _rewritten(result, tmp_path / "respelled",
                        {"codegen/host/src/default_lib1.c": respelled.encode()})
    with pytest.raises(PropertyFailure) as caught:
        plan_matches_use(broken)
    assert caught.value.signature == "two live regions of the workspace overlap"


def test_an_integer_lowered_model_reaches_the_numeric_comparison(tmp_path: Path) -> None:
    """src/ holds the lowered IR, and the oracle lowers its fresh import the same way: the
    check goes on to the C runs, which a kernel writing every output one unit off fails."""
    tflitegen = pytest.importorskip("tflitegen")
    pytest.importorskip("tflite")
    model = tmp_path / "conv.tflite"
    model.write_bytes(tflitegen.single_op_model("conv2d", seed=3))
    result = export_is_clean(model, tmp_path / "conv.tar")
    assert result.lowering.kernels == {"conv2d": 1}
    assert "q_conv2d" in _member(result, "src/default.relax")
    c_builds_agree(model, result, 1e-5)
    kernels = _member(result, "codegen/host/src/default_lib0.c")
    zero_point = next(line for line in kernels.splitlines()
                      if "int64_t v_ = oprod_ptr[0]" in line)
    off_by_one = _edited(result, tmp_path, "codegen/host/src/default_lib0.c", zero_point,
                         zero_point.replace("oprod_ptr[0]", "oprod_ptr[0] + (int64_t)1"))
    with pytest.raises(PropertyFailure) as caught:
        c_builds_agree(model, off_by_one, 1e-5)
    assert caught.value.bucket is Bucket.NUMERIC_MISMATCH
    assert caught.value.signature == "int8 output on random inputs"
