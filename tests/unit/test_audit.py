"""`mlfcheck audit` on the real fixtures: discovery, formats, schema, baseline gate, junit."""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke
from conftest import shared_dir
from jsonschema import Draft202012Validator

from mlfcheck import audit as audit_module
from mlfcheck.audit import Item, discover, picked
from mlfcheck.audit.shards import ShardRecord, merge, read_record
from mlfcheck.children import Limits
from mlfcheck.cli.audit import audit
from mlfcheck.diff.result import NOT_ASKED
from mlfcheck.errors import UsageError
from mlfcheck.reading import schemas
from mlfcheck.reporters.audit import render_shard
from mlfcheck.reporters.junit import render_junit
from mlfcheck.validate import Unreadable, validate

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "audit"
REAL = shared_dir() / "fixtures" / "real-mlf"
MODELS = shared_dir() / "models"


pytestmark = pytest.mark.usefixtures("in_real_dir")


def run(*args: str) -> tuple[int, str, str]:
    """The audit CLI, one job and no host build unless told (tests/integration/test_audit_build.py
    builds): its output does not depend on the machine's compiler."""
    return invoke(audit, *args, *(() if "--jobs" in args else ("--jobs", "1")),
                  *(() if "--build" in args else ("--no-build",)))


def release(tmp_path: Path, name: str, **archives: str) -> Path:
    """A release folder holding copies of real archives under chosen keys."""
    root = tmp_path / name
    for key, fixture in archives.items():
        (root / key).mkdir(parents=True)
        shutil.copy(REAL / fixture / "model.tar", root / key / "model.tar")
    return root


def schema_errors(name: str, doc: Any) -> list[str]:
    return [e.message for e in Draft202012Validator(schemas.load(name)).iter_errors(doc)]


# -- discovery -----------------------------------------------------------------------------------


def test_a_folder_is_searched_for_tars_and_folders_holding_metadata() -> None:
    items = discover(["."])
    assert [i.key for i in items] == [
        "esp32s3-example-v7-aot", "gub-microspeech-v4-graph/model.tar",
        "gubprof-microspeech-v5-aot-a/model.tar", "gubprof-microspeech-v5-aot-b/model.tar",
        "gubprof-microspeech-v5-graph/model.tar", "hannah-m3-v7-graph/model.tar",
        "sine-aot-v5-zephyr/model.tar"]
    assert {i.kind for i in items} == {"archive"}


def test_a_manifest_lists_archives_and_models_relative_to_itself(tmp_path: Path) -> None:
    manifest = tmp_path / "release.txt"
    manifest.write_text(f"# release 2\n{REAL}/hannah-m3-v7-graph/model.tar\n\n"
                        f"{MODELS}/mnist-8.onnx  # exported first\n", encoding="utf-8")
    items = discover([str(manifest)])
    assert [(i.key.rsplit("/", 1)[-1], i.kind) for i in items] == [("model.tar", "archive"),
                                                                   ("mnist-8.onnx", "model")]


def test_missing_paths_and_empty_folders_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        discover([str(tmp_path / "nope")])
    with pytest.raises(UsageError, match="no archives or models"):
        discover([str(tmp_path)])


# -- the three formats on the real fixtures ------------------------------------------------------


