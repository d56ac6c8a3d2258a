"""Benchmark `mlfcheck validate`: wall time and peak memory on real and generated archives."""

from __future__ import annotations

import argparse
import compileall
import io
import json
import os
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import venv
from array import array
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlfcheck.reading.archive import normalise_name  # noqa: E402
from mlfcheck.reading.params import LIST_MAGIC, TENSOR_MAGIC  # noqa: E402
from tests.shared_paths import real_archives  # noqa: E402

MB = 1000 * 1000
TARGET_SECONDS = 0.25
TARGET_MB = 45.0
TARGET_RATIO = 2.0
BASELINE_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlfcheck-bench"

_WRAPPER = """\
import os, sys, time
null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=null)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""
"""Runs argv[1:] as its own child with output discarded; prints seconds, max RSS (KiB), exit
code. Each measured process gets a fresh wrapper, so no RUSAGE_CHILDREN maximum carries over
between runs. posix_spawn shares the wrapper's memory until exec, so the wrapper's own RSS
(~13 MB) is the floor of what can be reported; every Python process measured is above it."""

_READ_ALL = """\
import sys, tarfile
with tarfile.open(sys.argv[1], "r:") as tar:
    for info in tar:
        if info.isfile():
            stream = tar.extractfile(info)
            while stream.read(1 << 20):
                pass
