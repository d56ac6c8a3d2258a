"""Harnesses of the consumers that walk the graph config (compat --build): the host-driven RPC
flows, TVMC's micro run, MLonMCU's tvmrt and the STM32 emitter, built with mlfcheck's graph
runner and the plan it writes from the archive's graph config and parameters.

Real archives of the shared folder (and archives derived from them here, with one function
name of the graph changed), and the committed synthetic fixtures where a case needs what no
real archive has. Real compilers: gcc on the host, arm-none-eabi-gcc and QEMU for
netduinoplus2; a missing toolchain skips with the package to install.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest
from export_helpers import pack, unpack
from harness_helpers import real, require, verdict_of
from shared_paths import REPO

from mlfcheck.consumers.graphplan import dl_type
from mlfcheck.reading.params import read_params

MISSING = "tvmgen_default_fused_missing"
"""The function name a derived archive's graph calls and its library does not define."""


def _renamed(tmp: Path, name: str, config: str) -> Path:
    """The real archive `name` as a tar whose graph config calls MISSING in its first op node
    (the library, and so the system library's registry, is unchanged)."""
    root = tmp / "tree"
    unpack(real(name), root)
    path = root / config
    graph = json.loads(path.read_text())
    node = next(n for n in graph["nodes"] if n["op"] == "tvm_op")
    node["attrs"]["func_name"] = MISSING
    path.write_text(json.dumps(graph))
    return pack(root, tmp / "renamed.tar")


V5_GRAPH = "executor-config/graph/graph.json"
V7_GRAPH = "executor-config/graph/default.graph"


@pytest.mark.shared
@pytest.mark.parametrize(("name", "consumer"), [
    ("gubprof-microspeech-v5-graph", "crt-host"),
    ("gub-microspeech-v4-graph", "zephyr-host-driven"),
    ("gubprof-microspeech-v5-graph", "tvmc-2022-v6"),
    ("hannah-m3-v7-graph", "tvmc-v7-2023"),
    ("hannah-m3-v7-graph", "mlonmcu-tvmrt"),
])
def test_a_real_graph_archive_runs_in_the_graph_flows(name: str, consumer: str) -> None:
    require("gcc")
    verdict = verdict_of(real(name), consumer)
    assert verdict.proof is not None and verdict.proof.where == "host"
    assert verdict.level == "runs" and verdict.level_certainty == "verified", verdict.proof
    assert verdict.readable


@pytest.mark.shared
def test_the_runner_walks_the_graph_with_its_parameters() -> None:
    """hannah's model ends in a softmax: the four float32 outputs of a real walk (every node
    called with its entries, the weights loaded) sum to 1."""
    require("gcc")
    proof = verdict_of(real("hannah-m3-v7-graph"), "crt-host").proof
    assert proof is not None and proof.outputs is not None and len(proof.outputs) == 16
    assert sum(struct.unpack("<4f", proof.outputs)) == pytest.approx(1.0, abs=1e-5)


def test_the_runner_loads_the_parameters_into_their_entries() -> None:
    """v6-graph-add computes cast(a) * b + p0 with p0 = [2, 4] from parameters/add.params; the
    inputs hold the pattern 0xA5 (a = 165, b = -2.9e-16), so the outputs are p0."""
    require("gcc")
    proof = verdict_of(REPO / "fixtures/v6-graph-add.tar", "crt-host").proof
    assert proof is not None and proof.proved == "runs", proof
    assert struct.unpack("<2f", proof.outputs or b"") == (2.0, 4.0)


@pytest.mark.shared
@pytest.mark.board
@pytest.mark.parametrize(("name", "consumer"), [("gubprof-microspeech-v5-graph", "stm32-2021"),
                                                ("hannah-m3-v7-graph", "stm32-v7")])
def test_stm32_emitter_flow_runs_on_the_stm32f405(name: str, consumer: str) -> None:
    require("arm-none-eabi-gcc", "qemu-system-arm")
    verdict = verdict_of(real(name), consumer)
    assert verdict.proof is not None and verdict.proof.where == "netduinoplus2"
    assert verdict.level == "runs" and verdict.readable, verdict.proof


@pytest.mark.shared
def test_a_function_the_registry_lacks_fails_the_run_at_the_graph_executor(
        tmp_path: Path) -> None:
    require("gcc")
    verdict = verdict_of(_renamed(tmp_path, "gubprof-microspeech-v5-graph", V5_GRAPH),
                         "crt-host")
    proof = verdict.proof
    assert proof is not None and proof.proved == "links" and proof.failed == "runs"
    assert MISSING in (proof.error or "") and "no such function in module" in (proof.error or "")
    assert proof.cause[0].at.endswith("src/runtime/graph_executor/graph_executor.cc:433")
    assert not verdict.readable and verdict.level == "links"


