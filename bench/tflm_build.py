"""TFLite Micro built for a board from fetched sources at pinned commits, with its reference
kernels or with CMSIS-NN's, and one runner image per model; used by bench_board.py.

The sources come from bare git mirrors (`--mirrors DIR`: `DIR/<owner>+<name>/repo` as the
`fetch` tool leaves them, or `DIR/<name>.git` from `git clone --mirror`), at tflite-micro
90b983c, CMSIS-NN 4ab83cc (the commit tflite-micro's ext_libs/cmsis_nn_download.sh pins) and
the third-party headers its tools/make scripts pin at that commit (flatbuffers v25.9.23 with
TFLM's patch, gemmlowp, ruy, CMSIS_6's Core headers). The library is what TFLM's Makefile puts
in libtensorflow-microlite.a (core, TFLite's shared sources, the kernel list of sources.inc;
the signal kernels left out), built as its BUILD_TYPE=release (-DNDEBUG
-DTF_LITE_STRIP_ERROR_STRINGS) with the platform-neutral debug_log.cc and micro_time.cc;
OPTIMIZED_KERNEL_DIR=cmsis_nn replaces the kernels kernels/cmsis_nn/ has and adds CMSIS-NN's
int8/int16 sources, as the Makefile does. Every file compiles through mlfcheck's cross build
(contained, the board's CPU flags and SIZE_FLAGS: -Os for the kernels too, unless
`kernels_o2` asks for the Makefile's -O2 there). The objects are cached in .cache/tflm/ by
commit, variant, board and flags. The runner (tflm_runner.cc) is linked with them by
crossbuild.link as they are: C++ without exceptions or RTTI needs no libstdc++ there.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mlfcheck.board import crossbuild, elfsize, icount
from mlfcheck.board.boards import Board
from mlfcheck.board.crossbuild import Ran, Toolchain
from mlfcheck.errors import BoardError

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "tflm"
VARIANTS = ("ref", "cmsis_nn")
"""TFLM with its reference kernels; TFLM with OPTIMIZED_KERNEL_DIR=cmsis_nn."""
ARENA_LIMIT = 1024 * 1024
"""The arena of the probe image; the final image's is the least the model allocates in."""


@dataclass(frozen=True)
class Pin:
    """A repository at a commit, and the folders of it a build needs (none: all)."""

    repo: str
    commit: str
    subtrees: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The repository's name without its owner."""
        return self.repo.split("/")[1]


TFLM = Pin("tensorflow/tflite-micro", "90b983c2b3f1480642e040bbd2ddb37b998f3424",
           ("tensorflow", "signal"))
CMSIS_NN = Pin("ARM-software/CMSIS-NN", "4ab83cc3cc98fb85ed6dafb55e8ca02f1628dcae",
               ("Include", "Source"))
CMSIS = Pin("ARM-software/CMSIS_6", "5782d6f8057906d360f4b95ec08a2354afe5c9b9",
            ("CMSIS/Core/Include",))
FLATBUFFERS = Pin("google/flatbuffers", "187240970746d00bbd26b0f5873ed54d2477f9f3",
                  ("include",))
"""Tag v25.9.23, which tflite-micro's flatbuffers_download.sh names."""
GEMMLOWP = Pin("google/gemmlowp", "719139ce755a0f31cbf1c37f7f98adcc7fc9f425",
               ("fixedpoint", "internal"))
RUY = Pin("google/ruy", "d37128311b445e758136b8602d1bbd2a755e115d", ("ruy/profiler",))
TINY = Pin("mlcommons/tiny", "1beaec082a2c8a0f3a6626f85cd11b502f8c18e3")
"""MLPerf Tiny at its v1.0 tag: the reference vww and ad01 models."""
TINY_MODELS = {
    "vww_96_int8.tflite": "benchmark/training/visual_wake_words/trained_models/",
    "ad01_int8.tflite": "benchmark/training/anomaly_detection/trained_models/",
}
_PINNED_BY = {CMSIS_NN: "tensorflow/lite/micro/tools/make/ext_libs/cmsis_nn_download.sh",
              CMSIS: "tensorflow/lite/micro/tools/make/ext_libs/cmsis_download.sh",
              GEMMLOWP: "tensorflow/lite/micro/tools/make/third_party_downloads.inc",
              RUY: "tensorflow/lite/micro/tools/make/third_party_downloads.inc"}
