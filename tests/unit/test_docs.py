"""The docs stay true to the code and to each other: the generated reference pages and the
generated tables inside hand-written pages are current (and generating them never imports TVM),
every relative link and `#anchor` in README.md and docs/ lands, README.md stays a short guide
that starts with the install-and-run and install-and-test commands, and links every docs page."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote

import pytest
from shared_paths import REPO

DOCS = REPO / "docs"
README = REPO / "README.md"
MAX_README_LINES = 400
RUN_COMMAND = "pip install '.[tvm]' && mlfcheck export default"
TEST_COMMAND = "pip install -e '.[tvm,test]' && python -m pytest -q"

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced code blocks."""
    out, fenced = [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = _FENCE.match(line)
        if match and (fenced is None or match.group(1) == fenced):
            fenced = match.group(1) if fenced is None else None
            continue
        if fenced is None:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text (code spans and links by their text) in lower
    case, punctuation other than '-' and '_' dropped, each space a '-'."""
    text = _CODE_SPAN.sub(lambda m: m.group(2).strip(), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub gives the headings of a Markdown file (repeats get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link and image outside code."""
    out = []
    for number, line in _prose_lines(path.read_text(encoding="utf-8")):
        for match in _LINK.finditer(_CODE_SPAN.sub("code", line)):
            out.append((number, match.group(1)))
    return out


def broken(path: Path, target: str) -> str | None:
    """Why a link from `path` does not land, or None when it does (external links are not
    followed)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
        return None
    file_part, _, anchor = target.partition("#")
    dest = (path.parent / unquote(file_part)).resolve() if file_part else path
    if not dest.exists():
        return f"{file_part} does not exist"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"no heading with anchor #{anchor} in {dest.name}"
    return None


def test_the_generated_reference_pages_are_current() -> None:
    stale = [str(p.relative_to(REPO)) for p in _generator().stale()]
    assert not stale, f"out of date: {', '.join(stale)}; run python docs/generate.py"


def test_the_generator_is_deterministic() -> None:
    generate = _generator()
    assert generate.pages() == generate.pages()


def test_the_generator_never_imports_tvm() -> None:
    """The integer rule table comes from mlfcheck.export.integer, which must stay importable
    without TVM: with `tvm` blocked, every page is still generated."""
    probe = ("import importlib.util, sys\n"
             "sys.modules['tvm'] = None\n"
             "spec = importlib.util.spec_from_file_location('g', sys.argv[1])\n"
             "module = importlib.util.module_from_spec(spec)\n"
             "spec.loader.exec_module(module)\n"
             "print(len(module.pages()))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(DOCS / "generate.py")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == len(_generator().pages())


def test_a_generated_table_replaces_only_the_text_between_its_markers() -> None:
    rewrite = _generator().rewrite
    begin = "<!-- t: generated by python docs/generate.py, do not edit -->"
    text = f"before\n{begin}\nold\n<!-- end of t -->\nafter\n"
    assert rewrite(text, "t", "new\n") == f"before\n{begin}\nnew\n<!-- end of t -->\nafter\n"
    with pytest.raises(ValueError, match="end of t"):
        rewrite("before\nafter\n", "t", "new\n")


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_lands(page: Path) -> None:
    bad = [f"{page.relative_to(REPO)}:{n}: ({t}) {why}"
           for n, t in links(page) if (why := broken(page, t)) is not None]
    assert not bad, "\n".join(bad)


def test_the_link_checker_finds_links_and_catches_broken_ones(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading\n", encoding="utf-8")
    page.write_text("[ok](there.md#a-heading) [gone](missing.md) [bad](there.md#nope)\n"
                    "`[code](not-a-link.md)` [web](https://example.org)\n", encoding="utf-8")
    found = links(page)
    assert [t for _, t in found] == ["there.md#a-heading", "missing.md", "there.md#nope",
                                     "https://example.org"]
    assert [broken(page, t) is None for _, t in found] == [True, False, False, True]


def test_the_readme_links_every_docs_page() -> None:
    linked = {(README.parent / unquote(t.partition("#")[0])).resolve()
              for _, t in links(README) if broken(README, t) is None}
    pages = {p.resolve() for p in DOCS.rglob("*.md")}
    missing = sorted(str(p.relative_to(REPO)) for p in pages - linked)
    assert not missing, f"README.md links none of: {', '.join(missing)}"


def test_the_readme_stays_a_short_guide() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < MAX_README_LINES, (
        f"README.md has {len(lines)} lines; move reference material to docs/")


def test_the_readme_starts_with_the_run_and_the_test_command() -> None:
    text = README.read_text(encoding="utf-8")
    before = text[:text.index("```")].splitlines()
    assert [line for line in before if line.strip()] == ["# mlfcheck"], "commands come first"
    commands, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif fenced and line.strip() and not line.lstrip().startswith("#"):
            commands.append(line.strip())
    assert commands[0].startswith(RUN_COMMAND), commands[0]
    assert commands[1] == TEST_COMMAND, commands[1]


@pytest.mark.parametrize(("heading", "anchor"), [
    ("### `mlfcheck validate`", "mlfcheck-validate"),
    ("## `diff --consumer NAME`", "diff---consumer-name"),
    ("## `fuzz`: strength", "fuzz-strength"),
    ("## What the real archives get", "what-the-real-archives-get"),
    ("## Running on a board: `export --verify --board NAME`",
     "running-on-a-board-export---verify---board-name"),
])
def test_slugs_follow_github(heading: str, anchor: str, tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"{heading}\n\n```\n# not a heading\n```\n{heading}\n", encoding="utf-8")
    assert anchors(page) == {anchor, f"{anchor}-1"}
