"""Renderers for `show` summaries: text, json, markdown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlfcheck.reading.model import TensorSpec
from mlfcheck.reading.summary import ModuleSummary, Summary
from mlfcheck.reporters.present import byte_count, json_report, md_code, md_text, text_lines


def _tensor(t: TensorSpec) -> str:
    shape = f" {list(t.shape)}" if t.shape is not None else ""
    return f"{t.name}: {t.dtype}{shape}, {t.size:,} B"


def _module_rows(m: ModuleSummary) -> list[tuple[str, str]]:
    rows = [("module", m.name), ("style", m.style),
            ("executors", ", ".join(m.executors) or "-"),
            ("targets", "; ".join(m.targets)), ("exported", m.export_datetime)]
    if m.tvm_version:
        rows.append(("TVM version", m.tvm_version))
    for e in m.memory:
        rows.append((f"memory (device {e.device})",
                     f"workspace {byte_count(e.workspace_bytes)}, constants "
                     f"{byte_count(e.constants_bytes)}, io {byte_count(e.io_bytes)}"))
    if m.operator_count:
        rows.append(("operators", str(m.operator_count)))
        for o in m.top_operators:
            rows.append(("  largest workspace", f"{o.name}: {byte_count(o.workspace_bytes)}"))
    rows += [("input", _tensor(t)) for t in m.inputs]
    rows += [("output", _tensor(t)) for t in m.outputs]
    for b in m.buffers or ():
        rows.append(("buffer", f"{b.function}: {b.dtype} {list(b.shape)}, {b.size:,} B"))
    p = m.parameters
    if p is not None:
        dtypes = ", ".join(f"{k} x{v}" for k, v in p.dtypes) or "none"
        noun = "tensor" if p.count == 1 else "tensors"
        rows.append(("parameters", f"{p.count} {noun}, {byte_count(p.total_bytes)} ({dtypes})"))
    return rows


def _head(d: Summary) -> tuple[str, str]:
    detected = "/".join(f"v{v}" for v in d.detected_versions) or "?"
    return (f"MLF v{d.declared_version} (layout looks like {detected})",
            f"{d.container}, {d.members} files, {byte_count(d.total_bytes)}")


def render_text(summary: Summary) -> str:
    """Aligned key: value lines, one block per module, then the codegen files."""
    version, container = _head(summary)
    lines = [f"{summary.path}: {version}, {container}"]
    for m in summary.modules:
        rows = _module_rows(m)
        width = max(len(k) for k, _ in rows)
        lines += [""] + [f"  {k.ljust(width)}  {v}" for k, v in rows]
    if summary.codegen:
        lines += ["", "  codegen:"]
        width = max(len(c.path) for c in summary.codegen)
        for c in summary.codegen:
            n = c.functions
            funcs = "" if n is None else f", {n} function" + ("s" if n != 1 else "")
            lines.append(f"    {c.path.ljust(width)}  {c.bytes:>10,} B{funcs}")
    return text_lines(lines)


def _tensor_json(t: TensorSpec) -> dict[str, Any]:
    return {"name": t.name, "dtype": t.dtype, "size": t.size,
            **({"shape": list(t.shape)} if t.shape is not None else {})}


def _module_json(m: ModuleSummary) -> dict[str, Any]:
    p = m.parameters
    out: dict[str, Any] = {
        "name": m.name, "style": m.style, "executors": list(m.executors),
        "targets": list(m.targets), "export_datetime": m.export_datetime,
        "tvm_version": m.tvm_version,
        "memory": [{"device": e.device, "workspace_bytes": e.workspace_bytes,
                    "constants_bytes": e.constants_bytes, "io_bytes": e.io_bytes}
                   for e in m.memory],
        "operator_count": m.operator_count,
        "top_operators": [{"name": o.name, "workspace_bytes": o.workspace_bytes}
                          for o in m.top_operators],
        "inputs": [_tensor_json(t) for t in m.inputs],
        "outputs": [_tensor_json(t) for t in m.outputs],
        "parameters": None if p is None else {
            "file": p.file, "count": p.count, "total_bytes": p.total_bytes,
            "dtypes": dict(p.dtypes)},
    }
    if m.buffers is not None:
        out["buffers"] = [{"function": b.function, "dtype": b.dtype, "shape": list(b.shape),
                           "size": b.size} for b in m.buffers]
    return out


def summary_json(summary: Summary) -> dict[str, Any]:
    """The summary as the `archive` object of schemas/show-report.schema.json."""
    return {
        "path": summary.path, "container": summary.container,
        "declared_version": summary.declared_version,
        "detected_versions": list(summary.detected_versions), "members": summary.members,
        "total_bytes": summary.total_bytes,
        "modules": [_module_json(m) for m in summary.modules],
        "codegen": [{"path": c.path, "bytes": c.bytes,
                     **({"functions": c.functions} if c.is_c else {})}
                    for c in summary.codegen],
    }


def render_json(summary: Summary) -> str:
    """The show format (schemas/show-report.schema.json)."""
    return json_report("show", {"archive": summary_json(summary)})


def render_markdown(summary: Summary) -> str:
    """A heading, then a two-column table per module and a codegen table."""
    version, container = _head(summary)
    lines = [f"## {md_code(summary.path)}", "", md_text(f"{version}; {container}")]
    for m in summary.modules:
        lines += ["", "| | |", "|---|---|"]
        lines += [f"| {k.strip()} | {md_text(v)} |" for k, v in _module_rows(m)]
    if summary.codegen:
        lines += ["", "| codegen file | bytes | functions |", "|---|---:|---:|"]
        for c in summary.codegen:
            funcs = "" if c.functions is None else c.functions
            lines.append(f"| {md_code(c.path, table=True)} | {c.bytes:,} | {funcs} |")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Summary], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown,
}
