"""The audit HTML report in headless Chromium: take a screenshot and check the charts rendered.

Skips when Chromium is absent, except under CI (env CI set) where that is a failure. Run with
MLFCHECK_REGEN_SCREENSHOT=1 to refresh docs/audit-screenshot.png, which the README shows.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, shared_dir

from mlfcheck.audit import audit, discover
from mlfcheck.reporters.audit import METRICS, OPERATOR_COLOUR, render_html

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
SCREENSHOT = REPO / "docs" / "audit-screenshot.png"
MIN_PIXELS = 200
"""Pixels of a chart colour that show its bars were painted (a bar is at least 12x16 px)."""


def chromium() -> str:
    found = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required under CI: .ci/run installs Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI runs this test")
    return found


def screenshot(browser: str, page: Path, out: Path, profile: Path) -> None:
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--force-color-profile=srgb",
                    "--hide-scrollbars", "--window-size=1280,1400", f"--screenshot={out}",
                    page.as_uri()],
                   check=True, capture_output=True, timeout=60)


def _unfilter(rows: bytes, width: int, height: int, bpp: int) -> list[bytearray]:
    """Undo PNG scanline filters (types 0-4)."""
    stride = width * bpp
    out: list[bytearray] = []
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind, line = rows[pos], bytearray(rows[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        out.append(line)
        prev = line
    return out


def colour_counts(png: bytes) -> Counter[tuple[int, int, int]]:
    """How many pixels have each RGB colour (8-bit RGB or RGBA, non-interlaced PNG)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, header = 8, b"", b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunk = png[pos + 8:pos + 8 + length]
        header = chunk if kind == b"IHDR" else header
        data += chunk if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0
    bpp = 3 if colour_type == 2 else 4
    counts: Counter[tuple[int, int, int]] = Counter()
    for line in _unfilter(zlib.decompress(data), width, height, bpp):
        counts.update(zip(line[0::bpp], line[1::bpp], line[2::bpp], strict=True))
    return counts


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@pytest.mark.shared
def test_the_html_report_renders_its_charts_in_headless_chromium(tmp_path: Path) -> None:
    browser = chromium()
    real = shared_dir() / "fixtures" / "real-mlf"
    result = audit(discover([str(real)]))
    page = tmp_path / "audit.html"
    page.write_text(render_html(result), encoding="utf-8")
    shot = tmp_path / "audit.png"
    screenshot(browser, page, shot, tmp_path / "chromium-profile")
    counts = colour_counts(shot.read_bytes())
    for field, _, colour in METRICS:
        assert counts[rgb(colour)] >= MIN_PIXELS, f"no {field} bars in the screenshot"
    assert counts[rgb(OPERATOR_COLOUR)] >= MIN_PIXELS, "no operator bars in the screenshot"
    if os.environ.get("MLFCHECK_REGEN_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, SCREENSHOT)
