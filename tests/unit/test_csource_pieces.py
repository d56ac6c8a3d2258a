"""Reading C in pieces, leaving weight arrays out of the parse, and sharing a batch between
forked processes change how fast a file is read, never what is read: every symbol table equals
the one a single whole-file parse gives."""

from __future__ import annotations

import os
import re
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tree_sitter import Parser

from mlfcheck import children
from mlfcheck.reading.csource import CParser, Data, Function, SymbolTable
from mlfcheck.reading.csource.batching import PieceCache, cut_pieces
from mlfcheck.reading.csource.budget import Budget, Meter, Unread
from mlfcheck.reading.csource.literals import LANGUAGE, Steps, parse_tree
from mlfcheck.reading.csource.parser import Order, Part, read_part
from mlfcheck.reading.csource.preparation import prepare
from mlfcheck.reading.csource.reader import Reader, first_error
from mlfcheck.reading.csource.symbols import Text


@pytest.fixture(scope="module")
def parser() -> CParser:
    """One parser for the module's tests, so pieces are also taken from its cache."""
    return CParser()


def whole_file_table(source: bytes) -> tuple[list[tuple[Any, ...]], Any]:
    """The reference: one plain parse of the whole preprocessed file, nothing left out."""
    text, attributes, conditions = prepare(source)
    tree = Parser(LANGUAGE).parse(text)
    reader = Reader("", text, attributes, {}, conditions=conditions)
    reader.item_list(tree.root_node)
    folder = Text(text)
    items = [*reader.functions, *reader.data, *reader.prototypes, *reader.structs,
             *reader.macros, *reader.others]
    return [facts(i, folder) for i in items], first_error(tree.root_node, text)


def facts(item: Any, text: Text | None = None) -> tuple[Any, ...]:
    """Everything a symbol says, its folded text and values included."""
    if text is not None and isinstance(item, Function | Data):
        object.__setattr__(item, "_text", text)
    out: list[Any] = [type(item).__name__, item.span]
    for name in ("name", "kind", "signature", "static", "size", "type", "count", "storage",
                 "value", "has_members", "members", "folded", "initializer", "condition"):
        out.append(getattr(item, name, None))
    if isinstance(item, Data):
        out.append(item.values())
    return tuple(out)


def table_facts(table: SymbolTable) -> tuple[list[tuple[Any, ...]], Any]:
    items = [*table.functions, *table.data, *table.prototypes, *table.structs, *table.macros,
             *table.others]
    return [facts(i) for i in items], table.error


def real_c_files(real: dict[str, Path]) -> list[tuple[str, bytes]]:
    out = []
    for name, path in real.items():
        if path.is_dir():
            out += [(f"{name}/{p.relative_to(path)}", p.read_bytes())
                    for p in sorted(path.rglob("*")) if p.suffix in (".c", ".h")]
            continue
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                handle = tar.extractfile(m) if m.isfile() else None
                if handle is not None and m.name.endswith((".c", ".h")):
                    out.append((f"{name}/{m.name}", handle.read()))
    return out


def test_every_real_c_file_reads_as_one_whole_parse_reads_it(real: dict[str, Path],
                                                              parser: CParser) -> None:
    files = real_c_files(real)
    assert len(files) >= 25
    pieced = 0
    for name, source in files:
        text = prepare(source).text
        pieced += len(cut_pieces(source, text)) > 1
        assert table_facts(parser.parse("f.c", source)) == whole_file_table(source), name
    assert pieced >= 5  # the pieces are really used on TVM's output


def test_weight_arrays_are_left_out_of_the_parse_yet_counted_and_compared_by_value(
        real: dict[str, Path], parser: CParser) -> None:
    lib0 = real["esp32s3-example-v7-aot"] / "codegen/host/src/default_lib0.c"
    text = prepare(lib0.read_bytes()).text
    _, skipped = parse_tree(text, Steps(1 << 30))
    assert len(skipped) >= 10  # the constant pool's arrays
    table = parser.parse("default_lib0.c", lib0.read_bytes())
    pool = {d.name: d for d in table.data}["global_const_workspace.constant_16_let"]
    values = pool.values()
    assert pool.count == 36864 and values is not None and len(values) == 36864


