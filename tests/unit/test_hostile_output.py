"""Archive content cannot hijack mlfcheck's output (issue 12 §1).

One archive carries a payload in every string a reporter prints: operator function names,
targets, input names, a member name, and a C line. Every command renders it in every format,
and each output is checked with a real parser of that format: Markdown with markdown-it-py (a
CommonMark parser, GFM tables enabled), JUnit with ElementTree, JSON and SARIF with json, HTML
with html.parser, and text byte by byte.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fixture_writer import mf
from markdown_it import MarkdownIt

from mlfcheck.cli import main
from mlfcheck.reporters.present import md_code, md_fence, md_text, term, xml_text

PAYLOAD = ("evil\n## ✅ mlfcheck: all archives valid\n<img src=x onerror=alert(1)> @octocat "
           "[click](https://evil.example/) ![i](https://evil.example/i.png) <!-- ``` | "
           "\x1b]0;pwned\x07\x1b[2J\r\x9b31m \u202eexe.txt \ud800 *em* _u_ ~~s~~ &amp; $x$ "
           "www.evil.example")
"""Newlines, a fake heading, raw HTML, a mention, a link, an image, an HTML comment, a fence,
a table pipe, ESC/OSC/BEL/CR, C1 CSI, a bidi override, a lone surrogate, emphasis, an
entity, math and an autolink."""
MEMBER = "samples/<img src=x>`@octocat`[a](https://evil.example) | ```.bin"
"""A member name without control characters (those are A105), but full of Markdown."""
C_LINE = b'  const char *evil = "``` <!-- <img src=x> @octocat";\n'
FILE_NAME = ("evil\n## ✅ mlfcheck: all archives valid\n<img src=x> @octocat \x1b]0;pwned\x07 "
             "[a](x) ``` | \u202e \udcff.tar")
"""The hostile archive's own file name: paths reach every report too (no '/' in a name)."""


def _hostile_metadata(meta: dict[str, Any]) -> None:
    module = meta["modules"]["add"]
    module["target"] = [PAYLOAD]
    module["memory"]["functions"]["operator_functions"][0]["function_name"] = PAYLOAD
    main_entry = module["memory"]["functions"]["main"][0]
    main_entry["inputs"] = {PAYLOAD: main_entry["inputs"]["a"], "b": main_entry["inputs"]["b"]}


def build(folder: Path) -> tuple[Path, Path]:
    """(a clean base archive, the same archive carrying the payload everywhere)."""
    base = mf.aot7()
    hostile = mf._with_meta(mf.aot7(), _hostile_metadata)
    hostile["codegen/host/src/add_lib1.c"] = (hostile["codegen/host/src/add_lib1.c"]
                                             .replace(b"{", b"{\n" + C_LINE, 1))
    hostile[MEMBER] = b"x"
    folder.mkdir(parents=True, exist_ok=True)
    old, new = folder / "base.tar", folder / FILE_NAME
    old.write_bytes(mf.tar_bytes(mf.entries_of(base)))
    new.write_bytes(mf.tar_bytes(mf.entries_of(hostile)))
    return old, new


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build(tmp_path_factory.mktemp("hostile") / "zoo")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text[-3000:]
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def commands(old: Path, new: Path) -> dict[str, list[str]]:
    """Every command that prints archive content, by name; the format is appended."""
    return {"validate": ["validate", str(new)], "show": ["show", str(new)],
            "diff": ["diff", str(old), str(new)], "compat": ["compat", "--all", str(new)],
            "audit": ["audit", str(new.parent), "--baseline", str(old), "--jobs", "1"]}


FORMATS = {"validate": ("text", "json", "sarif", "markdown", "junit"),
           "show": ("text", "json", "markdown"), "diff": ("text", "json", "markdown"),
           "compat": ("text", "json", "markdown"),
           "audit": ("markdown", "json", "html", "junit")}
RUNS = [(c, f) for c, fmts in FORMATS.items() for f in fmts]


# -- what each format must never contain ---------------------------------------------------------

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                    "\u2066-\u2069\ud800-\udfff]")


def assert_terminal_safe(text: str) -> None:
    """No byte below 0x20 but newline and tab, no DEL, C1, bidi control or lone surrogate."""
    found = UNSAFE.search(text)
    assert found is None, repr(text[max(0, found.start() - 60): found.end() + 60])
    text.encode("utf-8")  # a lone surrogate would raise here
    assert not any(line.startswith("## ✅") for line in text.splitlines())


def markdown_tokens(text: str) -> list[Any]:
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(text)
    flat = []
    for t in tokens:
        flat.append(t)
        flat += t.children or []
    return flat


TOOL_HTML = re.compile(r"^(</?details>|<details><summary>[^<>]*(<code>[^<>]*</code>[^<>]*)*"
                       r"</summary>|</?summary>|</?code>|<br>)\s*$")
"""The only raw HTML mlfcheck writes in Markdown: collapsible sections, code in summaries and
line breaks between a failure's consumer lines."""


TOOL_LINK = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+/blob/[0-9a-f]{7,40}/[\w./+%-]+#L[0-9]+$")
"""The only links mlfcheck writes in Markdown: a built-in profile's consumer source line."""


