"""What `show` reports about an archive: a typed `Summary` of its modules, memory and code."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mlfcheck.reading.archive import Archive, Limits
from mlfcheck.reading.csource import CParser
from mlfcheck.reading.layouts import params_path
from mlfcheck.reading.loaded import Loaded
from mlfcheck.reading.model import Module, TensorSpec
from mlfcheck.reading.params import ParamsFile

TOP_OPERATORS = 5
C_SUFFIXES = (".c", ".cc", ".cpp")


@dataclass(frozen=True)
class DeviceMemory:
    """`main`'s memory on one device, as metadata states it."""

    device: int
    workspace_bytes: int
    constants_bytes: int
    io_bytes: int


@dataclass(frozen=True)
class OperatorWorkspace:
    """One operator function and its largest workspace."""

    name: str
    workspace_bytes: int


@dataclass(frozen=True)
class BufferSummary:
    """An operator-style archive's buffer of one function."""

    function: str
    dtype: str
    shape: tuple[int, ...]
    size: int


@dataclass(frozen=True)
class Parameters:
    """The module's parameters file: tensor count, data bytes and count per dtype."""

    file: str
    count: int
    total_bytes: int
    dtypes: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ModuleSummary:
    """One module of the archive."""

    name: str
    style: str
    executors: tuple[str, ...]
    targets: tuple[str, ...]
    export_datetime: str
    tvm_version: str | None
    memory: tuple[DeviceMemory, ...]
    operator_count: int
    top_operators: tuple[OperatorWorkspace, ...]
    """The operators with the largest workspaces, largest first."""
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    parameters: Parameters | None
    """None when the parameters file is absent or does not parse."""
    buffers: tuple[BufferSummary, ...] | None
    """Only for operator-style archives."""


@dataclass(frozen=True)
class CodegenFile:
    """A member under codegen/host and, for C files, how many functions it defines."""

    path: str
    bytes: int
    functions: int | None
    """None for other files, and for a C file that could not be read."""

    @property
    def is_c(self) -> bool:
        """A C or C++ source file (the only ones whose functions are counted)."""
        return self.path.endswith(C_SUFFIXES)


@dataclass(frozen=True)
class Summary:
    """The facts `show` prints, as typed data (every reporter renders the same thing)."""

    path: str
    container: str
    """'tar', 'tar.gz' or 'folder'."""
    declared_version: int
    detected_versions: tuple[int, ...]
    members: int
    total_bytes: int
    modules: tuple[ModuleSummary, ...]
    codegen: tuple[CodegenFile, ...]

    @property
    def workspace_bytes(self) -> int:
        """Workspace summed over modules and devices."""
        return sum(e.workspace_bytes for m in self.modules for e in m.memory)

    @property
    def constants_bytes(self) -> int:
        """Constants summed over modules and devices."""
        return sum(e.constants_bytes for m in self.modules for e in m.memory)

    @property
    def io_bytes(self) -> int:
        """I/O summed over modules and devices."""
        return sum(e.io_bytes for m in self.modules for e in m.memory)

    @property
    def code_bytes(self) -> int:
        """Bytes of every member under codegen/host."""
        return sum(c.bytes for c in self.codegen)


def summarize(path: str | os.PathLike[str], *, limits: Limits | None = None,
              parser: CParser | None = None) -> Summary:
    """Summarise one archive, its C read by `parser` (default: one of its own); raise
    UnusableArchive when its metadata is unusable."""
    with Archive(path, limits=limits) as archive:
        return summarize_loaded(Loaded(archive, parser=parser))


def summarize_loaded(ctx: Loaded) -> Summary:
    """Summarise a loaded archive; raise UnusableArchive when its metadata is unusable."""
    archive = ctx.archive
    model = ctx.usable_model(archive.path, "summarise")
    return Summary(
        path=archive.path,
        container="folder" if Path(archive.path).is_dir() else (
            "tar.gz" if archive.compressed else "tar"),
        declared_version=model.version,
        detected_versions=tuple(ctx.fingerprint.best()),
        members=sum(1 for m in archive.members.values() if not m.is_dir),
        total_bytes=sum(m.size for m in archive.members.values()),
        modules=tuple(_module(ctx, m) for m in model.modules),
        codegen=_codegen(ctx))


def _tvm_version(module: Module) -> str | None:
    generator = module.extra.get("generator")
    if isinstance(generator, dict) and generator.get("tvm_version"):
        return str(generator["tvm_version"])
    for dep in module.external_dependencies:
        if dep.get("short_name") == "tvm_standalone_crt" and dep.get("version_spec"):
            return str(dep["version_spec"])
    return None


def _module(ctx: Loaded, module: Module) -> ModuleSummary:
    ops = sorted(module.operator_functions, key=lambda o: (-o.max_workspace, o.name))
    first = module.main[:1]
    params = ctx.params(params_path(module))
    parameters = None
    if isinstance(params, ParamsFile):
        dtypes = Counter(t.dtype for t in params.tensors)
        parameters = Parameters(params_path(module), len(params.tensors), params.total_bytes,
                                tuple(sorted(dtypes.items())))
    return ModuleSummary(
        name=module.name, style=module.style, executors=tuple(module.executors),
        targets=tuple(module.targets), export_datetime=module.export_datetime,
        tvm_version=_tvm_version(module),
        memory=tuple(DeviceMemory(e.device, e.workspace_size_bytes, e.constants_size_bytes,
                            e.io_size_bytes) for e in module.main),
        operator_count=len(module.operator_functions),
        top_operators=tuple(OperatorWorkspace(o.name, o.max_workspace)
                            for o in ops[:TOP_OPERATORS]),
        inputs=tuple(t for e in first for t in e.inputs or ()),
        outputs=tuple(t for e in first for t in e.outputs or ()),
        parameters=parameters,
        buffers=tuple(BufferSummary(b.function, b.dtype, tuple(b.shape), b.size_bytes)
                      for b in module.buffers) if module.style == "operator" else None)


def _codegen(ctx: Loaded) -> tuple[CodegenFile, ...]:
    files = []
    read = ctx.codegen.tables()
    for member in ctx.archive.files("codegen/host"):
        table = (read.get(member.name) or ctx.codegen.table(member.name)) \
            if member.name.endswith(C_SUFFIXES) else None
        files.append(CodegenFile(member.name, member.size,
                                 len(table.functions) if table is not None else None))
    return tuple(files)