"""Where tflite-micro names each commit (flatbuffers it names by tag, checked apart)."""

COMMON_FLAGS = ("-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-fmessage-length=0",
                "-funsigned-char", "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON",
                "-DKERNELS_OPTIMIZED_FOR_SPEED", "-DNDEBUG", "-DTF_LITE_STRIP_ERROR_STRINGS")
"""TFLM's Makefile flags for a cross build (COMMON_FLAGS, BUILD_TYPE=release), warnings off."""
CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
C_FLAGS = ("-std=c17",)
CMSIS_NN_FLAGS = ("-DCMSIS_NN", "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0")
KERNEL_O2 = ("-O2",)
"""TFLM's Makefile's KERNEL_OPTIMIZATION_LEVEL and THIRD_PARTY_KERNEL_OPTIMIZATION_LEVEL (after
SIZE_FLAGS' -Os on the command line, so it wins), for `build_library(kernels_o2=True)`."""


# -- sources -----------------------------------------------------------------------------------


def mirror(mirrors: Path, pin: Pin) -> Path:
    """The bare git mirror of `pin`'s repository under `mirrors`; BoardError saying how to get
    it otherwise."""
    owner, name = pin.repo.split("/")
    for candidate in (mirrors / f"{owner}+{name}" / "repo", mirrors / f"{name}.git"):
        if (candidate / "HEAD").is_file():
            return candidate
    raise BoardError(f"no mirror of {pin.repo} in {mirrors}: git clone --mirror "
                     f"https://github.com/{pin.repo} {mirrors / (name + '.git')}")


def _git(git_dir: Path, *args: str) -> bytes:
    """What a git command on a bare mirror wrote; BoardError with its message when it fails."""
    done = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True,
                          check=False)
    if done.returncode:
        raise BoardError(f"git {args[0]} in {git_dir}: "
                         + done.stderr.decode(errors="replace").strip())
    return done.stdout


