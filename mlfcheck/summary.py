"""What `mlfcheck show` reports about an archive, gathered into one JSON-ready record."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck.archive import Archive, Limits
from mlfcheck.checks import Context
from mlfcheck.csource import functions
from mlfcheck.errors import MlfcheckError
from mlfcheck.layouts import params_path
from mlfcheck.model import Module
from mlfcheck.params import ParamsFile

TOP_OPERATORS = 5


class ShowError(MlfcheckError):
    """The archive's metadata is not usable enough to summarise."""


@dataclass(frozen=True)
class Summary:
    """The facts `show` prints, as plain data (so every reporter renders the same thing)."""

    data: dict[str, Any]


def summarize(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Summary:
    """Summarise one archive; raise ShowError when metadata.json is unusable."""
    with Archive(path, limits=limits) as archive:
        return summarize_context(Context(archive))


def summarize_context(ctx: Context) -> Summary:
    """Summarise an archive already opened in `ctx`; raise ShowError when it is unusable."""
    archive = ctx.archive
    problem = ctx.metadata[1] or ctx.declared_version[1] or (
        ctx.schema_findings[0] if ctx.version is not None and ctx.schema_findings else None)
    if problem is not None or ctx.model is None:
        where = problem.location() if problem else "metadata.json"
        why = problem.message if problem else "no usable metadata"
        raise ShowError(f"{archive.path}: cannot summarise, {where}: {why} "
                        "(run 'mlfcheck validate' for every finding)")
    model = ctx.model
    data: dict[str, Any] = {
        "path": archive.path,
        "container": "folder" if Path(archive.path).is_dir() else (
            "tar.gz" if archive.compressed else "tar"),
        "declared_version": model.version,
        "detected_versions": list(ctx.fingerprint.best()),
        "members": sum(1 for m in archive.members.values() if not m.is_dir),
        "total_bytes": sum(m.size for m in archive.members.values()),
        "modules": [_module(ctx, m) for m in model.modules],
        "codegen": _codegen(ctx),
    }
    return Summary(data)


def _tvm_version(module: Module) -> str | None:
    generator = module.extra.get("generator")
    if isinstance(generator, dict) and generator.get("tvm_version"):
        return str(generator["tvm_version"])
    for dep in module.external_dependencies:
        if dep.get("short_name") == "tvm_standalone_crt" and dep.get("version_spec"):
            return str(dep["version_spec"])
    return None


def _module(ctx: Context, module: Module) -> dict[str, Any]:
    ops = sorted(module.operator_functions, key=lambda o: (-o.max_workspace, o.name))
    out: dict[str, Any] = {
        "name": module.name,
        "style": module.style,
        "executors": list(module.executors),
        "targets": list(module.targets),
        "export_datetime": module.export_datetime,
        "tvm_version": _tvm_version(module),
        "memory": [{"device": e.device, "workspace_bytes": e.workspace_size_bytes,
                    "constants_bytes": e.constants_size_bytes, "io_bytes": e.io_size_bytes}
                   for e in module.main],
        "operator_count": len(module.operator_functions),
        "top_operators": [{"name": o.name, "workspace_bytes": o.max_workspace}
                          for o in ops[:TOP_OPERATORS]],
        "inputs": [], "outputs": [],
        "parameters": None,
    }
    for e in module.main[:1]:
        for kind in ("inputs", "outputs"):
            out[kind] = [{"name": t.name, "dtype": t.dtype, "size": t.size,
                          **({"shape": list(t.shape)} if t.shape is not None else {})}
                         for t in getattr(e, kind) or ()]
    if module.style == "operator":
        out["buffers"] = [{"function": b.function, "dtype": b.dtype, "shape": list(b.shape),
                           "size": b.size_bytes} for b in module.buffers]
    params = ctx.params(params_path(module))
    if isinstance(params, ParamsFile):
        dtypes = Counter(t.dtype for t in params.tensors)
        out["parameters"] = {"file": params_path(module), "count": len(params.tensors),
                             "total_bytes": params.total_bytes,
                             "dtypes": dict(sorted(dtypes.items()))}
    return out


def _codegen(ctx: Context) -> list[dict[str, Any]]:
    files = []
    for member in ctx.archive.files("codegen/host"):
        entry: dict[str, Any] = {"path": member.name, "bytes": member.size}
        if member.name.endswith((".c", ".cc", ".cpp")):
            text = ctx.text(member.name)
            entry["functions"] = len(functions(text)) if text is not None else None
        files.append(entry)
    return files
