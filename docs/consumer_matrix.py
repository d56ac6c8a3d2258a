"""Regenerate the three generated tables of docs/consumers.md: the built-in profiles, the
verdicts of `mlfcheck compat --all` on the real archives in ../shared/fixtures/real-mlf (or
$MLFCHECK_SHARED/fixtures/real-mlf), and what each profile's harness proves on an MLF v8 archive
of the embedded default model (`mlfcheck export default`, then `compat --all --build`).

    python docs/consumer_matrix.py          # rewrite the tables between their markers
    python docs/consumer_matrix.py --check  # exit 1 when a table is out of date

The v8 table needs TVM (for the export) and the harness toolchains (gcc, arm-none-eabi-gcc,
qemu-system-arm); the export's timestamp is fixed, so the same tree and tools give the same
bytes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from generate import rewrite  # docs/generate.py: one way to rewrite a generated table

from mlfcheck.consumers import Verdict, builtin_profiles, check_archive
from mlfcheck.consumers.evaluate import BUILD
from mlfcheck.reading.layouts import describe_versions
from mlfcheck.reporters.compat import render_matrix_markdown
from mlfcheck.reporters.present import md_code, md_text

DOC = Path(__file__).resolve().parent / "consumers.md"
COMMAND = "python docs/consumer_matrix.py"
V8_EPOCH = 1700000000
"""The v8 export's SOURCE_DATE_EPOCH (its bytes do not depend on the day it is run)."""


def real_archives(root: Path) -> list[tuple[str, Path]]:
    """Each real fixture by folder name: its model.tar, or the folder when it is extracted."""
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        tar = folder / "model.tar"
        out.append((folder.name, tar if tar.is_file() else folder))
    return out


def profile_table() -> str:
    """One row per built-in profile: name, what it is, the versions it was written for."""
    rows = ["| name | consumer | written for | certainty |", "|---|---|---|---|"]
    rows += [f"| `{p.name}` | {p.title.replace('|', '/')} | "
             f"{describe_versions(frozenset(p.versions))} | {p.certainty} |"
             for p in builtin_profiles()]
    return "\n".join(rows) + "\n"


def verdict_table(root: Path) -> str:
    """The Markdown verdict table of every built-in profile on every real archive."""
    profiles = builtin_profiles()
    return render_matrix_markdown([(name, check_archive(path, profiles))
                                   for name, path in real_archives(root)])


def _reads(v: Verdict) -> str:
    """✅, or ❌ and the first requirement read from the consumer's source that fails."""
    failed = next((f for f in v.failures if not f.read.startswith(BUILD)), None)
    return "✅" if failed is None else f"❌ {md_code(failed.read, table=True)}"


def _harness(v: Verdict) -> str:
    """What the harness did: not there, not built (why), the step that failed and its first
    error, or the level it reached (and why it stopped there)."""
    proof = v.proof
    if proof is None:
        return "no harness"
    if proof.skipped:
        return md_text(proof.skipped)
    if proof.failed:
        return f"❌ {proof.failed}: {md_code(proof.error or proof.failed, table=True)}"
    where = "the host" if proof.where == "host" else proof.where
    stopped = f"; {md_text(proof.stopped)}" if proof.stopped else ""
    return f"✅ {proof.proved} on {where}{stopped}"


def v8_table(archive: Path) -> str:
    """Every built-in profile on a v8 export, its harness built and run: the reads, what the
    harness did, and the level the verdict proves."""
    rows = ["| consumer | reads | harness (`compat --build`) | level |", "|---|---|---|---|"]
    rows += [f"| {md_code(v.profile.name, table=True)} | {_reads(v)} | {_harness(v)} | "
             f"{v.level or 'none'} ({v.level_certainty}) |"
             for v in check_archive(archive, builtin_profiles(), build=True)]
    return "\n".join(rows) + "\n"


def export_v8(folder: Path) -> Path:
    """`mlfcheck export default` into `folder` at V8_EPOCH (needs TVM)."""
    from mlfcheck.export import export_model

    out = folder / "default.tar"
    export_model("default", out, epoch=V8_EPOCH)
    return out


def regenerate(text: str, root: Path, v8: Path | None = None) -> str:
    """docs/consumers.md's text with the profile and verdict tables regenerated, and the v8
    table too when `v8` (an export_v8 archive) is given."""
    text = rewrite(text, "profile table", profile_table(), command=COMMAND)
    text = rewrite(text, "verdict table", verdict_table(root), command=COMMAND)
    return text if v8 is None else rewrite(text, "v8 table", v8_table(v8), command=COMMAND)


def main(argv: list[str]) -> int:
    shared = Path(os.environ.get("MLFCHECK_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    text = DOC.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="mlfcheck-docs-") as tmp:
        new = regenerate(text, shared / "fixtures" / "real-mlf", export_v8(Path(tmp)))
    if "--check" in argv:
        if new != text:
            print(f"{DOC}: a generated table is out of date; run {COMMAND}")
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
