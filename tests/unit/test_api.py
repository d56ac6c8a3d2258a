"""The public API: what `import mlfcheck` offers, that the CLI is a thin layer over exactly these
calls, and that a downstream script using it type-checks under mypy --strict."""

from __future__ import annotations

import pydoc
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke
from conftest import REPO

import mlfcheck
from mlfcheck import api
from mlfcheck.cli import main
from mlfcheck.errors import ExportError

V6 = str(REPO / "fixtures" / "v6-graph-add.tar")
V7 = str(REPO / "fixtures" / "v7-multi-module.tar")
EXAMPLE = REPO / "tests" / "api_example" / "gate.py"


def test_importing_the_package_loads_no_command_nor_tvm() -> None:
    code = ("import sys, mlfcheck; "
            "print(sorted(m for m in sys.modules if m.startswith(('mlfcheck.', 'tvm', "
            "'jsonschema'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['mlfcheck.version']"


@pytest.mark.parametrize(("command", "unused"), [
    ("validate", ("mlfcheck.export", "mlfcheck.diff", "mlfcheck.consumers",
                  "mlfcheck.board.footprint")),
    ("diff", ("mlfcheck.export", "mlfcheck.consumers", "mlfcheck.diff.board",
              "mlfcheck.board.footprint", "mlfcheck.board.crossbuild")),
])
def test_a_command_starts_without_the_modules_of_the_others(command: str,
                                                            unused: tuple[str, ...]) -> None:
    code = (f"import sys, mlfcheck.cli.{command}; "
            "print(sorted(m for m in sys.modules if m.startswith(('mlfcheck.', 'tvm'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert f"'mlfcheck.cli.{command}'" in loaded
    assert not [m for m in unused if f"'{m}'" in loaded or f"'{m}." in loaded]
    assert "'tvm" not in loaded


def test_every_public_name_resolves_and_help_shows_it() -> None:
    assert mlfcheck.__all__ == sorted(mlfcheck._MODULE_OF)
    doc = pydoc.render_doc(mlfcheck, renderer=pydoc.plaintext)
    for name in mlfcheck.__all__:
        assert getattr(mlfcheck, name) is not None
        assert name in doc, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = mlfcheck.nope  # type: ignore[attr-defined]


def _spy(monkeypatch: pytest.MonkeyPatch, name: str,
         replacement: Callable[..., Any] | None = None) -> list[tuple[Any, ...]]:
    """Record every call of `api.<name>` (then run the real function or `replacement`)."""
    calls: list[tuple[Any, ...]] = []
    real = replacement or getattr(api, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, name, spy)
    return calls


@pytest.mark.parametrize(("command", "function", "args", "expected"), [
    ("validate", "validate_archive", [V6, V7], [(V6,), (V7,)]),
    ("show", "summarize_archive", [V6], [(V6,)]),
    ("diff", "diff_archives", [V6, V7], [(V6, V7)]),
    ("compat", "compat_all", [V6, "--all"], [(V6,)]),
])
def test_the_cli_is_a_thin_layer_over_the_api(monkeypatch: pytest.MonkeyPatch, command: str,
                                              function: str, args: list[str],
                                              expected: list[tuple[str, ...]]) -> None:
    calls = _spy(monkeypatch, function)
    code, out, _ = invoke(main, command, *args)
    assert code in (0, 1) and out
    assert [c[:len(e)] for c, e in zip(calls, expected, strict=True)] == expected


def test_export_goes_through_the_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ExportError("compile", "refused by the test")

    calls = _spy(monkeypatch, "export_model", refuse)
    code, _, err = invoke(main, "export", "--default", "-o", str(tmp_path / "m.tar"))
    assert calls == [("default", str(tmp_path / "m.tar"))]
    assert code == 2 and "compile failed: refused by the test" in err


def test_the_api_returns_typed_results() -> None:
    report = mlfcheck.validate_archive(V6)
    assert isinstance(report, mlfcheck.Report) and report.ok
    summary = mlfcheck.summarize_archive(V7)
    assert [m.name for m in summary.modules] == ["mod1", "mod2"]
    result = mlfcheck.diff_archives(V6, V6)
    assert isinstance(result, mlfcheck.DiffResult) and not result.changes
    verdicts = mlfcheck.compat_all(V6)
    assert {v.profile.name for v in verdicts} == {p.name for p in mlfcheck.builtin_profiles()}
    with pytest.raises(mlfcheck.UsageError, match="unknown consumer 'nobody'"):
        mlfcheck.compat(V6, "nobody")


def test_a_downstream_script_runs_on_a_valid_archive() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE), V6, V6], capture_output=True,
                          text=True)
    assert f"{V6}: v6, workspace" in done.stdout and "0 breaking" in done.stdout
