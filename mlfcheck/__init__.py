"""mlfcheck: validate, diff, export and fuzz Apache TVM Model Library Format (MLF) archives.

The public API is what this package exports (see `__all__`); every submodule is internal.

    import mlfcheck

    report = mlfcheck.validate_archive("model.tar")        # -> Report
    if not report.ok:
        for f in report.findings:
            print(f.location(), f.code.name, f.message)
    result = mlfcheck.diff_archives("old.tar", "new.tar")   # -> DiffResult
    gate_fails = result.fails(mlfcheck.Level.BREAKING)
    verdict = mlfcheck.compat("model.tar", "tvmc-0.8")      # -> Verdict
    summary = mlfcheck.summarize_archive("model.tar")       # -> Summary

Names load on first use, so `import mlfcheck` stays cheap and never imports TVM.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlfcheck.version import __version__ as __version__

if TYPE_CHECKING:
    from mlfcheck.api import (
        Counted,
        ExportResult,
        Footprint,
        UserHarness,
        compat,
        compat_all,
        compat_harness,
        count_entry_point,
        diff_archives,
        export_model,
        size_archive,
        summarize_archive,
        validate_archive,
    )
    from mlfcheck.consumers import (
        Failure,
        Profile,
        ProfileError,
        Verdict,
        builtin_profiles,
        load_profile,
    )
    from mlfcheck.diff import DiffConfig, DiffResult, Level, Rule
    from mlfcheck.diff.config import load_config
    from mlfcheck.diff.result import Change
    from mlfcheck.errors import (
        ArchiveError,
        BoardError,
        ExportError,
        MlfcheckError,
        UsageError,
    )
    from mlfcheck.findings import Code, Finding, Severity
    from mlfcheck.reading.archive import Limits
    from mlfcheck.reading.csource import CParser
    from mlfcheck.reading.loaded import UnusableArchive
    from mlfcheck.reading.summary import Summary
    from mlfcheck.validate import Report

_WHERE = {
    "mlfcheck.api": ("Counted", "ExportResult", "Footprint", "UserHarness", "compat",
                     "compat_all", "compat_harness", "count_entry_point", "diff_archives",
                     "export_model", "size_archive", "summarize_archive", "validate_archive"),
    "mlfcheck.reading.archive": ("Limits",),
    "mlfcheck.reading.csource": ("CParser",),
    "mlfcheck.consumers": ("Failure", "Profile", "ProfileError", "Verdict", "builtin_profiles",
                           "load_profile"),
    "mlfcheck.diff": ("DiffConfig", "DiffResult", "Level", "Rule"),
    "mlfcheck.diff.config": ("load_config",),
    "mlfcheck.diff.result": ("Change",),
    "mlfcheck.errors": ("ArchiveError", "BoardError", "ExportError", "MlfcheckError",
                        "UsageError"),
    "mlfcheck.findings": ("Code", "Finding", "Severity"),
    "mlfcheck.reading.loaded": ("UnusableArchive",),
    "mlfcheck.reading.summary": ("Summary",),
    "mlfcheck.validate": ("Report",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = ["ArchiveError", "BoardError", "CParser", "Change", "Code", "Counted", "DiffConfig",
           "DiffResult", "ExportError", "ExportResult", "Failure", "Finding", "Footprint",
           "Level", "Limits", "MlfcheckError", "Profile", "ProfileError", "Report", "Rule",
           "Severity", "Summary", "UnusableArchive", "UsageError", "UserHarness", "Verdict",
           "builtin_profiles", "compat", "compat_all", "compat_harness", "count_entry_point",
           "diff_archives", "export_model", "load_config", "load_profile", "size_archive",
           "summarize_archive", "validate_archive"]


def __getattr__(name: str) -> Any:
    """Load a public name from the module that owns it, on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'mlfcheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