"""
"""The floor for the large archives: open, iterate, and read every member fully (1 MiB reads)."""


@dataclass(frozen=True)
class Figure:
    """Median wall time and median peak RSS of one command over several fresh runs."""

    seconds: float
    peak_mb: float

    @property
    def cell(self) -> str:
        """Two Markdown table cells: time, then peak memory."""
        return f"{self.seconds:.3f} s | {self.peak_mb:.1f} MB"


def measure(cmd: list[str], runs: int) -> Figure:
    """Run `cmd` once to warm caches, then `runs` times; medians of wall time and max RSS."""
    times: list[float] = []
    peaks: list[float] = []
    for i in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.split()
        seconds, kib, code = float(out[0]), int(out[1]), int(out[2])
        if code != 0:
            raise SystemExit(f"bench: {shlex.join(cmd)} exited {code}; run it by hand to see why")
        if i:
            times.append(seconds)
            peaks.append(kib * 1024 / MB)
    return Figure(statistics.median(times), statistics.median(peaks))


def validate_cmd(archive: Path) -> list[str]:
    """The command line under test."""
    return [sys.executable, "-m", "mlfcheck", "validate", str(archive)]


# -- baselines --------------------------------------------------------------------------------

def baseline_tool(name: str, install: bool) -> str | None:
    """A baseline tool's executable (PyPI package of the same name): on PATH, in the bench
    venv, or installed there when `install` is set."""
    found = shutil.which(name)
    cached = BASELINE_VENV / "bin" / name
    if found or cached.is_file():
        return found or str(cached)
    if not install:
        return None
    print(f"installing {name} into {BASELINE_VENV} ...", file=sys.stderr)
    venv.create(BASELINE_VENV, with_pip=True)
    subprocess.run([str(BASELINE_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    name], check=True)
    return str(cached)


def metadata_of(archive: Path, into: Path) -> tuple[Path, int]:
    """metadata.json of an archive (extracted into `into` when it is a tar) and its version."""
    if archive.is_dir():
        path = archive / "metadata.json"
    else:
        with tarfile.open(archive, "r:") as tar:
            member = next(m for m in tar if normalise_name(m.name) == "metadata.json")
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
        path = into / f"{archive.parent.name}.metadata.json"
        path.write_bytes(data)
    return path, int(json.loads(path.read_bytes())["version"])


# -- the generated archive ----------------------------------------------------------------------

_BLOCK = array("f", (((i * 7919) % 65536) / 4096.0 for i in range(1 << 18))).tobytes()
"""1 MiB of deterministic float32 values, repeated as tensor data."""


class _Stream(io.RawIOBase):
    """A read-only stream over byte pieces, some of them repeated `_BLOCK` data, made on demand."""

    def __init__(self, pieces: list[bytes | int]) -> None:
        self._pieces = pieces  # bytes, or an int: that many bytes of repeated _BLOCK
        self._at = 0
        self._into = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._at < len(self._pieces):
            piece = self._pieces[self._at]
            size = piece if isinstance(piece, int) else len(piece)
            if self._into < size:
                n = min(len(buffer), size - self._into)
                if isinstance(piece, int):
                    start = self._into % len(_BLOCK)
                    n = min(n, len(_BLOCK) - start)
                    buffer[:n] = _BLOCK[start:start + n]
                else:
                    buffer[:n] = piece[self._into:self._into + n]
                self._into += n
                return n
            self._at += 1
            self._into = 0
        return 0


def params_pieces(names: list[str], shape: tuple[int, ...]) -> tuple[list[bytes | int], int]:
    """A TVM param dict of float32 tensors of one shape, as stream pieces, and its size."""
    nbytes = 4
    for d in shape:
        nbytes *= d
    head = struct.pack("<QQQ", LIST_MAGIC, 0, len(names))
    for name in names:
        raw = name.encode()
        head += struct.pack("<Q", len(raw)) + raw
    head += struct.pack("<Q", len(names))
    pieces: list[bytes | int] = [head]
    for _ in names:
        pieces.append(struct.pack("<QQiiiBBH", TENSOR_MAGIC, 0, 1, 0, len(shape), 2, 32, 1)
                      + struct.pack(f"<{len(shape)}q", *shape) + struct.pack("<q", nbytes))
        pieces.append(nbytes)
    return pieces, sum(p if isinstance(p, int) else len(p) for p in pieces)


def c_source(n: int) -> bytes:
    """A few KB of TVM-style C defining tvmgen_default_fused_op_<n>."""
    body = "".join(f"    ((float*)out)[{i}] = ((float*)in)[{i}] * {n % 97 + i}.0f + "
                   f"((float*)w)[{i}];\n" for i in range(60))
    return ("// tvm target: c -keys=cpu\n#define TVM_EXPORTS\n"
            '#include "tvm/runtime/c_runtime_api.h"\n'
            '#include "tvm/runtime/c_backend_api.h"\n#include <math.h>\n'
            f"#ifdef __cplusplus\nextern \"C\"\n#endif\n"
            f"TVM_DLL int32_t tvmgen_default_fused_op_{n}(void* in, void* w, void* out, "
            f"uint8_t* global_const_workspace_{n}_var, uint8_t* global_workspace_{n}_var) {{\n"
            f"{body}    return 0;\n}}\n\n").encode()


def metadata(n_ops: int, constants: int) -> bytes:
    """A v7 full-model AOT metadata.json naming every generated operator function."""
    ops = [{"function_name": f"tvmgen_default_fused_op_{n}",
            "workspace": [{"device": 1, "workspace_size_bytes": 256}]} for n in range(n_ops)]
    main = {"constants_size_bytes": constants, "device": 1,
            "inputs": {"input_1": {"dtype": "float32", "size": 4096}},
            "outputs": {"output": {"dtype": "float32", "size": 40}},
            "io_size_bytes": 4136, "workspace_size_bytes": 4096}
    module = {"executors": ["aot"], "export_datetime": "2024-02-01 17:51:05Z",
              "memory": {"functions": {"main": [main], "operator_functions": ops}},
              "model_name": "default", "style": "full-model", "target": ["c -keys=cpu"]}
    return json.dumps({"modules": {"default": module}, "version": 7}, indent=2,
                      sort_keys=True).encode()


_HEADER = (b"#ifndef TVMGEN_DEFAULT_H_\n#define TVMGEN_DEFAULT_H_\n#include <stdint.h>\n"
           b"struct tvmgen_default_inputs {\n  void* input_1;\n};\n"
           b"struct tvmgen_default_outputs {\n  void* output;\n};\n"
           b"int32_t tvmgen_default_run(struct tvmgen_default_inputs* inputs,\n"
           b"  struct tvmgen_default_outputs* outputs);\n#endif\n")


def write_archive(path: Path, *, tensors: int, n_sources: int) -> int:
    """Write a valid v7 AOT archive: `tensors` × 64 MiB float32 params, `n_sources` C files."""
    names = [f"p{i}" for i in range(tensors)]
    pieces, params_size = params_pieces(names, (4096, 4096))
    constants = tensors * 4096 * 4096 * 4
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        def add(name: str, data: bytes | None = None, *, stream: io.BufferedReader | None = None,
                size: int = 0) -> None:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if data is None and stream is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                return
            info.size = len(data) if data is not None else size
            tar.addfile(info, io.BytesIO(data) if data is not None else stream)

        for folder in (".", "./codegen", "./codegen/host", "./codegen/host/include",
                       "./codegen/host/src", "./parameters", "./src"):
            add(folder)
        add("./metadata.json", metadata(n_sources, constants))
        add("./codegen/host/include/tvmgen_default.h", _HEADER)
        for n in range(n_sources):
            add(f"./codegen/host/src/default_lib{n}.c", c_source(n))
        add("./parameters/default.params", stream=io.BufferedReader(_Stream(pieces), 1 << 20),
            size=params_size)
        add("./src/default.relay", b"def @main(%input_1: Tensor[(1024), float32]) {\n"
            b"  %input_1\n}\n")
    return params_size


# -- reporting ----------------------------------------------------------------------------------

def verdict(fig: Figure) -> str:
    """Whether one small real archive meets the time and memory targets."""
    ok = fig.seconds <= TARGET_SECONDS and fig.peak_mb <= TARGET_MB
    return "meets" if ok else "misses"


def bench_real(runs: int, cjs: str | None, scratch: Path) -> list[str]:
    """Table rows for every real fixture, check-jsonschema beside it, and interpreter startup."""
    rows = ["| Archive | validate time | validate peak RSS | targets ≤ 0.25 s, ≤ 45 MB "
            "| check-jsonschema time | check-jsonschema peak RSS |",
            "|---|---|---|---|---|---|"]
    for name, archive in real_archives().items():
        fig = measure(validate_cmd(archive), runs)
        other = "not installed | not installed"
        if cjs:
            meta, version = metadata_of(archive, scratch)
            schema = REPO / "schemas" / f"mlf-v{version}.schema.json"
            other = measure([cjs, "--schemafile", str(schema), str(meta)], runs).cell
        rows.append(f"| {name} | {fig.cell} | {verdict(fig)} | {other} |")
    start = measure([sys.executable, "-c", "import json, jsonschema"], runs)
    rows.append(f"| *baseline: `python -c \"import json, jsonschema\"`* | {start.cell} | | | |")
    return rows


def bench_large(runs: int) -> list[str]:
    """Table rows for the ~200 MB and ~400 MB generated archives against a plain tarfile read."""
    rows = ["| Generated v7 AOT archive | tar size | validate time | validate peak RSS "
            "| tarfile read-all time | tarfile read-all peak RSS | time ratio (target ≤ 2×) |",
            "|---|---|---|---|---|---|---|"]
    for tensors, n_sources in ((3, 2000), (6, 4000)):
        with tempfile.TemporaryDirectory(prefix="mlfcheck-bench-") as tmp:
            path = Path(tmp) / "model.tar"
            params_size = write_archive(path, tensors=tensors, n_sources=n_sources)
            ours = measure(validate_cmd(path), runs)
            floor = measure([sys.executable, "-c", _READ_ALL, str(path)], runs)
            size = path.stat().st_size
        ratio = ours.seconds / floor.seconds
        label = f"{params_size / MB:.0f} MB params + {n_sources} C files"
        rows.append(f"| {label} | {size / MB:.0f} MB | {ours.cell} | {floor.cell} "
                    f"| {ratio:.2f}× ({'meets' if ratio <= TARGET_RATIO else 'misses'}) |")
    return rows


def bench_parser(description: str | None, *, runs: int, baseline: str) -> argparse.ArgumentParser:
    """The options every benchmark takes: --runs, --shared and --install-baselines."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=runs,
                        help=f"timed runs per figure (default {runs})")
    parser.add_argument("--shared", type=Path, help="the shared folder (default: "
                        "$MLFCHECK_SHARED, else ../shared beside the repo)")
    parser.add_argument("--install-baselines", action="store_true",
                        help=f"pip-install {baseline} into {BASELINE_VENV} if missing")
    return parser


