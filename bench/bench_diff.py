"""Benchmark `mlfcheck diff` against diffoscope: wall time, peak memory and output size, judged
by the reader alone (--no-build) and, on two pairs, with the build layer (the host compiler
builds both archives, abidiff compares their ABIs: the command's default)."""

from __future__ import annotations

import io
import json
import os
import random
import shlex
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_validate import (  # noqa: E402
    Figure,
    baseline_tool,
    bench_args,
    bench_parser,
    measure,
)

from mlfcheck.reading.params import LIST_MAGIC, TENSOR_MAGIC  # noqa: E402
from tests.shared_paths import real_archives  # noqa: E402

TARGET_RATIO = 0.5
TARGET_SECONDS = 2.0
TARGET_MB = 200.0
FUNCTIONS = 2000
PAIRS = (("gubprof-microspeech-v5-aot-a", "gubprof-microspeech-v5-aot-b"),
         ("gub-microspeech-v4-graph", "gubprof-microspeech-v5-graph"),
         ("gubprof-microspeech-v5-graph", "gubprof-microspeech-v5-aot-a"),
         ("sine-aot-v5-zephyr", "hannah-m3-v7-graph"))
"""The two re-export pairs named in PROVENANCE.md, then two pairs of different models."""
LARGEST = "esp32s3-example-v7-aot"
"""The largest real archive (a folder, 0.6 MB of v7 constant pool): tarred for both tools, and
compared with an edit of itself (one weight, one kernel) and with the v7 graph archive."""


def mlfcheck_cmd(old: Path, new: Path, fmt: str = "text", *, build: bool = False) -> list[str]:
    """The command under test (the `diff` command object, whichever group registers it):
    judged by the reader alone, or with `build` also by the host compiler and abidiff (the
    command's default)."""
    return [sys.executable, "-c", "from mlfcheck.cli.diff import diff; diff()", str(old),
            str(new), "--fail-on", "never", "--allow-invalid", "--format", fmt,
            "--build" if build else "--no-build"]


def diffoscope_cmd(exe: str, old: Path, new: Path) -> list[str]:
    """diffoscope's text report; its exit code 1 ('differ') counts as success."""
    return ["sh", "-c", f'{shlex.quote(exe)} --text - "$1" "$2"; test $? -le 1', "sh",
            str(old), str(new)]


def output_bytes(cmd: list[str]) -> int:
    """Bytes one run writes to stdout."""
    return len(subprocess.run(cmd, cwd=REPO, capture_output=True, check=True).stdout)


# -- the synthetic pair ------------------------------------------------------------------------


def function(name: str, seed: int) -> str:
    """About 1 KB of TVM-style C defining `name`."""
    body = "".join(f"    ((float*)out)[{i}] = ((float*)in)[{i}] * {seed % 97 + i}.0f + "
                   f"((float*)w)[{i}];\n" for i in range(14))
    return (f"#ifdef __cplusplus\nextern \"C\"\n#endif\nTVM_DLL int32_t {name}(void* in, "
            f"void* w, void* out, uint8_t* global_workspace_{seed}_var) {{\n{body}"
            "    return 0;\n}\n\n")


