"""Tests of the versioned MLF metadata.json JSON Schemas in schemas/ (v1..v7).

These tests use jsonschema directly and never import mlfcheck, so the schemas are checked as
stand-alone files usable from any language. The real archives come from the shared folder
(``MLFCHECK_SHARED`` or ``<repo>/../shared``); the spec examples are copied from
shared/docs/mlf-spec.md sections 2.1-2.7.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import real_dir, real_names
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schemas"
REAL_MLF = real_dir()
VERSIONS = range(1, 8)

# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


@functools.cache
def schema(version: int) -> dict[str, Any]:
    with (SCHEMA_DIR / f"mlf-v{version}.schema.json").open(encoding="utf-8") as f:
        return json.load(f)


@functools.cache
def validator(version: int) -> Draft202012Validator:
    return Draft202012Validator(schema(version))


def errors(version: int, document: Any) -> list[ValidationError]:
    return sorted(validator(version).iter_errors(document), key=lambda e: list(e.absolute_path))


def where(errs: list[ValidationError]) -> set[tuple[str, str | None]]:
    """(JSON path, failing keyword) of each error."""
    return {(e.json_path, e.validator) for e in errs}


@functools.cache
def _real_metadata_text(name: str) -> str:
    folder = REAL_MLF / name
    tar_path = folder / "model.tar"
    if tar_path.exists():
        with tarfile.open(tar_path) as tar:
            member = tar.extractfile("./metadata.json")
            assert member is not None, f"{name}: ./metadata.json is not a regular file"
            return member.read().decode("utf-8")
    return (folder / "metadata.json").read_text(encoding="utf-8")


def real_metadata(name: str) -> dict[str, Any]:
    """A fresh copy of the fixture's metadata.json, safe to mutate."""
    return json.loads(_real_metadata_text(name))


