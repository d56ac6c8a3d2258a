"""Reader fuzzing inputs: real archives mutated (bit flips, truncation, header edits, JSON edits,
path and link tricks, lying sizes) and presented as a tar, a gzip'd tar or a folder.

A `MutationSpec` is plain data: which fixture, which container, which steps, which command.
`materialize` turns it into a file or folder inside a scratch directory; it never writes
outside that directory, whatever the member names say.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

COMMANDS = ("validate", "validate-json", "show", "show-json", "diff", "diff-reversed")
"""How a mutated archive is read: the CLI command (diff compares it with the pristine one)."""
CONTAINERS = ("tar", "tar.gz", "folder")

STRUCTURAL = ("json", "rename", "link", "device", "duplicate", "drop", "swap")
"""Mutations of the member list (applied first, in order)."""
BYTEWISE = ("bit_flip", "truncate", "header_field", "size_lie")
"""Mutations of the tar bytes (applied after the member list is written, in order)."""
MUTATION_KINDS = ("bit_flip", "truncate", "json", "header_field", "size_lie", "rename", "link",
                  "device", "duplicate", "drop", "swap")

CANARY = "mlfcheck-fuzz-canary"
"""A file beside each scratch directory that links point at; reading it means following one."""

_HEADER_FIELDS = (("name", 0, 100), ("mode", 100, 8), ("uid", 108, 8), ("size", 124, 12),
                  ("mtime", 136, 12), ("chksum", 148, 8), ("typeflag", 156, 1),
                  ("linkname", 157, 100), ("magic", 257, 6), ("uname", 265, 32),
                  ("prefix", 345, 155))
_TYPEFLAGS = b"0125634xgLKS7\x00Z"
_TRICKY_NAMES = ("/etc/mlfcheck-abs", "../../mlfcheck-up", "./../mlfcheck-up",
                 "a/../../mlfcheck-up", "C:\\mlfcheck-drive", "metadata.json", "./metadata.json",
                 "codegen/../metadata.json", "ctl\x01\x7fname", "bad-utf8-\udcff\udcfe",
                 "x" * 2000, "./", "dir//double//slash", "trailing/", "\\\\server\\share")
_JSON_VALUES: tuple[object, ...] = (None, True, False, -1, 0, 2**63, -(2**63) - 1, 1e308, 0.5,
                                    "", "x" * 100_000, [], {}, [[[]]], {"version": 99})
_JSON_TEXT_EDITS = ("nan", "duplicate-key", "bom", "bad-utf8", "deep", "truncate",
                    "trailing-garbage", "huge-number")


@dataclass(frozen=True)
class Mutation:
    """One step: a kind, where it applies (a position or index) and a value choosing how."""

    kind: str
    where: int = 0
    value: int = 0


@dataclass(frozen=True)
class MutationSpec:
    """A fixture, how it is presented, the steps applied to it, and the command that reads it."""

    fixture: str
    container: str
    steps: tuple[Mutation, ...]
    command: str = "validate"


@dataclass
class _Entry:
    info: tarfile.TarInfo
    data: bytes


def fixture_bytes(path: Path) -> bytes:
    """A real fixture as tar bytes: a tar as is, a .tar.gz unpacked, a folder packed sorted."""
    if path.is_file():
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for item in sorted(path.rglob("*")):
            rel = "./" + item.relative_to(path).as_posix()
            info = tarfile.TarInfo(rel)
            info.mtime = 0
            if item.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = item.read_bytes()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def load_fixtures(paths: list[Path]) -> dict[str, bytes]:
    """Archives to mutate, by short name, as tar bytes.

    Each path is an archive (a .tar, .tar.gz or extracted folder holding metadata.json) or a
    folder of them; a sub-folder holding model.tar stands for that archive.
    """
    out: dict[str, bytes] = {}
    for path in paths:
        if path.is_file() or (path / "metadata.json").is_file():
            out[path.stem if path.is_file() else path.name] = fixture_bytes(path)
            continue
        for child in sorted(path.iterdir()):
            tar = child / "model.tar"
            if tar.is_file():
                out[child.name] = fixture_bytes(tar)
            elif child.is_file() and child.name.endswith((".tar", ".tar.gz", ".tgz")):
                out[child.name.split(".")[0]] = fixture_bytes(child)
            elif (child / "metadata.json").is_file():
                out[child.name] = fixture_bytes(child)
    return out


def _entries(data: bytes) -> list[_Entry]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            stream = tar.extractfile(member) if member.isfile() else None
            out.append(_Entry(member, stream.read() if stream is not None else b""))
    return out


def _write(entries: list[_Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT,
                      errors="surrogateescape") as tar:
        for e in entries:
            e.info.size = len(e.data) if e.info.isfile() else 0
            tar.addfile(e.info, io.BytesIO(e.data) if e.info.isfile() else None)
    return buf.getvalue()


def _headers(data: bytes) -> list[int]:
    """Offsets of the header blocks tarfile finds (for header edits); [0] when none."""
    offsets = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            offsets = [m.offset for m in tar.getmembers()]
    except Exception:  # earlier steps broke the tar on purpose; tarfile fails many ways then
        offsets = []
    return offsets or [0]


def _checksum(block: bytearray, at: int) -> None:
    """Recompute the checksum of the header at `at` so the edit is not caught by it alone."""
    header = block[at:at + 512]
    if len(header) < 512:
        return
    header[148:156] = b" " * 8
    block[at + 148:at + 156] = f"{sum(header):06o}\0 ".encode()


def _edit_json(text: bytes, m: Mutation) -> bytes:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # an earlier step broke it: edit the text instead
        doc = None
    if doc is None or m.value % 3 == 0:
        edit = _JSON_TEXT_EDITS[m.where % len(_JSON_TEXT_EDITS)]
        if edit == "nan":
            return text.replace(b": 0", b": NaN", 1) if b": 0" in text else b'{"version": NaN}'
        if edit == "duplicate-key":
            return text.replace(b"{", b'{"version": 1, ', 1)
        if edit == "bom":
            return b"\xef\xbb\xbf" + text
        if edit == "bad-utf8":
            return text.replace(b'"', b'"\xff\xfe', 1)
        if edit == "deep":
            return b"[" * 100_000 + b"]" * 100_000
        if edit == "truncate":
            return text[: m.value % max(1, len(text))]
        if edit == "trailing-garbage":
            return text + b"\x00garbage"
        return text.replace(b": 0", b": 1" + b"0" * 5000, 1)
    nodes: list[tuple[object, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in sorted(node):
                nodes.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for i, item in enumerate(node):
                nodes.append((node, i))
                walk(item)

    walk(doc)
    if not nodes:
        return json.dumps(_JSON_VALUES[m.value % len(_JSON_VALUES)]).encode()
    parent, key = nodes[m.where % len(nodes)]
    choice = m.value % (len(_JSON_VALUES) + 1)
    if choice == len(_JSON_VALUES):
        del parent[key]  # type: ignore[attr-defined]
    else:
        parent[key] = _JSON_VALUES[choice]  # type: ignore[index]
    return json.dumps(doc, indent=2).encode()


def _link_target(m: Mutation, entries: list[_Entry], canary: str) -> str:
    choices = [canary, f"../{CANARY}", f"../../{CANARY}", "/etc/passwd", "."]
    choices += [e.info.name for e in entries[:4]]
    return choices[m.value % len(choices)]


def _structural(entries: list[_Entry], m: Mutation, canary: str) -> list[_Entry]:
    files = [i for i, e in enumerate(entries) if e.info.isfile()]
    if not entries:
        return entries
    pick = entries[m.where % len(entries)]
    if m.kind == "json":
        meta = next((e for e in entries if e.info.name.lstrip("./") == "metadata.json"), None)
        if meta is not None:
            meta.data = _edit_json(meta.data, m)
    elif m.kind == "rename":
        pick.info = _renamed(pick.info, _TRICKY_NAMES[m.value % len(_TRICKY_NAMES)])
    elif m.kind in ("link", "device"):
        info = tarfile.TarInfo(pick.info.name if m.value % 2 else f"./extra{m.where % 10}")
        if m.kind == "link":
            info.type = tarfile.SYMTYPE if m.value % 4 < 2 else tarfile.LNKTYPE
            info.linkname = _link_target(m, entries, canary)
        else:
            info.type = (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE)[m.value % 3]
        at = m.where % (len(entries) + 1)
        entries = [*entries[:at], _Entry(info, b""), *entries[at:]]
    elif m.kind == "duplicate":
        copy = _Entry(_renamed(pick.info, pick.info.name), pick.data[::-1])
        entries = [*entries, copy]
    elif m.kind == "drop":
        entries = [e for e in entries if e is not pick]
    elif m.kind == "swap" and files:
        donor = entries[files[m.value % len(files)]]
        target = entries[files[m.where % len(files)]]
        target.data = donor.data
    return entries


def _renamed(info: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    """A copy of a TarInfo with another name."""
    renamed = copy.copy(info)
    renamed.name = name
    return renamed


def _bytewise(data: bytearray, m: Mutation) -> bytearray:
    if not data:
        return data
    if m.kind == "bit_flip":
        headers = _headers(bytes(data))
        if m.value % 2:
            at = headers[m.where % len(headers)] + (m.where >> 4) % 512
        else:
            at = m.where % len(data)
        at = min(at, len(data) - 1)
        data[at] ^= 1 << (m.value // 2 % 8)
        return data
    if m.kind == "truncate":
        cut = m.where % len(data)
        return data[: cut - cut % 512] if m.value % 2 else data[:cut]
    headers = _headers(bytes(data))
    at = headers[m.where % len(headers)]
    if at + 512 > len(data):
        return data
    if m.kind == "size_lie":
        size = _octal(bytes(data[at + 124:at + 135]))
        lies = [b"%011o\0" % max(0, size + d) for d in (1, -1, 512, 4096)]
        lies += [b"77777777777\0", b"\x80" + (2**40).to_bytes(11, "big"),
                 b"\xff" * 12, b"-1\0" + b" " * 9]
        field = lies[m.value % len(lies)]
    else:
        name, offset, length = _HEADER_FIELDS[m.value % len(_HEADER_FIELDS)]
        field = _field_value(name, length, m.value // len(_HEADER_FIELDS))
        if name != "size":
            data[at + offset:at + offset + length] = field.ljust(length, b"\0")[:length]
            if name != "chksum":
                _checksum(data, at)
            return data
    data[at + 124:at + 136] = field[:12].ljust(12, b"\0")
    _checksum(data, at)
    return data


def _octal(field: bytes) -> int:
    """A tar header's octal number, 0 when it is not one (an earlier step may have broken it)."""
    try:
        return int(field.strip(b"\0 ") or b"0", 8)
    except ValueError:
        return 0


