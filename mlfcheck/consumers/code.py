"""What a consumer's build finds in an archive's generated code: defined symbols, header structs.

The one place the consumer evaluator asks the C symbol reader (mlfcheck.csource); read once per
archive and shared by every profile evaluated on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from mlfcheck.archive import Archive
from mlfcheck.csource import defined_names, structs

SOURCE_DIR = "codegen/host/src"
INCLUDE_DIR = "codegen/host/include"
OBJECT_DIR = "codegen/host/lib"
SYSTEM_LIB_ENTRY = "TVMSystemLibEntryPoint"
"""The function the C runtime calls to find a system library (crt_runtime_api.c)."""
_ENTRY_POINT = re.compile(r"^(?:tvmgen_\w+?_(?:run|run_model|__tvm_main__)|"
                          + SYSTEM_LIB_ENTRY + ")$")
_C_SUFFIXES = (".c", ".cc", ".cpp")


@dataclass(frozen=True)
class HeaderStruct:
    """A struct one of the archive's interface headers defines, and where."""

    header: str
    tag: str
    line: int
    members: tuple[str, ...]


class CodeFacts:
    """The generated sources and headers of one archive, read on first use."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    @cached_property
    def sources(self) -> tuple[str, ...]:
        """Readable generated C/C++ sources under codegen/host/src."""
        return tuple(m.name for m in self.archive.files(SOURCE_DIR)
                     if m.name.endswith(_C_SUFFIXES) and self.archive.readable(m.name))

    @cached_property
    def objects_only(self) -> bool:
        """True when the code is object files (codegen/host/lib), whose symbols are not read."""
        return not self.sources and bool(self.archive.files(OBJECT_DIR))

    @cached_property
    def defined(self) -> frozenset[str]:
        """Names of the functions the generated sources define."""
        names: set[str] = set()
        for path in self.sources:
            names |= defined_names(self.archive.read(path))
        return frozenset(names)

    def defines(self, name: str) -> bool:
        """True when the generated sources define function `name`."""
        return name in self.defined

    @cached_property
    def entry_points(self) -> tuple[str, ...]:
        """Defined functions a consumer may call: tvmgen_<m>_run, _run_model, ___tvm_main__, ..."""
        return tuple(sorted(n for n in self.defined if _ENTRY_POINT.match(n)))

    @cached_property
    def header_structs(self) -> tuple[HeaderStruct, ...]:
        """Every struct the interface headers under codegen/host/include define."""
        found = []
        for member in self.archive.files(INCLUDE_DIR):
            if member.name.endswith(".h") and self.archive.readable(member.name):
                text = self.archive.read(member.name).decode("utf-8", errors="replace")
                found += [HeaderStruct(member.name, s.tag, s.line, s.members)
                          for s in structs(text)]
        return tuple(found)

    def struct(self, tag: str) -> HeaderStruct | None:
        """The first header struct named `tag`."""
        return next((h for h in self.header_structs if h.tag == tag), None)
