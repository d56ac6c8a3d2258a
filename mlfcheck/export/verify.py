"""--verify: build the archive alone with the system C compiler, run it, compare with TVM's VM.

The archive is unpacked to a temporary folder and compiled from its own files plus a generated
driver, contained (`mlfcheck.board.containment`: it may read only the archive and the
compiler's own headers; every compile and the link within limits). The driver reads seeded
random inputs, runs the model twice with the workspace filled with two different patterns (the
highest byte either run changed is the workspace the run used), and writes the outputs. TVM's
reference is the same imported model compiled for LLVM (`reference_vm`) and run on the Relax
VM.

A stateful model (its plan has states) is run for STATEFUL_CALLS consecutive calls from its
reset state, each call on its own seeded inputs, as TFLite Micro runs one interpreter invoked
again and again; every call's outputs are compared, and each comparison covers all calls.

A .tflite model is also run by TFLite Micro, the reference that decides (integer outputs must
equal it bit for bit), and by LiteRT, a second opinion reported beside it; a quantized .onnx by
onnxruntime (`reference`).
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfcheck import children
from mlfcheck.board import containment
from mlfcheck.board.containment import Build, Tree, tool_error
from mlfcheck.board.crossbuild import RUN_FILE_BYTES
from mlfcheck.errors import BoardError, ExportError
from mlfcheck.export.cgen import constant_array, constants_struct
from mlfcheck.export.frontends import Imported
from mlfcheck.export.plan import Plan, Tensor
from mlfcheck.export.reference import (
    RUNTIMES,
    Agreement,
    SecondOpinion,
    check_against_runtime,
    joined,
    second_opinion,
)
from mlfcheck.export.stages import stage

DEFAULT_TOLERANCE = 1e-5
"""Largest absolute difference per output element accepted between the C run and TVM."""
SEED = 0
STATEFUL_CALLS = 6
"""Consecutive calls a stateful model is verified over (more than the state's usual memory of
4 steps in keyword_scrambled, so values that entered at the first call have left again)."""
CFLAGS = ("-std=c11", "-O1", "-Wall", "-Werror")
RUN_TIMEOUT = 120
RUN_LIMITS = children.Limits(seconds=RUN_TIMEOUT, memory_bytes=None, file_bytes=RUN_FILE_BYTES,
                             cpu_seconds=RUN_TIMEOUT)
"""What one run of a built archive may use: RUN_TIMEOUT seconds of wall clock and of CPU (so a
run whose caller was killed still ends), this process's address space, files up to 256 MiB."""
REFERENCE_TARGET = {"kind": "llvm", "opt-level": 0}
"""What TVM's reference runs are compiled for: LLVM without its IR optimisations (the same
arithmetic, IEEE float either way), which took half of `tvm.compile`'s time (the machine code
the VM then makes is unchanged: TVM's JIT always optimises)."""
REFERENCE_TIR = "mlfcheck-reference"
"""The TIR pipeline of the reference runs (`_reference_tir`): TVM's default lowering for the
CPU (s_tir) keeping only the passes that turn blocks into loops, flatten buffers, legalise
types and make the packed API, plus RewriteUnsafeSelect (a select whose untaken branch could
read out of bounds); simplification, unrolling, hoisting, loop partitioning, storage rewriting
and CSE go. Those took three quarters of what was left of `tvm.compile`'s time on the fuzz
models; the outputs were bit for bit TVM's default's on all 280 modules of 100 fuzz examples
(seeds 20261126 and 0: the models, their int8 patterns and float references), each on five
input sets."""
REFERENCE_UNITS = {".tflite": 0, ".onnx": 1}
"""Model file suffix → largest difference from its runtime accepted on an integer output, in
quantized units: none from TFLite Micro (its integer kernels are the definition the archive's
match); one from onnxruntime, whose QDQ operators compute in float and round on their own."""


