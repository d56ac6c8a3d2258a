"""A spy on CParser.read_all: the C files a command parses, in the order it parses them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mlfcheck.reading.csource import CParser, SymbolTable
from mlfcheck.reading.csource.budget import Meter, Unread


def parsed_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that fills with the path of every C file any parser reads from now on (the real
    parser still runs; `parse_all` reads through `read_all` too)."""
    seen: list[str] = []
    real = CParser.read_all

    def counting(self: CParser, files: Sequence[tuple[str, bytes]],
                 meter: Meter) -> list[SymbolTable | Unread]:
        seen.extend(path for path, _ in files)
        return real(self, files, meter)
    monkeypatch.setattr(CParser, "read_all", counting)
    return seen