def subschemas(node: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    """Every (JSON pointer, value) in a schema document, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from subschemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from subschemas(value, f"{path}/{index}")


def with_version(document: dict[str, Any], version: int, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(document)
    out["version"] = version
    out.update(changes)
    return out


# --------------------------------------------------------------------------------------------------
# Examples from mlf-spec.md (compacted; values as printed there)
# --------------------------------------------------------------------------------------------------

TARGET_2021 = "c -keys=cpu -link-params=0 -model=host -runtime=c -system-lib=1"

ADD_SIDS = [
    {"input_binding": "a", "size_bytes": 2, "storage_id": 0},
    {"input_binding": "b", "size_bytes": 8, "storage_id": 1},
    {"input_binding": "p0", "size_bytes": 8, "storage_id": 2},
    {"size_bytes": 8, "storage_id": 3},
]

V1_ADD_GRAPH = {
    "export_datetime": "2021-03-10 07:22:20Z",
    "memory": ADD_SIDS,
    "model_name": "add",
    "runtimes": ["graph"],
    "target": {"1": TARGET_2021},
    "version": 1,
}

# §2.1 sub-revision f85cab2052: AOT with memory [] and runtimes ["aot"], still version 1.
V1_ADD_AOT = {
    "export_datetime": "2021-05-05 10:00:00Z",
    "memory": [],
    "model_name": "add",
    "runtimes": ["aot"],
    "target": {"1": "c -keys=cpu -executor=aot -link-params=0 -model=host -runtime=c"},
    "version": 1,
}

V2_ADD_GRAPH = {
    "export_datetime": "2021-05-07 14:54:40Z",
    "memory": {
        "functions": {
            "main": [
                {
                    "constants_size_bytes": 8,
                    "device": 1,
                    "io_size_bytes": 18,
                    "workspace_size_bytes": 0,
                }
            ],
            "operator_functions": [
                {
                    "function_name": "fused_cast_multiply_add",
                    "workspace": [{"device": 1, "workspace_size_bytes": 0}],
                }
            ],
        },
        "sids": ADD_SIDS,
    },
    "model_name": "add",
    "runtimes": ["graph"],
    "target": {"1": TARGET_2021},
    "version": 2,
}

# §2.2: "The AOT variant has no sids, has runtimes ["aot"], and its target string contains
# -executor=aot."
V2_ADD_AOT = {
    "export_datetime": "2021-05-07 14:54:40Z",
    "memory": {"functions": copy.deepcopy(V2_ADD_GRAPH["memory"]["functions"])},
    "model_name": "add",
    "runtimes": ["aot"],
    "target": {
        "1": "c -executor=aot -keys=cpu -link-params=0 -model=host -runtime=c -system-lib=1"
    },
    "version": 2,
}

V4_OPERATOR = {
    "version": 4,
    "model_name": "add",
    "export_datetime": "2021-07-02 10:00:00Z",
    "memory": {
        "add": [
            {"size_bytes": 2, "shape": [2], "dtype": "int8", "input_binding": "placeholder"},
            {"size_bytes": 1, "shape": [1], "dtype": "int8", "input_binding": "placeholder_1"},
            {"size_bytes": 2, "shape": [2], "dtype": "int8", "input_binding": "C"},
        ]
    },
    "target": {"1": TARGET_2021},
    "runtimes": [],
    "style": "operator",
}

# §2.4: "the v2 example with version 4 and style full-model".
V4_FULL_MODEL = with_version(V2_ADD_GRAPH, 4, style="full-model")

V5_AOT_CRT = {
    "executors": ["aot"],
    "export_datetime": "2022-02-01 12:00:00Z",
    "external_dependencies": [
        {
            "short_name": "tvm_standalone_crt",
            "url": "./runtime",
            "url_type": "mlf_path",
            "version_spec": "0.9.dev0",
        }
    ],
    "memory": {
        "functions": {
            "main": [
                {
                    "constants_size_bytes": 8,
                    "device": 1,
                    "io_size_bytes": 18,
                    "workspace_size_bytes": 0,
                }
            ],
            "operator_functions": [
                {
                    "function_name": "tvmgen_add_fused_cast_multiply_add",
                    "workspace": [{"device": 1, "workspace_size_bytes": 0}],
                }
            ],
        }
    },
    "model_name": "add",
    "style": "full-model",
    "target": {"1": "c -keys=cpu -link-params=0 -model=host"},
    "version": 5,
}

# §2.5: "the v4 operator example with version 5 and executors [] in place of runtimes []".
V5_OPERATOR = {
    k: v for k, v in with_version(V4_OPERATOR, 5, executors=[]).items() if k != "runtimes"
}

V6_GRAPH = {
    "executors": ["graph"],
    "export_datetime": "2022-05-23 12:00:00Z",
    "memory": {
        "functions": {
            "main": [
                {
                    "constants_size_bytes": 8,
                    "device": 1,
                    "io_size_bytes": 18,
                    "workspace_size_bytes": 0,
                }
            ],
            "operator_functions": [
                {
                    "function_name": "tvmgen_add_fused_cast_multiply_add",
                    "workspace": [{"device": 1, "workspace_size_bytes": 0}],
                }
            ],
        },
        "sids": ADD_SIDS,
    },
    "model_name": "add",
    "style": "full-model",
    "target": ["c -keys=cpu -model=host"],
    "version": 6,
}

V7_MOD1 = {
    "modules": {
        "mod1": {
            "executors": ["aot"],
            "export_datetime": "2023-05-05 12:00:00Z",
            "external_dependencies": [
                {
                    "short_name": "tvm_standalone_crt",
                    "url": "./runtime",
                    "url_type": "mlf_path",
                    "version_spec": "0.12.0",
                }
            ],
            "memory": {
                "functions": {
                    "main": [
                        {
                            "constants_size_bytes": 0,
                            "device": 1,
                            "inputs": {
                                "data": {"dtype": "int8", "size": 12288},
                                "weight": {"dtype": "int8", "size": 600},
                            },
                            "io_size_bytes": 143960,
                            "outputs": {"output": {"dtype": "int32", "size": 131072}},
                            "workspace_size_bytes": 158088,
                        }
                    ],
                    "operator_functions": [
                        {
                            "function_name": "tvmgen_mod1_fused_nn_conv2d",
                            "workspace": [{"device": 1, "workspace_size_bytes": 158088}],
                        }
                    ],
                }
            },
            "model_name": "mod1",
            "style": "full-model",
            "target": ["c -keys=cpu -model=host"],
        }
    },
    "version": 7,
}

V7_OPERATOR = {
    "version": 7,
    "model_name": "add",
    "export_datetime": "2023-05-05 12:00:00Z",
    "memory": {
        "add": [
            {"size_bytes": 2, "shape": [2], "dtype": "int8", "input_binding": "A"},
            {"size_bytes": 1, "shape": [1], "dtype": "int8", "input_binding": "B"},
            {"size_bytes": 2, "shape": [2], "dtype": "int8", "input_binding": "C"},
        ]
    },
    "target": ["c -keys=cpu -model=host"],
    "executors": [],
    "style": "operator",
}

SPEC_EXAMPLES: dict[str, dict[str, Any]] = {
    "v1-add-graph": V1_ADD_GRAPH,
    "v1-add-aot": V1_ADD_AOT,
    "v2-add-graph": V2_ADD_GRAPH,
    "v2-add-aot": V2_ADD_AOT,
    "v4-operator": V4_OPERATOR,
    "v4-full-model": V4_FULL_MODEL,
    "v5-aot-crt": V5_AOT_CRT,
    "v5-operator": V5_OPERATOR,
    "v6-graph": V6_GRAPH,
    "v7-module-mod1": V7_MOD1,
    "v7-operator": V7_OPERATOR,
}


def same_shape(document: dict[str, Any], a: int, b: int) -> bool:
    """Versions whose metadata.json differs only in the number, so the shape cannot tell them apart.

    v2/v3: "Metadata: unchanged from v2" (mlf-spec.md §2.3). v6/v7 operator style: "Unchanged from
    v6" (§2.7); only full-model moved under modules.
    """
    pair = frozenset({a, b})
    return pair == {2, 3} or (pair == {6, 7} and document.get("style") == "operator")


# --------------------------------------------------------------------------------------------------
# The schema files themselves
# --------------------------------------------------------------------------------------------------


def test_the_schema_folder_holds_the_seven_tvm_versions_and_our_v8() -> None:
    names = {p.name for p in SCHEMA_DIR.glob("mlf-v*.schema.json")}
    assert names == {f"mlf-v{v}.schema.json" for v in [*VERSIONS, 8]}


@pytest.mark.parametrize("version", VERSIONS)
def test_each_schema_is_a_valid_draft_2020_12_schema(version: int) -> None:
    s = schema(version)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(s)


@pytest.mark.parametrize("version", VERSIONS)
def test_each_schema_has_its_id_title_and_a_description_naming_tvm_commits_and_the_draft(
    version: int,
) -> None:
    s = schema(version)
    assert s["$id"] == f"https://mlfcheck.dev/schemas/mlf-v{version}.schema.json"
    assert f"version {version}" in s["title"]
    assert "2020-12" in s["description"]
    assert re.search(r"\b[0-9a-f]{10}\b", s["description"]), (
        "description should name the TVM commit"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_each_schema_pins_version_to_its_own_integer(version: int) -> None:
    prop = schema(version)["properties"]["version"]
    assert prop == {"type": "integer", "const": version, "description": prop["description"]}
    assert "version" in schema(version)["required"]


@pytest.mark.parametrize("version", VERSIONS)
def test_each_schema_is_self_contained_and_every_ref_resolves(version: int) -> None:
    s = schema(version)
    refs = [v for p, v in subschemas(s) if p.endswith("/$ref")]
    assert refs, "schemas share shapes through $defs"
    for ref in refs:
        assert ref.startswith("#/$defs/"), f"{ref} is not a local $defs reference"
        assert ref.removeprefix("#/$defs/") in s["$defs"], f"{ref} does not resolve"


@pytest.mark.parametrize("version", VERSIONS)
def test_each_schema_uses_every_one_of_its_defs(version: int) -> None:
    s = schema(version)
    used = {v.removeprefix("#/$defs/") for p, v in subschemas(s) if p.endswith("/$ref")}
    assert set(s["$defs"]) == used


@pytest.mark.parametrize("version", VERSIONS)
def test_each_object_and_each_of_its_properties_is_described(version: int) -> None:
    missing = []
    for pointer, node in subschemas(schema(version)):
        # Objects: typed ones and the whole-document $defs (which leave "type" to the top level).
        if not isinstance(node, dict) or (
            node.get("type") != "object" and "additionalProperties" not in node
        ):
            continue
        if "description" not in node:
            missing.append(pointer)
        for name, prop in node.get("properties", {}).items():
            if isinstance(prop, dict) and "description" not in prop:
                missing.append(f"{pointer}/properties/{name}")
    missing += [
        f"#/$defs/{name}"
        for name, node in schema(version)["$defs"].items()
        if "description" not in node
    ]
    assert missing == []


# --------------------------------------------------------------------------------------------------
# Real archives
# --------------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_the_shared_folder_has_real_archives_of_versions_4_5_and_7() -> None:
    declared = {real_metadata(name)["version"] for name in real_names()}
    assert declared == {4, 5, 7}


@pytest.mark.parametrize("name", real_names())
def test_a_real_archive_validates_against_the_schema_of_its_declared_version(name: str) -> None:
    metadata = real_metadata(name)
    assert [e.message for e in errors(metadata["version"], metadata)] == []


@pytest.mark.parametrize("name", real_names())
def test_a_real_archive_fails_against_every_other_version_schema(name: str) -> None:
    metadata = real_metadata(name)
    for version in VERSIONS:
        if version != metadata["version"]:
            assert not validator(version).is_valid(metadata), (
                f"v{version} accepted a v{metadata['version']} archive"
            )


@pytest.mark.parametrize("name", real_names())
def test_a_real_archive_relabelled_as_another_version_fails_on_its_shape_too(name: str) -> None:
    """The shape alone tells versions apart: only the version number would be too weak a check."""
    metadata = real_metadata(name)
    for version in VERSIONS:
        if version != metadata["version"]:
            relabelled = with_version(metadata, version)
            shape_errors = [e for e in errors(version, relabelled) if e.json_path != "$.version"]
            assert shape_errors, f"a v{metadata['version']} document has a valid v{version} shape"


# --------------------------------------------------------------------------------------------------
# Spec examples
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", SPEC_EXAMPLES, ids=str)
def test_a_spec_example_validates_against_its_own_version(example: str) -> None:
    document = SPEC_EXAMPLES[example]
    assert [e.message for e in errors(document["version"], document)] == []


@pytest.mark.parametrize("example", SPEC_EXAMPLES, ids=str)
def test_a_spec_example_relabelled_as_another_version_fails_on_its_shape(example: str) -> None:
    document = SPEC_EXAMPLES[example]
    own = document["version"]
    for version in VERSIONS:
        if version == own or same_shape(document, own, version):
            continue
        assert not validator(version).is_valid(with_version(document, version)), (
            f"{example} has a valid v{version} shape"
        )


def test_v2_and_v3_documents_share_one_shape() -> None:
    assert validator(3).is_valid(with_version(V2_ADD_GRAPH, 3))
    assert validator(3).is_valid(with_version(V2_ADD_AOT, 3))


def test_v6_and_v7_operator_documents_share_one_shape() -> None:
    assert validator(6).is_valid(with_version(V7_OPERATOR, 6))
    assert not validator(6).is_valid(with_version(V7_MOD1, 6))


def test_an_operator_target_switches_from_an_object_to_a_list_at_v6() -> None:
    v6_operator = with_version(V5_OPERATOR, 6, target=["c -keys=cpu -model=host"])
    assert errors(6, v6_operator) == []
    assert where(errors(6, V5_OPERATOR | {"version": 6})) == {("$.target", "type")}


# --------------------------------------------------------------------------------------------------
# Negative cases: each points at the offending value
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_document_that_is_not_an_object_is_reported_once(version: int) -> None:
    assert where(errors(version, ["metadata"])) == {("$", "type")}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_missing_version_is_reported_once(version: int) -> None:
    errs = errors(version, {})
    assert [e.message for e in errs].count("'version' is a required property") == 1


@pytest.mark.parametrize(
    "bad", ["1", True, 2, None], ids=["string", "boolean", "other-integer", "null"]
)
def test_a_version_that_is_not_the_integer_itself_is_reported_at_version(bad: Any) -> None:
    errs = errors(1, V1_ADD_GRAPH | {"version": bad})
    assert errs
    assert {e.json_path for e in errs} == {"$.version"}


def test_a_float_version_equal_to_the_integer_is_left_to_the_json_reader() -> None:
    """Draft 2020-12 counts 1.0 as an integer; mlfcheck rejects floats before the schema."""
    assert errors(1, V1_ADD_GRAPH | {"version": 1.0}) == []


def test_a_v1_memory_given_as_an_object_is_reported_at_memory() -> None:
    errs = errors(1, V1_ADD_GRAPH | {"memory": V2_ADD_GRAPH["memory"]})
    assert where(errs) == {("$.memory", "type")}


def test_a_v1_aot_export_with_a_non_empty_memory_is_reported_at_memory() -> None:
    errs = errors(1, V1_ADD_AOT | {"memory": ADD_SIDS})
    assert where(errs) == {("$.memory", "maxItems")}


def test_sids_in_an_aot_export_are_reported_at_memory_sids() -> None:
    document = copy.deepcopy(V5_AOT_CRT)
    document["memory"]["sids"] = ADD_SIDS
    errs = errors(5, document)
    assert where(errs) == {("$.memory.sids", "not")}
    assert list(errs[0].absolute_path) == ["memory", "sids"]


def test_sids_in_a_v7_aot_module_are_reported_inside_that_module() -> None:
    document = copy.deepcopy(V7_MOD1)
    document["modules"]["mod1"]["memory"]["sids"] = ADD_SIDS
    assert where(errors(7, document)) == {("$.modules.mod1.memory.sids", "not")}


def test_a_graph_export_without_sids_is_reported_at_memory() -> None:
    document = copy.deepcopy(V6_GRAPH)
    del document["memory"]["sids"]
    assert where(errors(6, document)) == {("$.memory", "required")}


def test_external_dependencies_in_a_graph_export_are_reported_there() -> None:
    document = V6_GRAPH | {"external_dependencies": V5_AOT_CRT["external_dependencies"]}
    assert where(errors(6, document)) == {("$.external_dependencies", "not")}


def test_executors_with_two_items_are_reported_at_executors() -> None:
    errs = errors(5, V5_AOT_CRT | {"executors": ["graph", "aot"]})
    assert where(errs) == {("$.executors", "maxItems")}


def test_an_unknown_executor_name_is_reported_at_that_item() -> None:
    errs = errors(6, V6_GRAPH | {"executors": ["vm"]})
    assert where(errs) == {("$.executors[0]", "enum")}


def test_an_operator_export_with_an_executor_is_reported_at_executors() -> None:
    errs = errors(7, V7_OPERATOR | {"executors": ["graph"]})
    assert where(errs) == {("$.executors", "maxItems")}


def test_a_target_object_in_v6_is_reported_at_target() -> None:
    errs = errors(6, V6_GRAPH | {"target": {"1": "c -keys=cpu -model=host"}})
    assert where(errs) == {("$.target", "type")}


def test_a_target_key_that_is_not_a_device_number_is_reported_at_target() -> None:
    errs = errors(5, V5_AOT_CRT | {"target": {"cpu": "c -keys=cpu -model=host"}})
    assert where(errs) == {("$.target", "pattern")}


def test_runtimes_in_v5_is_reported_as_an_unexpected_key_with_executors_missing() -> None:
    document = {k: v for k, v in V5_AOT_CRT.items() if k != "executors"} | {"runtimes": ["aot"]}
    errs = errors(5, document)
    assert where(errs) == {("$", "additionalProperties"), ("$", "required")}
    messages = " ".join(e.message for e in errs)
    assert "'runtimes' was unexpected" in messages
    assert "'executors' is a required property" in messages


def test_an_unknown_top_level_key_is_reported_at_the_root() -> None:
    errs = errors(4, V4_FULL_MODEL | {"comment": "added by hand"})
    assert where(errs) == {("$", "additionalProperties")}
    assert "'comment' was unexpected" in errs[0].message


def test_a_key_of_a_later_version_is_rejected_in_an_earlier_one() -> None:
    document = copy.deepcopy(V6_GRAPH)
    document["memory"]["functions"]["main"][0]["inputs"] = {"a": {"size": 2, "dtype": "uint8"}}
    document["memory"]["functions"]["main"][0]["outputs"] = {
        "output": {"size": 8, "dtype": "float32"}
    }
    errs = errors(6, document)
    assert where(errs) == {("$.memory.functions.main[0]", "additionalProperties")}


def test_a_v7_module_without_model_name_is_reported_at_that_module() -> None:
    document = copy.deepcopy(V7_MOD1)
    del document["modules"]["mod1"]["model_name"]
    errs = errors(7, document)
    assert where(errs) == {("$.modules.mod1", "required")}
    assert "'model_name' is a required property" in errs[0].message


def test_a_v7_full_model_document_with_flat_keys_asks_for_modules() -> None:
    flat = with_version(V6_GRAPH, 7)
    errs = errors(7, flat)
    assert ("$", "required") in where(errs)
    assert any("'modules' is a required property" in e.message for e in errs)


def test_a_v7_document_with_no_modules_is_reported_at_modules() -> None:
    assert where(errors(7, {"version": 7, "modules": {}})) == {("$.modules", "minProperties")}


def test_a_negative_size_is_reported_at_that_size() -> None:
    document = copy.deepcopy(V7_MOD1)
    document["modules"]["mod1"]["memory"]["functions"]["main"][0]["inputs"]["data"]["size"] = -1
    errs = errors(7, document)
    assert where(errs) == {("$.modules.mod1.memory.functions.main[0].inputs.data.size", "minimum")}
    assert list(errs[0].absolute_path) == [
        "modules",
        "mod1",
        "memory",
        "functions",
        "main",
        0,
        "inputs",
        "data",
        "size",
    ]


def test_a_device_of_zero_is_reported_at_device() -> None:
    document = copy.deepcopy(V2_ADD_GRAPH)
    document["memory"]["functions"]["operator_functions"][0]["workspace"][0]["device"] = 0
    errs = errors(2, document)
    assert where(errs) == {
        ("$.memory.functions.operator_functions[0].workspace[0].device", "minimum")
    }


def test_v7_inputs_without_outputs_are_reported_at_the_main_entry() -> None:
    document = copy.deepcopy(V7_MOD1)
    del document["modules"]["mod1"]["memory"]["functions"]["main"][0]["outputs"]
    assert where(errors(7, document)) == {
        ("$.modules.mod1.memory.functions.main[0]", "dependentRequired")
    }


@pytest.mark.parametrize(
    "stamp",
    [
        "2021-03-10T07:22:20Z",
        "2021-03-10 07:22:20",
        "2021-03-10 07:22:20+00:00",
        "21-03-10 07:22:20Z",
    ],
)
def test_a_malformed_export_datetime_is_reported_at_export_datetime(stamp: str) -> None:
    errs = errors(6, V6_GRAPH | {"export_datetime": stamp})
    assert where(errs) == {("$.export_datetime", "pattern")}


def test_a_malformed_export_datetime_in_an_operator_document_is_reported_there() -> None:
    errs = errors(4, V4_OPERATOR | {"export_datetime": "2021-07-02"})
    assert where(errs) == {("$.export_datetime", "pattern")}


def test_an_operator_buffer_with_a_null_input_binding_is_accepted() -> None:
    document = copy.deepcopy(V4_OPERATOR)
    document["memory"]["add"][2]["input_binding"] = None
    assert errors(4, document) == []


def test_a_misspelled_style_is_reported_at_style() -> None:
    errs = errors(5, V5_AOT_CRT | {"style": "fullmodel"})
    assert where(errs) == {("$.style", "const")}


def test_an_external_dependency_with_another_url_type_is_reported_there() -> None:
    document = copy.deepcopy(V5_AOT_CRT)
    document["external_dependencies"][0]["url_type"] = "https"
    assert where(errors(5, document)) == {("$.external_dependencies[0].url_type", "const")}
