"""The public API as a downstream script sees it: `tests/api_example/gate.py` type-checks under
`mypy --strict` (mypy is the `lint` extra; the test skips without it)."""

from __future__ import annotations

import pytest
from conftest import REPO

EXAMPLE = REPO / "tests" / "api_example" / "gate.py"


def test_a_downstream_script_type_checks_with_mypy_strict() -> None:
    mypy = pytest.importorskip("mypy.api")
    out, err, status = mypy.run(["--strict", "--no-incremental", str(EXAMPLE)])
    assert status == 0, out + err