@pytest.mark.shared
def test_mlonmcu_says_its_graph_executor_drops_a_failed_lookup(tmp_path: Path) -> None:
    require("gcc")
    proof = verdict_of(_renamed(tmp_path, "hannah-m3-v7-graph", V7_GRAPH), "mlonmcu-tvmrt").proof
    assert proof is not None and proof.failed == "runs"
    assert "never runs the node" in (proof.error or "")
    assert proof.cause[1].at.endswith("src/runtime/crt/graph_executor/graph_executor.c:1097")


@pytest.mark.shared
@pytest.mark.board
def test_a_function_the_archive_lacks_does_not_link_in_the_stm32_emitter_flow(
        tmp_path: Path) -> None:
    require("arm-none-eabi-gcc", "qemu-system-arm")
    proof = verdict_of(_renamed(tmp_path, "gubprof-microspeech-v5-graph", V5_GRAPH),
                       "stm32-2021").proof
    assert proof is not None and proof.failed == "links" and proof.proved == "compiles"
    assert proof.error == f"undefined reference to `{MISSING}'"
    assert [e.at.rsplit(":", 1)[-1] for e in proof.cause] == ["947", "1211"]


@pytest.mark.shared
def test_an_aot_archive_without_the_system_library_does_not_link_host_driven() -> None:
    require("gcc")
    proof = verdict_of(real("sine-aot-v5-zephyr"), "crt-host").proof
    assert proof is not None and proof.failed == "links"
    assert proof.error == "undefined reference to `TVMSystemLibEntryPoint'"
    assert proof.cause[0].at.endswith("crt_runtime_api.c:205")
    assert "system-lib" in (proof.fix or "")


def test_without_a_graph_config_host_driven_links_and_tvmc_fails_its_run() -> None:
    """v7-operator-add has a system library and no graph config: the RPC server links; the
    host-driven flow's run is not reproduced, tvmc's fails (graph=None)."""
    require("gcc")
    archive = REPO / "fixtures/v7-operator-add.tar"
    linked = verdict_of(archive, "crt-host").proof
    assert linked is not None and linked.proved == "links" and linked.failed is None
    assert "no graph config" in (linked.stopped or "")
    tvmc = verdict_of(archive, "tvmc-2022-v6").proof
    assert tvmc is not None and tvmc.proved == "links" and tvmc.failed == "runs"
    assert "graph=None" in (tvmc.error or "")
    assert tvmc.cause[-1].at.endswith("python/tvm/driver/tvmc/runner.py:577")


@pytest.mark.shared
def test_a_consumer_that_embeds_the_graph_is_not_built_without_its_file() -> None:
    verdict = verdict_of(real("gubprof-microspeech-v5-graph"), "mlonmcu-tvmrt")
    assert verdict.proof is not None and verdict.proof.proved is None
    assert (verdict.proof.skipped or "").startswith(
        "not built here: the consumer reads executor-config/graph/default.graph")
    assert not verdict.readable and verdict.level_certainty == "derived"


@pytest.mark.shared
@pytest.mark.parametrize(("consumer", "tool"), [("crt-host", "gcc"),
                                                ("stm32-2021", "arm-none-eabi-gcc")])
