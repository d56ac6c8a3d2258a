"""Consumer requirements on code (symbol, struct member, system library) and on module facts
(executor, style, name), evaluated on synthetic archives from fixtures/make_fixtures.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fixture_writer import mf

from mlfcheck.consumers import ProfileError, Verdict, check_archive
from mlfcheck.consumers.profile import parse_profile

EVIDENCE = [{"at": "acme/firmware@a1b2c3d:src/main.c:42", "code": "tvmgen_add_run(&i, &o);"}]


def archive(tmp_path: Path, files: dict[str, bytes], name: str = "model.tar") -> str:
    path = tmp_path / name
    path.write_bytes(mf.tar_bytes(mf.entries_of(files)))
    return str(path)


def verdict(path: str, *reads: dict[str, Any]) -> Verdict:
    doc = {"format": "mlfcheck-consumer-profile", "format_version": 1, "name": "test",
           "title": "a test consumer", "sources": [{"what": "this test"}],
           "certainty": "verified", "versions": {"accepts": [7], "checked": False},
           "container": {"formats": ["tar"], "member_names": "any"},
           "reads": [{"why": "needs it", "evidence": EVIDENCE, **r} for r in reads]}
    (found,) = check_archive(path, [parse_profile(doc, "test")])
    return found


# -- symbols ---------------------------------------------------------------------------------------


def test_a_symbol_naming_module_is_required_once_per_module(tmp_path: Path) -> None:
    path = archive(tmp_path, mf.v7({"m1": "aot", "m2": "graph"}))
    v = verdict(path, {"symbol": "tvmgen_{module}_run", "error": "link fails"})
    assert [(f.module, f.read) for f in v.failures] == [("m2", "symbol tvmgen_m2_run")]
    failure = v.failures[0]
    assert failure.message == ("codegen/host/src does not define tvmgen_m2_run (it defines "
                               "TVMSystemLibEntryPoint, tvmgen_m1___tvm_main__, tvmgen_m1_run)")
    assert [e.at for e in failure.evidence] == [EVIDENCE[0]["at"]]


def test_a_symbol_condition_on_the_executor_skips_the_graph_module(tmp_path: Path) -> None:
    path = archive(tmp_path, mf.v7({"m1": "aot", "m2": "graph"}))
    assert verdict(path, {"symbol": "tvmgen_{module}_run", "when": {"executor": "aot"}}).readable


def test_any_one_of_alternative_symbols_suffices(tmp_path: Path) -> None:
    path = archive(tmp_path, mf.v7({"add": "aot"}))
    assert verdict(path, {"symbol": ["tvmgen_add_run_model", "tvmgen_add_run"]}).readable
    v = verdict(path, {"symbol": ["tvmgen_add_run_model", "run"]})
    assert "does not define any of tvmgen_add_run_model, run" in v.failures[0].message


def test_object_files_cannot_answer_for_a_symbol_so_a_note_says_so(tmp_path: Path) -> None:
    files = {"metadata.json": mf.v7({"add": "aot"})["metadata.json"],
             "codegen/host/lib/add_lib0.o": b"\x7fELF"}
    v = verdict(archive(tmp_path, files), {"symbol": "tvmgen_add_run"}, {"system_lib": True})
    assert v.readable
    assert v.notes == (
        "symbol tvmgen_add_run: cannot check tvmgen_add_run: the generated code is object files "
        "(codegen/host/lib), whose symbols are not read",
        "system library entry point: cannot check TVMSystemLibEntryPoint: the generated code is "
        "object files (codegen/host/lib), whose symbols are not read")


def test_the_system_library_is_there_for_graph_and_not_for_aot(tmp_path: Path) -> None:
    graph = archive(tmp_path, mf.v7({"add": "graph"}), "graph.tar")
    aot = archive(tmp_path, mf.v7({"add": "aot"}), "aot.tar")
    assert verdict(graph, {"system_lib": True}).readable
    failure = verdict(aot, {"system_lib": True}).failures[0]
    assert failure.read == "system library entry point"
    assert "does not define TVMSystemLibEntryPoint" in failure.message


# -- header structs --------------------------------------------------------------------------------


def test_a_struct_member_is_found_in_the_interface_header(tmp_path: Path) -> None:
    path = archive(tmp_path, mf.v7({"add": "aot"}))
    assert verdict(path, {"struct": "tvmgen_{module}_inputs", "member": ["x", "b"]}).readable
    v = verdict(path, {"struct": "tvmgen_add_inputs", "member": "input_1"})
    (failure,) = v.failures
    assert failure.read == "struct tvmgen_add_inputs member input_1"
    assert failure.message == "struct tvmgen_add_inputs has no member input_1 (its members: a, b)"
    assert failure.location() == "codegen/host/include/tvmgen_add.h:10:1"


def test_a_struct_without_any_header_says_the_header_is_missing(tmp_path: Path) -> None:
    path = archive(tmp_path, mf.v7({"add": "graph"}))
    (failure,) = verdict(path, {"struct": "tvmgen_add_devices"}).failures
    assert failure.message == ("the archive has no codegen/host/include/*.h declaring struct "
                               "tvmgen_add_devices")


# -- module facts ----------------------------------------------------------------------------------


def test_the_executor_is_read_from_runtimes_or_executors_as_the_version_spells_it(
        tmp_path: Path) -> None:
    v1 = verdict(archive(tmp_path, mf.v1_graph(), "v1.tar"), {"executor": "aot"})
    assert [(f.pointer, f.message) for f in v1.failures] == [
        ("/runtimes", "module 'add' has executor 'graph', the consumer needs 'aot'")]
    assert verdict(archive(tmp_path, mf.v2_aot(), "v2.tar"), {"executor": "aot"}).readable
    v6 = verdict(archive(tmp_path, mf.v6_graph(), "v6.tar"), {"executor": "aot"})
    assert v6.failures[0].location().endswith("#/executors")


def test_a_hard_coded_module_name_and_style_fail_at_their_keys(tmp_path: Path) -> None:
    v7 = verdict(archive(tmp_path, mf.v7({"add": "aot"}), "v7.tar"), {"module_name": "default"})
    assert v7.failures[0].pointer == "/modules/add/model_name"
    op = verdict(archive(tmp_path, mf.v7_operator(), "op.tar"), {"style": "full-model"},
                 {"executor": "aot"})
    assert [(f.pointer, f.message) for f in op.failures] == [
        ("/style", "module 'add' has style 'operator', the consumer needs 'full-model'"),
        ("/executors", "module 'add' has no executor (operator style), the consumer needs 'aot'")]


def test_a_schema_invalid_document_leaves_the_executor_unknown(tmp_path: Path) -> None:
    files = mf.v7({"add": "aot"})
    files["metadata.json"] = files["metadata.json"].replace(b'"version": 7', b'"version": 77')
    (failure,) = verdict(archive(tmp_path, files), {"executor": "aot"}).failures
    assert "metadata.json does not match its version's schema" in failure.message


# -- the profile format ----------------------------------------------------------------------------


@pytest.mark.parametrize(("read", "where"), [
    ({"member": "a", "file": "x"}, "reads[0]"),
    ({"symbol": "not a C name"}, "reads[0].symbol"),
    ({"symbol": "f", "evidence": [{"at": "tvm@abc:path:1"}]}, "reads[0].evidence[0].at"),
    ({"symbol": "f", "when": {"executor": "aot", "equals": 1}}, "reads[0].when"),
])
def test_malformed_requirements_are_refused_with_the_place(read: dict[str, Any],
                                                           where: str) -> None:
    doc = {"format": "mlfcheck-consumer-profile", "format_version": 1, "name": "bad",
           "title": "t", "sources": [{"what": "x"}], "certainty": "verified",
           "versions": {"accepts": [7], "checked": False},
           "container": {"formats": ["tar"], "member_names": "any"},
           "reads": [{"why": "w", **read}]}
    with pytest.raises(ProfileError, match=rf"not a consumer profile: \.{re.escape(where)}"):
        parse_profile(doc, "bad.json")
