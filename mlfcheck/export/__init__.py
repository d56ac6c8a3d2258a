"""The exporter: compile a model with the installed TVM and write a version-8 MLF archive.

Everything here imports TVM lazily, inside functions, so importing this package stays cheap.
"""

from __future__ import annotations

from mlfcheck.export.exporter import ExportResult, export_model
from mlfcheck.export.verify import DEFAULT_TOLERANCE, Verification

__all__ = ["DEFAULT_TOLERANCE", "ExportResult", "Verification", "export_model"]
