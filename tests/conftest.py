"""Shared pytest fixtures: where the real archives and models live, hypothesis profiles.

Tests that read the real archives or models of the shared folder carry the `shared` marker (or
ask for the `shared`/`real` fixtures). Without the folder they skip with one reason; with
MLFCHECK_REQUIRE_SHARED=1 (as CI sets it) a missing folder fails the run instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from shared_paths import REPO, have_shared, models_dir, real_archives, real_dir, shared_dir

__all__ = ["REPO", "have_shared", "models_dir", "real_archives", "real_dir", "shared_dir"]

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


MISSING = (f"real fixtures not found at {shared_dir()}; set MLFCHECK_SHARED "
           "(or clone the repository beside its shared/ folder)")
REQUIRED = os.environ.get("MLFCHECK_REQUIRE_SHARED") == "1"


def real_names() -> list[str]:
    """Real fixture names for `parametrize`; one skipped placeholder without the shared folder."""
    names = sorted(real_archives())
    return names or [pytest.param("(no real fixtures)", marks=pytest.mark.shared)]


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; under MLFCHECK_REQUIRE_SHARED=1 a missing folder stops the run."""
    config.addinivalue_line("markers", "shared: reads real archives or models from ../shared")
    if REQUIRED and not have_shared():
        raise pytest.UsageError(f"MLFCHECK_REQUIRE_SHARED=1 but {MISSING}")


UNIT = Path(__file__).resolve().parent / "unit"
SLOW_MARKERS = ("tvm", "board")
"""Markers of tests that belong in tests/integration: the fast loop (tests/unit) never exports
with TVM nor runs a board."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a TVM or board test under tests/unit; skip every test that needs the shared
    folder when it is absent, with the reason."""
    misplaced = [item.nodeid for item in items if item.path.is_relative_to(UNIT)
                 and any(item.get_closest_marker(m) for m in SLOW_MARKERS)]
    if misplaced:
        raise pytest.UsageError(f"tests/unit is the fast loop; move to tests/integration: "
                                f"{', '.join(misplaced)}")
    if have_shared():
        return
    skip = pytest.mark.skip(reason=MISSING)
    for item in items:
        if item.get_closest_marker("shared") or {"shared", "real", "in_real_dir"} & set(
                getattr(item, "fixturenames", ())):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder (real archives under fixtures/real-mlf, real models under models/)."""
    return shared_dir()


@pytest.fixture(scope="session")
def real() -> dict[str, Path]:
    """Real archives by short name."""
    return real_archives()


@pytest.fixture
def in_real_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the real-archive folder: short, machine-independent paths in reports, and no
    mlfcheck.toml or pyproject.toml of this repository is found as diff configuration."""
    monkeypatch.chdir(real_dir())
