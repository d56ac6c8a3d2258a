"""The exporter oracles each catch the class of bug they are for, planted into a real export of a
residual model (two storage blocks live at once, kernel scratch)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mlfcheck.export import ExportResult
from mlfcheck.fuzz.exports import EPOCH, export_is_clean
from mlfcheck.fuzz.metamorphic import diffs_are_expected, renamed, reordered, with_identity
from mlfcheck.fuzz.models import Input, Layer, ModelSpec, render
from mlfcheck.fuzz.oracles import (
    c_builds_agree,
    header_matches_metadata,
    operator_workspace_matches,
    params_are_the_constants,
    plan_matches_use,
)
from mlfcheck.fuzz.outcomes import Bucket, PropertyFailure

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")

RESIDUAL = ModelSpec((Input((1, 4, 8, 8), "float32"),), (
    Layer("conv2d", option=3), Layer("max_pool2d", option=1), Layer("conv2d", option=3),
    Layer("max_pool2d", option=1), Layer("add", other=2, option=3)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ExportResult]:
    folder = tmp_path_factory.mktemp("residual")
    model = folder / "model.py"
    model.write_text(render(RESIDUAL).source)
    result = export_is_clean(model, folder / "model.tar")
    assert len(result.plan.storage) == 2 and result.plan.scratch
    return model, result


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
