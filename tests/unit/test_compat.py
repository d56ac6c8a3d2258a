"""`mlfcheck compat` and the consumer profiles: the real-fixture matrix, goldens, exit codes."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from cli_helpers import invoke
from conftest import real_archives, shared_dir
from jsonschema import Draft202012Validator

from mlfcheck.cli.compat import compat
from mlfcheck.consumers import (
    ProfileError,
    Verdict,
    broken_by,
    builtin_profiles,
    check_archive,
    evaluate,
    load_profile,
)
from mlfcheck.reading import schemas
from mlfcheck.reading.archive import Archive
from mlfcheck.reading.loaded import Loaded

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "compat"
DOCS_SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "consumer_matrix.py"
REAL = shared_dir() / "fixtures" / "real-mlf"
V4 = "gub-microspeech-v4-graph/model.tar"
V5_GRAPH = "gubprof-microspeech-v5-graph/model.tar"
V5_AOT = "gubprof-microspeech-v5-aot-a/model.tar"
V7_GRAPH = "hannah-m3-v7-graph/model.tar"
FOLDER = "esp32s3-example-v7-aot"


pytestmark = pytest.mark.usefixtures("in_real_dir")


def run(*args: str) -> tuple[int, str, str]:
    return invoke(compat, *args)


def readable_by(path: str) -> set[str]:
    return {v.profile.name for v in check_archive(path, builtin_profiles()) if v.readable}


def relative(path: Path) -> str:
    return path.relative_to(REAL).as_posix()


# -- the matrix mlf-spec.md §6 predicts ------------------------------------------------------


def test_a_v4_graph_archive_is_read_by_2021_tvmc_and_not_by_the_v7_era_loader() -> None:
    names = readable_by(V4)
    assert {"tvmc-2021-05", "tvmc-2021-07"} <= names
    assert not names & {"tvmc-0.8", "tvmc-v7", "tvmc-v7-2023", "arduino-v7", "stm32-v7"}


def test_v5_archives_are_read_by_the_v0_8_loader_and_aot_ones_not_by_the_graph_only_readers(
) -> None:
    assert {"tvmc-0.8", "tvmc-2022-v6", "stm32-2021"} <= readable_by(V5_GRAPH)
    aot = readable_by(V5_AOT)
    assert {"tvmc-0.8", "arduino-2021"} <= aot
    assert "stm32-2021" not in aot and "tvmc-2021-05" not in aot


def test_a_v7_graph_archive_is_read_only_by_v7_readers_and_the_system_library_templates() -> None:
    assert readable_by(V7_GRAPH) == {"tvmc-v7", "tvmc-v7-2023", "stm32-v7",
                                     "tvm-micro-testing-v7", "hannah-tvm-gvsoc", "mlonmcu-tvmrt",
                                     "arduino-host-driven", "zephyr-host-driven", "crt-host"}


def test_an_extracted_folder_is_read_by_the_folder_build_and_fails_only_the_v7_containers(
) -> None:
    verdicts = {v.profile.name: v for v in check_archive(FOLDER, builtin_profiles())}
    assert {n for n, v in verdicts.items() if v.readable} == {"folder-build"}
    assert [f.read for f in verdicts["tvmc-v7"].failures] == ["container"]
    assert verdicts["tvmc-v7"].container_only


def test_the_host_driven_templates_read_every_real_graph_tar_and_no_aot_one() -> None:
    checked = {True: 0, False: 0}  # graph tars, AOT tars
    for name, path in real_archives().items():
        if not path.is_file():
            continue
        graph = "graph" in name
        for consumer in ("zephyr-host-driven", "crt-host", "arduino-host-driven"):
            assert (consumer in readable_by(relative(path))) == graph, (name, consumer)
        checked[graph] += 1
    assert checked[True] and checked[False], checked


# -- goldens -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(real_archives()))
def test_compat_all_on_each_real_fixture_matches_its_golden(name: str) -> None:
    code, out, _ = run(relative(real_archives()[name]), "--all")
    golden = GOLDEN / f"{name}.expected.txt"
    if os.environ.get("MLFCHECK_REGEN_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out, encoding="utf-8")
    assert code == 1  # no archive is readable by every consumer
    assert out == golden.read_text(encoding="utf-8")


# -- one consumer, exit codes, formats -----------------------------------------------------------


def test_one_readable_consumer_exits_0() -> None:
    code, out, _ = run(V4, "--consumer", "tvmc-2021-07")
    assert code == 0
    assert out.splitlines()[1].startswith("tvmc-2021-07: can read it")


def test_one_consumer_that_cannot_read_names_the_read_the_key_and_the_line() -> None:
    code, out, _ = run(V4, "--consumer", "tvmc-v7")
    assert code == 1
    assert ("fails first: metadata.json /modules: the document has no key 'modules' "
            "(metadata.json:1:1)") in out
    assert "→ KeyError: 'modules'" in out


def test_a_graph_file_missing_in_v5_is_reported_for_the_2021_loader() -> None:
    code, out, _ = run(V5_GRAPH, "--consumer", "tvmc-2021-07", "--format", "markdown")
    assert code == 1
    assert "| `tvmc-2021-07` | ❌ no | none (derived) | `metadata.json /runtimes` |" in out


def test_json_output_matches_the_compat_schema() -> None:
    code, out, _ = run(V5_AOT, "--all", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert not list(Draft202012Validator(schemas.load("compat-report.schema.json"))
                    .iter_errors(doc))
    assert [v["consumer"] for v in doc["verdicts"]] == [p.name for p in builtin_profiles()]


@pytest.mark.parametrize(("args", "message"), [
    (["--consumer", "nope"], "unknown consumer 'nope'"),
    ([], "choose a consumer"),
    (["--profile", "missing.json"], "cannot read profile"),
])
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    code, out, err = run(V4, *args)
    assert code == 2 and out == ""
    assert message in err and len(err.splitlines()) == 1


def test_build_without_a_toolchain_skips_with_the_package_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    verdict = check_archive(V5_AOT, [p for p in builtin_profiles()
                                     if p.name == "zephyr-aot-demo"], build=True)[0]
    assert verdict.proof is not None and verdict.proof.proved is None
    assert "apt-get install gcc-arm-none-eabi" in (verdict.proof.skipped or "")
    assert verdict.level is None and verdict.level_certainty == "derived"
    code, out, _ = run(V5_AOT, "--consumer", "zephyr-aot-demo", "--build")
    assert code == 1 and "harness not built: arm-none-eabi-gcc not found" in out


def test_build_json_and_why_show_the_harness() -> None:
    code, out, _ = run(V5_AOT, "--consumer", "zephyr-aot-demo", "--build", "--format", "json")
    doc = json.loads(out)
    assert not list(Draft202012Validator(schemas.load("compat-report.schema.json"))
                    .iter_errors(doc))
    build = doc["verdicts"][0]["build"]
    if build["skipped"]:
        pytest.skip(build["skipped"])
    assert build["failed"] == "links" and doc["verdicts"][0]["level"] == "compiles"
    assert "/tmp" not in build["error"] and "tvmgen_default_run" in build["error"]
    assert build["cause"][0]["at"].endswith("src/aot_demo/main.c:208")
    code, out, _ = run("--why", "zephyr-aot-demo")
    assert code == 0 and "application: zephyr_aot_demo_2021.c" in out


@pytest.mark.parametrize("args", [["--run"], ["-I", "."], ["--board", "mps2-an385"]])
def test_harness_options_need_a_harness(args: list[str]) -> None:
    code, _, err = run(V5_AOT, *args)
    assert code == 2 and "need --harness FILE" in err


def test_an_unreadable_archive_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar" * 100)
    code, _, err = run(str(bad), "--all")
    assert code == 2 and "not a tar archive" in err


def test_list_consumers_names_every_builtin_profile() -> None:
    code, out, _ = run("--list-consumers")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [p.name for p in builtin_profiles()]


# -- profiles as data ----------------------------------------------------------------------------


def test_every_builtin_profile_matches_the_schema_and_cites_a_source() -> None:
    validator = Draft202012Validator(schemas.load("consumer-profile.schema.json"))
    folder = Path(__file__).resolve().parents[2] / "mlfcheck" / "consumers" / "profiles"
    files = sorted(folder.glob("*.json"))
    assert len(files) == len(builtin_profiles()) >= 13
    for f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        assert not list(validator.iter_errors(doc)), f.name
        assert f.stem == doc["name"]
        assert all(s["what"] for s in doc["sources"])


def test_a_user_profile_file_is_evaluated_and_reports_its_origin(tmp_path: Path) -> None:
    profile = tmp_path / "fw.json"
    profile.write_text(json.dumps({
        "format": "mlfcheck-consumer-profile", "format_version": 1, "name": "my-firmware",
        "title": "our firmware build", "sources": [{"what": "firmware/CMakeLists.txt"}],
        "certainty": "verified", "versions": {"accepts": [5], "checked": True},
        "container": {"formats": ["tar"], "member_names": "dot-rooted"},
        "reads": [{"json": "/memory/functions/main/0/workspace_size_bytes", "type": "integer",
                   "why": "sizes the arena"},
                  {"file": "codegen/host/include/tvmgen_{module}.h", "why": "includes it"}],
    }), encoding="utf-8")
    code, out, _ = run("sine-aot-v5-zephyr/model.tar", "--profile", str(profile))
    assert code == 0, out
    assert f"profile from {profile}" in out
    code, out, _ = run(V4, "--profile", str(profile))
    assert code == 1
    assert "fails first: metadata.json /version: the archive declares v4" in out
    assert "also fails: file codegen/host/include/tvmgen_default.h [module default]" in out


def test_a_profile_that_breaks_the_schema_is_refused_with_the_place(tmp_path: Path) -> None:
    profile = tmp_path / "bad.json"
    profile.write_text(json.dumps({"format": "mlfcheck-consumer-profile",
                                   "format_version": 1}), encoding="utf-8")
    with pytest.raises(ProfileError, match="not a consumer profile"):
        load_profile(profile)


def test_a_gzipped_tar_is_refused_by_readers_that_open_uncompressed_tar_only(
        tmp_path: Path) -> None:
    gz = tmp_path / "model.tar.gz"
    with tarfile.open(gz, "w:gz") as out, tarfile.open(REAL / V5_AOT) as src:
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
    verdicts = {v.profile.name: v for v in check_archive(gz, builtin_profiles())}
    assert verdicts["tvmc-0.8"].readable
    assert verdicts["arduino-2021"].failures[0].read == "container"
    assert "r:" in verdicts["arduino-2021"].failures[0].why


def test_names_without_dot_prefix_fail_readers_that_look_up_dot_metadata(tmp_path: Path) -> None:
    flat = tmp_path / "flat.tar"
    with tarfile.open(flat, "w") as out, tarfile.open(REAL / V5_AOT) as src:
        for member in src.getmembers():
            member.name = member.name.removeprefix("./")
            if member.name not in ("", "."):
                out.addfile(member, src.extractfile(member) if member.isfile() else None)
    verdicts = {v.profile.name: v for v in check_archive(flat, builtin_profiles())}
    assert not verdicts["tvm-micro-testing-2021"].readable
    assert verdicts["tvmc-0.8"].readable


# -- diff --consumer -----------------------------------------------------------------------------


def _breaks(name: str, old: str, new: str) -> list[str]:
    profile = next(p for p in builtin_profiles() if p.name == name)
    with Archive(old) as a, Archive(new) as b:
        return [f.read for f in broken_by(evaluate(profile, Loaded(a)), Loaded(b))]


def test_the_v4_to_v5_re_export_breaks_2021_tvmc_but_not_the_zephyr_host_driven_template(
) -> None:
    assert _breaks("tvmc-2021-07", V4, V5_GRAPH) == ["metadata.json /runtimes"]
    assert _breaks("zephyr-host-driven", V4, V5_GRAPH) == []


def test_a_consumer_that_could_not_read_the_old_archive_has_nothing_to_break() -> None:
    assert _breaks("tvmc-0.8", V4, V5_GRAPH) == []


def test_graph_to_aot_breaks_the_stm32_emitter(tmp_path: Path) -> None:
    copy = tmp_path / "aot.tar"
    shutil.copy(REAL / V5_AOT, copy)
    assert _breaks("stm32-2021", V5_GRAPH, str(copy)) == ["file executor-config/graph/graph.json"]


# -- what a consumer links and compiles (issue 11) ------------------------------------------------

ARDUINO_EXAMPLE = ("arduino-2021", "arduino-2022", "arduino-v7")
V5_AOT_ARCHIVES = ("sine-aot-v5-zephyr/model.tar", "gubprof-microspeech-v5-aot-a/model.tar",
                   "gubprof-microspeech-v5-aot-b/model.tar")


def _verdicts(path: str, *names: str) -> dict[str, Verdict]:
    chosen = [p for p in builtin_profiles() if p.name in names]
    assert len(chosen) == len(names)
    return {v.profile.name: v for v in check_archive(path, chosen)}


@pytest.mark.parametrize("path", [V4, V5_GRAPH])
def test_graph_archives_are_not_readable_by_any_arduino_example_project(path: str) -> None:
    for name, verdict in _verdicts(path, *ARDUINO_EXAMPLE).items():
        assert not verdict.readable, name
    failure = _verdicts(path, "arduino-2021")["arduino-2021"].first
    assert failure is not None and failure.read == "symbol tvmgen_default_run_model"
    assert "does not define tvmgen_default_run_model" in failure.message


@pytest.mark.parametrize("path", V5_AOT_ARCHIVES)
@pytest.mark.parametrize(("consumer", "symbol", "line"), [
    ("zephyr-aot-demo", "tvmgen_default_run",
     "apache/tvm@a7297870c0:apps/microtvm/zephyr/template_project/src/aot_demo/main.c:208"),
    ("zephyr-aot-demo-2023", "tvmgen_default_run",
     "apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/aot_standalone_demo/"
     "main.c:138"),
    ("zephyr-host-driven", "TVMSystemLibEntryPoint",
     "apache/tvm@a7297870c0:src/runtime/crt/common/crt_runtime_api.c:205"),
    ("mlonmcu-tvmaot", "tvmgen_default_run",
     "tum-ei-eda/mlonmcu@037416eb16:mlonmcu/flow/tvm/backend/wrapper.py:576"),
])
def test_2021_aot_archives_do_not_link_into_zephyr_or_mlonmcu_and_the_failure_names_symbol_and_line(
        path: str, consumer: str, symbol: str, line: str) -> None:
    verdict = _verdicts(path, consumer)[consumer]
    assert not verdict.readable
    linking = [f for f in verdict.failures if f"does not define {symbol}" in f.message]
    assert len(linking) == 1, [f.message for f in verdict.failures]
    assert "tvmgen_default_run_model" in linking[0].message  # what the archive defines instead
    assert line in [e.at for e in linking[0].evidence]


def test_the_esp32_folder_is_readable_by_the_folder_build_with_runtime_include_only_a_note(
) -> None:
    verdict = _verdicts(FOLDER, "folder-build")["folder-build"]
    assert verdict.readable and verdict.container == "folder"
    assert [f.read for f in verdict.misses] == ["dir runtime/include"]


def test_a_struct_member_failure_points_at_the_header_line() -> None:
    verdict = _verdicts("sine-aot-v5-zephyr/model.tar",
                        "zephyr-aot-demo-2023")["zephyr-aot-demo-2023"]
    first = verdict.first
    assert first is not None
    assert first.read == "struct tvmgen_default_inputs member input_1"
    assert first.location() == "codegen/host/include/tvmgen_default.h:12:1"
    assert "its members: dense_4_input" in first.message


def test_text_and_markdown_reports_carry_the_consumer_line() -> None:
    code, out, _ = run(V5_AOT, "--consumer", "mlonmcu-tvmaot")
    assert code == 1
    assert ("    needed by tum-ei-eda/mlonmcu@037416eb16:mlonmcu/flow/tvm/backend/wrapper.py:576: "
            "int ret_val = ${modPrefix}_run(&${modPrefix}_inputs, &${modPrefix}_outputs);") in out
    _, md, _ = run(V5_AOT, "--consumer", "mlonmcu-tvmaot", "--format", "markdown")
    assert ("(https://github.com/tum-ei-eda/mlonmcu/blob/037416eb16/mlonmcu/flow/tvm/backend/"
            "wrapper.py#L576)") in md


def test_the_v4_graph_archive_is_a_system_library_for_the_host_driven_projects() -> None:
    verdicts = _verdicts(V4, "crt-host", "arduino-host-driven", "zephyr-host-driven")
    assert all(v.readable for v in verdicts.values())


def test_the_generated_tables_of_docs_consumers_md_are_current(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DOCS_SCRIPT.parent))  # it imports docs/generate.py
    spec = importlib.util.spec_from_file_location("consumer_matrix", DOCS_SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    text = script.DOC.read_text(encoding="utf-8")
    assert script.regenerate(text, REAL) == text, "run: python docs/consumer_matrix.py"


# -- evidence and --why ----------------------------------------------------------------------------


def test_every_builtin_requirement_carries_evidence_naming_a_repository_a_commit_and_a_path(
) -> None:
    checked = 0
    for profile in builtin_profiles():
        groups = [("container", profile.container_evidence),
                  *((r.describe(), r.evidence) for r in profile.reads)]
        for what, evidence in groups:
            assert evidence, f"{profile.name}: {what} has no evidence"
            for e in evidence:
                parts = e.parts
                assert parts, f"{profile.name}: {what}: {e.at!r} is not repo@commit:path:line"
                assert "/" in parts["repo"] and len(parts["commit"]) >= 7
                assert parts["path"] and int(parts["line"]) >= 1 and e.code
                checked += 1
    assert checked > 150


def test_why_lists_every_requirement_of_a_profile_with_its_consumer_line() -> None:
    code, out, _ = run("--why", "arduino-2021")
    assert code == 0
    assert "  5. symbol tvmgen_default_run_model" in out
    assert ("     needed by apache/tvm@87674f9ef7:apps/microtvm/arduino/example_project/src/"
            "model.c:90: int ret_val = tvmgen_default_run_model(input_data, output_data);") in out
    profile = next(p for p in builtin_profiles() if p.name == "arduino-2021")
    harness = len(profile.harness.evidence) if profile.harness else 0
    assert out.count("needed by") == len(profile.container_evidence) + sum(
        len(r.evidence) for r in profile.reads) + harness
    code, md, _ = run("--why", "arduino-2021", "--format", "markdown")
    assert code == 0 and "| 5 | `symbol tvmgen_default_run_model` |" in md
    assert "| harness | `compiles codegen/host/src/*.c; includes @tvm-runtime; runs on " in md
    code, js, _ = run("--why", "arduino-2021", "--format", "json")
    doc = json.loads(js)
    assert code == 0 and len(doc["requirements"]) == len(profile.reads)
    assert profile.harness is not None
    assert doc["harness"]["app"] == list(profile.harness.app)
    assert len(doc["harness"]["evidence"]) == len(profile.harness.evidence)
    code, js, _ = run("--why", "tvmc-0.8", "--format", "json")
    assert code == 0 and json.loads(js)["harness"] is None  # runs no MLF package: no harness


@pytest.mark.parametrize(("args", "message"), [
    (["--why", "nope"], "unknown consumer 'nope'"),
    (["--why", "tvmc-v7", V4], "takes no ARCHIVE"),
    (["--consumer", "tvmc-v7"], "missing ARCHIVE"),
])
def test_why_and_archive_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert message in err and len(err.splitlines()) == 1
