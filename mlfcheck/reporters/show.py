"""Renderers for `show` summaries: text, json, markdown."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mlfcheck import __version__
from mlfcheck.summary import Summary

FORMAT_VERSION = 1


def _bytes(n: int) -> str:
    return f"{n:,} B" if n < 10_000 else f"{n:,} B ({n / 1024:.1f} KiB)"


def _tensor(t: dict[str, Any]) -> str:
    shape = f" {t['shape']}" if "shape" in t else ""
    return f"{t['name']}: {t['dtype']}{shape}, {t['size']:,} B"


def _module_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("module", m["name"]), ("style", m["style"]),
            ("executors", ", ".join(m["executors"]) or "-"),
            ("targets", "; ".join(m["targets"])), ("exported", m["export_datetime"])]
    if m["tvm_version"]:
        rows.append(("TVM version", m["tvm_version"]))
    for e in m["memory"]:
        rows.append((f"memory (device {e['device']})",
                     f"workspace {_bytes(e['workspace_bytes'])}, constants "
                     f"{_bytes(e['constants_bytes'])}, io {_bytes(e['io_bytes'])}"))
    if m["operator_count"]:
        rows.append(("operators", str(m["operator_count"])))
        for o in m["top_operators"]:
            rows.append(("  largest workspace", f"{o['name']}: {_bytes(o['workspace_bytes'])}"))
    for kind in ("inputs", "outputs"):
        for t in m[kind]:
            rows.append((kind[:-1], _tensor(t)))
    for b in m.get("buffers", []):
        rows.append(("buffer", f"{b['function']}: {b['dtype']} {b['shape']}, {b['size']:,} B"))
    p = m["parameters"]
    if p is not None:
        dtypes = ", ".join(f"{k} x{v}" for k, v in p["dtypes"].items()) or "none"
        noun = "tensor" if p["count"] == 1 else "tensors"
        rows.append(("parameters", f"{p['count']} {noun}, {_bytes(p['total_bytes'])} ({dtypes})"))
    return rows


def _head(d: dict[str, Any]) -> tuple[str, str]:
    detected = "/".join(f"v{v}" for v in d["detected_versions"]) or "?"
    return (f"MLF v{d['declared_version']} (layout looks like {detected})",
            f"{d['container']}, {d['members']} files, {_bytes(d['total_bytes'])}")


def render_text(summary: Summary) -> str:
    """Aligned key: value lines, one block per module, then the codegen files."""
    d = summary.data
    version, container = _head(d)
    lines = [f"{d['path']}: {version}, {container}"]
    for m in d["modules"]:
        rows = _module_rows(m)
        width = max(len(k) for k, _ in rows)
        lines += [""] + [f"  {k.ljust(width)}  {v}" for k, v in rows]
    if d["codegen"]:
        lines += ["", "  codegen:"]
        width = max(len(c["path"]) for c in d["codegen"])
        for c in d["codegen"]:
            n = c.get("functions")
            funcs = "" if n is None else f", {n} function" + ("s" if n != 1 else "")
            lines.append(f"    {c['path'].ljust(width)}  {c['bytes']:>10,} B{funcs}")
    return "\n".join(lines) + "\n"


def render_json(summary: Summary) -> str:
    """The show format (schemas/show-report.schema.json)."""
    doc = {"format": "mlfcheck-show", "format_version": FORMAT_VERSION,
           "tool": {"name": "mlfcheck", "version": __version__}, "archive": summary.data}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def render_markdown(summary: Summary) -> str:
    """A heading, then a two-column table per module and a codegen table."""
    d = summary.data
    version, container = _head(d)
    lines = [f"## `{d['path']}`", "", f"{version}; {container}"]
    for m in d["modules"]:
        lines += ["", "| | |", "|---|---|"]
        lines += [f"| {k.strip()} | {v.replace('|', '/')} |" for k, v in _module_rows(m)]
    if d["codegen"]:
        lines += ["", "| codegen file | bytes | functions |", "|---|---:|---:|"]
        for c in d["codegen"]:
            funcs = c.get("functions")
            lines.append(f"| `{c['path']}` | {c['bytes']:,} | {'' if funcs is None else funcs} |")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Summary], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown,
}