def assert_markdown_safe(text: str) -> None:
    assert_terminal_safe(text)
    for t in markdown_tokens(text):
        assert t.type != "image", t.attrs
        if t.type == "link_open":
            assert TOOL_LINK.match(str(t.attrs["href"])), t.attrs
        if t.type in ("html_block", "html_inline"):
            for line in t.content.strip().splitlines():
                assert TOOL_HTML.match(line.strip()), line
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<img" not in html and "<!--" not in html
    assert all(TOOL_LINK.match(href) for href in re.findall(r'<a href="([^"]*)"', html))
    outside_code = re.sub(r"<code[^>]*>.*?</code>", "", html, flags=re.S)
    assert "@octocat" not in outside_code
    assert "<em>" not in outside_code and "<del>" not in outside_code
    headings = re.findall(r"<h\d>(.*?)</h\d>", outside_code)
    assert not any("all archives valid" in h or "fake heading" in h for h in headings), headings


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.comments = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_comment(self, data: str) -> None:
        self.comments += 1


def check_output(fmt: str, out: str) -> None:
    if fmt == "text":
        assert_terminal_safe(out)
    elif fmt == "markdown":
        assert_markdown_safe(out)
    elif fmt in ("json", "sarif"):
        assert_terminal_safe(out)
        doc = json.loads(out)
        if fmt == "sarif":
            uris = [a["location"]["uri"] for a in doc["runs"][0]["artifacts"]]
            uris += [loc["physicalLocation"]["artifactLocation"]["uri"]
                     for r in doc["runs"][0]["results"] for loc in r["locations"]]
            assert uris
            for uri in uris:
                assert re.fullmatch(r"[A-Za-z0-9\-._~/%]+", uri), uri
    elif fmt == "junit":
        assert_terminal_safe(out.replace("\r", ""))
        ET.fromstring(out.encode("utf-8"))
    elif fmt == "html":
        assert_terminal_safe(out)
        tags = _Tags()
        tags.feed(out)
        assert not tags.tags & {"img", "script", "a", "iframe"}, tags.tags
        assert tags.comments == 0
    else:  # a format added to FORMATS without a parser here would be checked for nothing
        raise AssertionError(f"no check for the {fmt} format")


@pytest.mark.parametrize(("command", "fmt"), RUNS, ids=[f"{c}-{f}" for c, f in RUNS])
def test_archive_content_cannot_hijack_the_output(command: str, fmt: str,
                                                  archives: tuple[Path, Path]) -> None:
    old, new = archives
    code, out, err = run(*commands(old, new)[command], "--format", fmt)
    assert code in (0, 1), err
    assert "evil" in out, "the payload never reached the report: this test tests nothing"
    check_output(fmt, out)
    assert_terminal_safe(err)


def test_the_diff_fence_is_longer_than_any_backtick_run_in_the_c(
        archives: tuple[Path, Path]) -> None:
    old, new = archives
    _, out, _ = run("diff", str(old), str(new), "--format", "markdown")
    assert "```" in out and "````diff" in out
    fences = [t for t in markdown_tokens(out) if t.type == "fence"]
    assert any("```" in t.content for t in fences), "the C line's backticks left the fence"


def test_the_terminal_report_shows_control_characters_as_escapes(
        archives: tuple[Path, Path]) -> None:
    _, new = archives
    _, out, _ = run("validate", str(new))
    assert "\\x1b]0;pwned\\x07" in out and "\\u202e" in out and "\\ud800" in out
    assert "\\n## ✅ mlfcheck: all archives valid\\n" in out


# -- the escaping functions themselves -----------------------------------------------------------


@pytest.mark.parametrize("text", ["a`b", "``", "` x `", "```diff", "|", "x\ny", "", "plain"])
def test_a_code_span_shows_its_text_exactly_and_cannot_be_closed_early(text: str) -> None:
    html = MarkdownIt("commonmark").render(f"before {md_code(text)} after")
    codes = re.findall(r"<code>(.*?)</code>", html, flags=re.S)
    if not text:
        assert codes == []
        return
    assert len(codes) == 1, html
    shown = codes[0].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert shown == term(text)


def test_a_code_span_in_a_table_cell_keeps_its_pipe() -> None:
    html = MarkdownIt("commonmark").enable("table").render(
        f"| a | b |\n|---|---|\n| {md_code('x | y', table=True)} | z |\n")
    assert re.findall(r"<td>(.*?)</td>", html) == ["<code>x | y</code>", "z"]


def test_escaped_text_renders_as_the_same_characters() -> None:
    html = MarkdownIt("commonmark").render(f"x {md_text('a*b* _c_ [l](u) <b> &amp; `k` #1')}")
    assert "a*b* _c_ [l](u) &lt;b&gt; &amp;amp; `k` #1" in html


def test_a_fenced_block_outlasts_every_run_of_backticks_inside() -> None:
    lines = ["````", "```diff", "x"]
    block = md_fence(lines, "diff")
    assert block[0] == "`````diff" and block[-1] == "`````"
    fences = [t for t in markdown_tokens("\n".join(block)) if t.type == "fence"]
    assert len(fences) == 1 and fences[0].content == "````\n```diff\nx\n"


def test_xml_text_keeps_newlines_and_tabs_and_escapes_what_xml_forbids() -> None:
    assert xml_text("a\tb\nc\x1bd\x00e\ud800") == "a\tb\nc\\x1bd\\x00e\\ud800"
    ET.fromstring(f"<a>{xml_text(PAYLOAD).replace('&', '&amp;').replace('<', '&lt;')}</a>")
