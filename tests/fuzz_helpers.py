"""Helpers for the fuzz tests: example budgets per hypothesis profile."""

from __future__ import annotations

import os

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "thorough"


def budget(ci: int, thorough: int) -> int:
    """Examples for one property: a few in the CI profile, many in the thorough one."""
    return thorough if THOROUGH else ci