@dataclass(frozen=True)
class Verification:
    """How the archive's own C build compared with TVM's Relax VM on LLVM."""

    max_abs_error: dict[str, float]
    """Output name → largest absolute difference."""
    tolerance: float
    workspace_planned: int
    workspace_measured: int
    seconds: float
    reference: tuple[Agreement, ...] | None = None
    """For a .tflite (or quantized .onnx) model: each output of the C run against the model's
    own runtime (TFLite Micro's reference kernels, onnxruntime)."""
    runtime: str = ""
    """Which runtime `reference` compares with."""
    reference_units: int = 0
    """Largest difference from `runtime` accepted on an integer output (REFERENCE_UNITS)."""
    second_opinion: SecondOpinion | None = None
    """For a .tflite model: the same outputs against LiteRT, reported, never deciding `ok`."""
    calls: int = 1
    """Consecutive calls compared (STATEFUL_CALLS for a model with state); every figure above
    covers all of them."""

    @property
    def ok(self) -> bool:
        """True when every output is within the tolerance (the model's runtime: within
        `reference_units` on integer outputs, the tolerance on float ones)."""
        return all(err <= self.tolerance for err in self.max_abs_error.values()) and all(
            a.max_diff <= (self.reference_units if a.integer else self.tolerance)
            for a in self.reference or ())


def compiler() -> str:
    """The system C compiler: $CC, else cc, else gcc."""
    import os

    found = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not found:
        raise ExportError("verify", "no C compiler found (set CC)")
    return found


def calls_of(plan: Plan) -> int:
    """How many consecutive calls verify runs: STATEFUL_CALLS with state, else 1."""
    return STATEFUL_CALLS if plan.states else 1


def random_inputs(tensors: tuple[Tensor, ...], call: int = 0) -> list[Any]:
    """Seeded inputs (call `call` of a sequence): floats uniform in [-1, 1), integers over
    their whole range."""
    import numpy as np

    rng = np.random.default_rng(SEED + call)
    out = []
    for t in tensors:
        dtype = np.dtype("bool" if t.dtype == "bool" else t.dtype)
        if dtype.kind == "f":
            out.append(rng.uniform(-1, 1, t.shape).astype(dtype))
        elif dtype.kind == "b":
            out.append(rng.integers(0, 2, t.shape).astype(dtype))
        else:
            info = np.iinfo(dtype)
            out.append(rng.integers(info.min, info.max, t.shape, endpoint=True).astype(dtype))
    return out


def reference_outputs(imported: Imported, inputs: list[Any]) -> list[Any]:
    """TVM's own result: the imported model compiled for LLVM, run on the Relax VM."""
    return run_vm(reference_vm(imported.mod), imported.entry, inputs)


def reference_vm(mod: Any) -> Any:
    """TVM's Relax VM on the CPU running `mod`, compiled for REFERENCE_TARGET with the
    REFERENCE_TIR pipeline: every reference run of TVM (--verify's, the fuzz oracles') is
    made here."""
    import tvm
    from tvm import relax
    from tvm.tirx import compilation_pipeline

    if REFERENCE_TIR not in compilation_pipeline.PIPELINE_MAP:  # TVM keeps it for the process
        compilation_pipeline.register_tir_pipeline(REFERENCE_TIR, _reference_tir)
    executable = tvm.compile(mod, target=tvm.target.Target(REFERENCE_TARGET),
                             tir_pipeline=REFERENCE_TIR)
    return relax.VirtualMachine(executable, tvm.cpu())


