"""One opened archive and every fact read from it: metadata, version, model, parameters, graph
configs and C sources, each read once, on first use, as a value or an `Unavailable` saying why.

Every command reads archives through this layer; `checks/` only checks what it holds. The one
rule for "usable enough to summarise, compare or evaluate" is `Loaded.usable_model`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlfcheck.errors import ArchiveError, MlfcheckError
from mlfcheck.findings import Code, Finding
from mlfcheck.reading import schemas
from mlfcheck.reading.archive import Archive
from mlfcheck.reading.csource import CodegenSymbols, CParser
from mlfcheck.reading.jsondoc import JSONDoc, JSONDocError, json_type, parse_bytes, pointer_of
from mlfcheck.reading.layouts import Fingerprint, fingerprint
from mlfcheck.reading.model import Model, ModelError
from mlfcheck.reading.params import ParamsError, ParamsFile, read_params

if TYPE_CHECKING:
    from mlfcheck.board.archivebuild import ArchiveBuilt, Builder, NoCompiler

METADATA = "metadata.json"


@dataclass(frozen=True)
class Unavailable:
    """A fact that could not be read, and the finding that says why (for an earlier fact's
    failure, that earlier finding)."""

    finding: Finding


class UnusableArchive(MlfcheckError):
    """An archive whose metadata cannot be read into a model: nothing to summarise or compare."""


class Loaded:
    """One archive under examination; every fact is computed once, on first use."""

    def __init__(self, archive: Archive, *, digest_params: bool = False,
                 parser: CParser | None = None, builder: Builder | None = None) -> None:
        self.archive = archive
        self.digest_params = digest_params
        """Hash every parameter tensor's data (the differ compares values; validate does not)."""
        self.parser = parser if parser is not None else CParser()
        """What reads the generated C: the caller's, shared with whatever else it loads (the
        other side of a diff), or one of this archive's own."""
        self.builder = builder
        """What builds the archive's C on the host (`validate --build`), the caller's, shared
        with whatever else it builds; None: the C is only read."""
        self._params: dict[str, ParamsFile | ParamsError | None] = {}
        self._graphs: dict[str, JSONDoc | Unavailable | None] = {}
        self._texts: dict[str, str | None] = {}

    # -- metadata.json ------------------------------------------------------------------------

    @cached_property
    def metadata(self) -> JSONDoc | Unavailable:
        """The parsed metadata.json, or why there is none."""
        a = self.archive
        member = a.members.get(METADATA)
        if member is None:
            return Unavailable(Finding(Code.M001, "metadata.json is missing from the archive root"))
        if member.is_dir:
            return Unavailable(Finding(Code.M002, "metadata.json is a directory",
                                       member=METADATA))
        if member.size > a.limits.max_metadata_size:
            return Unavailable(Finding(Code.M008, f"metadata.json is {member.size} bytes, over "
                                       f"the {a.limits.max_metadata_size}-byte limit",
                                       member=METADATA))
        data = a.read(METADATA, limit=a.limits.max_metadata_size)
        try:
            return parse_bytes(data, max_depth=a.limits.max_json_depth)
        except JSONDocError as exc:
            return Unavailable(Finding(exc.code, exc.message, member=METADATA,
                                       pointer=exc.pointer, line=exc.line, column=exc.column,
                                       offset=exc.offset))

    @property
    def doc(self) -> JSONDoc | None:
        """The parsed metadata document, when it parsed."""
        return self.metadata if isinstance(self.metadata, JSONDoc) else None

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

    # -- version, schema and model ------------------------------------------------------------

    @cached_property
    def version(self) -> int | Unavailable:
        """The declared version when it is a known integer, or why not."""
        doc = self.metadata
        if isinstance(doc, Unavailable):
            return doc
        if not isinstance(doc.value, dict):
            kind = json_type(doc.value)
            return Unavailable(self.at(Code.S001, f"metadata.json is a JSON {kind}, not an "
                                       "object", ""))
        if "labelled_files" in doc.value:
            return Unavailable(self.at(Code.S004, "metadata has 'labelled_files': this is a "
                                       "microTVM Artifact, not Model Library Format",
                                       "/labelled_files"))
        if "version" not in doc.value:
            return Unavailable(self.at(Code.S001, "metadata.json has no 'version' key", ""))
        raw = doc.value["version"]
        if not schemas.is_version_number(raw):
            return Unavailable(self.at(Code.S001, f"'version' is {json.dumps(raw)[:40]} "
                                       f"({json_type(raw)}), expected an integer", "/version"))
        known = schemas.known_versions()
        if raw not in known:
            return Unavailable(self.at(Code.S002, f"MLF version {raw} is unknown; known "
                                       f"versions: {', '.join(map(str, known))}", "/version"))
        return int(raw)

    @cached_property
    def fingerprint(self) -> Fingerprint:
        """Which versions the archive's keys and paths suggest."""
        return fingerprint(self.meta, self.archive)

    @cached_property
    def schema_findings(self) -> tuple[Finding, ...]:
        """Every schema violation of the declared version, most precise first (none without a
        known version)."""
        if isinstance(self.version, Unavailable):
            return ()
        v = schemas.validator(f"mlf-v{self.version}.schema.json")
        out = []
        for error in sorted(v.iter_errors(self.meta), key=lambda e: list(e.absolute_path)):
            leaf = schemas.best_leaf(error)
            pointer = pointer_of(list(leaf.absolute_path))
            out.append(self.at(Code.S003, f"{schemas.describe(leaf)} (schema mlf-v"
                               f"{self.version}: "
                               f"{'/'.join(map(str, leaf.absolute_schema_path))})", pointer))
        return tuple(out)

    @cached_property
    def model(self) -> Model | Unavailable:
        """The normalised model: read whenever the metadata parses with a known version and the
        normaliser can read it, schema-valid or not (`schema_findings` says which)."""
        version = self.version
        if isinstance(version, Unavailable):
            return version
        try:
            return Model.from_metadata(self.meta, version)
        except ModelError as exc:
            first = next(iter(self.schema_findings), None)
            return Unavailable(first or self.at(Code.S003, f"{exc} (the schema lets it "
                                                "through; please report this)", ""))

    @property
    def checked_model(self) -> Model:
        """The model, for checks that run only once it is read (`needs="model"`)."""
        assert isinstance(self.model, Model), "a check that needs the model ran without it"
        return self.model

    def usable_model(self, label: str, action: str) -> Model:
        """The model, or UnusableArchive naming `label`, what could not be done and why.

        The one rule every command applies before it summarises, compares or evaluates.
        """
        model = self.model
        if isinstance(model, Model):
            return model
        f = model.finding
        raise UnusableArchive(f"{label}: cannot {action}, metadata is unusable: "
                              f"{f.location()}: {f.message} "
                              "(run 'mlfcheck validate' for every finding)")

    # -- other members -------------------------------------------------------------------------

    def params(self, path: str) -> ParamsFile | ParamsError | None:
        """The parsed parameters file at `path`, its error, or None when absent/unreadable."""
        if path not in self._params:
            result: ParamsFile | ParamsError | None = None
            if self.archive.readable(path):
                member = self.archive.members[path]
                try:
                    limits = self.archive.limits
                    with self.archive.open(path) as stream:
                        result = read_params(stream, member.size, digest=self.digest_params,
                                             max_tensors=limits.max_tensors,
                                             max_name_length=limits.max_name_length)
                except ParamsError as exc:
                    result = exc
                except ArchiveError as exc:
                    result = ParamsError(str(exc), 0)
            self._params[path] = result
        return self._params[path]

    def json_member(self, path: str) -> JSONDoc | Unavailable | None:
        """A JSON member other than metadata (a graph config), parsed once; None when absent."""
        if path not in self._graphs:
            result: JSONDoc | Unavailable | None = None
            if self.archive.readable(path):
                limits = self.archive.limits
                try:
                    result = parse_bytes(self.archive.read(path, limit=limits.max_metadata_size),
                                         max_depth=limits.max_json_depth)
                except JSONDocError as exc:
                    result = Unavailable(Finding(exc.code, exc.message, member=path,
                                                 pointer=exc.pointer, line=exc.line,
                                                 column=exc.column, offset=exc.offset))
                except ArchiveError as exc:
                    why = exc.detail.removeprefix(path + ": ")
                    result = Unavailable(Finding(Code.M008, f"{why} (--max-metadata-size)",
                                                 member=path))
            self._graphs[path] = result
        return self._graphs[path]

    @cached_property
    def codegen(self) -> CodegenSymbols:
        """Symbol tables of the generated C and headers, each file parsed at most once."""
        return CodegenSymbols(self.archive, self.parser)

    @cached_property
    def built(self) -> ArchiveBuilt | NoCompiler | None:
        """The host build of the archive's C by the caller's builder, run once, on first use;
        None without a builder."""
        if self.builder is None:
            return None
        version = self.version if isinstance(self.version, int) else None
        return self.builder.build(self.archive, version)

    def text(self, path: str) -> str | None:
        """A member decoded as UTF-8 (undecodable bytes replaced), read once; None if
        absent/unreadable."""
        if path not in self._texts:
            self._texts[path] = (self.archive.read(path).decode("utf-8", errors="replace")
                                 if self.archive.readable(path) else None)
        return self._texts[path]
