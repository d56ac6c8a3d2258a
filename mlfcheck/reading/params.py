"""The TVM param-dict (`.params`) format: a pure-Python reader that trusts no count.

Layout (mlf-spec.md §5, all little-endian): u64 list magic, u64 reserved, u64 n_names,
n_names × (u64 len, utf-8 bytes), u64 n_arrays, n_arrays × tensor; a tensor is u64 magic,
u64 reserved, i32 device_type, i32 device_id, i32 ndim, u8 code, u8 bits, u16 lanes,
i64 shape[ndim], i64 nbytes, data. Every count and size is checked against the bytes that
remain before anything is allocated, so a lying header costs nothing.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import IO

LIST_MAGIC = 0xF7E58D4F05049CB7
TENSOR_MAGIC = 0xDD5E40F096B4A13F
DTYPE_CODES = {0: "int", 1: "uint", 2: "float", 3: "handle", 4: "bfloat"}
_CHUNK = 1 << 20


class ParamsError(ValueError):
    """The stream is not a valid param dict; `offset` is where reading failed."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (byte {offset})")
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class ParamTensor:
    """One named tensor's header, where its data lies, and a digest of that data."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    data_offset: int
    sha256: str | None
    """Digest of the data, when the reader was asked for digests."""


@dataclass(frozen=True)
class ParamsFile:
    """A parsed param dict: tensors in file order and how many bytes follow the last one."""

    tensors: tuple[ParamTensor, ...]
    size: int
    trailing: int

    @property
    def total_bytes(self) -> int:
        """Bytes of tensor data, summed."""
        return sum(t.nbytes for t in self.tensors)


def dtype_name(code: int, bits: int, lanes: int) -> str:
    """TVM's dtype string ('float32', 'int8x4', 'custom129_8') for a DLDataType."""
    base = DTYPE_CODES.get(code, f"custom{code}")
    name = f"{base}{bits}"
    return name if lanes == 1 else f"{name}x{lanes}"


class _Reader:
    """Reads fixed-size fields from a stream, tracking the offset and the bytes left."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream = stream
        self.size = size
        self.offset = 0

    @property
    def left(self) -> int:
        return self.size - self.offset

    def take(self, n: int, what: str) -> bytes:
        if n > self.left:
            raise ParamsError(f"truncated: {what} needs {n} bytes, {self.left} left", self.offset)
        data = self.stream.read(n)
        if len(data) != n:
            raise ParamsError(f"truncated: {what} needs {n} bytes, file ends early", self.offset)
        self.offset += n
        return data

    def u64(self, what: str) -> int:
        return int(struct.unpack("<Q", self.take(8, what))[0])

    def skip(self, n: int, what: str, *, digest: bool) -> str | None:
        """Pass over `n` bytes (seeking when possible); their SHA-256 when `digest`."""
        if n > self.left:
            raise ParamsError(f"truncated: {what} needs {n} bytes, {self.left} left", self.offset)
        if not digest and self.stream.seekable():
            self.stream.seek(n, 1)
            self.offset += n
            return None
        h = hashlib.sha256()
        remaining = n
        while remaining:
            chunk = self.stream.read(min(_CHUNK, remaining))
            if not chunk:
                raise ParamsError(f"truncated: {what} ends early", self.offset)
            h.update(chunk)
            remaining -= len(chunk)
            self.offset += len(chunk)
        return h.hexdigest()


def read_params(stream: IO[bytes], size: int, *, digest: bool = False,
                max_tensors: int = 100_000, max_name_length: int = 1024) -> ParamsFile:
    """Parse a param dict of `size` bytes from `stream`; raise ParamsError on any defect,
    or when it holds more than `max_tensors` tensors or a name over `max_name_length` bytes.

    With `digest`, every tensor's data is hashed (for comparing values); without, it is skipped.
    """
    r = _Reader(stream, size)
    magic = r.u64("magic")
    if magic != LIST_MAGIC:
        raise ParamsError(f"bad magic 0x{magic:016X}, expected 0x{LIST_MAGIC:016X}", 0)
    r.u64("reserved")
    n_names = r.u64("name count")
    if n_names > r.left // 8:
        raise ParamsError(f"name count {n_names} is impossible in {r.left} remaining bytes", 16)
    if n_names > max_tensors:
        raise ParamsError(f"name count {n_names} is over the limit of {max_tensors} tensors "
                          "(raise with --max-tensors)", 16)
    names: list[str] = []
    for i in range(n_names):
        at = r.offset
        length = r.u64(f"length of name {i}")
        if length > max_name_length:
            raise ParamsError(f"name {i} is {length} bytes long, over the limit of "
                              f"{max_name_length} (raise with --max-name-length)", at)
        raw = r.take(length, f"name {i}")
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ParamsError(f"name {i} is not valid UTF-8", at + 8) from None
    at = r.offset
    n_arrays = r.u64("tensor count")
    if n_arrays != n_names:
        raise ParamsError(f"tensor count {n_arrays} differs from name count {n_names}", at)
    tensors = tuple(_read_tensor(r, name, digest) for name in names)
    return ParamsFile(tensors, size, r.left)


def _read_tensor(r: _Reader, name: str, digest: bool) -> ParamTensor:
    start = r.offset
    magic = r.u64(f"magic of tensor {name!r}")
    if magic != TENSOR_MAGIC:
        raise ParamsError(f"tensor {name!r}: bad magic 0x{magic:016X}", start)
    r.u64("reserved")
    at = r.offset
    device_type, _device_id, ndim, code, bits, lanes = struct.unpack(
        "<iiiBBH", r.take(16, f"header of tensor {name!r}"))
    if device_type != 1:
        raise ParamsError(f"tensor {name!r}: device_type {device_type}, expected 1 (CPU)", at)
    if not 0 <= ndim <= 32:
        raise ParamsError(f"tensor {name!r}: ndim {ndim} is impossible", at + 8)
    if bits == 0 or lanes == 0:
        raise ParamsError(f"tensor {name!r}: dtype with {bits} bits and {lanes} lanes", at + 12)
    at = r.offset
    shape = struct.unpack(f"<{ndim}q", r.take(8 * ndim, f"shape of tensor {name!r}"))
    if any(d < 0 for d in shape):
        raise ParamsError(f"tensor {name!r}: negative dimension in shape {list(shape)}", at)
    elements = 1
    for d in shape:
        elements *= d
    at = r.offset
    nbytes = struct.unpack("<q", r.take(8, f"size of tensor {name!r}"))[0]
    expected = elements * ((bits + 7) // 8)
    if nbytes != expected:
        raise ParamsError(f"tensor {name!r}: data size {nbytes} differs from shape "
                          f"{list(shape)} x {(bits + 7) // 8} bytes = {expected}", at)
    data_offset = r.offset
    sha = r.skip(nbytes, f"data of tensor {name!r}", digest=digest)
    return ParamTensor(name, dtype_name(code, bits, lanes), tuple(shape), nbytes, data_offset, sha)
