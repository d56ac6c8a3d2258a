"""The schema registry: version → JSON Schema, loaded from the package's `schemas/` data."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators

from mlfcheck.errors import UsageError
from mlfcheck.reading.jsondoc import is_json_type

_MLF_NAME = re.compile(r"^mlf-v(\d+)\.schema\.json$")


def schema_dir() -> Path:
    """Where the schemas live: inside the installed wheel, or `schemas/` in a source checkout."""
    packaged = resources.files("mlfcheck").joinpath("schemas")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "schemas"


def schema_names() -> list[str]:
    """File names of every schema shipped, sorted (MLF versions in numeric order first)."""
    names = [p.name for p in schema_dir().glob("*.schema.json")]
    return sorted(names, key=lambda n: (0, int(m.group(1)), n) if (m := _MLF_NAME.match(n))
                  else (1, 0, n))


def known_versions() -> tuple[int, ...]:
    """MLF versions that have a schema."""
    return tuple(int(m.group(1)) for n in schema_names() if (m := _MLF_NAME.match(n)))


@cache
def load(name: str) -> dict[str, Any]:
    """One shipped schema by file name ('mlf-v7.schema.json', 'validate-report.schema.json');
    any other name, a path included, is a UsageError (nothing outside `schemas/` is read)."""
    if name not in schema_names():
        raise UsageError(f"no schema named {name!r}; known: {', '.join(schema_names())}")
    result: dict[str, Any] = json.loads((schema_dir() / name).read_text(encoding="utf-8"))
    return result


def mlf_schema(version: int) -> dict[str, Any]:
    """The metadata.json schema of one MLF version."""
    if version not in known_versions():
        raise UsageError(f"no schema for MLF version {version}; known versions: "
                         f"{', '.join(map(str, known_versions()))}")
    return load(f"mlf-v{version}.schema.json")


def is_version_number(value: Any) -> bool:
    """An integer as JSON writes one: TVM never wrote 1.0 or true for a count, size or version."""
    return is_json_type(value, "integer")


def _is_json_integer(checker: Any, instance: Any) -> bool:
    return is_version_number(instance)


StrictValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_json_integer))
"""Draft 2020-12, except that 'integer' excludes 1.0 (the standard counts it as an integer)."""


@cache
def validator(name: str) -> Any:
    """A ready validator for one schema file (format checks off, as the schemas use patterns).

    Local `$ref`s are inlined first (`inlined`): the same verdicts and error paths, in about
    half the time on a metadata.json with thousands of operator functions."""
    return StrictValidator(inlined(load(name)))


_ANNOTATIONS = frozenset({"$ref", "description", "title", "$comment"})


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every `{"$ref": "#/$defs/X"}` (annotations beside it allowed) replaced by
    a copy of X, itself inlined; a reference back into a definition being inlined stays, and so
    does one with other keywords beside it (v1-v3's root). The definitions are inlined the
    same way and kept, so whatever reference is left still resolves.

    jsonschema reports an error's schema path by the keywords it went through, never naming a
    `$ref` or a definition, so paths and messages are unchanged; it only stops looking each
    reference up for every array element it checks."""
    defs = schema.get("$defs", {})

    def walk(node: Any, within: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(v, within) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and node.keys() <= _ANNOTATIONS:
            target = ref.removeprefix("#/$defs/")
            if target in defs and target not in within:
                return walk(defs[target], (*within, target))
        return {k: walk(v, within) for k, v in node.items()}

    result: dict[str, Any] = {k: walk(v, ()) for k, v in schema.items() if k != "$defs"}
    if isinstance(defs, dict):
        result["$defs"] = {name: walk(d, (name,)) for name, d in defs.items()}
    return result


def best_leaf(error: Any) -> Any:
    """For oneOf/anyOf/if-then failures, the most relevant sub-error (jsonschema's best_match)."""
    from jsonschema.exceptions import best_match

    if error.context:
        return best_leaf(best_match(error.context))
    return error


_ADDITIONAL = re.compile(r"Additional properties are not allowed \((.*) (?:was|were) unexpected\)")


def describe(error: Any) -> str:
    """A schema error in one short sentence (the schema's own description for `not: {}`)."""
    if error.validator == "not" and error.validator_value == {}:
        key = error.absolute_path[-1] if error.absolute_path else "this value"
        why = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
        return why or f"{key!r} is not allowed here"
    message = str(error.message)
    m = _ADDITIONAL.match(message)
    if m:
        return f"unexpected key(s) {m.group(1)}"
    return message if len(message) <= 160 else message[:157] + "..."
