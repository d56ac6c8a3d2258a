"""TVM's generated C made readable by tree-sitter-c, the way a C compiler reads it.

The two preprocessor habits of TVM's code generators are undone as a compiler undoes them,
offsets kept (so every line:column stays true): `#ifdef __cplusplus` blocks are dropped
(`extern "C" {` and its `}` sit in separate ones), and the macros `TVM_DLL` /
`TVM_ATTRIBUTE_UNUSED`, which stand undefined before declarations, are blanked. GNU
`__attribute__((...))`, which tree-sitter-c rejects after a declarator where GCC accepts it, is
blanked for the parser and handed back for the declaration's storage. Every other conditional
and `extern "C" { ... }` is left for the reader, which treats them as transparent.
"""

from __future__ import annotations

import re

from mlfcheck.reading.csource.symbols import OPAQUE, fold_code

_BLANKED_MACROS = re.compile(rb"TVM_(?:DLL|ATTRIBUTE_UNUSED)\b")
"""(An identifier character before the match makes it part of another name.)"""
_CONDITIONAL = re.compile(rb"#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b([^\n]*)")
"""(Only where nothing but blanks stands before the `#` on its line.) Both patterns start with
a literal, which the regex engine finds at C speed."""
_CPLUSPLUS = re.compile(rb"^\s*(?:__cplusplus\b|defined\s*\(?\s*__cplusplus\b\s*\)?\s*$)")
_ATTRIBUTE = re.compile(rb"__attribute__\s*\(\(((?:[^()]|\([^()]*\))*)\)\)")
_IDENTIFIER_BYTE = tuple(chr(b).isascii() and (chr(b).isalnum() or b == 0x5F) for b in range(256))
_BLANKS = bytes(0x0A if b == 0x0A else 0x20 for b in range(256))
"""bytes.translate table: every byte a space but the line feed."""


def preprocess(source: bytes) -> bytes:
    """`source` as a C compiler without `__cplusplus` sees it, same length, same line breaks."""
    return prepare(source)[0]


def prepare(source: bytes) -> tuple[bytes, list[tuple[int, str]]]:
    """The preprocessed text, and (offset, folded contents) of every `__attribute__((...))` it
    blanks: tree-sitter-c rejects GNU attributes after a declarator, where GCC accepts them
    (v8's `uint8_t w[128] __attribute__((aligned(64)));`); the reader puts them back as
    storage. Attributes inside dropped `__cplusplus` blocks are not among them.

    Linear in the text: every stretch to blank is noted first, and each byte blanked once."""
    out = bytearray(source)
    for start, end in _merged(_dropped(source)):
        _blank(out, start, end)
    for m in _BLANKED_MACROS.finditer(out):
        if not m.start() or not _IDENTIFIER_BYTE[out[m.start() - 1]]:
            _blank(out, m.start(), m.end())
    snapshot = bytes(out)
    attributes = []
    opaque = OPAQUE.finditer(snapshot)
    lexeme = None
    for m in _ATTRIBUTE.finditer(snapshot):
        while lexeme is None or lexeme.end() <= m.start():  # the next comment or literal
            lexeme = next(opaque, None)
            if lexeme is None:
                break
        if lexeme is not None and lexeme.start() <= m.start():
            continue  # in a comment (v7's `// __attribute__((section(...)))`) or a string
        text = fold_code(m.group(1)).rstrip(b",")  # v7 writes `section(".rodata.tvm"), `
        attributes.append((m.start(), text.decode("utf-8", "backslashreplace")))
        _blank(out, m.start(), m.end())
    return bytes(out), attributes


def _dropped(source: bytes) -> list[tuple[int, int]]:
    """(start, end) of what a compiler without `__cplusplus` does not see: the `#if`,
    `#else` and `#endif` lines of each `__cplusplus` conditional, and the branch it drops."""
    out = []
    stack: list[tuple[bool, int]] = []  # (is a __cplusplus block, where dropping started or -1)
    line_start, scanned = 0, 0
    for m in _CONDITIONAL.finditer(source):
        line_start = source.rfind(b"\n", scanned, m.start()) + 1 or line_start
        scanned = m.end()
        if source[line_start:m.start()].strip(b" \t"):
            continue
        kind, rest = m.group(1), m.group(2)
        if kind in (b"if", b"ifdef", b"ifndef"):
            cplusplus = bool(_CPLUSPLUS.match(rest)) if kind != b"if" else bool(
                re.match(rb"^\s*defined\s*\(?\s*__cplusplus\b", rest))
            drop_first = cplusplus and kind != b"ifndef"
            stack.append((cplusplus, m.start() if drop_first else -1))
            if cplusplus:
                out.append((m.start(), m.end()))
        elif stack and stack[-1][0]:
            _, dropping = stack.pop()
            out.append((dropping if dropping >= 0 else m.start(), m.end()))
            if kind != b"endif":  # else/elif: flip which branch is dropped
                stack.append((True, -1 if dropping >= 0 else m.start()))
        elif kind == b"endif" and stack:
            stack.pop()
    return out


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans, overlapping ones joined, in order (nested blocks blank their bytes once)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _blank(buf: bytearray, start: int, end: int) -> None:
    """Replace bytes with spaces, keeping line breaks (so positions stay the same)."""
    buf[start:end] = bytes(buf[start:end]).translate(_BLANKS)