def test_a_missing_toolchain_skips_with_one_reason(consumer: str, tool: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    verdict = verdict_of(real("gubprof-microspeech-v5-graph"), consumer)
    assert verdict.proof is not None and verdict.proof.proved is None
    assert verdict.proof.failed is None and tool in (verdict.proof.skipped or "")
    assert verdict.level == "reads" and verdict.level_certainty == "derived"


def test_dtypes_as_the_graph_executors_parse_them() -> None:
    assert dl_type("float32") == (2, 32, 1)
    assert dl_type("int8x4") == (0, 8, 4)
    assert dl_type("bool") == (1, 1, 1)
    assert dl_type("uint16") == (1, 16, 1)
    assert dl_type("complex64") is None


@pytest.mark.shared
def test_the_stm32_emitter_refuses_a_dtype_outside_its_table(tmp_path: Path) -> None:
    """The emitter's _get_type_size raises for float16 before any C exists: nothing compiles."""
    root = tmp_path / "tree"
    unpack(real("gubprof-microspeech-v5-graph"), root)
    path = root / V5_GRAPH
    graph = json.loads(path.read_text())
    graph["attrs"]["dltype"][1][0] = "float16"
    path.write_text(json.dumps(graph))
    archive = pack(root, tmp_path / "float16.tar")
    proof = verdict_of(archive, "stm32-2021").proof
    assert proof is not None and proof.proved is None and proof.failed == "compiles"
    assert "Data type float16 is not supported" in (proof.error or "")
    assert proof.cause[0].at.endswith("python/tvm/micro/contrib/stm32/emitter.py:76")


# -- hannah-tvm's gvsoc project: GVSOCBuilder's generated runner, run on the host --------------


def _linked(tmp: Path, rename: bool = False) -> Path:
    """hannah-m3-v7-graph with the `_lookup_linked_param` TVM emitted before b5f1dabce4 added to
    default_lib0.c: each parameter's bytes by the storage id the graph gives it (with `rename`,
    the graph's first op node calls MISSING)."""
    root = tmp / "linked"
    unpack(real("hannah-m3-v7-graph"), root)
    graph = json.loads((root / V7_GRAPH).read_text())
    storage = graph["attrs"]["storage_id"][1]
    sid = {n["name"]: storage[graph["node_row_ptr"][i]] for i, n in enumerate(graph["nodes"])}
    raw = (root / "parameters/default.params").read_bytes()
    params = read_params(io.BytesIO(raw), len(raw))
    arrays, cases = [], []
    for i, t in enumerate(params.tensors):
        data = ",".join(map(str, raw[t.data_offset:t.data_offset + t.nbytes]))
        arrays.append(f"static const unsigned char param{i}[] __attribute__((aligned(16))) = "
                      f"{{{data}}};\n")
        cases.append(f"    case {sid[t.name]}: ret->v_handle = (void*)param{i}; break;\n")
    with (root / "codegen/host/src/default_lib0.c").open("a") as lib0:
        lib0.write("".join(arrays) + "int32_t _lookup_linked_param(TVMValue* args, int* codes, "
                   "int n, TVMValue* ret, int* ret_code, void* handle) {\n"
                   "  switch (args[0].v_int64) {\n" + "".join(cases) +
                   "    default: ret->v_handle = NULL;\n  }\n  *ret_code = kTVMOpaqueHandle;\n"
                   "  return 0;\n}\n")
    if rename:
        node = next(n for n in graph["nodes"] if n["op"] == "tvm_op")
        node["attrs"]["func_name"] = MISSING
        (root / V7_GRAPH).write_text(json.dumps(graph))
    return pack(root, tmp / "linked.tar")


@pytest.mark.shared
def test_gvsoc_does_not_link_a_v7_graph_that_binds_parameters() -> None:
    """GVSOCBuilder's runner takes each parameter from _lookup_linked_param, which no TVM that
    writes v7 emits."""
    require("gcc")
    verdict = verdict_of(real("hannah-m3-v7-graph"), "hannah-tvm-gvsoc")
    proof = verdict.proof
    assert proof is not None and proof.where == "host"
    assert proof.failed == "links" and proof.proved == "compiles"
    assert proof.error == "undefined reference to `_lookup_linked_param'"
    assert [e.at.rsplit(":", 1)[-1] for e in proof.cause] == ["35", "89"]
    assert "link-params" in (proof.fix or "")
    assert not verdict.readable and verdict.level == "compiles"


@pytest.mark.shared
def test_gvsoc_runs_the_graph_with_linked_parameters_on_the_host(tmp_path: Path) -> None:
    """With a _lookup_linked_param, the generated runner's walk runs: every tensor of a
    parameter's storage id points where the lookup says, and the softmax outputs sum to 1."""
    require("gcc")
    verdict = verdict_of(_linked(tmp_path), "hannah-tvm-gvsoc")
    proof = verdict.proof
    assert proof is not None and proof.where == "host"
    assert verdict.level == "runs" and verdict.level_certainty == "verified", proof
    assert proof.outputs is not None and len(proof.outputs) == 16
    assert sum(struct.unpack("<4f", proof.outputs)) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.shared
def test_a_function_the_archive_lacks_does_not_link_in_the_gvsoc_runner(tmp_path: Path) -> None:
    """The renamed function is undefined at the link, cited at the generated runner's
    declaration and call of it."""
    require("gcc")
    proof = verdict_of(_linked(tmp_path, rename=True), "hannah-tvm-gvsoc").proof
    assert proof is not None and proof.failed == "links" and proof.proved == "compiles"
    assert proof.error == f"undefined reference to `{MISSING}'"
    assert [e.at.rsplit(":", 1)[-1] for e in proof.cause] == ["136", "140"]


@pytest.mark.shared
def test_gvsoc_refuses_a_dtype_it_writes_no_tensor_for(tmp_path: Path) -> None:
    """GVSOCBuilder prints 'can not handle this type' and exits for a bool entry."""
    root = tmp_path / "tree"
    unpack(real("hannah-m3-v7-graph"), root)
    graph = json.loads((root / V7_GRAPH).read_text())
    graph["attrs"]["dltype"][1][0] = "bool"
    (root / V7_GRAPH).write_text(json.dumps(graph))
    archive = pack(root, tmp_path / "bool.tar")
    proof = verdict_of(archive, "hannah-tvm-gvsoc").proof
    assert proof is not None and proof.proved is None and proof.failed == "compiles"
    assert "bool is none of them" in (proof.error or "")
    assert [e.at.rsplit(":", 1)[-1] for e in proof.cause] == ["69", "82"]
