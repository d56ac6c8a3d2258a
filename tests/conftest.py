"""Shared pytest fixtures: where the real archives and models live, hypothesis profiles."""

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


def real_archives() -> dict[str, Path]:
    """Each real fixture by short name: its model.tar, or the folder when it is extracted."""
    root = shared_dir() / "fixtures" / "real-mlf"
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        tar = folder / "model.tar"
        out[folder.name] = tar if tar.is_file() else folder
    return out


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder (real archives under fixtures/real-mlf, real models under models/)."""
    path = shared_dir()
    assert path.is_dir(), f"shared folder not found at {path}; set MLFCHECK_SHARED"
    return path


@pytest.fixture(scope="session")
def real() -> dict[str, Path]:
    """Real archives by short name."""
    return real_archives()


@pytest.fixture
def in_real_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the real-archive folder: short, machine-independent paths in reports, and no
    mlfcheck.toml or pyproject.toml of this repository is found as diff configuration."""
    monkeypatch.chdir(shared_dir() / "fixtures" / "real-mlf")