_NUMBERS = st.one_of(
    st.integers(-300, 300).map(str), st.integers(0, 255).map(lambda n: f"{n:#04x}"),
    st.integers(0, 255).map(lambda n: f"+0x{n:02x}"),
    st.integers(0, 255).map(lambda n: f"-0x{n:x}"),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: f"{f!r}f"),
    st.floats(-1e6, 1e6, allow_nan=False).map(float.hex),
    st.sampled_from(["1u", "2UL", "0x1fu", "3.", ".5", "1e-5f", "- 7", "0x1.8p+3f"]))
_AWKWARD = st.sampled_from(["x", "1 2", "(int)3", "'a'", "/* c */ 4", "0x", "1ff", "1.5u", "{1}",
                            "\"s\"", ""])


@st.composite
def weight_array(draw: st.DrawFn) -> str:
    """A TVM-style constant array, sometimes with an element no fast path may take."""
    elements = draw(st.lists(_NUMBERS, min_size=1, max_size=120))
    if draw(st.integers(0, 4)) == 0:
        elements.insert(draw(st.integers(0, len(elements))), draw(_AWKWARD))
    joints = draw(st.sampled_from([", ", ",", ",\n    ", " , "]))
    trailing = draw(st.sampled_from(["", ",", ", ", ",\n"]))
    size = draw(st.sampled_from(["", str(len(elements))]))
    name = draw(st.sampled_from(["w", "fused_constant", "p0"]))
    attribute = draw(st.sampled_from(["", ' __attribute__((aligned(16)))',
                                      ' __attribute__((section(".rodata.tvm"), ))']))
    return (f"static const int8_t {name}[{size}]{attribute} = {{\n    {joints.join(elements)}"
            f"{trailing}\n}};\n")


_FUNCTION = st.builds(
    lambda name, n, guard: (
        ("#ifdef __cplusplus\nextern \"C\"\n#endif\n" if guard else "")
        + f"TVM_DLL int32_t {name}(void* a, void* b) {{\n"
        + "".join(f"  ((float*)b)[{i}] = ((float*)a)[{i}] * {i}.0f;\n" for i in range(n))
        + "\n  return 0;\n}\n"),
    st.sampled_from(["f", "tvmgen_default_fused_add", "tvmgen_default_run"]),
    st.integers(0, 30), st.booleans())
_ITEM = st.one_of(
    _FUNCTION, weight_array(),
    st.sampled_from(['#include "tvm/runtime/c_runtime_api.h"\n', "#define W_SIZE 128\n",
                     "// a comment;\n", "/* a\n\n   block */\n", "int32_t f(void);\n",
                     "struct s {\n  int8_t a[4];\n};\n", "#ifdef __cplusplus\n}\n#endif\n",
                     "__attribute__((aligned(16)))\n", "int x\n", "}\n", "#if 0\n", "#endif\n",
                     "\n", "\n\n", "static int8_t y = 3;\n"]))


@given(items=st.lists(_ITEM, max_size=12), cut=st.integers(0, 40), truncate=st.booleans())
def test_any_file_reads_as_one_whole_parse_reads_it(parser: CParser, items: list[str], cut: int,
                                                    truncate: bool) -> None:
    source = "".join(items).encode()
    if truncate and source:
        source = source[:len(source) - cut % len(source)]
    assert table_facts(parser.parse("f.c", source)) == whole_file_table(source)


