"""`fixtures/make_fixtures.py` loaded as a module, for tests that build archives with it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parent.parent / "fixtures" / "make_fixtures.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_fixtures", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_fixtures", module)
    spec.loader.exec_module(module)
    return module


mf = _load()
"""The fixture script: deterministic tar and .params writers, and the archives it makes."""
