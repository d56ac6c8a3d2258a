"""Finding codes, severities and the Finding record every check yields."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from mlfcheck.errors import UsageError

_R = TypeVar("_R", bound="Ranked")


class Ranked(enum.IntEnum):
    """An ordered scale whose members print in lower case; `max()` gives the worst."""

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls: type[_R], text: str, *, what: str) -> _R:
        """A member from its name, in any case; UsageError naming `what` otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = [str(m) for m in reversed(cls)]
            raise UsageError(f"{what}: unknown level {text!r}; use {', '.join(names[:-1])} or "
                             f"{names[-1]}") from None


class Severity(Ranked):
    """How bad a finding is."""

    INFO = 0
    WARNING = 1
    ERROR = 2


@dataclass(frozen=True)
class CodeInfo:
    """A finding code's fixed facts: default severity, one-line title, longer explanation."""

    severity: Severity
    title: str
    explanation: str


class Code(enum.Enum):
    """The closed set of finding codes. The value holds what `mlfcheck explain` prints."""

    # A: the container (tar / folder) itself
    A101 = CodeInfo(Severity.ERROR, "member path escapes the archive",
        "A member name is absolute or contains '..'. Extracting it would write outside the "
        "target folder (a 'tar slip'). mlfcheck never extracts and skips the member.")
    A102 = CodeInfo(Severity.ERROR, "link member",
        "A symlink or hardlink member. TVM never writes links into an MLF archive "
        "(mlf-spec.md §1.1); a link can point outside the archive. The member is skipped, "
        "never followed.")
    A103 = CodeInfo(Severity.ERROR, "special member",
        "A device, FIFO or other non-regular, non-directory member. TVM never writes one; the "
        "member is skipped.")
    A104 = CodeInfo(Severity.ERROR, "duplicate member name",
        "Two members normalise to the same path ('./a', 'a', 'a//b' and 'a/./b' are the path "
        "an extraction writes, so './codegen/./host/x.c' overwrites './codegen/host/x.c'). "
        "Which one a consumer sees depends on the tool that extracts it, so the archive is "
        "ambiguous.")
    A105 = CodeInfo(Severity.ERROR, "unsafe member name",
        "A member name holds control characters (C0, DEL or C1) or bidirectional-text "
        "controls, is not valid UTF-8, is longer than the name limit, or names a regular file "
        "with a trailing '/'. Such names break consumers and terminals, or read other than "
        "they are; the member is skipped.")
    A106 = CodeInfo(Severity.ERROR, "member over the size limit",
        "A member is larger than --max-member-size. It is listed but never read, so checks "
        "that need its bytes are skipped.")
    A107 = CodeInfo(Severity.WARNING, "compressed archive",
        "TVM writes uncompressed tar (mlf-spec.md §1.1). The Zephyr and CRT-host project "
        "templates open archives with tarfile.TarFile and the Arduino template with mode 'r:', "
        "so none of them can read a gzip-compressed archive.")
    A108 = CodeInfo(Severity.INFO, "member names not rooted at './'",
        "TVM adds the export folder with arcname '.', so members are named './metadata.json' "
        "and so on. Upstream helpers such as mlf_extract_workspace_size_bytes look up exactly "
        "'./metadata.json' and fail on other spellings.")
    A109 = CodeInfo(Severity.WARNING, "backslash in member name",
        "A member name holds a backslash. GNU tar on Linux (and mlfcheck) read it as part of one "
        "file name; Windows tools read it as a folder separator, so the archive extracts to "
        "different files on different systems.")
    A110 = CodeInfo(Severity.WARNING, "member names differ only in case",
        "Two members differ only in upper/lower case (metadata.json and METADATA.json). On a "
        "case-insensitive file system (macOS, Windows) one overwrites the other on extraction.")
    # M: metadata.json as a JSON document
    M001 = CodeInfo(Severity.ERROR, "metadata.json missing",
        "Every MLF archive has metadata.json at its root (mlf-spec.md §1.2). Without it the "
        "version, and therefore the layout, cannot be known; no further checks run.")
    M002 = CodeInfo(Severity.ERROR, "metadata.json is not a regular file",
        "metadata.json exists but is a directory, link or special file.")
    M003 = CodeInfo(Severity.ERROR, "metadata.json is not UTF-8",
        "TVM writes metadata.json as UTF-8 (json.dump). The byte offset of the first invalid "
        "sequence is given.")
    M004 = CodeInfo(Severity.ERROR, "metadata.json is not valid JSON",
        "The document does not parse (truncated, stray characters, trailing data). The "
        "line:column of the first error is given.")
    M005 = CodeInfo(Severity.ERROR, "duplicate key in metadata.json",
        "An object has the same key twice. Python keeps the last one, other parsers the first, "
        "so readers disagree about the archive.")
    M006 = CodeInfo(Severity.ERROR, "number out of range in metadata.json",
        "NaN, Infinity and -Infinity are not JSON (RFC 8259), and a float that overflows or an "
        "integer outside the 64-bit range has no C type: TVM never writes them, and readers "
        "disagree about them (or fail on them).")
    M007 = CodeInfo(Severity.ERROR, "metadata.json nested too deeply",
        "Objects and arrays nest deeper than --max-json-depth. Real metadata nests at most 8 "
        "levels; deep nesting is a resource attack on readers.")
    M008 = CodeInfo(Severity.ERROR, "metadata.json over the size limit",
        "metadata.json is larger than --max-metadata-size. Real metadata is a few kilobytes.")
    # S: JSON Schema per version
    S001 = CodeInfo(Severity.ERROR, "version missing or not an integer",
        "metadata.json must have an integer 'version' (mlf-spec.md §0). Strings, floats and "
        "booleans are rejected before schema selection.")
    S002 = CodeInfo(Severity.ERROR, "unknown MLF version",
        "The declared version has no schema. TVM wrote versions 1-7; mlfcheck's exporter "
        "writes 8. Upstream never defined a compatibility rule, so only exact versions are "
        "accepted.")
    S003 = CodeInfo(Severity.ERROR, "schema violation",
        "metadata.json does not match the JSON Schema of its declared version "
        "(schemas/mlf-vN.schema.json). The JSON Pointer and line:column say where.")
    S004 = CodeInfo(Severity.ERROR, "not MLF: a microTVM Artifact archive",
        "The metadata has 'labelled_files': this is the pre-MLF micro Artifact format "
        "(python/tvm/micro/artifact.py, deleted in a7297870c0), not Model Library Format.")
    # V: version fingerprint
    V001 = CodeInfo(Severity.WARNING, "archive looks like another version",
        "The keys and paths present fit another MLF version better than the declared one "
        "(for example runtime-config/ in a v5 archive). The archive may have been edited by "
        "hand or written by a patched exporter.")
    # L: layout per version
    L001 = CodeInfo(Severity.ERROR, "required member missing",
        "A file the declared version always writes is missing: parameters/<m>.params, the "
        "Relay/Relax text, the graph executor config for graph modules (mlf-spec.md §2).")
    L002 = CodeInfo(Severity.WARNING, "member not part of the layout",
        "A member is not part of the declared version's layout. Tutorials add their own "
        "files (samples/), so this is a warning; when the path belongs to another version the "
        "message says which. TVM wrote .cc/.cpp codegen sources only from cc5382ed41 (v5 on), "
        "and templates/ only for AOT modules with the crt runtime (v0.12 on), never for "
        "graph-only archives.")
    L003 = CodeInfo(Severity.WARNING, "codegen file name does not follow the version's convention",
        "From v3 on, full-model codegen files are named <model_name>_lib<N>.<ext>; before v3 "
        "and in operator style they are lib<N>.<ext> (mlf-spec.md §2.3).")
    # C: cross-file consistency
    C001 = CodeInfo(Severity.WARNING, "external dependency missing from the archive",
        "external_dependencies names an mlf_path (./runtime) that the archive does not "
        "contain. Consumers that bring their own C runtime still work; those that build "
        "runtime/ from the archive (the ethosu/cmsisnn Makefiles) cannot.")
    C002 = CodeInfo(Severity.INFO, "runtime/ present without external_dependencies",
        "The archive carries runtime/ but no module declares it in external_dependencies.")
    C003 = CodeInfo(Severity.WARNING, "io_size_bytes does not fit inputs + outputs",
        "For a graph module, main[].io_size_bytes equals the sum of the sizes in main[].inputs "
        "and main[].outputs. For AOT it is larger in nearly every multi-operator archive of "
        "TVM v0.11-v0.18: since bc7f45e765 AOT main is in A-normal form, and te_compiler.cc "
        "adds every let-bound variable (each intermediate tensor) to io_size_bytes. So for AOT "
        "only a value below inputs + outputs is reported.")
    C004 = CodeInfo(Severity.ERROR, "tensor size does not fit its dtype or shape",
        "A size does not match its dtype and shape as the archive's writer computes it. TVM "
        "(v4-v7 operator buffers, and any shape it records) packs elements: "
        "(prod(shape) x bits + 7) // 8, so an int4 tensor of 3 elements takes 2 bytes; "
        "mlfcheck's v8 exporter stores prod(shape) x whole bytes per element. Without a shape, "
        "a byte-sized dtype's size must be a whole number of elements.")
    C005 = CodeInfo(Severity.ERROR, "module key differs from model_name",
        "In v7 and later, modules.<m>.model_name equals the key <m> (mlf-spec.md §2.7).")
    C006 = CodeInfo(Severity.WARNING, "parameters file holds more than constants_size_bytes",
        "constants_size_bytes counts every constant of main, including the tensors in "
        "parameters/<m>.params (it can be larger when parameters are linked into the code, as "
        "in esp32s3-example-v7-aot), so the file holding more tensor bytes than that means one "
        "of the two is stale.")
    C007 = CodeInfo(Severity.ERROR, "main workspace smaller than an operator's workspace",
        "main[].workspace_size_bytes is the largest operator workspace plus main's own "
        "(mlf-spec.md §2.2), so it can never be smaller than any operator's workspace on the "
        "same device.")
    # P: parameters file
    P001 = CodeInfo(Severity.ERROR, "parameters file malformed",
        "parameters/<m>.params does not follow the TVM param-dict format (mlf-spec.md §5): "
        "wrong magic, impossible counts, shapes or sizes, truncated data. The byte offset is "
        "given.")
    P002 = CodeInfo(Severity.WARNING, "trailing bytes after the parameters",
        "The param dict ends before the file does. TVM's loader ignores the rest, so it is "
        "probably a concatenation or a corrupted write.")
    P003 = CodeInfo(Severity.ERROR, "duplicate parameter name",
        "Two tensors in the parameters file have the same name; a Map cannot hold both.")
    # G: graph executor config
    G001 = CodeInfo(Severity.ERROR, "graph executor config unreadable",
        "The graph JSON is not valid JSON or lacks nodes, arg_nodes, heads or "
        "attrs.storage_id (mlf-spec.md §4).")
    G002 = CodeInfo(Severity.ERROR, "sids disagree with the graph",
        "memory.sids lists one entry per distinct storage_id of the graph, in order of first "
        "appearance; input_binding names must be arg node names (mlf-spec.md §4).")
    G003 = CodeInfo(Severity.ERROR, "parameter not a graph input",
        "A tensor in the parameters file has no input node of that name in the graph. The CRT "
        "graph executor rejects unknown names (TVMGraphExecutor_LoadParams).")
    # X: generated code
    X001 = CodeInfo(Severity.ERROR, "operator function not defined in the generated C",
        "Each memory.functions.operator_functions[].function_name is a function TVM generated; "
        "it must be defined in one of codegen/host/src/*.c (checked only when there are no "
        "object files, whose symbols cannot be read as text).")
    X002 = CodeInfo(Severity.WARNING, "interface header does not declare a tensor",
        "codegen/host/include/tvmgen_<m>.h declares one struct field per input and output; a "
        "name from metadata is not found in the header. The two usually agree, but TVM 0.11 "
        "built them from different sources: metadata numbered the outputs (output, output0, "
        "...) while the header used the model's output names, until 329584bbf0 (v0.12) took "
        "metadata's names from the model too. On a 0.11 archive this warning is expected for "
        "outputs.")
    X003 = CodeInfo(Severity.ERROR, "generated C does not parse",
        "A codegen/host/src/*.c file or codegen/host/include/*.h header has a syntax error "
        "(truncated, unbalanced braces) where a C compiler would stop. The file is read as a "
        "compiler without __cplusplus reads it: #ifdef __cplusplus blocks dropped, TVM_DLL and "
        "TVM_ATTRIBUTE_UNUSED blank; every real TVM archive parses.")
    X004 = CodeInfo(Severity.ERROR, "generated C over a reading limit",
        "A codegen/host/src/*.c file or codegen/host/include/*.h header was not parsed, because "
        "reading it would pass a limit that keeps hostile C from taking unbounded time or "
        "memory: its size (--max-c-size), the archive's C in all (--max-c-total), the C a "
        "compressed archive unpacks for the parser (--max-c-ratio), the steps of one parse "
        "(--max-c-parse-steps) or of all the archive's C (--max-c-steps). The message names "
        "the limit. Real TVM output is far below every default. Checks that need the file's "
        "symbols skip it.")
    X005 = CodeInfo(Severity.ERROR, "external symbol defined twice",
        "Two definitions of one non-static function or variable in codegen/host/src: in two "
        "files (each compiles; the link of any consumer fails with 'multiple definition'), or "
        "in one (a compiler stops with 'redefinition'; a variable declared twice without an "
        "initializer is one object). Static definitions of one name in different files are "
        "fine: each file keeps its own. Only definitions a compiler always compiles count; "
        "one under a preprocessor conditional is X007's. Found from the symbol tables, "
        "without a compiler.")
    X006 = CodeInfo(Severity.ERROR, "declaration conflicts with its definition",
        "An interface header (codegen/host/include) declares a function or variable with "
        "another type than the generated C defines it with: return or parameter types, "
        "element type, const/volatile, or array length (the workspace array 64 bytes in the "
        "header, 32 in the C). A consumer compiles its calls against the header, so the "
        "program links and then reads or writes past what exists; where the C includes the "
        "header, a compiler stops with 'conflicting types'. A declaration in a source file "
        "is compared with the definition in that file (one translation unit). A declaration "
        "without parameters, `f()`, and an array without a length agree with any. "
        "Declarations in one source of what another defines are not compared: TVM's own "
        "system-lib and AOT code declare kernels with other pointer types than it defines "
        "them with. Found from the symbol tables, without a compiler.")
    X007 = CodeInfo(Severity.WARNING, "definition hidden by the preprocessor",
        "An operator function metadata names, an entry point, or a function or variable the "
        "interface header declares is defined under a preprocessor conditional (#if, #ifdef, "
        "#ifndef, #elif, #else, other than TVM's own __cplusplus guards and include guards), "
        "or its name is #defined to something else. Either the compiler skips the "
        "definition (#if 0) or what it builds depends on macros the archive does not fix, "
        "and a reader of the text sees code the compiler does not build. TVM writes neither. "
        "One defect gives one finding: an operator function whose only definitions a "
        "compiler skips for certain is X001 (an error: it is not defined), which names the "
        "conditional; X007 reports the rest, once per name, and each #define of such a "
        "name.")
    # B: the build (validate --build, and diff/audit with a host C compiler)
    B001 = CodeInfo(Severity.ERROR, "generated C does not compile",
        "A codegen/host/src/*.c file (or runtime/src file) fails to compile with the host C "
        "compiler, as a consumer compiles it: against the archive's own headers, the -I "
        "folders given, and the TVM C runtime headers of the archive's era (runtime/include, "
        "--runtime-include, or mlfcheck's own declarations of that ABI). The finding gives the "
        "compiler's first error at file:line.")
    B002 = CodeInfo(Severity.ERROR, "generated C does not link",
        "The archive's objects, each of which compiles, do not link together (a symbol defined "
        "twice, a definition whose type the other files do not agree with). Symbols the "
        "consumer's runtime provides are not required. A duplicate the symbol tables show is X005 "
        "too (found without a compiler); B002 is the build's verdict, which a diff reads "
        "(D417).")
    B003 = CodeInfo(Severity.ERROR, "object files and source tables disagree",
        "A function or data object the compiled objects define is not in the symbol tables "
        "read from the source, or one the tables say a compiler always compiles is not in "
        "them: the reader and the compiler see different code. The compiler's view is what "
        "consumers get. What the reader already knows a compiler may not build, a definition "
        "under a preprocessor conditional or a name a #define replaces, is X001's or X007's, "
        "not also B003's.")
    B004 = CodeInfo(Severity.INFO, "file not built here: needs a consumer library's header",
        "A generated file includes a header of a library the consumer provides (ESP-DL's "
        "esp_kernel.h, ESP-IDF's esp_heap_caps.h, CMSIS-NN's arm_nnfunctions.h): not the "
        "archive's fault. Pass the library's include folder with -I to build it.")
    B005 = CodeInfo(Severity.ERROR, "build refused: the C reads files outside the archive",
        "The archive's C includes (or could include) a file outside the archive, the -I folders "
        "given and the compiler's own headers: an absolute path, a device, a ../ escape, inline "
        "assembly that reads files. Refused before compiling; no text of that file is shown.")
    B006 = CodeInfo(Severity.ERROR, "build stopped by a limit",
        "Compiling the archive's C ran past a time, memory, CPU or file-size limit (a macro "
        "bomb, an included device). Real generated C compiles in seconds.")

    @property
    def info(self) -> CodeInfo:
        """The code's fixed facts."""
        return self.value

    @property
    def severity(self) -> Severity:
        """The code's default severity."""
        return self.value.severity

    @property
    def title(self) -> str:
        """The code's one-line description."""
        return self.value.title


