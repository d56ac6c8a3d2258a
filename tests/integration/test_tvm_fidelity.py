"""Checks that follow what TVM's exporter really wrote: io_size_bytes of AOT main, sub-byte
buffer sizes, .cc sources before v5 and templates/ in graph-only archives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fixture_writer import mf

from mlfcheck.findings import Finding
from mlfcheck.validate import validate


def findings(tmp_path: Path, files: dict[str, bytes], code: str) -> list[Finding]:
    path = tmp_path / "model.tar"
    path.write_bytes(mf.tar_bytes(mf.entries_of(files)))
    return [f for f in validate(path).findings if f.code.name == code]


def with_io_size(files: dict[str, bytes], delta: int) -> dict[str, bytes]:
    meta: dict[str, Any] = json.loads(files["metadata.json"])
    main = meta["modules"]["add"]["memory"]["functions"]["main"][0]
    main["io_size_bytes"] = sum(t["size"] for group in ("inputs", "outputs")
                                for t in main[group].values()) + delta
    return {**files, "metadata.json": mf.full_json(meta)}


def test_aot_io_size_above_inputs_and_outputs_is_tvms_a_normal_form_and_not_reported(
        tmp_path: Path) -> None:
    assert findings(tmp_path, with_io_size(mf.v7({"add": "aot"}), +64), "C003") == []
    (below,) = findings(tmp_path, with_io_size(mf.v7({"add": "aot"}), -1), "C003")
    assert "below the 18 bytes its inputs and outputs take" in below.message


def test_graph_io_size_must_equal_inputs_and_outputs(tmp_path: Path) -> None:
    (above,) = findings(tmp_path, with_io_size(mf.v7({"add": "graph"}), +64), "C003")
    assert above.message == "io_size_bytes is 82 but inputs and outputs add up to 18"
    assert findings(tmp_path, with_io_size(mf.v7({"add": "graph"}), 0), "C003") == []


def with_buffer(files: dict[str, bytes], dtype: str, shape: list[int],
                size: int) -> dict[str, bytes]:
    meta: dict[str, Any] = json.loads(files["metadata.json"])
    meta["memory"]["add"][0].update(dtype=dtype, shape=shape, size_bytes=size)
    return {**files, "metadata.json": mf.operator_json(meta)}


def test_sub_byte_operator_buffers_are_sized_with_tvms_packed_formula(tmp_path: Path) -> None:
    assert findings(tmp_path, with_buffer(mf.v7_operator(), "int4", [3], 2), "C004") == []
    (wrong,) = findings(tmp_path, with_buffer(mf.v7_operator(), "int4", [3], 3), "C004")
    assert wrong.message == ("buffer of 'add': size 3 differs from 2 for shape [3] of int4 "
                             "(prod(shape) x bits, rounded up to bytes)")
    assert findings(tmp_path, with_buffer(mf.v4_operator(), "int8", [3], 3), "C004") == []


def test_cc_codegen_sources_before_v5_are_a_warning(tmp_path: Path) -> None:
    cc = {"codegen/host/src/lib2.cc": b"int f(void) { return 0; }\n"}
    (early,) = findings(tmp_path, {**mf.v4_operator(), **cc}, "L002")
    assert early.member == "codegen/host/src/lib2.cc"
    assert "only from cc5382ed41 (v5 on)" in early.message
    assert findings(tmp_path, {**mf.v6_graph(), "codegen/host/src/add_lib2.cc": b""}, "L002") == []


def test_templates_in_a_graph_only_archive_are_a_warning(tmp_path: Path) -> None:
    template = {"templates/crt_config.h.template": b"#define TVM_CRT_LOG_LEVEL 0\n"}
    (graph,) = findings(tmp_path, {**mf.v7({"add": "graph"}), **template}, "L002")
    assert graph.member == "templates"
    assert "only for AOT modules" in graph.message
    assert findings(tmp_path, {**mf.v7({"add": "aot"}), **template}, "L002") == []