def test_markdown_on_the_real_fixtures_matches_the_golden() -> None:
    code, out, _ = run(".", "--format", "markdown")
    golden = GOLDEN / "real-fixtures.expected.md"
    if os.environ.get("MLFCHECK_REGEN_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out, encoding="utf-8")
    assert code == 0
    assert out == golden.read_text(encoding="utf-8")


def test_json_on_the_real_fixtures_matches_the_schemas_it_embeds() -> None:
    code, out, _ = run(".", "--format", "json", "--baseline", ".")
    assert code == 0
    doc = json.loads(out)
    assert schema_errors("audit-report.schema.json", doc) == []
    assert doc["summary"] == {"archives": 7, "valid": 7, "invalid": 0, "unreadable": 0,
                              "compared": 7, "failing": 0, "removed": 0}
    for a in doc["archives"]:
        assert schema_errors("diff-report.schema.json", a["baseline"]["diff"]) == []
        show = {"format": "mlfcheck-show", "format_version": 1, "tool": doc["tool"],
                "archive": a["summary"]}
        assert schema_errors("show-report.schema.json", show) == []


def test_html_is_one_deterministic_file_without_scripts_or_network() -> None:
    first = run(".", "--format", "html")[1]
    second = run(".", "--format", "html", "--jobs", "2")[1]
    assert first == second
    assert first.count("<svg") == 1 + 7  # memory per model, then one chart per archive
    for banned in ("<script", "http://", "https://", "src=", "@import"):
        assert banned not in first.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_every_format_says_the_reader_alone_judged_without_the_build() -> None:
    doc = json.loads(run("sine-aot-v5-zephyr", "--format", "json")[1])
    assert doc["judged_by"] == {"reader": True, "compiler": None, "not_run": [NOT_ASKED]}
    assert [(a["judged_by"], a["build"]) for a in doc["archives"]] == [("reader", None)]
    assert schema_errors("audit-report.schema.json", doc) == []
    said = "the C reader; not by the compiler: not asked for (--no-build)"
    assert f"<p>Judged by: {said}</p>" in run("sine-aot-v5-zephyr", "--format", "html")[1]
    xml = ET.fromstring(run("sine-aot-v5-zephyr", "--format", "junit")[1])
    assert [(p.get("name"), p.get("value")) for p in xml.iter("property")
            if p.get("name") == "mlfcheck.judged_by"] == [("mlfcheck.judged_by", said),
                                                          ("mlfcheck.judged_by", "reader")]


def test_a_timestamp_appears_only_when_given() -> None:
    assert "Generated" not in run(".", "--format", "markdown")[1]
    assert "Generated 2026-01-31." in run(".", "--format", "markdown",
                                          "--timestamp", "2026-01-31")[1]


# -- baseline and the gate -----------------------------------------------------------------------


def test_a_breaking_change_against_the_baseline_fails_the_gate(tmp_path: Path) -> None:
    old = release(tmp_path, "r1", speech="gubprof-microspeech-v5-graph",
                  sine="sine-aot-v5-zephyr")
    new = release(tmp_path, "r2", speech="gubprof-microspeech-v5-aot-a",
                  hannah="hannah-m3-v7-graph")
    code, out, _ = run(str(new), "--baseline", str(old))
    assert code == 1
    assert "against the baseline: 1 compared, 1 new, 1 removed; 1 failing" in out
    assert "D111" in out and "### Removed since the baseline" in out
    assert run(str(new), "--baseline", str(old), "--fail-on", "never")[0] == 0


def test_a_version_only_re_export_passes_the_breaking_gate(tmp_path: Path) -> None:
    old = release(tmp_path, "r1", speech="gub-microspeech-v4-graph")
    new = release(tmp_path, "r2", speech="gubprof-microspeech-v5-graph")
    code, out, _ = run(str(new), "--baseline", str(old), "--format", "json")
    assert code == 0
    [a] = json.loads(out)["archives"]
    assert a["baseline"]["diff"]["summary"]["breaking"] == 0
    assert {c["rule"] for c in a["baseline"]["diff"]["changes"]} >= {"D102", "D103"}
    assert run(str(new), "--baseline", str(old), "--fail-on", "info")[0] == 1


def test_an_unreadable_archive_is_reported_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "broken.tar").write_bytes(b"\0" * 10 + b"garbage" * 100)
    code, out, err = run(str(tmp_path), "--format", "json")
    assert code == 2
    [a] = json.loads(out)["archives"]
    assert a["status"] == "unreadable" and "broken.tar" in err


def test_an_item_whose_worker_process_is_killed_is_reported_and_exits_2(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "JOB_LIMITS", Limits(seconds=0.001, memory_bytes=None))
    code, out, err = run("sine-aot-v5-zephyr", "hannah-m3-v7-graph", "--jobs", "2",
                         "--format", "json")
    assert code == 2
    assert [a["status"] for a in json.loads(out)["archives"]] == ["unreadable"] * 2
    assert err.count("a worker process was killed after 0.001 s before it finished auditing "
                     "this item") == 2, err