def _field_value(name: str, length: int, choice: int) -> bytes:
    if name == "typeflag":
        return bytes([_TYPEFLAGS[choice % len(_TYPEFLAGS)]])
    if name in ("name", "linkname", "prefix"):
        tricky = [n.encode("utf-8", "surrogateescape") for n in _TRICKY_NAMES]
        return tricky[choice % len(tricky)]
    if name == "magic":
        return (b"ustar\0", b"ustar ", b"\0" * 6, b"GNUtar")[choice % 4]
    return (b"9" * (length - 1), b"\xff" * length, b"0" * (length - 1), b"-7",
            b"\x80" + b"\xff" * (length - 1))[choice % 5]


def mutate(spec: MutationSpec, original: bytes, canary: str) -> tuple[list[_Entry], bytes]:
    """Apply the steps: the mutated member list (for folders) and the mutated tar bytes."""
    entries = _entries(original)
    for m in spec.steps:
        if m.kind in STRUCTURAL:
            entries = _structural(entries, m, canary)
    data = bytearray(_write(entries))
    for m in spec.steps:
        if m.kind in BYTEWISE:
            data = _bytewise(data, m)
    return entries, bytes(data)


def _inside(root: Path, name: str) -> Path | None:
    """Where a member would go under `root`, or None when its name would leave `root`."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith("/") or ".." in parts or any("\0" in p for p in parts):
        return None
    target = root.joinpath(*[p for p in parts if p not in (".", "")])
    return target if target != root else None


def materialize(spec: MutationSpec, original: bytes, scratch: Path) -> Path:
    """Write the mutated input under `scratch` and return its path (a file or a folder)."""
    scratch.mkdir(parents=True, exist_ok=True)
    canary = str(scratch.parent / CANARY)
    entries, data = mutate(spec, original, canary)
    if spec.container == "tar":
        path = scratch / "input.tar"
        path.write_bytes(data)
    elif spec.container == "tar.gz":
        path = scratch / "input.tar.gz"
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path = scratch / "input"
        _folder(entries, path, spec)
    return path


def _folder(entries: list[_Entry], root: Path, spec: MutationSpec) -> None:
    """The member list as a folder; byte-level steps corrupt one file's bytes instead."""
    root.mkdir()
    for e in entries:
        target = _inside(root, e.info.name)
        if target is None:
            continue
        try:
            if target.exists() or target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if e.info.isdir():
                target.mkdir(exist_ok=True)
            elif e.info.issym():
                os.symlink(e.info.linkname, target)
            elif e.info.isfifo():
                os.mkfifo(target)
            elif e.info.isfile():
                target.write_bytes(e.data)
        except (OSError, ValueError):
            continue
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    for m in spec.steps:
        if m.kind in ("bit_flip", "truncate") and files:
            victim = files[m.where % len(files)]
            victim.write_bytes(bytes(_bytewise(bytearray(victim.read_bytes()), m)))