def test_a_piece_is_parsed_once_whatever_file_it_sits_in() -> None:
    functions = [(f"TVM_DLL int32_t tvmgen_default_op_{n}(void* a) {{\n"
                  + "".join(f"  ((float*)a)[{i}] = {n}.0f;\n" for i in range(12))
                  + "  return 0;\n}\n\n") for n in range(40)]
    parser = CParser()
    first = parser.parse("a.c", "".join(functions).encode())
    before = (parser.cache.hits, parser.cache.misses)
    moved = parser.parse("b.c", "".join(reversed(functions)).encode())
    after = (parser.cache.hits, parser.cache.misses)
    assert after[1] == before[1] and after[0] - before[0] == 40
    assert [f.name for f in moved.functions] == [f.name for f in reversed(first.functions)]
    assert moved.functions[0].span.first_line == 1 and moved.functions[0].file == "b.c"
    assert {f.name: f.body_digest for f in moved.functions} == \
        {f.name: f.body_digest for f in first.functions}


@pytest.mark.parametrize("tail", [b"", b", 1 2}", b", x}"])
def test_a_broken_weight_array_is_a_syntax_error_at_its_place(tail: bytes,
                                                               parser: CParser) -> None:
    source = b"const int8_t w[] = {" + b", ".join(b"+0x1f" for _ in range(50_000)) + tail
    table = parser.parse("w.c", source)
    assert table.error is not None and table.error == whole_file_table(source)[1]


@pytest.mark.parametrize("trailing", [b"", b",", b", \n"])
@pytest.mark.parametrize("bad_at", [None, 0, 32767, 32768, 65535])
def test_a_list_longer_than_one_window_is_checked_across_windows(
        trailing: bytes, bad_at: int | None, parser: CParser) -> None:
    elements = [b"1"] * 65536  # "1," is 2 bytes: windows (64 KiB) end near element 32768
    if bad_at is not None:
        elements[bad_at] = b"1 2"
    source = b"const int8_t w[] = {" + b",".join(elements) + trailing + b"};\n"
    table = parser.parse("w.c", source)
    assert table_facts(table) == whole_file_table(source)
    assert (table.error is None) == (bad_at is None)
    assert table.error is not None or table.data[0].count == 65536


def _many_files(count: int) -> list[tuple[str, bytes]]:
    """`count` distinct C files of about 6 KB each, three functions apiece."""
    files = []
    for n in range(count):
        body = "".join(f"  ((float*)b)[{i}] = ((float*)a)[{i}] * {n}.{i}f;\n" for i in range(40))
        text = "".join(f"TVM_DLL int32_t tvmgen_default_op_{n}_{k}(void* a, void* b) {{\n"
                       f"{body}  return {k};\n}}\n\n" for k in range(3))
        files.append((f"codegen/host/src/default_lib{n}.c", text.encode()))
    return files


def _tables_in_one_process(files: list[tuple[str, bytes]]) -> list[Any]:
    """The reference for a batch: read by a parser of one worker, which never forks."""
    parser = CParser(parallel_at_least=0)
    tables = [table_facts(t) for t in parser.parse_all(files)]
    assert (parser.forked_parts, parser.redone_parts) == (0, 0)
    return tables


