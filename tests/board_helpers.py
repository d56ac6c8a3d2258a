"""The Cortex-M toolchain for the board tests: skip without it, except under CI (env CI set)."""

from __future__ import annotations

import os

import pytest

from mlfcheck.board import crossbuild
from mlfcheck.errors import BoardError


def require_toolchain() -> crossbuild.Toolchain:
    """The installed toolchain and QEMU; skip the test without them (fail under CI)."""
    try:
        return crossbuild.toolchain(run=True)
    except BoardError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the Cortex-M toolchain is required under CI: {exc}")
        pytest.skip(f"Cortex-M toolchain missing ({crossbuild.APT_INSTALL}); CI runs this test")
