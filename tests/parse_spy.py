"""A spy on csource.parse_all: the C files a command parses, in the order it parses them."""

from __future__ import annotations

import pytest

from mlfcheck.reading import csource


def parsed_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that fills with the path of every C file parsed from now on (the real parser
    still runs)."""
    seen: list[str] = []
    real = csource.parse_all

    def counting(files: list[tuple[str, bytes]]) -> list[csource.SymbolTable]:
        seen.extend(path for path, _ in files)
        return real(files)
    monkeypatch.setattr(csource, "parse_all", counting)
    return seen
