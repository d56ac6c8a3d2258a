"""What every check sees (`Context`) and how a check declares its codes and needs (`check`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from mlfcheck import schemas
from mlfcheck.archive import Archive
from mlfcheck.errors import ArchiveError
from mlfcheck.findings import Code, Finding
from mlfcheck.jsondoc import JSONDoc, JSONDocError, parse_bytes, pointer_of
from mlfcheck.layouts import Fingerprint, fingerprint
from mlfcheck.model import Model, ModelError
from mlfcheck.params import ParamsError, ParamsFile, read_params

METADATA = "metadata.json"

NEEDS = ("archive", "document", "version", "model")
"""What a check needs, weakest first: the member list, parsed JSON, a known version, a
schema-valid document."""

CheckFn = Callable[["Context"], Iterator[Finding]]


@dataclass(frozen=True)
class Check:
    """A registered check: the function, the codes it may yield, and what it needs."""

    fn: CheckFn
    codes: tuple[Code, ...]
    needs: str

    @property
    def name(self) -> str:
        """The function name, used in reports of skipped checks."""
        return self.fn.__name__

    @property
    def doc(self) -> str:
        """First line of the check's docstring: what it enforces."""
        return (self.fn.__doc__ or "").strip().splitlines()[0]


def check(*codes: Code, needs: str) -> Callable[[CheckFn], Check]:
    """Declare a function as a check yielding `codes`, runnable once `needs` is available."""
    assert needs in NEEDS, needs

    def wrap(fn: CheckFn) -> Check:
        return Check(fn, codes, needs)

    return wrap


