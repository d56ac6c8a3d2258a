"""Footprint: what an archive's generated C costs on a board, per symbol, compiled but not run.

The archive's codegen/host/src/*.c are compiled for the board with -Os and one section per
symbol, against the archive's own headers (codegen/host/include, runtime/include) and any
folders the caller adds; each object's symbols give flash and RAM bytes. Works on any version
whose C carries (or is given) the headers it includes; otherwise names the missing headers.
The build is contained (`mlfcheck.board.containment`): the archive's C may read only the
archive, those folders and the compiler's own headers.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlfcheck.board import crossbuild
from mlfcheck.board.archivebuild import HEADER_FOLDERS, SOURCES, materialise
from mlfcheck.board.boards import Board
from mlfcheck.board.containment import Tree
from mlfcheck.board.elfsize import SymbolTable, by_size, object_symbols
from mlfcheck.errors import BoardError
from mlfcheck.reading.archive import Archive, Limits

FLAGS = ("-std=c11", "-w")
"""Old archives' C predates today's warnings; only errors stop a size build."""


@dataclass(frozen=True)
class Footprint(SymbolTable):
    """The symbols an archive's C defines when compiled for a board, and their totals."""

    archive: str
    board: Board
    sources: tuple[str, ...]
    """Archive paths of the compiled files."""
    run: Counted | None = None
    """With `size --run`: one call of the entry point on the board, counted."""


@dataclass(frozen=True)
class Counted:
    """What one counted call of the archive's entry point on the board executed, or why it did
    not run."""

    entry: str
    """The function counted (tvmgen_<module>_run)."""
    instructions: int | None
    not_run: str | None = None
    """Why there is no count: the level the build reached and its first error."""


def footprint(path: str, board: Board, *, includes: Sequence[Path] = (),
              limits: Limits | None = None) -> Footprint:
    """Compile the archive at `path` for `board` and size every symbol it defines.

    Raises BoardError (missing toolchain, missing headers, a compile error; Refused for an
    include outside, OverLimit for a build stopped by its limits) or ArchiveError."""
    tools = crossbuild.toolchain(run=False)
    for folder in includes:
        if not folder.is_dir():
            raise BoardError(f"include folder {folder} does not exist")
    with Archive(path, limits=limits) as archive, \
            tempfile.TemporaryDirectory(prefix="mlfcheck-size-") as tmp:
        root = Path(tmp)
        written, skipped = materialise(archive, root, (SOURCES, *HEADER_FOLDERS))
        if skipped:
            raise BoardError(f"{skipped[0].member}: {skipped[0].reason}")
        sources = [m for m in written if m.endswith(".c")
                   and str(PurePosixPath(m).parent) == SOURCES]
        if not sources:
            raise BoardError(f"no C sources under {SOURCES}/ to compile")
        folders = [root / h for h in HEADER_FOLDERS if (root / h).is_dir()]
        (root / "obj").mkdir()
        objects = crossbuild.compile_objects(
            tools, board, [root / s for s in sources], [*folders, *includes], root / "obj",
            extra=FLAGS, tree=Tree(root, tuple(includes)))
        symbols = by_size(s for obj in objects for s in object_symbols(obj))
    return Footprint(symbols, path, board, tuple(sources))
