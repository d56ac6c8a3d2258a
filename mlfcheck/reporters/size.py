"""Renderers for `size` footprints: a bloaty-style text table, JSON, Markdown."""

from __future__ import annotations

from collections.abc import Callable

from mlfcheck.board.crossbuild import SIZE_FLAGS
from mlfcheck.board.footprint import FLAGS, Footprint
from mlfcheck.reporters.present import json_text, md_code, text_lines
from mlfcheck.version import __version__

FORMAT_VERSION = 1


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def _heading(fp: Footprint) -> str:
    how = "compiled, linked with a caller and run in QEMU" if fp.run else "compile only"
    return (f"{fp.archive} on {fp.board.name} ({fp.board.description}): "
            f"{' '.join((*fp.board.cpu_flags, *SIZE_FLAGS))}, {how}, "
            f"{len(fp.sources)} source file{'s' if len(fp.sources) != 1 else ''}")


def _run_line(fp: Footprint) -> list[str]:
    """'59266 instructions per inference (tvmgen_default_run, counted in QEMU)', or why not."""
    if fp.run is None:
        return []
    if fp.run.instructions is None:
        return [f"instructions per inference: not counted ({fp.run.entry} did not run: "
                f"{fp.run.not_run})"]
    return [f"{fp.run.instructions} instructions per inference ({fp.run.entry}, counted in "
            "QEMU)"]


def render_text(fp: Footprint) -> str:
    """One row per symbol, largest first, with each one's share of flash and RAM."""
    lines = [_heading(fp), "",
             f"{'FLASH':>9} {'':>6} {'RAM':>9} {'':>6}  {'KIND':<9} SYMBOL (FILE)"]
    for s in fp.symbols:
        lines.append(f"{s.flash:>9} {_share(s.flash, fp.flash)} {s.ram:>9} "
                     f"{_share(s.ram, fp.ram)}  {s.kind:<9} {s.name} ({s.file})")
    lines.append(f"{fp.flash:>9} {_share(fp.flash, fp.flash)} {fp.ram:>9} "
                 f"{_share(fp.ram, fp.ram)}  {'TOTAL':<9} "
                 f"{len(fp.symbols)} symbols")
    return text_lines(lines + _run_line(fp))


def render_json(fp: Footprint) -> str:
    """The footprint as a versioned JSON document."""
    doc = {
        "format_version": FORMAT_VERSION, "mlfcheck_version": __version__,
        "archive": fp.archive,
        "board": {"name": fp.board.name, "description": fp.board.description,
                  "flags": [*fp.board.cpu_flags, *SIZE_FLAGS, *FLAGS]},
        "sources": list(fp.sources),
        "totals": {"flash": fp.flash, "ram": fp.ram, "symbols": len(fp.symbols)},
        "symbols": [{"name": s.name, "kind": s.kind, "flash": s.flash, "ram": s.ram,
                     "file": s.file} for s in fp.symbols],
    }
    if fp.run is not None:
        doc["run"] = {"entry": fp.run.entry, "instructions": fp.run.instructions,
                      "not_run": fp.run.not_run}
    return json_text(doc)


def render_markdown(fp: Footprint) -> str:
    """A Markdown table, one row per symbol, and the totals."""
    lines = [f"**mlfcheck size** {md_code(_heading(fp))}", "",
             "| flash | RAM | kind | symbol | file |", "|---:|---:|---|---|---|"]
    lines += [f"| {s.flash} | {s.ram} | {s.kind} | {md_code(s.name, table=True)} "
              f"| {md_code(s.file, table=True)} |" for s in fp.symbols]
    lines.append(f"| **{fp.flash}** | **{fp.ram}** | total | {len(fp.symbols)} symbols | |")
    lines += ["", *(md_code(line) for line in _run_line(fp))] if fp.run else []
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Footprint], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown}