def _reference_tir() -> tuple[Any, Any, Any]:
    """The REFERENCE_TIR pipeline (pass list, host and device finalisation), as TVM's
    pipeline registry takes it: TVM's default CPU lowering without its optimising passes."""
    import tvm
    from tvm import s_tir, tirx
    from tvm.s_tir import pipeline

    def lowering(mod: Any, _ctx: Any) -> Any:
        return tvm.transform.Sequential([
            s_tir.transform.LowerInitBlock(),
            s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
            s_tir.transform.ConvertBlocksToOpaque(),
            s_tir.transform.CompactBufferAllocation(),
            s_tir.transform.LowerMatchBuffer(),
            s_tir.transform.LowerOpaqueBlock(),
            tirx.transform.FlattenBuffer(),
            tirx.transform.BF16ComputeLegalize(),
            tirx.transform.NarrowDataType(32),
            tirx.transform.VectorizeLoop(False),
            s_tir.transform.RewriteUnsafeSelect(),
            tirx.transform.FP8ComputeLegalize(),
            tirx.transform.VerifyMemory(),
            tirx.transform.AnnotateEntryFunc(),
            tirx.transform.SplitHostDevice(),
            tirx.transform.MakePackedAPI(),
            tirx.transform.FP8StorageLegalize(),
            tirx.transform.BF16StorageLegalize(),
        ])(mod)

    return (tvm.transform.module_pass(lowering, opt_level=0, name="MlfcheckReferenceLowering"),
            pipeline.finalize_host_passes, pipeline.finalize_device_passes)


def run_vm(vm: Any, entry: str, inputs: list[Any]) -> list[Any]:
    """The outputs (numpy arrays, a tuple flattened) of `vm`'s function `entry` on `inputs`."""
    import tvm

    result = vm[entry](*[tvm.runtime.tensor(x) for x in inputs])
    flat = list(result) if not hasattr(result, "numpy") else [result]
    return [r.numpy() for r in flat]


def reference_calls(imported: Imported, plan: Plan, calls: list[list[Any]]) -> list[list[Any]]:
    """TVM's result for each call of a sequence: the states start at their reset values and
    each call's new states (the results after the outputs) feed the next call."""
    import numpy as np

    vm = reference_vm(imported.mod)
    states = [np.full(st.shape, st.fill, st.dtype) for st in plan.states]
    out = []
    for inputs in calls:
        result = run_vm(vm, imported.entry, [*inputs, *states])
        out.append(result[:len(plan.outputs)])
        states = result[len(plan.outputs):]
    return out


def driver_prelude(plan: Plan, name: str) -> tuple[list[tuple[str, Tensor]], list[str]]:
    """What every driver of an archive starts with: its I/O buffers (in0.., out0.. and the
    tensor each holds) and the #include lines."""
    buffers = [(f"in{i}", t) for i, t in enumerate(plan.inputs)] + \
              [(f"out{i}", t) for i, t in enumerate(plan.outputs)]
    lines = ["#include <stdio.h>", "#include <stdint.h>", "#include <string.h>",
             '#include "tvmgen_platform.h"', f'#include "tvmgen_{name}.h"', ""]
    return buffers, lines


def driver_source(plan: Plan, name: str, *, link_params: bool, calls: int = 1) -> str:
    """main.c for the check: read the inputs of `calls` consecutive calls, run the sequence
    twice (each from the reset state) over two workspace fill patterns, write every call's
    outputs; print the workspace bytes used."""
    ws = f"tvmgen_{name}_workspace"
    buffers, lines = driver_prelude(plan, name)
    lines += [f"static uint8_t {b}[{max(1, t.nbytes * calls)}] __attribute__((aligned(64)));"
              for b, t in buffers]
    run_args = "&in, &out" if link_params else "&in, &out, &constants"
    if not link_params:
        lines += _driver_constants(plan, name)
    inputs = ", ".join(f"in{i} + k * {t.nbytes}" for i, t in enumerate(plan.inputs)) or "0"
    outputs = ", ".join(f"out{i} + k * {t.nbytes}" for i, t in enumerate(plan.outputs)) or "0"
    reads = "\n".join(f"    if (fread(in{i} + k * {t.nbytes}, 1, {t.nbytes}, f) != {t.nbytes}) "
                      "return 3;" for i, t in enumerate(plan.inputs))
    writes = "\n".join(f"    fwrite(out{i} + k * {t.nbytes}, 1, {t.nbytes}, f);"
                       for i, t in enumerate(plan.outputs))
    reset = f"  tvmgen_{name}_reset();\n" if plan.states else ""
    lines.append(f"""
static long run(uint8_t fill) {{
  long used = 0;
  int k;
{reset}  for (k = 0; k < {calls}; ++k) {{
    struct tvmgen_{name}_inputs in = {{{inputs}}};
    struct tvmgen_{name}_outputs out = {{{outputs}}};
    size_t n = sizeof({ws});
    memset({ws}, fill, n);
    if (tvmgen_{name}_run({run_args}) != 0) return -1;
    while (n > 0 && {ws}[n - 1] == fill) --n;
    if ((long)n > used) used = (long)n;
  }}
  return used;
}}

int main(int argc, char** argv) {{
  FILE* f;
  long a, b;
  int k;
  if (argc != 3 || (f = fopen(argv[1], "rb")) == NULL) return 3;
  for (k = 0; k < {calls}; ++k) {{
{reads}
  }}
  fclose(f);
  a = run(0xA5);
  b = run(0x5A);
  if (a < 0 || b < 0) {{
    fprintf(stderr, "%s\\n", tvmgen_platform_last_error());
    return 2;
  }}
  if ((f = fopen(argv[2], "wb")) == NULL) return 3;
  for (k = 0; k < {calls}; ++k) {{
{writes}
  }}
  fclose(f);
  printf("%ld\\n", a > b ? a : b);
  return 0;
}}
""")
    return "\n".join(lines)


