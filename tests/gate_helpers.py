"""A base/PR pair for the gate's configuration tests: the committed AOT fixture, and the same
archive with an entry point renamed (D409, breaking), plus the mlfcheck.toml a pull request could
bring to relax it."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

from shared_paths import REPO

FIXTURE = REPO / "fixtures" / "v5-aot-add.tar.gz"
RENAME = ("tvmgen_add_run", "tvmgen_add_run2")
"""The fixture's AOT entry point, and the name the pull request gives it."""
RELAXING = '[diff.levels]\nD409 = "info"\n\n[[diff.allow]]\nrule = "D409"\nreason = "renamed"\n'
"""What the pull request's own mlfcheck.toml says: its removed entry point is fine."""


def as_tar(archive: Path, rename: tuple[str, str] | None = None) -> bytes:
    """`archive` (a tar, gzipped or not) as an uncompressed tar; with `rename` (old, new), the
    C name `old` renamed to `new` in its codegen/ files."""
    out = io.BytesIO()
    with tarfile.open(archive) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            file = src.extractfile(member) if member.isfile() else None
            data = file.read() if file is not None else None
            if data is not None and rename and "codegen/" in member.name:
                old, new = (name.encode() for name in rename)
                data = re.sub(rb"\b" + old + rb"\b", new, data)
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()
