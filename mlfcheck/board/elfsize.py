"""ELF sizes: what an object file or a linked image costs in flash and RAM, read with pyelftools.

A symbol's cost follows from its section's flags: executable → a function (flash), allocated
and not writable → a constant (flash), writable with contents → initialised data (flash for its
load image and RAM), writable without contents (.bss, COMMON) → a variable (RAM only).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck.errors import BoardError

SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
RESERVATIONS = (".heap", ".stack")
"""Sections the board's linker script reserves; not counted as the image's static RAM."""


@dataclass(frozen=True)
class SymbolSize:
    """One defined symbol and what it costs."""

    name: str
    kind: str
    """function, constant, data (initialised, flash and RAM) or variable (zeroed, RAM only)."""
    flash: int
    ram: int
    file: str
    """The source file (basename) that defined it."""


@dataclass(frozen=True)
class SymbolTable:
    """Symbols, largest first, and what they cost together."""

    symbols: tuple[SymbolSize, ...]

    @property
    def flash(self) -> int:
        """Flash bytes of every symbol."""
        return sum(s.flash for s in self.symbols)

    @property
    def ram(self) -> int:
        """Static RAM bytes of every symbol."""
        return sum(s.ram for s in self.symbols)


@dataclass(frozen=True)
class ImageSize:
    """Flash and static RAM of a linked image, whole and of the objects asked about."""

    flash: int
    """.text + .rodata + .data load image (and every other allocated section with contents)."""
    ram: int
    """.data + .bss (the heap and stack reservations excluded)."""
    own: SymbolTable
    """The symbols the objects asked about contributed."""


def _open(path: Path) -> Any:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        stream = path.open("rb")
    except OSError as exc:
        raise BoardError(f"{path.name}: cannot read: {exc.strerror}") from exc
    try:
        return ELFFile(stream)
    except ELFError as exc:
        stream.close()
        raise BoardError(f"{path.name}: not an ELF file: {exc}") from exc


def _kind(flags: int, nobits: bool) -> tuple[str, bool, bool]:
    """(kind, in flash, in RAM) for a section's flags."""
    if flags & SHF_EXECINSTR:
        return "function", True, False
    if not flags & SHF_WRITE:
        return "constant", True, False
    if nobits:
        return "variable", False, True
    return "data", True, True


def _symbols(elf: Any) -> Iterator[tuple[str, Any]]:
    """(defining file basename, symbol) for every symbol, files from the STT_FILE markers."""
    table = elf.get_section_by_name(".symtab")
    if table is None:
        return
    current = ""
    for sym in table.iter_symbols():
        if sym["st_info"]["type"] == "STT_FILE":
            current = Path(sym.name).name
            continue
        yield current, sym


def _cost(elf: Any, sym: Any, file: str) -> SymbolSize | None:
    """The cost of one defined, sized symbol; None for the rest."""
    size = sym["st_size"]
    kind_name = sym["st_info"]["type"]
    if size == 0 or kind_name not in ("STT_FUNC", "STT_OBJECT") or not sym.name:
        return None
    index = sym["st_shndx"]
    if index == "SHN_COMMON":
        return SymbolSize(sym.name, "variable", 0, size, file)
    if not isinstance(index, int):
        return None
    section = elf.get_section(index)
    flags = section["sh_flags"]
    if not flags & SHF_ALLOC:
        return None
    kind, flash, ram = _kind(flags, section["sh_type"] == "SHT_NOBITS")
    return SymbolSize(sym.name, kind, size if flash else 0, size if ram else 0, file)


def by_size(symbols: Iterable[SymbolSize]) -> tuple[SymbolSize, ...]:
    """Largest (flash + RAM) first, then by name and file."""
    return tuple(sorted(symbols, key=lambda s: (-(s.flash + s.ram), s.name, s.file)))


def object_symbols(path: Path) -> tuple[SymbolSize, ...]:
    """Every sized function and object an object file defines, largest first."""
    return by_size(s for s, _ in _defined(path))


def _defined(path: Path) -> list[tuple[SymbolSize, bool]]:
    """(cost, is global) of every sized symbol an ELF file defines."""
    elf = _open(path)
    try:
        found = []
        for file, sym in _symbols(elf):
            cost = _cost(elf, sym, file or path.stem + ".c")
            if cost is not None:
                found.append((cost, sym["st_info"]["bind"] != "STB_LOCAL"))
        return found
    finally:
        elf.stream.close()


@dataclass(frozen=True)
class Defined:
    """A function or data object an object file defines, sized or not."""

    name: str
    kind: str
    """function or data."""
    binding: str
    """global, weak (both visible to the linker) or local (`static`)."""


def defined_symbols(path: Path) -> tuple[Defined, ...]:
    """Every named function and data object an object file defines, in symbol-table order;
    the compiler's own local names (`counter.0` for a function's static) left out."""
    elf = _open(path)
    try:
        found = []
        for _, sym in _symbols(elf):
            kind = {"STT_FUNC": "function", "STT_OBJECT": "data"}.get(sym["st_info"]["type"])
            if kind is None or not sym.name or "." in sym.name or sym["st_shndx"] == "SHN_UNDEF":
                continue
            binding = str(sym["st_info"]["bind"]).removeprefix("STB_").lower()
            found.append(Defined(sym.name, kind, binding))
        return tuple(found)
    finally:
        elf.stream.close()


def image_size(path: Path, objects: Iterable[Path]) -> ImageSize:
    """Totals of a linked image, and the symbols `objects` (linked into it) contributed.

    A local symbol belongs to the source file whose STT_FILE marker precedes it; a global
    symbol to the object that defines it."""
    files: set[str] = set()
    owners: dict[str, str] = {}
    for obj in objects:
        for cost, is_global in _defined(obj):
            files.add(cost.file)
            if is_global:
                owners[cost.name] = cost.file
    own = []
    for cost, is_global in _defined(path):
        owner = owners.get(cost.name) if is_global else (cost.file if cost.file in files
                                                          else None)
        if owner is not None:
            own.append(SymbolSize(cost.name, cost.kind, cost.flash, cost.ram, owner))
    elf = _open(path)
    try:
        flash = ram = 0
        for section in elf.iter_sections():
            flags = section["sh_flags"]
            if not flags & SHF_ALLOC or section.name in RESERVATIONS:
                continue
            if section["sh_type"] != "SHT_NOBITS":
                flash += section["sh_size"]
            if flags & SHF_WRITE:
                ram += section["sh_size"]
        return ImageSize(flash, ram, SymbolTable(by_size(own)))
    finally:
        elf.stream.close()


def symbol_values(path: Path, names: Iterable[str]) -> dict[str, int]:
    """The values (addresses) of the named symbols an image defines."""
    wanted = set(names)
    elf = _open(path)
    try:
        return {sym.name: sym["st_value"] for _, sym in _symbols(elf) if sym.name in wanted}
    finally:
        elf.stream.close()


def function_at(path: Path, address: int) -> str | None:
    """The function whose code holds `address` (the Thumb bit ignored), if any."""
    elf = _open(path)
    try:
        for _, sym in _symbols(elf):
            start = sym["st_value"] & ~1
            if (sym["st_info"]["type"] == "STT_FUNC"
                    and start <= address < start + sym["st_size"]):
                return str(sym.name)
        return None
    finally:
        elf.stream.close()