def params(values: bytes) -> bytes:
    """A param dict with one float32 tensor of shape (len/4,)."""
    return (struct.pack("<QQQQ", LIST_MAGIC, 0, 1, 2) + b"p0" + struct.pack("<Q", 1)
            + struct.pack("<QQiiiBBH", TENSOR_MAGIC, 0, 1, 0, 1, 2, 32, 1)
            + struct.pack("<qq", len(values) // 4, len(values)) + values)


def synthetic(path: Path, *, changed: bool) -> None:
    """A v7 AOT archive with FUNCTIONS functions in 4 C files; `changed` is a re-export of it.

    The re-export shuffles every function into another order and file, renumbers 2 % of them,
    changes the bodies of 2 %, drops 1 % and adds as many, grows the workspace by 3 % and
    changes one parameter value: what a compiler change does between two builds.
    """
    names = [f"tvmgen_default_fused_op_{n}" for n in range(FUNCTIONS)]
    funcs = {name: function(name, n) for n, name in enumerate(names)}
    workspace = 1_000_000
    values = bytearray(struct.pack("<256f", *(i / 7 for i in range(256))))
    if changed:
        rng = random.Random(7)
        for n in range(0, 40):
            funcs[names[n]] = function(names[n], n + 1)
        for n in range(40, 80):
            funcs[names[n] + "_1"] = funcs.pop(names[n]).replace(names[n], names[n] + "_1")
        for n in range(80, 100):
            del funcs[names[n]]
            funcs[f"tvmgen_default_fused_new_{n}"] = function(f"tvmgen_default_fused_new_{n}",
                                                             n + FUNCTIONS)
        order = list(funcs)
        rng.shuffle(order)
        funcs = {k: funcs[k] for k in order}
        workspace = 1_030_000
        values[0:4] = struct.pack("<f", 99.0)
    ops = [{"function_name": name, "workspace": [{"device": 1, "workspace_size_bytes": 64}]}
           for name in sorted(funcs)]
    main = {"constants_size_bytes": 1024, "device": 1, "io_size_bytes": 4136,
            "inputs": {"input_1": {"dtype": "float32", "size": 4096}},
            "outputs": {"output": {"dtype": "float32", "size": 40}},
            "workspace_size_bytes": workspace}
    meta = {"modules": {"default": {
        "executors": ["aot"], "export_datetime": f"2024-02-0{2 if changed else 1} 12:00:00Z",
        "memory": {"functions": {"main": [main], "operator_functions": ops}},
        "model_name": "default", "style": "full-model", "target": ["c -keys=cpu"]}},
        "version": 7}
    texts = list(funcs.values())
    quarter = len(texts) // 4 + 1
    members = {"metadata.json": json.dumps(meta, indent=2, sort_keys=True).encode(),
               "parameters/default.params": params(bytes(values)),
               "src/default.relay": b"def @main(%input_1: Tensor[(1024), float32]) {\n}\n"}
    for i in range(4):
        members[f"codegen/host/src/default_lib{i}.c"] = (
            '#include "tvm/runtime/c_runtime_api.h"\n'
            + "".join(texts[i * quarter:(i + 1) * quarter])).encode()
    with tarfile.open(path, "w") as tar:
        for name in sorted(members):
            info = tarfile.TarInfo("./" + name)
            info.size = len(members[name])
            tar.addfile(info, io.BytesIO(members[name]))


def tar_folder(folder: Path, path: Path, *, edit: bool) -> None:
    """The folder as a tar; with `edit`, one constant-pool weight and one kernel changed."""
    members = {str(p.relative_to(folder)): p.read_bytes()
               for p in sorted(folder.rglob("*")) if p.is_file()}
    if edit:
        lib0, lib1 = "codegen/host/src/default_lib0.c", "codegen/host/src/default_lib1.c"
        members[lib0] = members[lib0].replace(b".constant_16_let = {\n    -0x27",
                                              b".constant_16_let = {\n    -0x26", 1)
        members[lib1] = members[lib1].replace(b"return 0;", b"return 1;", 1)
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


# -- reporting ---------------------------------------------------------------------------------


def row(label: str, old: Path, new: Path, runs: int, dos: str | None, *,
        build: bool = False) -> tuple[str, Figure]:
    """One table row: mlfcheck (reader only, or with the build layer) and diffoscope on the
    same pair, and the time ratio."""
    ours = measure(mlfcheck_cmd(old, new, build=build), runs)
    ours_out = (f"{output_bytes(mlfcheck_cmd(old, new, build=build)):,} / "
                f"{output_bytes(mlfcheck_cmd(old, new, 'markdown', build=build)):,}")
    label += " (built: gcc + abidiff)" if build else ""
    if dos is None:
        return f"| {label} | {ours.cell} | {ours_out} | not installed | | |", ours
    theirs = measure(diffoscope_cmd(dos, old, new), runs)
    theirs_out = output_bytes(diffoscope_cmd(dos, old, new))
    ratio = ours.seconds / theirs.seconds
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    return (f"| {label} | {ours.cell} | {ours_out} | {theirs.cell} | {theirs_out:,} "
            f"| {ratio:.2f}× ({verdict}) |"), ours


def main(argv: list[str] | None = None) -> None:
    args = bench_args(bench_parser(__doc__, runs=5, baseline="diffoscope"), argv,
                      "bench_diff.py")
    dos = baseline_tool("diffoscope", args.install_baselines)
    print(f"Medians of {args.runs} fresh-process runs after one warm-up run; peak memory is max "
          f"RSS (1 MB = 10^6 bytes); output is stdout bytes of the text reports. Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cores shared with other jobs; mlfcheck's "
          "output is given as text / Markdown bytes.")
    if dos is None:
        print("\ndiffoscope not found: `pip install diffoscope`, or rerun with "
              "--install-baselines to install it into the bench venv.")
    print("\n| Pair | mlfcheck time | mlfcheck peak RSS | mlfcheck text / md (B) | diffoscope time "
          "| diffoscope peak RSS | diffoscope output (B) | time ratio (target ≤ 0.5×) |")
    print("|---|---|---|---|---|---|---|---|")
    archives = real_archives()
    for old, new in PAIRS:
        print(row(f"{old} → {new}", archives[old], archives[new], args.runs, dos)[0])
    first_old, first_new = PAIRS[0]
    print(row(f"{first_old} → {first_new}", archives[first_old], archives[first_new],
              args.runs, dos, build=True)[0])
    with tempfile.TemporaryDirectory(prefix="mlfcheck-bench-") as tmp:
        largest, edited = Path(tmp) / "v7.tar", Path(tmp) / "v7-edited.tar"
        tar_folder(archives[LARGEST], largest, edit=False)
        tar_folder(archives[LARGEST], edited, edit=True)
        print(row(f"{LARGEST} → an edit of itself", largest, edited, args.runs, dos)[0])
        print(row(f"{LARGEST} → an edit of itself", largest, edited, args.runs, dos,
                  build=True)[0])
        print(row(f"{LARGEST} → hannah-m3-v7-graph", largest, archives["hannah-m3-v7-graph"],
                  args.runs, dos)[0])
        old_tar, new_tar = Path(tmp) / "old.tar", Path(tmp) / "new.tar"
        synthetic(old_tar, changed=False)
        synthetic(new_tar, changed=True)
        line, ours = row(f"synthetic, {FUNCTIONS:,} functions each", old_tar, new_tar,
                         args.runs, dos)
    print(line)
    start = measure([sys.executable, "-c", "from mlfcheck.cli.diff import diff"], args.runs)
    print(f"| *start-up only: `python -c \"from mlfcheck.cli.diff import diff\"`* | "
          f"{start.cell} | | | | | |")
    ok = ours.seconds <= TARGET_SECONDS and ours.peak_mb <= TARGET_MB
    print(f"\nSynthetic pair: {ours.seconds:.2f} s, {ours.peak_mb:.0f} MB against targets of "
          f"≤ {TARGET_SECONDS:g} s and ≤ {TARGET_MB:g} MB: {'meets' if ok else 'misses'}.")


if __name__ == "__main__":
    main()
