"""Gzip files that decompress to far more than they hold, written without compressing it all."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def gzip_of_repeats(path: Path, pieces: list[tuple[bytes, int]]) -> Path:
    """A valid gzip of `data * repeat` pieces, written in O(len(data)) time per distinct piece.

    After a full flush deflate starts afresh, so compressing the same chunk again gives the same
    bytes: 1 GiB of zeros costs one 1 MiB compression and ~1 MB on disk."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc = size = 0
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        for data, repeat in pieces:
            first = comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH)
            out.write(first)
            if repeat > 1:
                again = comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH)
                for _ in range(repeat - 1):
                    out.write(again)
            for _ in range(repeat):
                crc = zlib.crc32(data, crc)
            size += len(data) * repeat
        out.write(comp.flush())
        out.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return path
