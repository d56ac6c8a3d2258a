"""Presentation every reporter shares: byte counts, the JSON report header, and escaping.

Archive content (names, metadata strings, C lines) comes from whoever sent the archive, so each
output format has one escaping function here and the reporters use nothing else: `term` for
text that reaches a terminal, `md_text`/`md_code` for GitHub-flavoured Markdown, `html_text`
for HTML, `xml_text` for JUnit XML and `json_text` for JSON.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from typing import Any

from mlfcheck.version import __version__

FORMAT_VERSION = 1
"""Version of every JSON report format (schemas/*-report.schema.json)."""

KiB = 1024
MiB = 1024 * KiB
EXACT_BELOW = 10_000
"""Byte counts below this are shown exactly; larger ones also in KiB or MiB."""

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff\ufeff]")
"""What a terminal, a Markdown renderer or an XML parser must not get raw: C0 and C1 controls
(ESC, BEL, CR, newline), DEL, bidirectional overrides and marks, line separators, lone
surrogates (from undecodable names or JSON `\\ud800`) and the byte-order mark."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 forbids (or discourages, for C1) in a document."""
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                          "\u2066-\u2069\ud800-\udfff\ufeff]")
"""What json.dumps(ensure_ascii=False) leaves raw but a terminal or a strict parser must not
get (it escapes C0 controls itself)."""
_MD_SYNTAX = re.compile(r"([\\`*\[\]<>&|~!#@$]|(?<=[wW]{3})\.|:(?=/)|_(?![^\W_])|(?<![^\W_])_)")
"""The ASCII punctuation that can start Markdown syntax inside a line: emphasis (`_` only at a
word's edge: GFM never reads an intraword `_` as emphasis), code, links, images, raw HTML,
entities, tables, strikethrough, headings, math, mentions and autolinks ('https:/', 'www.').
CommonMark lets a backslash escape each of them."""
_BACKTICKS = re.compile("`+")


def byte_count(n: int) -> str:
    """Bytes for people: '980 B', '9,999 B', '53,354 B (52.1 KiB)', '2,097,152 B (2.0 MiB)'."""
    if n < EXACT_BELOW:
        return f"{n:,} B"
    if n < MiB:
        return f"{n:,} B ({n / KiB:.1f} KiB)"
    return f"{n:,} B ({n / MiB:.1f} MiB)"


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    return _NAMED.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def term(text: str) -> str:
    """One line for a terminal: every control, bidi or surrogate character as `\\x1b`,
    `\\n`, `\\u202e`…, so archive content can neither move the cursor nor start a line."""
    return _UNSAFE.sub(_escape, text)


def text_lines(lines: Iterable[str]) -> str:
    """A text report: each line escaped with `term` (a newline inside one shows as `\\n`)."""
    return "".join(term(line) + "\n" for line in lines)


def report_header(kind: str) -> dict[str, Any]:
    """The keys every JSON report starts with: format, format_version, tool."""
    return {"format": f"mlfcheck-{kind}", "format_version": FORMAT_VERSION,
            "tool": {"name": "mlfcheck", "version": __version__}}


def json_report(kind: str, body: dict[str, Any]) -> str:
    """A JSON report: the shared header, then `body`."""
    return json_text({**report_header(kind), **body})


def json_text(doc: Any) -> str:
    """Indented, key-sorted JSON in UTF-8 with C1/bidi/surrogate characters as \\u escapes
    (the same string values, but safe on a terminal and encodable)."""
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def md_text(text: str) -> str:
    """Archive text as inert GitHub Markdown after other text on a line or in a table cell:
    controls escaped (`term`), syntax characters backslash-escaped (no emphasis, link, image,
    HTML, heading, entity or `|` survives) and '@' kept from forming a mention."""
    escaped = _MD_SYNTAX.sub(r"\\\1", term(text))
    return escaped.replace("\\@", "@&#8203;")


def md_code(text: str, *, table: bool = False) -> str:
    """Archive text as one GitHub Markdown code span that it cannot close: the fence is one
    backtick longer than the longest run inside, controls are escaped (`term`), and inside a
    table cell `|` is escaped (GFM removes that backslash before reading the span)."""
    inner = term(text)
    if not inner:
        return ""
    if table:
        inner = inner.replace("|", "\\|")
    fence = "`" * (max((len(r) for r in _BACKTICKS.findall(inner)), default=0) + 1)
    pad = " " if inner[0] in "` " or inner[-1] in "` " else ""
    return f"{fence}{pad}{inner}{pad}{fence}"


def md_fence(lines: Iterable[str], info: str = "") -> list[str]:
    """A fenced code block holding `lines` (each escaped with `term`) that no line can close:
    the fence is longer than any backtick run inside."""
    body = [term(line) for line in lines]
    longest = max((len(r) for line in body for r in _BACKTICKS.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *body, fence]


def html_text(text: object) -> str:
    """Text for HTML (element content or a quoted attribute): controls escaped, then
    `& < > " '` as entities."""
    return html.escape(term(str(text)), quote=True)


def xml_text(text: str) -> str:
    """Text for an XML 1.0 document: characters XML forbids become `\\x1b`-style escapes;
    newlines and tabs stay (ElementTree escapes markup characters itself)."""
    return _XML_FORBIDDEN.sub(_escape, text)
