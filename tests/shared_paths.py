"""Where the real archives and models live: the shared folder beside the repository.

Used by the tests (through conftest) and by the benchmarks; imports nothing but the standard
library.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The read-only shared folder: $MLFCHECK_SHARED, else ../shared beside the repo."""
    return Path(os.environ.get("MLFCHECK_SHARED", REPO.parent / "shared")).resolve()


def real_dir() -> Path:
    """The folder of real archives written by old TVM."""
    return shared_dir() / "fixtures" / "real-mlf"


def models_dir() -> Path:
    """The folder of real models."""
    return shared_dir() / "models"


def have_shared() -> bool:
    """Whether the real archives and models are there."""
    return real_dir().is_dir() and models_dir().is_dir()


def real_archives() -> dict[str, Path]:
    """Each real fixture by short name: its model.tar, or the folder when it is extracted.

    Empty without the shared folder, so that module-level parametrisation still collects.
    """
    root = real_dir()
    if not root.is_dir():
        return {}
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        tar = folder / "model.tar"
        out[folder.name] = tar if tar.is_file() else folder
    return out
