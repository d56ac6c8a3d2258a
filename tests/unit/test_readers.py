"""The strict JSON parser, the .params reader, the C function splitter and the archive reader."""

from __future__ import annotations

import contextlib
import io
import struct
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlfcheck.errors import ArchiveError
from mlfcheck.findings import Code
from mlfcheck.reading.archive import Archive, Limits
from mlfcheck.reading.csource import CParser
from mlfcheck.reading.jsondoc import JSONDocError, parse_bytes
from mlfcheck.reading.params import LIST_MAGIC, TENSOR_MAGIC, ParamsError, read_params

# -- jsondoc ---------------------------------------------------------------------------------

def test_positions_point_at_each_value_by_json_pointer() -> None:
    doc = parse_bytes(b'{\n  "a": [1,\n    {"b~/c": true}]\n}', max_depth=8)
    assert doc.value == {"a": [1, {"b~/c": True}]}
    assert doc.position("/a") == (2, 8)
    assert doc.position("/a/1/b~0~1c") == (3, 14)
    assert doc.position("") == (1, 1)
    assert doc.position("/a/7") == (2, 8)
    assert doc.position("/a/1/missing") == (3, 5)


@pytest.mark.parametrize(("text", "code", "where"), [
    (b'{"a": 1, "a": 2}', Code.M005, (1, 10)),
    (b'{"a": NaN}', Code.M006, (1, 7)),
    (b'{"a": -Infinity}', Code.M006, (1, 7)),
    (b'{"a": 1e999}', Code.M006, (1, 7)),
    (b'{"a": [1, 2}', Code.M004, (1, 12)),
    (b'{"a": 1} x', Code.M004, (1, 10)),
    (b"", Code.M004, (1, 1)),
    (b'{"a": "\xff"}', Code.M003, None),
    (b"[" * 100_000, Code.M007, (1, 65)),
    (b'{"version": 7, "modules": ', Code.M004, (1, 27)),  # cut short: not "nested too deep"
    (b"[", Code.M004, (1, 2)),
])
def test_strict_parser_rejects_what_json_lets_through(text: bytes, code: Code,
                                                      where: tuple[int, int] | None) -> None:
    with pytest.raises(JSONDocError) as info:
        parse_bytes(text, max_depth=64)
    assert info.value.code == code
    if where is not None:
        assert (info.value.line, info.value.column) == where
    else:
        assert info.value.offset == 7


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64) + 1, 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children,
                                                                     max_size=4),
    max_leaves=20)


@given(json_values)
def test_strict_parser_agrees_with_the_json_module_on_valid_documents(value: object) -> None:
    import json

    text = json.dumps(value, indent=1).encode()
    assert parse_bytes(text, max_depth=64).value == json.loads(text)


@pytest.mark.parametrize("number", [b"18446744073709551616", b"-18446744073709551616",
                                    b"1" + b"0" * 400, b"1" * 5000, b"1e400"])
def test_a_number_beyond_64_bits_or_a_float_is_refused_m006(number: bytes) -> None:
    with pytest.raises(JSONDocError) as info:
        parse_bytes(b'{"workspace_size_bytes": ' + number + b"}", max_depth=8)
    assert info.value.code is Code.M006
    assert (info.value.line, info.value.column) == (1, 26)
    assert str(len(number.lstrip(b"-"))) in info.value.message or number == b"1e400"


def test_the_largest_64_bit_integers_are_accepted() -> None:
    doc = parse_bytes(b"[18446744073709551615, -18446744073709551615]", max_depth=8)
    assert doc.value == [2**64 - 1, -(2**64) + 1]


