"""A spy on CParser.parse_all: the C files a command parses, in the order it parses them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mlfcheck.reading.csource import CParser, SymbolTable


def parsed_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that fills with the path of every C file any parser reads from now on (the real
    parser still runs)."""
    seen: list[str] = []
    real = CParser.parse_all

    def counting(self: CParser, files: Sequence[tuple[str, bytes]]) -> list[SymbolTable]:
        seen.extend(path for path, _ in files)
        return real(self, files)
    monkeypatch.setattr(CParser, "parse_all", counting)
    return seen