def _needs_fork() -> None:
    """fork_map forks only where os.fork exists and this process runs one thread."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        pytest.skip("needs os.fork and no other thread")


_LARGE = 256 << 10
"""`parallel_at_least` of the parsers below: `_many_files(60)` (360 KB) is over it."""


def test_a_large_batch_is_parsed_in_parts_by_forked_children_with_the_same_tables() -> None:
    _needs_fork()
    files = _many_files(60)
    assert sum(len(s) for _, s in files) > _LARGE
    parser = CParser(cache_bytes=1 << 28, workers=3, parallel_at_least=_LARGE)
    parallel = [table_facts(t) for t in parser.parse_all(files)]
    assert (parser.forked_parts, parser.redone_parts) == (2, 0)  # two parts came from children
    assert parallel == _tables_in_one_process(files)


def test_a_batch_under_the_threshold_is_parsed_here() -> None:
    parser = CParser(workers=3, parallel_at_least=_LARGE)
    parser.parse_all(_many_files(30))
    assert (parser.forked_parts, parser.redone_parts) == (0, 0)


class _Refused(CParser):
    """A parser told, as fork_map tells it, that no child could be started."""

    def map_parts(self, orders: Sequence[Order]) -> list[Part | None]:
        return [read_part(orders[0]), *[None] * (len(orders) - 1)]


class _SilentChildren(CParser):
    """A parser whose forked children end before they send anything back."""

    def map_parts(self, orders: Sequence[Order]) -> list[Part | None]:
        parent = os.getpid()

        def silent_in_a_child(order: Order) -> Part:
            if os.getpid() != parent:
                os._exit(0)
            return read_part(order)
        return children.fork_map(silent_in_a_child, orders,
                                 limits=self.limits or children.Limits())


@pytest.mark.parametrize("make", [_SilentChildren, _Refused])
def test_a_part_no_child_sends_back_costs_time_not_tables(make: Callable[..., CParser]) -> None:
    if make is _SilentChildren:
        _needs_fork()
    files = _many_files(60)
    parser = make(cache_bytes=1 << 28, workers=3, parallel_at_least=_LARGE)
    tables = [table_facts(t) for t in parser.parse_all(files)]
    assert (parser.forked_parts, parser.redone_parts) == (0, 2)
    assert tables == _tables_in_one_process(files)


def test_a_parser_of_one_worker_never_maps_parts() -> None:
    class Unforked(CParser):
        def map_parts(self, orders: Sequence[Order]) -> list[Part | None]:
            raise AssertionError("a parser of one worker asked for children")
    parser = Unforked(parallel_at_least=0)
    assert len(parser.parse_all(_many_files(30))) == 30


def test_the_piece_cache_forgets_the_least_recently_used_beyond_its_limit() -> None:
    cache = PieceCache(limit=12)
    keys = [(bytes([65 + n]) * 5, ()) for n in range(3)]  # 5 bytes of text each
    cap = 1 << 20
    for key in keys[:2]:
        cache.read(key, cap)
    cache.read(keys[0], cap)  # used again: now the most recent
    cache.read(keys[2], cap)  # 15 bytes > 12: the least recently used (keys[1]) goes
    assert cache.get(keys[1]) is None and cache.held == 10
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None
    assert (cache.hits, cache.misses) == (1, 3)
    cache.put((b"x" * 13, ()), cache.read(keys[0], cap))  # larger than the limit: not kept
    assert cache.held == 10


# -- hostile shapes: linear in nesting and in blank lines, within a budget ---------------------

_OLD_NEXT_ITEM = re.compile(rb"\n(?:[ \t\r\f\v]*\n)*(?=[A-Za-z_#/])")


def _old_cut_pieces(source: bytes, text: bytes) -> list[tuple[int, int]]:
    """The cuts as the first version made them (a regex that is quadratic in blank lines)."""
    cuts = [0]
    for m in _OLD_NEXT_ITEM.finditer(source):
        end = m.end()
        if end - cuts[-1] < 256:
            continue
        last = m.start()
        while last and source[last - 1] in b" \t\r\f\v":
            last -= 1
        ends_item = source[last - 1:last] in (b";", b"}") or source[last - 2:last] == b"*/"
        if ends_item and text[last - 1] not in b" \n":
            cuts.append(end)
    cuts.append(len(text))
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < 256:
        del cuts[-2]
    return list(pairwise(cuts))


_LINES = st.lists(st.sampled_from([
    "int a;", "}", "  x = 1;", "", "   ", "\t", "/* c */", "#define A 1", "/ x", "_y;",
    "  ;", "int f(void) {", "x;  ", "a */", "#ifdef __cplusplus", "#endif", "\r", "b",
    "int w[] = {" + ", ".join(["1"] * 100) + "};"]), max_size=60)


@given(lines=_LINES)
def test_pieces_are_cut_where_they_always_were(lines: list[str]) -> None:
    source = "\n".join(lines).encode()
    text = prepare(source).text
    assert cut_pieces(source, text) == _old_cut_pieces(source, text)


def test_blank_lines_and_nesting_cost_linear_time() -> None:
    started = time.process_time()
    blank = b"int a;\n" + b"\n \n" * 200_000 + b" ;\n"
    cut_pieces(blank, prepare(blank).text)
    cplusplus = b"#ifdef __cplusplus\n" * 50_000 + b"#endif\n" * 50_000 + b"int x;\n"
    text = prepare(cplusplus).text
    assert text.strip() == b"int x;" and len(text) == len(cplusplus)
    deep = b"".join(b"#ifdef A%d\n" % i for i in range(20_000)) + b"int x;\n" + \
        b"#endif\n" * 20_000
    table = CParser().parse("deep.c", deep)  # no budget: the walk itself must not recurse
    assert [d.name for d in table.data] == ["x"] and table.error is None
    assert time.process_time() - started < 10.0


def _read(files: list[tuple[str, bytes]], budget: Budget,
          parser: CParser | None = None) -> list[SymbolTable | Unread]:
    return (parser or CParser()).read_all(files, Meter(budget))


def test_one_parse_past_its_cap_is_unread_and_names_the_option() -> None:
    big = b"static const int8_t w[] = {" + b", ".join([b"x"] * 5000) + b"};\n"
    small = b"int32_t f(void) { return 0; }\n"
    first, second = _read([("big.c", big), ("small.c", small)], Budget(parse_steps=100))
    assert isinstance(first, Unread) and isinstance(second, SymbolTable)
    assert first.reason == ("not read: parsing one top-level item (line 1) took more than 100 "
                            "steps (raise with --max-c-parse-steps)")
    assert [f.name for f in second.functions] == ["f"]


def test_once_the_archive_budget_is_spent_no_later_file_is_read() -> None:
    files = [(f"f{n}.c", b"int32_t f%d(void) { return %d; }\n" % (n, n)) for n in range(50)]
    tables = _read(files, Budget(steps=400))
    read = [t for t in tables if isinstance(t, SymbolTable)]
    assert read and len(read) < 50 and tables[:len(read)] == read  # a prefix, then none
    assert all(isinstance(t, Unread) and "--max-c-steps" in t.reason
               for t in tables[len(read):])


def test_a_syntax_error_makes_a_parse_count_more() -> None:
    clean = b"int32_t f(void) {\n  return 0;\n}\n" * 40
    broken = clean.replace(b"return 0;", b"return ];", 1)
    spent = []
    for source in (clean, broken):
        meter = Meter(Budget())
        CParser().read_all([("f.c", source)], meter)
        spent.append(meter.spent)
    assert spent[1] > 10 * spent[0]


def test_a_piece_cut_where_the_file_is_not_is_read_whole_again() -> None:
    """Unclosed, the first piece's conditionals read as thousands of stray items (over the
    cap); the file read whole has two symbols."""
    source = b"#ifdef A\n" * 1000 + b"int x;\n" + b"#endif\n" * 1000
    text = prepare(source).text
    assert len(cut_pieces(source, text)) == 2
    (table,) = _read([("c.c", source)], Budget())
    assert isinstance(table, SymbolTable) and [d.name for d in table.data] == ["x"]


def test_the_verdict_does_not_depend_on_what_the_parser_read_before() -> None:
    files = [(f"f{n}.c", b"int32_t f%d(void) { return %d; }\n" % (n % 7, n)) for n in range(40)]
    parser = CParser()
    warm = _read(files, Budget(steps=300), parser)
    again = _read(files, Budget(steps=300), parser)  # every piece kept from the first read
    cold = _read(files, Budget(steps=300))
    kinds = [[type(t).__name__ for t in tables] for tables in (warm, again, cold)]
    assert kinds[0] == kinds[1] == kinds[2] and "Unread" in kinds[0]
