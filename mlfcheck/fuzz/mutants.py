"""Planted bugs: a mutant is a copy of the mlfcheck package with small text edits applied, and a
fuzz campaign run against that copy in a fresh process tells whether the fuzzer catches it.

The working tree is never touched: the package is copied into a temporary folder, edited
there, and put first on PYTHONPATH of the campaign's process (and so of its children).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck import children

PACKAGE = Path(__file__).resolve().parents[1]
CAMPAIGN_LIMITS = children.Limits(seconds=24 * 3600.0, memory_bytes=None)
"""A campaign process run against a mutant: a day of wall clock at most, this process's
address space (its examples run in children with limits of their own)."""
REPORT_CHARACTERS = 64 * 1024**2
"""Most characters of a campaign's stdout (its report) and stderr kept."""


@dataclass(frozen=True)
class Edit:
    """Replace the one occurrence of `find` in `file` (a path inside the package) by `replace`."""

    file: str
    find: str
    replace: str


@dataclass(frozen=True)
class Mutant:
    """One planted bug: a name, what it breaks, its edits, and whether only a C run sees it."""

    name: str
    description: str
    edits: tuple[Edit, ...]
    needs_c_run: bool = False


class MutantError(Exception):
    """A mutant's edit does not apply to this version of the package (its text is not there
    exactly once)."""


def load_mutants(path: Path) -> list[Mutant]:
    """Mutants from a JSON file: a list of {name, description, needs_c_run, edits: [...]}."""
    raw: list[dict[str, Any]] = json.loads(path.read_text())
    return [Mutant(m["name"], m["description"], tuple(Edit(**e) for e in m["edits"]),
                   bool(m.get("needs_c_run", False))) for m in raw]


def plant(mutant: Mutant, into: Path, *, package: Path = PACKAGE) -> Path:
    """Copy `package` (and its schemas, which a source checkout keeps beside it) to `into`,
    apply the mutant's edits there; return `into`."""
    from mlfcheck.reading.schemas import schema_dir

    copy = into / "mlfcheck"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    if not (copy / "schemas").is_dir():
        shutil.copytree(schema_dir(), into / "schemas")
    for edit in mutant.edits:
        target = copy / edit.file
        text = target.read_text()
        if text.count(edit.find) != 1:
            raise MutantError(f"{mutant.name}: the text to replace occurs "
                              f"{text.count(edit.find)} times in {edit.file}, not once")
        target.write_text(text.replace(edit.find, edit.replace))
    return into


def run_with(mutant: Mutant | None, args: list[str], *,
             limits: children.Limits = CAMPAIGN_LIMITS, package: Path = PACKAGE,
             module: str = "mlfcheck", cwd: Path | None = None) -> children.Ran:
    """Run `python -m MODULE ARGS` (by default mlfcheck; e.g. pytest, in `cwd`) against the
    mutant, or against an unedited copy of `package` (by default this one) when None (so both
    run the same code, whatever changes in the tree meanwhile); `timed_out` says when it ran
    past `limits.seconds`."""
    with tempfile.TemporaryDirectory(prefix="mlfcheck-mutant-") as tmp:
        root = plant(mutant or Mutant("unmutated", "the package as it is", ()), Path(tmp),
                     package=package)
        env = dict(os.environ, PYTHONSAFEPATH="1")  # the current folder never shadows it
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
        return children.run([sys.executable, "-m", module, *args], limits=limits, env=env,
                            max_output=REPORT_CHARACTERS, cwd=cwd)
