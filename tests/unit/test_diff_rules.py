"""Every diff rule is triggered by mutating a real archive, and diffs mirror when swapped."""

from __future__ import annotations

import copy
import io
import json
import re
import struct
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import real_archives
from hypothesis import example, given
from hypothesis import strategies as st

from mlfcheck.diff import diff_archives
from mlfcheck.diff.config import DiffConfig, Threshold
from mlfcheck.diff.result import DiffResult
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.table import COMPARATORS
from mlfcheck.reading.archive import Archive
from mlfcheck.reading.params import LIST_MAGIC, TENSOR_MAGIC, read_params

Members = dict[str, bytes]

AOT = "gubprof-microspeech-v5-aot-a"
AOT7 = "esp32s3-example-v7-aot"
GRAPH4 = "gub-microspeech-v4-graph"
GRAPH5 = "gubprof-microspeech-v5-graph"
HANNAH = "hannah-m3-v7-graph"
SINE = "sine-aot-v5-zephyr"
LIB1 = "codegen/host/src/default_lib1.c"
SOFTMAX = "tvmgen_default_fused_nn_softmax"

pytestmark = pytest.mark.shared


# -- reading, mutating and writing archives -------------------------------------------------------


@cache
def _members(name: str) -> tuple[tuple[str, bytes], ...]:
    with Archive(real_archives()[name]) as archive:
        return tuple((m.name, archive.read(m.name)) for m in archive.files())


def load(name: str) -> Members:
    """A fresh, mutable copy of a real archive's files."""
    return dict(_members(name))


def write_tar(members: Members, path: Path) -> Path:
    """A real uncompressed tar with './'-rooted names, as TVM writes them."""
    with tarfile.open(path, "w") as tar:
        for name in sorted(members):
            info = tarfile.TarInfo("./" + name)
            info.size = len(members[name])
            tar.addfile(info, io.BytesIO(members[name]))
    return path


def meta(members: Members) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(members["metadata.json"])
    return doc


def edit_meta(members: Members, fn: Callable[[dict[str, Any]], None]) -> None:
    doc = meta(members)
    fn(doc)
    members["metadata.json"] = json.dumps(doc, indent=2, sort_keys=True).encode()