class Context:
    """One archive under validation; derived facts are computed once, on first use."""

    def __init__(self, archive: Archive, *, digest_params: bool = False) -> None:
        self.archive = archive
        self.digest_params = digest_params
        """Hash every parameter tensor's data (the differ compares values; validate does not)."""

    # -- metadata.json ------------------------------------------------------------------------

    @cached_property
    def metadata(self) -> tuple[JSONDoc | None, Finding | None]:
        """The parsed metadata.json, or the finding that says why there is none."""
        a = self.archive
        member = a.members.get(METADATA)
        if member is None:
            return None, Finding(Code.M001, "metadata.json is missing from the archive root")
        if member.is_dir:
            return None, Finding(Code.M002, "metadata.json is a directory", member=METADATA)
        if member.size > a.limits.max_metadata_size:
            return None, Finding(Code.M008, f"metadata.json is {member.size} bytes, over the "
                                 f"{a.limits.max_metadata_size}-byte limit", member=METADATA)
        data = a.read(METADATA, limit=a.limits.max_metadata_size)
        try:
            return parse_bytes(data, max_depth=a.limits.max_json_depth), None
        except JSONDocError as exc:
            return None, Finding(exc.code, exc.message, member=METADATA, pointer=exc.pointer,
                                 line=exc.line, column=exc.column, offset=exc.offset)

    @property
    def doc(self) -> JSONDoc | None:
        """The parsed metadata document, when it parsed."""
        return self.metadata[0]

    @property
    def meta(self) -> dict[str, Any]:
        """The metadata as a dict (empty when it is not an object)."""
        value = self.doc.value if self.doc else None
        return value if isinstance(value, dict) else {}

    def at(self, code: Code, message: str, pointer: str, member: str = METADATA) -> Finding:
        """A finding located at a JSON Pointer of metadata.json (with its line and column)."""
        pos = self.doc.position(pointer) if self.doc and member == METADATA else None
        return Finding(code, message, member=member, pointer=pointer,
                       line=pos[0] if pos else None, column=pos[1] if pos else None)

    # -- version and schema -------------------------------------------------------------------

    @cached_property
    def declared_version(self) -> tuple[int | None, Finding | None]:
        """The declared version when it is a known integer, or the finding that says why not."""
        doc = self.doc
        if doc is None:
            return None, None
        if not isinstance(doc.value, dict):
            kind = type(doc.value).__name__
            return None, self.at(Code.S001, f"metadata.json is a JSON {kind}, not an object", "")
        if "labelled_files" in doc.value:
            return None, self.at(Code.S004, "metadata has 'labelled_files': this is a microTVM "
                                 "Artifact, not Model Library Format", "/labelled_files")
        if "version" not in doc.value:
            return None, self.at(Code.S001, "metadata.json has no 'version' key", "")
        raw = doc.value["version"]
        if isinstance(raw, bool) or not isinstance(raw, int):
            return None, self.at(Code.S001, f"'version' is {json.dumps(raw)[:40]} "
                                 f"({_json_type(raw)}), expected an integer", "/version")
        known = schemas.known_versions()
        if raw not in known:
            return None, self.at(Code.S002, f"MLF version {raw} is unknown; known versions: "
                                 f"{', '.join(map(str, known))}", "/version")
        return raw, None

    @property
    def version(self) -> int | None:
        """The declared, known MLF version."""
        return self.declared_version[0]

    @cached_property
    def fingerprint(self) -> Fingerprint:
        """Which versions the archive's keys and paths suggest."""
        return fingerprint(self.meta, self.archive)

    @cached_property
    def schema_findings(self) -> list[Finding]:
        """Every schema violation of the declared version, most precise first."""
        assert self.version is not None
        v = schemas.validator(f"mlf-v{self.version}.schema.json")
        out = []
        for error in sorted(v.iter_errors(self.meta), key=lambda e: list(e.absolute_path)):
            leaf = _best_leaf(error)
            pointer = pointer_of(list(leaf.absolute_path))
            out.append(self.at(Code.S003, f"{_describe(leaf)} (schema mlf-v{self.version}: "
                               f"{'/'.join(map(str, leaf.absolute_schema_path))})", pointer))
        return out

    @property
    def model(self) -> Model | None:
        """The normalised model, when the document is valid against its schema."""
        return self.model_result[0]

    @cached_property
    def model_result(self) -> tuple[Model | None, Finding | None]:
        """The model, or the finding that says why a schema-valid document does not fit it."""
        if self.version is None or self.schema_findings:
            return None, None
        try:
            return Model.from_metadata(self.meta, self.version), None
        except ModelError as exc:
            return None, self.at(Code.S003, f"{exc} (the schema lets it through; please "
                                 "report this)", "")

    # -- other members -------------------------------------------------------------------------

    @cached_property
    def _params(self) -> dict[str, ParamsFile | ParamsError | None]:
        return {}

    def params(self, path: str) -> ParamsFile | ParamsError | None:
        """The parsed parameters file at `path`, its error, or None when absent/unreadable."""
        if path not in self._params:
            result: ParamsFile | ParamsError | None = None
            if self.archive.readable(path):
                member = self.archive.members[path]
                try:
                    with self.archive.open(path) as stream:
                        result = read_params(stream, member.size,
                                             digest=self.digest_params)
                except ParamsError as exc:
                    result = exc
                except ArchiveError as exc:
                    result = ParamsError(str(exc), 0)
            self._params[path] = result
        return self._params[path]

    def text(self, path: str) -> str | None:
        """A member decoded as UTF-8 (undecodable bytes replaced), None if absent/unreadable."""
        if not self.archive.readable(path):
            return None
        return self.archive.read(path).decode("utf-8", errors="replace")


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}[type(value)]


def _best_leaf(error: Any) -> Any:
    """For oneOf/anyOf/if-then failures, the most relevant sub-error (jsonschema's best_match)."""
    from jsonschema.exceptions import best_match

    if error.context:
        return _best_leaf(best_match(error.context))
    return error


_ADDITIONAL = re.compile(r"Additional properties are not allowed \((.*) (?:was|were) unexpected\)")


def _describe(error: Any) -> str:
    if error.validator == "not" and error.validator_value == {}:
        key = error.absolute_path[-1] if error.absolute_path else "this value"
        why = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
        return why or f"{key!r} is not allowed here"
    message = str(error.message)
    m = _ADDITIONAL.match(message)
    if m:
        return f"unexpected key(s) {m.group(1)}"
    return message if len(message) <= 160 else message[:157] + "..."
