"""`mlfcheck compat` and the consumer profiles: the real-fixture matrix, goldens, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from cli_helpers import invoke
from conftest import real_archives, shared_dir
from jsonschema import Draft202012Validator

from mlfcheck import schemas
from mlfcheck.archive import Archive
from mlfcheck.cli.compat import compat
from mlfcheck.consumers import (
    ProfileError,
    broken_by,
    builtin_profiles,
    check_archive,
    evaluate,
    load_profile,
)
from mlfcheck.loaded import Loaded

GOLDEN = Path(__file__).resolve().parent / "golden" / "compat"
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
    assert {"tvmc-0.8", "mlonmcu-tvmaot", "arduino-2021"} <= aot
    assert "stm32-2021" not in aot and "tvmc-2021-05" not in aot


def test_a_v7_graph_archive_is_read_only_by_v7_readers_and_the_metadata_blind_templates() -> None:
    assert readable_by(V7_GRAPH) == {"tvmc-v7", "tvmc-v7-2023", "arduino-v7", "stm32-v7",
                                     "tvm-micro-testing-v7", "zephyr-crt-host"}


def test_an_extracted_folder_fails_only_its_container_for_v7_readers() -> None:
    verdicts = {v.profile.name: v for v in check_archive(FOLDER, builtin_profiles())}
    assert not any(v.readable for v in verdicts.values())
    assert [f.read for f in verdicts["tvmc-v7"].failures] == ["container"]


def test_the_zephyr_template_reads_every_real_tar() -> None:
    for name, path in real_archives().items():
        if path.is_file():
            assert "zephyr-crt-host" in readable_by(relative(path)), name


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
    assert "| `tvmc-2021-07` | ❌ no | `metadata.json /runtimes` |" in out


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
    folder = Path(__file__).resolve().parent.parent / "mlfcheck" / "consumers" / "profiles"
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


def test_the_v4_to_v5_re_export_breaks_2021_tvmc_but_not_the_zephyr_template() -> None:
    assert _breaks("tvmc-2021-07", V4, V5_GRAPH) == ["metadata.json /runtimes"]
    assert _breaks("zephyr-crt-host", V4, V5_GRAPH) == []


def test_a_consumer_that_could_not_read_the_old_archive_has_nothing_to_break() -> None:
    assert _breaks("tvmc-0.8", V4, V5_GRAPH) == []


def test_graph_to_aot_breaks_the_stm32_emitter(tmp_path: Path) -> None:
    copy = tmp_path / "aot.tar"
    shutil.copy(REAL / V5_AOT, copy)
    assert _breaks("stm32-2021", V5_GRAPH, str(copy)) == ["file executor-config/graph/graph.json"]