def test_finding_one_position_in_a_16MiB_array_is_fast_and_records_no_other() -> None:
    import time
    import tracemalloc

    text = b'{"big": [' + b"0," * (8 << 20) + b'1], "after": {"x": 2}}'
    doc = parse_bytes(text, max_depth=8)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        where = doc.position("/after/x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert where == (1, len(text) - 2)
    assert time.perf_counter() - started < 2.0
    assert peak < 4 << 20


# -- params ----------------------------------------------------------------------------------

def write_params(tensors: list[tuple[str, int, int, tuple[int, ...], bytes]]) -> bytes:
    """A param dict in TVM's format: (name, dtype code, bits, shape, data) per tensor."""
    out = struct.pack("<QQQ", LIST_MAGIC, 0, len(tensors))
    for name, *_ in tensors:
        out += struct.pack("<Q", len(name.encode())) + name.encode()
    out += struct.pack("<Q", len(tensors))
    for _, code, bits, shape, data in tensors:
        out += struct.pack("<QQiiiBBH", TENSOR_MAGIC, 0, 1, 0, len(shape), code, bits, 1)
        out += struct.pack(f"<{len(shape)}q", *shape) + struct.pack("<q", len(data)) + data
    return out


def parse(data: bytes):  # type: ignore[no-untyped-def]
    return read_params(io.BytesIO(data), len(data))


def test_params_reader_matches_the_spec_example_of_228_bytes() -> None:
    data = write_params([("p0", 2, 32, (1, 2), bytes(8)), ("w", 0, 8, (2, 3), bytes(6)),
                         ("s", 1, 16, (), bytes(2))])
    assert len(data) == 228
    parsed = parse(data)
    assert [(t.name, t.dtype, t.shape) for t in parsed.tensors] == [
        ("p0", "float32", (1, 2)), ("w", "int8", (2, 3)), ("s", "uint16", ())]
    assert parsed.trailing == 0 and parsed.total_bytes == 16


def test_empty_param_dict_is_32_bytes() -> None:
    assert parse(write_params([])).tensors == ()
    assert len(write_params([])) == 32


@pytest.mark.parametrize(("mutate", "message", "offset"), [
    (lambda d: b"\0" * 8 + d[8:], "bad magic", 0),
    (lambda d: d[:16] + struct.pack("<Q", 2**62) + d[24:], "name count", 16),
    (lambda d: d[:-3], "truncated", None),
    (lambda d: d[:34] + struct.pack("<Q", 7) + d[42:], "tensor count 7", 34),
])
def test_params_reader_rejects_lies_before_allocating(mutate, message: str,  # type: ignore[no-untyped-def]
                                                      offset: int | None) -> None:
    data = mutate(write_params([("p0", 2, 32, (1, 2), bytes(8))]))
    with pytest.raises(ParamsError) as info:
        parse(data)
    assert message in info.value.message
    if offset is not None:
        assert info.value.offset == offset


def test_params_reader_rejects_a_shape_that_disagrees_with_the_data_size() -> None:
    data = write_params([("p0", 2, 32, (1000000, 1000000), bytes(8))])
    with pytest.raises(ParamsError, match="differs from shape"):
        parse(data)


ONE_TENSOR = write_params([("a", 2, 32, (2,), bytes(8))])


@given(edits=st.lists(st.tuples(st.integers(0, len(ONE_TENSOR) - 1), st.integers(0, 255)),
                      max_size=3),
       cut=st.none() | st.integers(0, len(ONE_TENSOR)), tail=st.binary(max_size=300))
def test_params_reader_never_fails_with_anything_but_params_error(
        edits: list[tuple[int, int]], cut: int | None, tail: bytes) -> None:
    """A valid file with a few bytes changed, maybe cut short, then junk: every field of the
    tensor header gets bad values (junk after a fixed 40-byte prefix stopped nearly every
    example at the tensor count, so no tensor was ever read)."""
    data = bytearray(ONE_TENSOR)
    for at, value in edits:
        data[at] = value
    with contextlib.suppress(ParamsError):
        parse(bytes(data[:cut]) + tail)


# -- csource ---------------------------------------------------------------------------------

def test_symbol_table_reads_functions_data_and_skips_comments_and_strings() -> None:
    src = b"""
#include <stdint.h>
// int fake(void) { }
static const char* s = "{ not a body }";
struct x { int a; };
static int table[2] = {1, 2};
TVM_DLL int32_t tvmgen_a(void* args, int32_t n) {
  if (n) { return '}'; }
  return 0;
}
/* int also_fake(void) { } */
int b(void)
{ return 1; }
"""
    parse_c = CParser().parse
    table = parse_c("x.c", src)
    assert table.error is None
    assert [f.name for f in table.functions] == ["tvmgen_a", "b"]
    a = table.functions[0]
    assert (a.span.first_line, a.span.last_line) == (7, 10) and a.text.endswith("return 0;\n}")
    other = parse_c("y.c", b"int b(void) {return 1;}")
    assert table.functions[1].folded == other.functions[0].folded
    assert [(d.name, d.type, d.count, d.values()) for d in table.data] == [
        ("s", "char*", 1, None), ("table", "int", 2, (1.0, 2.0))]
    assert [s.name for s in table.structs] == ["x"]
    assert table.defines("tvmgen_a") and table.defines("table") and not table.defines("x")


# -- archive ---------------------------------------------------------------------------------

def make_tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_member_names_are_normalised_and_read_on_demand(tmp_path: Path) -> None:
    make_tar(tmp_path / "a.tar", {"./metadata.json": b"{}", "./codegen/host/src/x.c": b"int x;"})
    with Archive(tmp_path / "a.tar") as archive:
        assert sorted(archive.members) == ["codegen/host/src/x.c", "metadata.json"]
        assert archive.read("codegen/host/src/x.c") == b"int x;"
        assert archive.findings == []


def test_limits_turn_into_one_line_archive_errors(tmp_path: Path) -> None:
    make_tar(tmp_path / "a.tar", {f"f{i}": b"x" for i in range(5)})
    with pytest.raises(ArchiveError, match="more than 3 members"):
        Archive(tmp_path / "a.tar", limits=Limits(max_members=3))
    with pytest.raises(ArchiveError, match="total more than 4 bytes"):
        Archive(tmp_path / "a.tar", limits=Limits(max_total_size=4))


def test_a_truncated_member_is_reported_when_read(tmp_path: Path) -> None:
    # larger than the file object's buffer, so reading it goes back to the file
    make_tar(tmp_path / "a.tar", {"metadata.json": b"{" * 100_000})
    data = (tmp_path / "a.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[:1024])
    with pytest.raises(ArchiveError, match="truncated"):  # cut before opening: refused at once
        Archive(tmp_path / "cut.tar")
    with Archive(tmp_path / "a.tar") as archive:  # cut after opening: refused when read
        (tmp_path / "a.tar").write_bytes(data[:1024])
        with pytest.raises(ArchiveError, match="member is truncated: header says 100000 bytes"):
            archive.read("metadata.json")
