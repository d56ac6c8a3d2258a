"""Extra C builds of an exported archive for the fuzz oracles, and the inputs they run on.

* The spread build: the kernels, with the AOT entry regenerated from the plan with every
  storage block and kernel scratch in its own region (no packing), canary bytes before, between
  and after them and around every input and output, compiled with AddressSanitizer and
  UndefinedBehaviorSanitizer. A byte written outside its block names the block and the offset.
* The packed build: the archive as written, with --verify's driver, its entry compiled with
  the same sanitizers and linked with the spread build's kernel objects (the kernels compile
  once: most of a build's time).

Both run on several input sets (seeded random, zeros, extremes); their outputs must be equal
bit for bit, and equal TVM's Relax VM (`verify.reference_vm`) within the tolerance.
"""

from __future__ import annotations

import resource
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlfcheck import children
from mlfcheck.errors import BoardError
from mlfcheck.export.plan import ALIGN, Block, Plan, Tensor, align
from mlfcheck.export.verify import (
    CFLAGS,
    RUN_LIMITS,
    build_archive,
    decode_outputs,
    driver_prelude,
)

GUARD = 64
"""Canary bytes before, between and after blocks and around each input and output."""
CANARY = 0xCB
SANITIZE = ("-O0", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-sanitize=signed-integer-overflow")
"""Sanitizer flags. TVM writes integer kernels whose int32 arithmetic wraps (as LLVM's does),
so signed overflow is left out; every other undefined behaviour stops the run."""
INPUT_SETS = ("random-1", "random-2", "zeros", "maximum", "minimum")
SANITIZED_RUN_LIMITS = replace(RUN_LIMITS, memory_bytes=resource.RLIM_INFINITY)
"""A run of either build: as --verify's runs, with the soft address-space limit lifted to the
hard one (the sanitizers reserve terabytes of address space)."""
GUARD_EXIT = 4


@dataclass(frozen=True)
class Guard:
    """A canary range of the spread workspace: after which block, where."""

    after: str
    start: int
    end: int


class RunFailed(Exception):
    """A build of the archive did not compile, or its run failed; the message says why."""


class RunTimedOut(RunFailed):
    """A run of a build did not finish within its time limit (and was killed)."""


def spread(plan: Plan) -> tuple[Plan, tuple[Guard, ...]]:
    """The plan with every block in its own region (GUARD canary bytes before the first and
    after each), and the canary ranges."""
    blocks: list[Block] = [*plan.storage, *plan.scratch.values()]
    at, placed, guards = GUARD, {}, [Guard("(start of the workspace)", 0, GUARD)]
    for b in blocks:
        placed[b.key] = replace(b, offset=at)
        guards.append(Guard(b.key, at + b.size, align(at + b.size) + GUARD))
        at = align(at + b.size) + GUARD
    return replace(plan, storage=tuple(placed[b.key] for b in plan.storage),
                   scratch={i: placed[b.key] for i, b in plan.scratch.items()},
                   arena_size=at), tuple(guards)


def input_sets(plan: Plan) -> dict[str, list[Any]]:
    """The input sets (`inputs_for`) of a plan's inputs."""
    return inputs_for(plan.inputs)


def inputs_for(tensors: tuple[Tensor, ...]) -> dict[str, list[Any]]:
    """Named input sets: two seeded random ones, all zeros, every element at its dtype's largest
    and smallest value (floats: ±1000, so float models stay finite)."""
    import numpy as np

    out: dict[str, list[Any]] = {}
    for name in INPUT_SETS:
        values = []
        for i, t in enumerate(tensors):
            dtype = np.dtype("bool" if t.dtype == "bool" else t.dtype)
            if name.startswith("random"):
                rng = np.random.default_rng([int(name[-1]), i])
                values.append(_random(rng, t.shape, dtype))
                continue
            if name == "zeros" or dtype.kind == "b":
                value: Any = 0 if name == "zeros" else name == "maximum"
            elif dtype.kind == "f":
                value = 1000.0 if name == "maximum" else -1000.0
            else:
                info = np.iinfo(dtype)
                value = info.max if name == "maximum" else info.min
            values.append(np.full(t.shape, value, dtype=dtype))
        out[name] = values
    return out


def _random(rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    import numpy as np

    if dtype.kind == "f":
        return rng.uniform(-1, 1, shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def guarded_driver(plan: Plan, name: str, guards: tuple[Guard, ...]) -> str:
    """main.c of the spread build: canaries around inputs, outputs and blocks; one run; the
    first overwritten canary printed as `canary: <where> +<offset>` with exit GUARD_EXIT."""
    ws = f"tvmgen_{name}_workspace"
    buffers, lines = driver_prelude(plan, name)
    lines += [f"static uint8_t {b}_g[{2 * GUARD + max(1, t.nbytes)}] "
              f"__attribute__((aligned({ALIGN})));" for b, t in buffers]
    checks = [f'  if (first_changed({b}_g, {GUARD}) >= 0) return report("before {b}", '
              f"first_changed({b}_g, {GUARD}) - {GUARD});\n"
              f"  if (first_changed({b}_g + {GUARD + max(1, t.nbytes)}, {GUARD}) >= 0) "
              f'return report("after {t.name}", first_changed({b}_g + '
              f"{GUARD + max(1, t.nbytes)}, {GUARD}));" for b, t in buffers]
    checks += [f"  if (first_changed({ws} + {g.start}, {g.end - g.start}) >= 0) "
               f'return report("after {g.after}", first_changed({ws} + {g.start}, '
               f"{g.end - g.start}));" for g in guards]
    reads = "\n".join(f"  if (fread(in{i}_g + {GUARD}, 1, {t.nbytes}, f) != {t.nbytes}) "
                      "return 3;" for i, t in enumerate(plan.inputs))
    writes = "\n".join(f"  fwrite(out{i}_g + {GUARD}, 1, {t.nbytes}, f);"
                       for i, t in enumerate(plan.outputs))
    inputs = ", ".join(f"in{i}_g + {GUARD}" for i in range(len(plan.inputs))) or "0"
    outputs = ", ".join(f"out{i}_g + {GUARD}" for i in range(len(plan.outputs))) or "0"
    fills = "\n".join(f"  memset({b}_g, {CANARY}, sizeof({b}_g));" for b, _ in buffers)
    lines.append(f"""
static long first_changed(const uint8_t* p, long n) {{
  long i;
  for (i = 0; i < n; ++i) if (p[i] != {CANARY}) return i;
  return -1;
}}

static int report(const char* where, long offset) {{
  fprintf(stderr, "canary: %s +%ld overwritten\\n", where, offset);
  return {GUARD_EXIT};
}}

int main(int argc, char** argv) {{
  FILE* f;
  struct tvmgen_{name}_inputs in = {{{inputs}}};
  struct tvmgen_{name}_outputs out = {{{outputs}}};
  if (argc != 3) return 3;
{fills}
  memset({ws}, {CANARY}, sizeof({ws}));
  if ((f = fopen(argv[1], "rb")) == NULL) return 3;
{reads}
  fclose(f);
  if (tvmgen_{name}_run(&in, &out) != 0) {{
    fprintf(stderr, "%s\\n", tvmgen_platform_last_error());
    return 2;
  }}
{chr(10).join(checks)}
  if ((f = fopen(argv[2], "wb")) == NULL) return 3;
{writes}
  fclose(f);
  return 0;
}}
""")
    return "\n".join(lines)


def compile_archive(root: Path, driver: str, exe: str, flags: tuple[str, ...], *,
                    prebuilt: Mapping[str, Path] | None = None) -> Path:
    """Compile the unpacked archive at `root` with `driver` into root/`exe` (contained, as
    --verify builds; `prebuilt` as verify.build_archive takes it)."""
    (root / f"{exe}.c").write_text(driver)
    try:
        built = build_archive(root, root / f"{exe}.c", root / exe, (*CFLAGS, *flags),
                              prebuilt=prebuilt)
    except BoardError as exc:
        raise RunFailed(str(exc)) from None
    if built.returncode:
        lines = built.stderr.strip().splitlines()
        raise RunFailed(next((ln for ln in lines if "error" in ln), "does not compile"))
    return root / exe


def run(exe: Path, plan: Plan, inputs: list[Any]) -> tuple[list[Any], int]:
    """Run a built archive (either build: both are sanitized) on `inputs`: its outputs and the
    number its driver printed (the packed driver: workspace bytes the run changed), or
    RunFailed with the first line that says what went wrong (a canary, a sanitizer report, the
    platform's error)."""
    folder = exe.parent
    (folder / "in.bin").write_bytes(b"".join(x.tobytes() for x in inputs))
    done = children.run([str(exe), str(folder / "in.bin"), str(folder / "out.bin")],
                        limits=SANITIZED_RUN_LIMITS)
    if done.timed_out:
        raise RunTimedOut(f"the run did not finish within {done.seconds:.0f} s")
    if done.returncode:
        said = [ln for ln in done.stderr.splitlines()
                if ln.startswith(("canary:", "SUMMARY:")) or "runtime error" in ln]
        raise RunFailed((said or done.stderr.strip().splitlines() or
                         [f"exit {done.returncode}"])[0])
    outputs = decode_outputs(plan, (folder / "out.bin").read_bytes())
    return outputs, int(done.stdout.strip() or 0)