def _driver_constants(plan: Plan, name: str) -> list[str]:
    """The driver's own copy of the constants, when the archive does not link them."""
    fields = ", ".join(f"c_{t.name}" for t in plan.constants) or "0"
    return [*(constant_array(f"c_{t.name}", t, v, static=True)
              for t, v in zip(plan.constants, plan.constant_values, strict=True)),
            f"static const struct {constants_struct(name)} constants = {{{fields}}};"]


def build_archive(root: Path, driver: Path, exe: Path, flags: Sequence[str], *,
                  prebuilt: Mapping[str, Path] | None = None) -> children.Ran:
    """Compile the unpacked archive at `root` and `driver` with the system C compiler into
    `exe`, contained: each source checked, compiled to an object (`object_file`), then the
    objects linked (with -lm). `prebuilt` maps a source (its path under `root`) to the object
    another build compiled from the same bytes with the same `flags`: linked, not compiled
    again. The run that failed (its output rewritten), else the link's. Raises Refused,
    OverLimit or BoardError (headers missing) before anything compiles."""
    cc = containment.compiler(compiler())
    reused = prebuilt or {}
    sources = [*archive_sources(root), driver]
    own = [s for s in sources if s.relative_to(root).as_posix() not in reused]
    includes = [root / d for d in ("codegen/host/include", "runtime/include")
                if (root / d).is_dir()]
    work = object_file(exe, root, driver).parent
    work.mkdir(exist_ok=True)
    build = Build(cc, Tree(root), work)
    failed = build.check(own, flags, includes)
    if failed:
        return failed[0][1]
    for source in own:
        done = build.compile(source, object_file(exe, root, source), flags, includes)
        if not done.ok:
            return done
    objects = [reused.get(s.relative_to(root).as_posix()) or object_file(exe, root, s)
               for s in sources]
    return build.command([cc.path, *cc.flags, *flags, *map(str, objects), "-o", str(exe),
                          "-lm"], what=f"linking {exe.name}")


def archive_sources(root: Path) -> list[Path]:
    """The C files of the unpacked archive at `root` that `build_archive` compiles: the
    generated code's, then the runtime's."""
    return [*sorted((root / "codegen/host/src").glob("*.c")),
            *sorted((root / "runtime/src").glob("*.c"))]


def object_file(exe: Path, root: Path, source: Path) -> Path:
    """Where `build_archive` puts the object of `source` (below `root`) when it builds `exe`."""
    return exe.parent / f".{exe.name}-objects" / \
        (source.relative_to(root).as_posix().replace("/", "__") + ".o")


def build_and_run(root: Path, plan: Plan, name: str, inputs: list[Any], *,
                  link_params: bool) -> tuple[list[Any], int]:
    """Compile the unpacked archive at `root` with the driver, run it: (outputs, used bytes)."""
    outputs, used = build_and_run_calls(root, plan, name, [inputs], link_params=link_params)
    return outputs[0], used