def test_a_worker_auditing_several_items_that_is_killed_has_each_audited_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "JOB_LIMITS", Limits(seconds=0.001, memory_bytes=None))
    items = ("sine-aot-v5-zephyr", "hannah-m3-v7-graph", "gub-microspeech-v4-graph")
    code, out, err = run(*items, "--jobs", "2", "--format", "json")  # 2 children, 3 items
    assert code == 2
    assert [a["status"] for a in json.loads(out)["archives"]] == ["unreadable"] * 3
    assert err.count("a worker process was killed after 0.001 s before it finished auditing "
                     "this item") == 3, err


# -- shards (tests/integration/test_audit_shard.py runs them through the CLI) -------------------


def test_shard_k_of_n_audits_items_k_minus_1_then_every_nth() -> None:
    assert [list(picked(7, (k, 3))) for k in (1, 2, 3)] == [[0, 3, 6], [1, 4], [2, 5]]
    assert list(picked(2, (3, 5))) == [] and list(picked(4, (1, 1))) == [0, 1, 2, 3]


def test_shard_records_read_back_as_the_audits_they_hold_and_merge_in_order(
        tmp_path: Path) -> None:
    items = discover(["."])
    keys = tuple(i.key for i in items)
    records = []
    for k in (1, 2):
        result = audit_module.audit(items, baseline=items[:3], baseline_paths=["."],
                                    shard=(k, 2))
        assert [a.item.key for a in result.archives] == list(keys[k - 1::2])
        assert result.removed == ()  # judged against every item, not this shard's
        path = tmp_path / f"{k}.json"
        path.write_text(render_shard(ShardRecord((k, 2), keys, result)), encoding="utf-8")
        records.append(read_record(str(path)))
        assert records[-1] == ShardRecord((k, 2), keys, result)
    merged = merge(records[::-1], ["2.json", "1.json"])
    assert [a.item.key for a in merged.archives] == list(keys)
    assert merged == audit_module.audit(items, baseline=items[:3], baseline_paths=["."])


# -- junit ---------------------------------------------------------------------------------------


def test_junit_for_audit_has_a_case_per_archive_and_per_comparison(tmp_path: Path) -> None:
    old = release(tmp_path, "r1", speech="gubprof-microspeech-v5-graph")
    new = release(tmp_path, "r2", speech="gubprof-microspeech-v5-aot-a")
    code, out, _ = run(str(new), "--baseline", str(old), "--format", "junit")
    assert code == 1
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None and suite.attrib["tests"] == "2"
    assert suite.attrib["failures"] == "1"
    failure = suite.find("testcase[@classname='mlfcheck.audit.baseline']/failure")
    assert failure is not None and "breaking" in failure.attrib["message"]


def test_junit_for_validate_fails_invalid_archives_and_errors_unreadable_ones(
        tmp_path: Path) -> None:
    good = validate("sine-aot-v5-zephyr/model.tar")
    xml = render_junit([good, Unreadable("missing.tar", "no such file or directory")])
    root = ET.fromstring(xml)
    assert root.attrib == {"name": "mlfcheck validate", "tests": "2", "failures": "0",
                           "errors": "1", "skipped": "0"}
    cases = root.findall("testsuite/testcase")
    assert [c.attrib["name"] for c in cases] == ["sine-aot-v5-zephyr/model.tar", "missing.tar"]
    assert cases[1].find("error") is not None


def test_the_audit_item_key_pairs_a_single_archive_with_a_single_baseline() -> None:
    assert discover(["hannah-m3-v7-graph/model.tar"]) == (
        Item("model.tar", "hannah-m3-v7-graph/model.tar", "archive"),)


def test_the_pre_commit_hook_validates_committed_tars() -> None:
    text = (Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml").read_text(
        encoding="utf-8")
    assert "- id: mlfcheck-validate" in text and "entry: mlfcheck validate" in text
    pattern = re.search(r"files: (\S+)", text)
    assert pattern is not None
    assert all(re.search(pattern.group(1), name) for name in ("a/model.tar", "m.tgz", "m.tar.gz"))
    assert not re.search(pattern.group(1), "model.tar.txt")
