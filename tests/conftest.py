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

REPO = Path(__file__).resolve().parent.parent

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


MISSING = (f"real fixtures not found at {shared_dir()}; set MLFCHECK_SHARED "
           "(or clone the repository beside its shared/ folder)")
REQUIRED = os.environ.get("MLFCHECK_REQUIRE_SHARED") == "1"


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


def real_names() -> list[str]:
    """Real fixture names for `parametrize`; one skipped placeholder without the shared folder."""
    names = sorted(real_archives())
    return names or [pytest.param("(no real fixtures)", marks=pytest.mark.shared)]


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; under MLFCHECK_REQUIRE_SHARED=1 a missing folder stops the run."""
    config.addinivalue_line("markers", "shared: reads real archives or models from ../shared")
    if REQUIRED and not have_shared():
        raise pytest.UsageError(f"MLFCHECK_REQUIRE_SHARED=1 but {MISSING}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip every test that needs the shared folder when it is absent, with the reason."""
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