def compile_package() -> None:
    """Write the bytecode of mlfcheck/ as `pip install` does, so that every run measures the
    tool as installed: from a source tree under PYTHONDONTWRITEBYTECODE=1 each fresh process
    would otherwise compile every module again (about 0.05 s of each run)."""
    compileall.compile_dir(REPO / "mlfcheck", quiet=1)


def bench_args(parser: argparse.ArgumentParser, argv: list[str] | None,
               script: str) -> argparse.Namespace:
    """Parse and check the options, point MLFCHECK_SHARED at --shared, compile the package,
    print the command."""
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.shared:
        os.environ["MLFCHECK_SHARED"] = str(args.shared.resolve())
    compile_package()
    command = shlex.join(["python", f"bench/{script}", *sys.argv[1:]])
    print(f"Command: `{command}` (from the repo root)\n")
    return args


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, runs=7, baseline="check-jsonschema")
    parser.add_argument("--skip-large", action="store_true",
                        help="skip the generated 200 MB and 400 MB archives")
    args = bench_args(parser, argv, "bench_validate.py")
    cjs = baseline_tool("check-jsonschema", args.install_baselines)
    print(f"Medians of {args.runs} fresh-process runs after one warm-up run; peak memory is "
          "max RSS of the process (1 MB = 10^6 bytes). Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cores shared with other jobs, so "
          "timings are noisy.\n")
    with tempfile.TemporaryDirectory(prefix="mlfcheck-bench-") as scratch:
        print("\n".join(bench_real(args.runs, cjs, Path(scratch))))
    if not args.skip_large:
        print()
        print("\n".join(bench_large(args.runs)))


if __name__ == "__main__":
    main()
