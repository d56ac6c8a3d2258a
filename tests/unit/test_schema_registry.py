"""The schema registry's validators: inlining `$ref`s changes how fast, never what is found."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlfcheck.reading import schemas

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = {p.name: p for p in sorted((REPO / "fixtures").glob("v*.tar*"))}


def metadata_of(path: Path) -> dict[str, Any]:
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("metadata.json"))
        handle = tar.extractfile(member)
        assert handle is not None
        doc: dict[str, Any] = json.load(handle)
        return doc


def verdicts(validator: Any, doc: Any) -> list[tuple[str, str, str]]:
    """Every error as (instance path, schema path, message), in a stable order."""
    return sorted(("/".join(map(str, e.absolute_path)),
                   "/".join(map(str, e.absolute_schema_path)), e.message)
                  for e in validator.iter_errors(doc))


def plain(version: int) -> Any:
    return schemas.StrictValidator(schemas.mlf_schema(version))


def test_inlining_leaves_only_references_with_other_keywords_beside_them() -> None:
    for version in schemas.known_versions():
        original = schemas.mlf_schema(version)
        inlined = schemas.inlined(original)
        assert inlined["$defs"].keys() == original["$defs"].keys()
        left = [n for n in _nodes(inlined) if isinstance(n, dict) and "$ref" in n]
        assert all(n.keys() - {"$ref", "description"} for n in left), version
        assert len(left) == (version <= 3)  # v1-v3: the root's `$ref` beside `properties`


def _nodes(doc: Any) -> list[Any]:
    children = doc.values() if isinstance(doc, dict) else doc if isinstance(doc, list) else ()
    return [doc] + [n for c in children for n in _nodes(c)]


def test_a_reference_into_the_definition_being_inlined_stays_a_reference() -> None:
    schema = {"$defs": {"Tree": {"type": "object",
                                 "properties": {"child": {"$ref": "#/$defs/Tree"}}}},
              "$ref": "#/$defs/Tree"}
    inlined = schemas.inlined(schema)
    assert inlined["$defs"]["Tree"]["properties"]["child"] == {"$ref": "#/$defs/Tree"}
    doc = {"child": {"child": 3}}
    found = verdicts(schemas.StrictValidator(inlined), doc)
    assert found == verdicts(schemas.StrictValidator(schema), doc)
    assert [(where, message) for where, _, message in found] == [
        ("child/child", "3 is not of type 'object'")]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_fixture_gets_the_same_verdicts_from_both_validators(name: str) -> None:
    doc = metadata_of(DOCUMENTS[name])
    for version in schemas.known_versions():
        found = verdicts(schemas.validator(f"mlf-v{version}.schema.json"), doc)
        assert found == verdicts(plain(version), doc)
        assert bool(found) != (version == doc["version"]), (name, version)


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, dict):
        return [path] + [p for k, v in doc.items() for p in _leaves(v, (*path, k))]
    if isinstance(doc, list):
        return [path] + [p for i, v in enumerate(doc) for p in _leaves(v, (*path, i))]
    return [path]


_REPLACEMENTS = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**40), st.floats(
    allow_nan=False), st.text(max_size=8), st.sampled_from(["[]", "{}", '{"x": 1}']).map(
    json.loads))
"""What a leaf becomes: each container a fresh one, as later mutations may write into it."""


@given(name=st.sampled_from(sorted(DOCUMENTS)), data=st.data())
def test_a_mutated_document_gets_the_same_verdicts_from_both_validators(
        name: str, data: st.DataObject) -> None:
    doc = metadata_of(DOCUMENTS[name])
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_leaves(doc)))
        value = data.draw(_REPLACEMENTS)
        if not path:
            doc = value
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    for version in schemas.known_versions():
        assert verdicts(schemas.validator(f"mlf-v{version}.schema.json"), doc) == \
            verdicts(plain(version), doc)
