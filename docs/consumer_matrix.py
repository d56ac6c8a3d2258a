"""Regenerate the two generated tables of docs/consumers.md: the built-in profiles, and the
verdicts of `mlfcheck compat --all` on the real archives in ../shared/fixtures/real-mlf (or
$MLFCHECK_SHARED/fixtures/real-mlf).

    python docs/consumer_matrix.py          # rewrite the tables between their markers
    python docs/consumer_matrix.py --check  # exit 1 when a table is out of date
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from generate import rewrite  # docs/generate.py: one way to rewrite a generated table

from mlfcheck.consumers import builtin_profiles, check_archive
from mlfcheck.reading.layouts import describe_versions
from mlfcheck.reporters.compat import render_matrix_markdown

DOC = Path(__file__).resolve().parent / "consumers.md"
COMMAND = "python docs/consumer_matrix.py"


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


def regenerate(text: str, root: Path) -> str:
    """docs/consumers.md's text with both tables regenerated."""
    text = rewrite(text, "profile table", profile_table(), command=COMMAND)
    return rewrite(text, "verdict table", verdict_table(root), command=COMMAND)


def main(argv: list[str]) -> int:
    shared = Path(os.environ.get("MLFCHECK_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    text = DOC.read_text(encoding="utf-8")
    new = regenerate(text, shared / "fixtures" / "real-mlf")
    if "--check" in argv:
        if new != text:
            print(f"{DOC}: a generated table is out of date; run {COMMAND}")
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