@dataclass(frozen=True)
class Finding:
    """One thing a check found, and where."""

    code: Code
    """Stable code; see `mlfcheck explain CODE`."""
    message: str
    """What is wrong, in one line, naming the values involved."""
    member: str | None = None
    """Archive member path (normalised, no leading './') the finding is about."""
    pointer: str | None = None
    """JSON Pointer inside `member` (RFC 6901), for JSON members."""
    line: int | None = None
    """1-based line in `member`, when known."""
    column: int | None = None
    """1-based column in `member`, when known."""
    offset: int | None = None
    """Byte offset in `member`, for binary members."""
    severity: Severity | None = None
    """Overrides the code's default severity (set by --strict); None means the default."""

    @property
    def level(self) -> Severity:
        """The severity in force."""
        return self.severity if self.severity is not None else self.code.severity

    def location(self) -> str:
        """`member:line:column`, `member@offset` or `member#pointer`; `<archive>` without one."""
        return location(self.member, line=self.line, column=self.column, offset=self.offset,
                        pointer=self.pointer) or "<archive>"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Order for reports: by member, position, then code."""
        return (self.member or "", self.line or 0, self.offset or 0, self.code.name, self.message)


def parse_code_selection(patterns: Iterable[str]) -> frozenset[Code]:
    """Codes matched by `--select`/`--ignore` patterns (a code or a prefix such as 'A' or 'C00')."""
    chosen: set[Code] = set()
    for raw in patterns:
        for pattern in (p.strip().upper() for p in raw.split(",")):
            if not pattern:
                continue
            matched = {c for c in Code if c.name.startswith(pattern)}
            if not matched:
                raise UsageError(f"unknown finding code or prefix {pattern!r}; "
                                 "see 'mlfcheck explain --list'")
            chosen |= matched
    return frozenset(chosen)


def location(member: str | None, *, line: int | None = None, column: int | None = None,
             offset: int | None = None, pointer: str | None = None) -> str:
    """`member:line:column`, `member@offset` or `member#pointer`, as precise as known; '' when
    there is no member (the archive as a whole)."""
    if member is None:
        return ""
    where = member
    if line is not None:
        where += f":{line}:{column or 1}"
    elif offset is not None:
        where += f"@{offset}"
    if pointer:
        where += f"#{pointer}"
    return where
