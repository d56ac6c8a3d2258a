"""What the harness tests share: the toolchains they need (a skip with the package to install,
a failure under CI, which installs them), a real archive by name, and one consumer's verdict
with the harness built."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from shared_paths import real_archives

from mlfcheck import api
from mlfcheck.consumers import Verdict

PACKAGES = {"gcc": "gcc", "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
            "qemu-system-arm": "qemu-system-arm"}
"""The Debian packages of each tool a harness needs."""


def require(*tools: str) -> None:
    """Skip (fail under CI) unless every tool is on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    why = (f"{', '.join(missing)} not installed (apt-get install "
           f"{' '.join(PACKAGES.get(t, t) for t in missing)})")
    if os.environ.get("CI"):
        pytest.fail(f"{why}: .ci/run installs it")
    pytest.skip(why)


def real(name: str) -> Path:
    """A real archive of the shared folder (the `shared` marker skips without it)."""
    found = real_archives().get(name)
    if found is None:
        pytest.skip(f"real archive {name} not found (needs ../shared)")
    return found


def verdict_of(archive: Path, consumer: str, *, build: bool = True) -> Verdict:
    """One consumer's verdict on `archive`, its harness built (and run) when `build`."""
    return api.compat_all(archive, [consumer], build=build)[0]