def build_and_run_calls(root: Path, plan: Plan, name: str, calls: list[list[Any]], *,
                        link_params: bool) -> tuple[list[list[Any]], int]:
    """Compile the unpacked archive at `root` with the driver, run it on consecutive calls
    (each call's inputs) from the reset state: (each call's outputs, used bytes)."""
    driver = root / "mlfcheck_driver.c"
    driver.write_text(driver_source(plan, name, link_params=link_params, calls=len(calls)))
    exe = root / "mlfcheck_driver"
    try:
        built = build_archive(root, driver, exe, CFLAGS)
    except BoardError as exc:
        raise ExportError("verify", f"the archive does not build: {exc}") from None
    if not built.ok:
        raise ExportError("verify", f"the archive does not build: {tool_error(built)}")
    (root / "in.bin").write_bytes(b"".join(x.tobytes() for inputs in calls for x in inputs))
    ran = children.run([str(exe), str(root / "in.bin"), str(root / "out.bin")],
                       limits=RUN_LIMITS)
    if ran.timed_out:
        raise ExportError("verify", f"the built model did not finish within {RUN_TIMEOUT} s")
    if ran.returncode:
        raise ExportError("verify", f"the built model failed (exit {ran.returncode}): "
                          + (ran.stderr.strip().splitlines() or [""])[0])
    return (decode_calls(plan, (root / "out.bin").read_bytes(), len(calls)),
            int(ran.stdout.strip()))


def decode_outputs(plan: Plan, raw: bytes) -> list[Any]:
    """The driver's out.bin as one array per output."""
    return decode_calls(plan, raw, 1)[0]


def decode_calls(plan: Plan, raw: bytes, calls: int) -> list[list[Any]]:
    """The driver's out.bin of `calls` consecutive calls: per call, one array per output."""
    import numpy as np

    out, at = [], 0
    for _ in range(calls):
        outputs = []
        for t in plan.outputs:
            dtype = np.dtype("bool" if t.dtype == "bool" else t.dtype)
            outputs.append(np.frombuffer(raw[at:at + t.nbytes], dtype=dtype).reshape(t.shape))
            at += t.nbytes
        out.append(outputs)
    return out


def max_abs_errors(plan: Plan, got: list[Any], want: list[Any]) -> dict[str, float]:
    """Output name → largest absolute difference between a C run and the reference."""
    import numpy as np

    if len(want) != len(got):
        raise ExportError("verify", f"TVM gives {len(want)} outputs, the archive {len(got)}")
    return {t.name: float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)),
                                 initial=0.0))
            for t, g, w in zip(plan.outputs, got, want, strict=True)}


def verify_archive(archive: Path, imported: Imported, plan: Plan, name: str, *,
                   link_params: bool, tolerance: float,
                   model_file: Path | None = None) -> Verification:
    """Unpack, build, run and compare one archive (and with the runtime of `model_file`)."""
    start = time.perf_counter()
    calls = [random_inputs(plan.inputs, k) for k in range(calls_of(plan))]
    with tempfile.TemporaryDirectory(prefix="mlfcheck-verify-") as tmp:
        root = Path(tmp)
        with stage("verify"):
            with tarfile.open(archive) as tar:
                tar.extractall(root, filter="data")
            got, used = build_and_run_calls(root, plan, name, calls, link_params=link_params)
            want = reference_calls(imported, plan, calls)
            names = [t.name for t in plan.outputs]
            reference = None if model_file is None else check_against_runtime(
                model_file, names, calls, got)
            opinion = None if model_file is None else second_opinion(
                model_file, names, calls, got)
    suffix = model_file.suffix if model_file else ""
    return Verification(max_abs_errors(plan, joined(got), joined(want)), tolerance,
                        plan.arena_size, used, time.perf_counter() - start, reference,
                        RUNTIMES.get(suffix, ""), REFERENCE_UNITS.get(suffix, 0), opinion,
                        len(calls))