def module_entry(doc: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = doc["modules"]["default"] if "modules" in doc else doc
    return entry


def main0(doc: dict[str, Any]) -> dict[str, Any]:
    main: dict[str, Any] = module_entry(doc)["memory"]["functions"]["main"][0]
    return main


def edit_text(members: Members, path: str, fn: Callable[[str], str]) -> None:
    if path in members:
        members[path] = fn(members[path].decode()).encode()


def tensors(data: bytes) -> list[tuple[str, bytes, list[int], bytes]]:
    """(name, 16-byte dtype/device header, shape, data) per tensor of a params file."""
    parsed = read_params(io.BytesIO(data), len(data))
    out = []
    for t in parsed.tensors:
        ndim = len(t.shape)
        header_at = t.data_offset - 8 - 8 * ndim - 16
        out.append((t.name, data[header_at:header_at + 16], list(t.shape),
                    data[t.data_offset:t.data_offset + t.nbytes]))
    return out


def encode_params(items: list[tuple[str, bytes, list[int], bytes]]) -> bytes:
    """The TVM param-dict format (mlf-spec.md §5) for the given tensors."""
    out = [struct.pack("<QQQ", LIST_MAGIC, 0, len(items))]
    out += [struct.pack("<Q", len(n.encode())) + n.encode() for n, _, _, _ in items]
    out.append(struct.pack("<Q", len(items)))
    for _, header, shape, data in items:
        header = header[:8] + struct.pack("<i", len(shape)) + header[12:]
        out += [struct.pack("<QQ", TENSOR_MAGIC, 0), header,
                struct.pack(f"<{len(shape)}q", *shape), struct.pack("<q", len(data)), data]
    return b"".join(out)


def edit_params(members: Members, fn: Callable[[list[Any]], None]) -> None:
    path = "parameters/default.params"
    items = [list(t) for t in tensors(members[path])]
    fn(items)
    members[path] = encode_params([tuple(t) for t in items])  # type: ignore[misc]


def set_dtype(header: bytes, code: int) -> bytes:
    return header[:12] + bytes([code]) + header[13:]


# -- one case per rule ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Diff `base` (or `old`) against a mutated copy and expect `rule` about `subject`."""

    rule: Rule
    base: str
    mutate: Callable[[Members], None] = lambda m: None
    subject: str = ""
    """A regex the subject of the expected change must match."""
    prepare: Callable[[Members], None] = lambda m: None
    """Applied to both sides before the mutation."""
    new: str | None = None
    """Diff against this real archive instead of a mutated copy."""
    swap: bool = False
    """Diff the mutated copy against the base (for 'removed' twins of 'added' mutations)."""
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    include_volatile: bool = False


def _grow(key: str, factor: float) -> Callable[[Members], None]:
    def mutate(m: Members) -> None:
        edit_meta(m, lambda d: main0(d).__setitem__(key, int(main0(d)[key] * factor)))
    return mutate


def _op_workspace(name: str, size: int) -> Callable[[Members], None]:
    def mutate(m: Members) -> None:
        def edit(d: dict[str, Any]) -> None:
            for f in module_entry(d)["memory"]["functions"]["operator_functions"]:
                if f["function_name"] == name:
                    f["workspace"][0]["workspace_size_bytes"] = size
        edit_meta(m, edit)
    return mutate


def _tensor_spec(kind: str, name: str, **changes: Any) -> Callable[[Members], None]:
    def mutate(m: Members) -> None:
        def edit(d: dict[str, Any]) -> None:
            specs = main0(d)[kind]
            if changes.get("remove"):
                specs.pop(name, None)
            else:
                specs[name] = {**specs.get(name, {"dtype": "int8", "size": 4}),
                               **{k: v for k, v in changes.items() if k != "remove"}}
        edit_meta(m, edit)
    return mutate


def _rename_spec(kind: str, name: str, to: str) -> Callable[[Members], None]:
    def mutate(m: Members) -> None:
        def edit(d: dict[str, Any]) -> None:
            specs = main0(d)[kind]
            if name in specs:
                specs[to] = specs.pop(name)
        edit_meta(m, edit)
    return mutate


def _add_module(m: Members) -> None:
    edit_meta(m, lambda d: d["modules"].__setitem__(
        "extra", {**copy.deepcopy(d["modules"]["default"]), "model_name": "extra"}))


def _operator_style(m: Members) -> None:
    """Turn the AOT archive into a v5 operator-style one (one buffer function)."""
    for name in [n for n in m if n != "metadata.json" and not n.endswith("_lib0.c")]:
        del m[name]
    m["codegen/host/src/lib0.c"] = m.pop("codegen/host/src/default_lib0.c")
    m["metadata.json"] = json.dumps({
        "version": 5, "model_name": "add", "export_datetime": "2021-07-28 15:23:18Z",
        "style": "operator", "executors": [], "target": {"1": "c -keys=cpu"},
        "memory": {"add": [{"size_bytes": 2, "shape": [2], "dtype": "int8",
                            "input_binding": "A"}]}}, indent=2).encode()


def _new_function(body_lines: int) -> Callable[[Members], None]:
    def mutate(m: Members) -> None:
        body = "".join(f"  ((int8_t*)arg0)[{i}] = (int8_t){i};\n" for i in range(body_lines))
        edit_text(m, LIB1, lambda s: s + "\nTVM_DLL int32_t tvmgen_default_extra(void* arg0) "
                  "{\n" + body + "  return 0;\n}\n")
    return mutate


def _remove_function(name: str, path: str = LIB1) -> Callable[[Members], None]:
    def mutate(m: Members) -> None:
        edit_text(m, path, lambda s: re.sub(
            r"TVM_DLL int32_t " + re.escape(name) + r"\(.*?\n}\n", "", s, count=1, flags=re.S))
    return mutate


def _edit_c(path: str, old: str, new: str, count: int = 1) -> Callable[[Members], None]:
    def mutate(m: Members) -> None:
        edit_text(m, path, lambda s: s.replace(old, new, count))
    return mutate


def _rename_everywhere(old: str, new: str) -> Callable[[Members], None]:
    def mutate(m: Members) -> None:
        for path in [p for p in m if p.startswith("codegen/")]:
            edit_text(m, path, lambda s: re.sub(rf"\b{old}\b", new, s))
    return mutate


def _body_and_ir(m: Members) -> None:
    _edit_c(LIB1, "2.560000e+02f", "2.550000e+02f")(m)
    edit_text(m, "src/relay.txt", lambda s: s + "\n// retrained\n")


def _samples(m: Members) -> None:
    m["samples/input.txt"] = b"1 2 3\n"


def _drop_tensor(items: list[Any]) -> None:
    items.pop()


def _reshape_tensor(items: list[Any]) -> None:
    shape = items[0][2]
    items[0][2] = [shape[0] * shape[1], *shape[2:]] if len(shape) > 1 else [1, *shape]


def _retype_tensor(items: list[Any]) -> None:
    items[0][1] = set_dtype(items[0][1], 1 if items[0][1][12] == 0 else 0)


def _change_values(items: list[Any]) -> None:
    data = bytearray(items[0][3])
    data[0] = (data[0] + 3) % 256
    items[0][3] = bytes(data)


def _add_tensor(items: list[Any]) -> None:
    items.append(["p_extra", items[0][1], [4], bytes(4 * (items[0][1][13] // 8))])


CASES = [
    Case(Rule.D101, GRAPH5, new=GRAPH4, subject="MLF version"),
    Case(Rule.D102, GRAPH4, new=GRAPH5, subject="MLF version"),
    Case(Rule.D103, GRAPH4, new=GRAPH5, subject="metadata key"),
    Case(Rule.D104, GRAPH4, new=GRAPH5, subject="graph config path"),
    Case(Rule.D105, AOT, lambda m: edit_meta(m, lambda d: d.pop("style")), "metadata key"),
    Case(Rule.D106, AOT, lambda m: edit_meta(m, lambda d: d.update(extra={"x": 1})),
         "metadata key"),
    Case(Rule.D107, HANNAH, _add_module, "module"),
    Case(Rule.D108, HANNAH, _add_module, "module", swap=True),
    Case(Rule.D109, AOT, lambda m: edit_meta(m, lambda d: d.update(model_name="kws")),
         "module name"),
    Case(Rule.D110, "esp32s3-example-v7-aot", lambda m: edit_meta(
        m, lambda d: module_entry(d)["external_dependencies"][0].update(version_spec="0.15")),
        "external_dependencies"),
    Case(Rule.D111, AOT, lambda m: edit_meta(m, lambda d: d.update(executors=["graph"])),
         "executor"),
    Case(Rule.D112, AOT, lambda m: edit_meta(m, lambda d: d.update(target={"1": "c -mcpu=x"})),
         "target"),
    Case(Rule.D113, AOT, new="gubprof-microspeech-v5-aot-b", subject="export_datetime",
         include_volatile=True),
    Case(Rule.D114, AOT, lambda m: m.update({"metadata.json": b'{"version": 5, '}),
         "metadata.json"),
    Case(Rule.D201, AOT, _grow("workspace_size_bytes", 1.10), r"main workspace \(device 1\)"),
    Case(Rule.D202, AOT, _grow("workspace_size_bytes", 1.01), "main workspace"),
    Case(Rule.D203, HANNAH, _grow("constants_size_bytes", 1.10), "main constants"),
    Case(Rule.D204, HANNAH, _grow("constants_size_bytes", 0.90), "main constants"),
    Case(Rule.D205, AOT, _grow("io_size_bytes", 2), "main io"),
    Case(Rule.D206, AOT, _op_workspace(SOFTMAX, 96), f"workspace of {SOFTMAX}"),
    Case(Rule.D207, AOT, _op_workspace(SOFTMAX, 96), f"workspace of {SOFTMAX}",
         thresholds={"workspace": Threshold(1024, False)}),
    Case(Rule.D208, AOT, lambda m: edit_meta(
        m, lambda d: d["memory"]["functions"]["operator_functions"].pop(0)), "operator "),
    Case(Rule.D209, HANNAH, lambda m: edit_meta(
        m, lambda d: module_entry(d)["memory"]["sids"][0].update(size_bytes=4)), "sids"),
    Case(Rule.D210, AOT, lambda m: edit_meta(
        m, lambda d: d["memory"]["add"][0].update(shape=[4], size_bytes=4)), "operator buffers",
         prepare=_operator_style),
    Case(Rule.D301, HANNAH, _tensor_spec("inputs", "conv2d_input", remove=True), "input"),
    Case(Rule.D302, HANNAH, _tensor_spec("inputs", "mask", dtype="int8"), "input 'mask'"),
    Case(Rule.D303, HANNAH, _tensor_spec("inputs", "conv2d_input", dtype="int32"), "input"),
    Case(Rule.D304, HANNAH, _tensor_spec("inputs", "conv2d_input", size=3072), "input"),
    Case(Rule.D305, HANNAH, _tensor_spec("outputs", "Identity", remove=True), "output"),
    Case(Rule.D306, AOT7, _tensor_spec("outputs", "Extra", dtype="int8"), "output 'Extra'"),
    Case(Rule.D307, HANNAH, _tensor_spec("outputs", "Identity", dtype="int32"), "output"),
    Case(Rule.D308, HANNAH, _tensor_spec("outputs", "Identity", size=32), "output"),
    Case(Rule.D309, HANNAH, _rename_spec("inputs", "conv2d_input", "image"), "input renamed"),
    Case(Rule.D310, HANNAH, _rename_spec("outputs", "Identity", "scores"), "output renamed"),
    Case(Rule.D311, HANNAH, _tensor_spec("outputs", "Extra", dtype="int8"), "output 'Extra'"),
    Case(Rule.D401, AOT, _new_function(2), "function tvmgen_default_extra"),
    Case(Rule.D402, AOT, _remove_function(SOFTMAX), f"function {SOFTMAX}"),
    Case(Rule.D403, GRAPH5, _remove_function(SOFTMAX), f"function {SOFTMAX}"),
    Case(Rule.D404, AOT, lambda m: edit_text(m, LIB1, lambda s: s.replace(
        SOFTMAX + "(", SOFTMAX + "_7(")), "function renamed"),
    Case(Rule.D405, AOT, _body_and_ir, "function tvmgen_default_fused_divide"),
    Case(Rule.D406, AOT, _new_function(400), "generated code size"),
    Case(Rule.D407, AOT, _new_function(2), "generated code size"),
    Case(Rule.D408, AOT, lambda m: edit_text(
        m, "codegen/host/src/default_lib0.c",
        lambda s: s.replace(".num_input_tensors = 1", ".num_input_tensors = 2")),
         "data tvmgen_default_network"),
    Case(Rule.D409, AOT, _rename_everywhere("tvmgen_default_run_model", "tvmgen_default_run2"),
         "entry point tvmgen_default_run_model"),
    Case(Rule.D410, AOT, _edit_c(LIB1, "2.560000e+02f", "2.550000e+02f"),
         "function tvmgen_default_fused_divide"),
    Case(Rule.D411, AOT, _edit_c(LIB1, "static const int16_t __tvm_param__p7[16000] = {\n"
                                 "    -0x0001,", "static const int16_t __tvm_param__p7[16000] "
                                 "= {\n    +0x0001,"), "constant __tvm_param__p7"),
    Case(Rule.D412, AOT, _edit_c(LIB1, "#include <math.h>\n", "#include <math.h>\n"
                                 "#define float double\n"), "#define float"),
    Case(Rule.D413, SINE, _edit_c("codegen/host/include/tvmgen_default.h", "void* output;",
                                  "void* out;"), "struct tvmgen_default_outputs member renamed"),
    Case(Rule.D414, SINE, _edit_c("codegen/host/include/tvmgen_default.h", "void* output;",
                                  "void* output;\n  void* extra;"),
         "struct tvmgen_default_outputs member extra"),
    Case(Rule.D415, "esp32s3-example-v7-aot", _edit_c(
        "codegen/host/include/tvmgen_default.h", "OUTPUT_SIZE 40", "OUTPUT_SIZE 44"),
         "#define TVMGEN_DEFAULT_OUTPUT_SIZE"),
    Case(Rule.D416, GRAPH5, subject="calling convention", new=AOT),
    Case(Rule.D501, AOT, lambda m: edit_params(m, _add_tensor), "parameter p_extra"),
    Case(Rule.D502, AOT, lambda m: edit_params(m, _drop_tensor), "parameter "),
    Case(Rule.D503, AOT, lambda m: edit_params(m, _reshape_tensor), "parameter "),
    Case(Rule.D504, AOT, lambda m: edit_params(m, _retype_tensor), "parameter "),
    Case(Rule.D505, AOT, lambda m: edit_params(m, _change_values), "parameter "),
    Case(Rule.D601, GRAPH5, lambda m: edit_text(
        m, "executor-config/graph/graph.json", lambda s: s.replace('"flatten_data": "0"',
                                                                   '"flatten_data": "1"', 1)),
         "graph config"),
    Case(Rule.D701, AOT, lambda m: edit_text(m, "src/relay.txt", lambda s: s + "\n// extra\n"),
         "IR text"),
    Case(Rule.D801, AOT, lambda m: m.update({"samples/input.txt": b"1 2 3\n"}),
         "samples/input.txt"),
    Case(Rule.D802, AOT, lambda m: m.update({"samples/input.txt": b"1 2 3\n"}),
         "samples/input.txt", swap=True),
    Case(Rule.D803, AOT, lambda m: m.update({"samples/input.txt": b"1 2 4\n"}),
         "samples/input.txt", prepare=_samples),
    Case(Rule.D804, SINE, lambda m: m.__delitem__("codegen/host/include/tvmgen_default.h"),
         "codegen/host/include/tvmgen_default.h"),
]


def _run(case: Case, tmp_path: Path) -> DiffResult:
    config = DiffConfig().with_thresholds(case.thresholds)
    if case.new is not None:
        return diff_archives(real_archives()[case.base], real_archives()[case.new],
                             config=config, include_volatile=case.include_volatile)
    members = load(case.base)
    case.prepare(members)
    base = write_tar(members, tmp_path / "base.tar")
    case.mutate(members)
    mutated = write_tar(members, tmp_path / "mutated.tar")
    old, new = (mutated, base) if case.swap else (base, mutated)
    return diff_archives(old, new, config=config, include_volatile=case.include_volatile)


def test_every_rule_has_exactly_one_case_and_one_comparator() -> None:
    by_consumer = ["D901"]  # diff --consumer; tests/unit/test_diff_consumer.py covers it
    # diff --board: tests/integration/test_size.py covers them
    by_board = ["D211", "D212", "D213", "D214", "D215", "D216"]
    # the build layer (a host compiler): tests/integration/test_diff_build.py covers it
    by_build = ["D417"]
    assert sorted([c.rule.name for c in CASES] + by_consumer + by_board + by_build) == \
        sorted(r.name for r in Rule)
    owned = [r for comparator in COMPARATORS for r in comparator.rules]
    assert sorted([r.name for r in owned] + by_consumer + by_board + by_build) == \
        sorted(r.name for r in Rule)


def test_every_rule_has_a_title_and_an_explanation() -> None:
    for rule in Rule:
        assert rule.title and rule.explanation.endswith("."), rule.name


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule.name}-{c.rule.title}")
def test_a_mutation_triggers_its_rule_at_its_default_level(case: Case, tmp_path: Path) -> None:
    result = _run(case, tmp_path)
    hits = [c for c in result.changes if c.rule is case.rule]
    assert hits, [(c.rule.name, c.subject) for c in result.changes]
    assert any(re.search(case.subject, c.subject) for c in hits), [c.subject for c in hits]
    assert all(c.effective_level is case.rule.level and c.reason for c in hits)


def test_a_changed_tensor_value_reports_the_max_abs_difference(tmp_path: Path) -> None:
    result = _run(next(c for c in CASES if c.rule is Rule.D505), tmp_path)
    (change,) = [c for c in result.changes if c.rule is Rule.D505]
    assert change.values is not None
    assert (change.values.changed, change.values.max_abs) == (1, 3)


def test_a_renamed_function_is_not_also_a_changed_caller(tmp_path: Path) -> None:
    result = _run(next(c for c in CASES if c.rule is Rule.D404), tmp_path)
    assert [(c.rule, c.old, c.new) for c in result.changes] == [
        (Rule.D404, SOFTMAX, SOFTMAX + "_7")]


def test_a_changed_function_carries_a_short_unified_diff(tmp_path: Path) -> None:
    result = _run(next(c for c in CASES if c.rule is Rule.D405), tmp_path)
    (change,) = [c for c in result.changes if c.rule is Rule.D405]
    assert change.details[0].startswith("--- old/") and any(
        line.startswith("+") and "2.550000e+02f" in line for line in change.details)


# -- properties: identity and mirror --------------------------------------------------------------

MUTATIONS: dict[str, tuple[str, Callable[[Members], None]]] = {
    c.rule.name: (c.base, c.mutate) for c in CASES
    if c.new is None and not c.swap and c.rule not in (Rule.D114, Rule.D210)
    and not c.thresholds}
"""Mutations that combine and mirror: not D114 (an unusable side is compared with nothing, and
only the new side becoming unusable is a change)."""


def _key(result: DiffResult, *, flip: bool) -> list[tuple[str, str, str | None, str | None]]:
    """Changes as (module, subject, old, new); `flip` swaps sides to compare with the mirror."""
    def module(label: str) -> str:
        return " → ".join(reversed(label.split(" → "))) if flip else label
    return sorted(((module(c.module), c.subject, *((c.new, c.old) if flip else (c.old, c.new)))
                   for c in result.changes), key=repr)


def _mutations_of(base: str) -> st.SearchStrategy[tuple[str, list[str]]]:
    names = sorted(n for n, (fixture, _) in MUTATIONS.items() if fixture == base)
    return st.tuples(st.just(base), st.lists(st.sampled_from(names), min_size=1, max_size=3,
                                             unique=True))


@given(st.sampled_from([AOT, HANNAH, SINE]).flatmap(_mutations_of))
@example((AOT, ["D409"]))  # an entry point renamed: one change each way, not a D404 back
def test_diff_of_a_mutation_and_its_mirror_report_the_same_changes(
        drawn: tuple[str, list[str]]) -> None:
    base, rules = drawn
    members = load(base)
    for name in rules:
        MUTATIONS[name][1](members)
    with tempfile.TemporaryDirectory() as tmp:
        a = real_archives()[base]
        b = write_tar(members, Path(tmp) / "b.tar")
        forward, backward = diff_archives(a, b), diff_archives(b, a)
        assert forward.changes, rules  # else the mirror compares two empty lists
        assert _key(forward, flip=False) == _key(backward, flip=True)
        same = diff_archives(b, b)
        assert not same.changes and all(n.kind == "undescribed" for n in same.notes)


@pytest.mark.parametrize("name", sorted(real_archives()))
def test_every_real_archive_diffed_with_itself_is_clean(name: str) -> None:
    path = real_archives()[name]
    result = diff_archives(path, path, include_volatile=True)
    assert not result.changes and all(n.kind == "undescribed" for n in result.notes)


def test_every_real_pair_mirrors() -> None:
    paths = real_archives()
    names = sorted(paths)
    assert len(names) >= 2, names
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            forward = diff_archives(paths[a], paths[b], include_volatile=True)
            backward = diff_archives(paths[b], paths[a], include_volatile=True)
            assert _key(forward, flip=False) == _key(backward, flip=True), (a, b)