def checkout(mirrors: Path, pin: Pin) -> Path:
    """`pin`'s tree (its subtrees only, at the same relative paths) under .cache/tflm/src/,
    extracted once; flatbuffers gets TFLM's patch."""
    root = CACHE / "src" / f"{pin.name}-{pin.commit[:12]}"
    if (root / ".complete").is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    data = _git(mirror(mirrors, pin), "archive", "--format=tar", pin.commit, *pin.subtrees)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(root, filter="data")
    if pin == FLATBUFFERS:
        patch = checkout(mirrors, TFLM) / "tensorflow/lite/micro/tools/make/flatbuffers.patch"
        done = subprocess.run(["patch", "-s", "-p1", "-i", str(patch)], cwd=root,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise BoardError(f"TFLM's flatbuffers.patch does not apply: {done.stdout.strip()}")
    (root / ".complete").write_text(pin.commit + "\n")
    return root


def check_pins(tflm: Path) -> None:
    """BoardError unless tflite-micro's download scripts name the commits pinned here."""
    for pin, script in _PINNED_BY.items():
        if pin.commit not in (tflm / script).read_text():
            raise BoardError(f"{script} at {TFLM.commit[:7]} does not pin {pin.repo} "
                             f"{pin.commit[:7]}")
    if "v25.9.23" not in (tflm / "tensorflow/lite/micro/tools/make/flatbuffers_download.sh"
                          ).read_text():
        raise BoardError("tflite-micro's flatbuffers_download.sh does not name v25.9.23")


def tiny_model(mirrors: Path, name: str) -> Path:
    """An MLPerf Tiny v1.0 reference model, from its mirror, cached under .cache/tflm/models/."""
    path = CACHE / "models" / TINY.commit[:12] / name
    if not path.is_file():
        data = _git(mirror(mirrors, TINY), "show", f"{TINY.commit}:{TINY_MODELS[name]}{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


@dataclass(frozen=True)
class Library:
    """One variant's sources (TFLM's core, its kernels, CMSIS-NN's C), include folders and
    flags."""

    variant: str
    core: tuple[Path, ...]
    kernels: tuple[Path, ...]
    c: tuple[Path, ...]
    includes: tuple[Path, ...]
    defines: tuple[str, ...]


def _kernel_list(tflm: Path) -> list[Path]:
    """MICROLITE_CC_KERNEL_SRCS as sources.inc lists it."""
    text = (tflm / "tensorflow/lite/micro/tools/make/sources.inc").read_text()
    block = re.search(r"^MICROLITE_CC_KERNEL_SRCS := \\\n((?:.*\\\n)*.*\n)", text, re.MULTILINE)
    if block is None:
        raise BoardError("sources.inc has no MICROLITE_CC_KERNEL_SRCS list")
    return [tflm / m for m in re.findall(r"\$\(TENSORFLOW_ROOT\)(\S+\.cc)", block.group(1))]


def _core_list(tflm: Path) -> list[Path]:
    """MICROLITE_CC_BASE_SRCS without the tests: micro/, its allocators, planners and bridge,
    and TFLite's shared sources (tensorflow/ outside lite/micro and lite/experimental)."""
    micro = tflm / "tensorflow/lite/micro"
    found = [p for folder in ("", "arena_allocator", "memory_planner", "tflite_bridge")
             for p in sorted((micro / folder).glob("*.cc")) if not p.name.endswith("_test.cc")]
    skip = (micro, tflm / "tensorflow/lite/experimental", tflm / "tensorflow/lite/array.cc")
    shared = sorted(p for p in (tflm / "tensorflow").rglob("*.c*") if p.suffix in (".c", ".cc")
                    and not any(p == s or s in p.parents for s in skip))
    return found + shared


def library(mirrors: Path, variant: str) -> Library:
    """The sources of `variant` ('ref' or 'cmsis_nn'), fetched and extracted."""
    tflm = checkout(mirrors, TFLM)
    check_pins(tflm)
    includes = [tflm, checkout(mirrors, FLATBUFFERS) / "include", checkout(mirrors, GEMMLOWP),
                checkout(mirrors, RUY)]
    kernels = _kernel_list(tflm)
    if variant == "ref":
        return Library(variant, tuple(_core_list(tflm)), tuple(kernels), (), tuple(includes),
                       ())
    nn, cmsis = checkout(mirrors, CMSIS_NN), checkout(mirrors, CMSIS)
    special = tflm / "tensorflow/lite/micro/kernels/cmsis_nn"
    kernels = [special / k.name if (special / k.name).is_file() else k for k in kernels]
    c = sorted(p for p in (nn / "Source").rglob("*.c")
               if not p.name.endswith(("_f16.c", "_f32.c")) and p.name != "arm_nntables_flt.c")
    includes += [cmsis, nn, cmsis / "CMSIS/Core/Include", nn / "Include"]
    return Library(variant, tuple(_core_list(tflm)), tuple(kernels), tuple(c), tuple(includes),
                   CMSIS_NN_FLAGS)


# -- the library, compiled and cached ----------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """A variant's objects, and how long getting them took (compiling, or finding the cache)."""

    objects: tuple[Path, ...]
    seconds: float
    cached: bool


def _key(board: Board, lib: Library, kernel_flags: tuple[str, ...]) -> str:
    """The cache folder's name: TFLM's commit, the variant, the board, a digest of the flags
    and pins (those of a build with the default flags kept as they were)."""
    pins = (TFLM, FLATBUFFERS, GEMMLOWP, RUY) + ((CMSIS_NN, CMSIS) if lib.c else ())
    text = repr((board.cpu_flags, crossbuild.SIZE_FLAGS, COMMON_FLAGS, CXX_FLAGS, C_FLAGS,
                 lib.defines, [p.commit for p in pins]))
    digest = hashlib.sha256((text + (repr(kernel_flags) if kernel_flags else "")).encode())
    opt = "-kernels" + "".join(kernel_flags) if kernel_flags else ""
    return f"{TFLM.commit[:12]}-{lib.variant}{opt}-{board.name}-{digest.hexdigest()[:10]}"


def _compile_one(tools: Toolchain, board: Board, source: Path, includes: Sequence[Path],
                 flags: Sequence[str], target: Path) -> None:
    """Compile one source to `target` (written whole or not at all)."""
    work = target.with_name(target.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (obj,) = crossbuild.compile_objects(tools, board, [source], includes, work, extra=flags)
    os.replace(obj, target)
    shutil.rmtree(work)


def build_library(tools: Toolchain, board: Board, lib: Library, jobs: int, *,
                  kernels_o2: bool = False) -> Built:
    """The variant's objects for `board`, compiled `jobs` at a time unless cached; with
    `kernels_o2`, the kernels and CMSIS-NN at KERNEL_O2 as TFLM's Makefile compiles them."""
    start = time.perf_counter()
    kernel_flags = KERNEL_O2 if kernels_o2 else ()
    folder = CACHE / "lib" / _key(board, lib, kernel_flags)
    manifest = folder / "objects.txt"
    if manifest.is_file():
        names = manifest.read_text().split()
        return Built(tuple(folder / n for n in names), time.perf_counter() - start, True)
    folder.mkdir(parents=True, exist_ok=True)
    cxx, c = (*COMMON_FLAGS, *CXX_FLAGS, *lib.defines), (*COMMON_FLAGS, *C_FLAGS, *lib.defines)
    flags = {**{s: cxx for s in lib.core}, **{s: (*cxx, *kernel_flags) for s in lib.kernels},
             **{s: (*c, *kernel_flags) for s in lib.c}}
    work = [(source, folder / (source.relative_to(CACHE / "src").with_suffix(".o").as_posix()
                               .replace("/", "__"))) for source in flags]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = [pool.submit(_compile_one, tools, board, src, lib.includes, flags[src], obj)
                for src, obj in work if not obj.is_file()]
        for future in done:
            future.result()
    manifest.write_text("".join(obj.name + "\n" for _, obj in work))
    return Built(tuple(obj for _, obj in work), time.perf_counter() - start, False)


# -- one model's runner image ------------------------------------------------------------------


def operators(model: Path, tflm: Path) -> list[str]:
    """MicroMutableOpResolver's Add<Op>() call for each builtin operator `model` uses, sorted;
    BoardError for one the resolver does not have (a custom operator, say)."""
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    parsed = tflite.Model.GetRootAsModel(model.read_bytes(), 0)
    codes = {max(c.BuiltinCode(), c.DeprecatedBuiltinCode())
             for c in map(parsed.OperatorCodes, range(parsed.OperatorCodesLength()))}
    resolver = (tflm / "tensorflow/lite/micro/micro_mutable_op_resolver.h").read_text()
    methods = []
    for code in sorted(codes):
        words = names.get(code, f"operator {code}").split("_")
        method = "Add" + "".join(w if w[:1].isdigit() else w.capitalize() for w in words)
        if f"TfLiteStatus {method}(" not in resolver:
            raise BoardError(f"{model.name}: MicroMutableOpResolver has no {method}()")
        methods.append(method)
    return sorted(methods)


def _write_runner(work: Path, model: Path, methods: Sequence[str], arena: int,
                  probe: bool) -> None:
    """The runner's sources in `work`: tflm_runner.cc, tflm_model.h, the model array and the
    counter's markers."""
    import numpy as np

    from mlfcheck.export.cgen import constant_array
    from mlfcheck.export.plan import Tensor

    data = model.read_bytes()
    calls = " ".join(f"(r).{m}();" for m in methods)
    (work / "tflm_model.h").write_text(
        ("#define TFLM_PROBE 1\n" if probe else "")
        + f"#define TFLM_ARENA_BYTES {arena}\n#define TFLM_OPERATOR_COUNT {len(methods)}\n"
        f"#define TFLM_ADD_OPERATORS(r) do {{ {calls} }} while (0)\n")
    (work / "model_data.c").write_text(
        "#include <stdint.h>\n"
        f"__attribute__((aligned(16))) extern const uint8_t mlfcheck_tflm_model[{len(data)}];\n"
        + constant_array("mlfcheck_tflm_model", Tensor(model.name, (len(data),), "uint8"),
                         np.frombuffer(data, np.uint8), static=False))
    (work / "markers.c").write_text(icount.MARKER_SOURCE)
    shutil.copyfile(Path(__file__).with_name("tflm_runner.cc"), work / "tflm_runner.cc")


def link_runner(tools: Toolchain, board: Board, lib: Library, built: Built, model: Path,
                work: Path, arena: int, *, probe: bool = False) -> tuple[Path, tuple[Path, ...]]:
    """The runner image for `model` with an arena of `arena` bytes (`probe`: the image that
    only allocates), linked with the library: (the ELF, the runner's own objects)."""
    work.mkdir(parents=True, exist_ok=True)
    _write_runner(work, model, operators(model, lib.includes[0]), arena, probe)
    own = crossbuild.compile_objects(tools, board, [work / "tflm_runner.cc"],
                                     [work, *lib.includes], work,
                                     extra=(*COMMON_FLAGS, *CXX_FLAGS, *lib.defines))
    own += crossbuild.compile_objects(tools, board, [work / "model_data.c", work / "markers.c"],
                                      [], work, extra=C_FLAGS)
    elf = work / "tflm.elf"
    overflows = crossbuild.link(tools, board, [*own, *built.objects], elf)
    if overflows:
        raise BoardError(f"{model.name} with TFLM ({lib.variant}) does not fit {board.name}: "
                         + ", ".join(f"{o.region.name} by {o.by} B" for o in overflows))
    return elf, tuple(own)


def run_image(tools: Toolchain, board: Board, elf: Path, inputs: bytes,
              plugin: icount.Plugin | None, timeout: float) -> Ran:
    """Run `elf` with `inputs` as in.bin beside it; BoardError on a fault or a non-zero exit."""
    (elf.parent / "in.bin").write_bytes(inputs)
    ran = crossbuild.run(tools, board, elf, timeout=timeout, plugin=plugin)
    if ran.fault is not None:
        raise BoardError(f"{elf.name} on {board.name}: {ran.fault.describe()}")
    if ran.exit_code != 0:
        raise BoardError(f"{elf.name} on {board.name} exited {ran.exit_code}")
    return ran


def _allocates(tools: Toolchain, board: Board, probe: Path, arena: int) -> int | None:
    """arena_used_bytes() when the probe image allocates the model's tensors in `arena` bytes,
    None when AllocateTensors() fails."""
    (probe.parent / "arena.bin").write_bytes(arena.to_bytes(4, "little"))
    ran = crossbuild.run(tools, board, probe)
    if ran.exit_code == 5:
        return None
    found = re.search(r"tflm-arena-used (\d+)", ran.stdout)
    if ran.exit_code != 0 or found is None:
        raise BoardError(f"the arena probe on {board.name} failed: "
                         + (ran.fault.describe() if ran.fault else f"exit {ran.exit_code}"))
    return int(found.group(1))


def least_arena(tools: Toolchain, board: Board, probe: Path) -> tuple[int, int]:
    """(arena_used_bytes() with ARENA_LIMIT bytes, the least multiple of 16 bytes the tensors
    allocate in): AllocateTensors() needs more than it reports used, for the planner's
    temporaries."""
    used = _allocates(tools, board, probe, ARENA_LIMIT)
    if used is None:
        raise BoardError(f"the model does not allocate in {ARENA_LIMIT} bytes")
    fails = -(-used // 16) * 16 - 16
    works = fails + 16
    while _allocates(tools, board, probe, works) is None:
        fails, works = works, min(2 * works, ARENA_LIMIT)
    while works - fails > 16:
        middle = (fails + works) // 32 * 16
        if _allocates(tools, board, probe, middle) is None:
            fails = middle
        else:
            works = middle
    return used, works


@dataclass(frozen=True)
class TflmRun:
    """One model on TFLM (one variant): what it computed, counted and cost."""

    variant: str
    instructions: int
    outputs: bytes
    arena_used: int
    """arena_used_bytes() after AllocateTensors()."""
    arena: int
    """The least arena (a multiple of 16 bytes) AllocateTensors() accepts: the final image's."""
    size: elfsize.ImageSize
    stack: int
    seconds: float
    """The counted QEMU run's wall time."""


def run_tflm(tools: Toolchain, board: Board, lib: Library, built: Built, model: Path,
             inputs: bytes, work: Path, plugin: icount.Plugin, timeout: float) -> TflmRun:
    """Find the least arena (`least_arena`), build with it and run counted: the instructions of
    Invoke(), the outputs, the image's size and stack."""
    probe, _ = link_runner(tools, board, lib, built, model, work / "probe", ARENA_LIMIT,
                           probe=True)
    used, arena = least_arena(tools, board, probe)
    elf, own = link_runner(tools, board, lib, built, model, work / "final", arena)
    ran = run_image(tools, board, elf, inputs, plugin, timeout)
    assert ran.counts is not None and len(ran.counts.windows) == 1, ran.counts
    return TflmRun(lib.variant, ran.counts.windows[0], (elf.parent / "out.bin").read_bytes(),
                   used, arena, elfsize.image_size(elf, own), ran.stack_peak, ran.seconds)
