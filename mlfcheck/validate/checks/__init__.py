"""All checks in one ordered table: document first, then layout, then cross-file consistency."""

from __future__ import annotations

from mlfcheck.validate.checks import build, consistency, document, files, layout
from mlfcheck.validate.checks.base import Check, unmet_need

CHECKS: tuple[Check, ...] = (
    document.container,
    document.metadata_document,
    document.declared_version,
    document.schema,
    document.version_fingerprint,
    layout.required_members,
    layout.unexpected_members,
    layout.codegen_names,
    consistency.module_names,
    consistency.external_dependencies,
    consistency.io_sizes,
    consistency.constants_size,
    consistency.workspace_covers_operators,
    files.parameters_file,
    files.graph_config,
    files.params_are_graph_inputs,
    files.operator_functions_defined,
    files.header_declares_tensors,
    files.generated_code_parses,
    files.external_symbols_defined_once,
    files.declarations_match_definitions,
    files.definitions_not_hidden,
    build.archive_builds,
    build.objects_match_sources,
)

__all__ = ["CHECKS", "Check", "unmet_need"]
