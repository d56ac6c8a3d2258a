"""`audit` judges the C the compiler builds (issue 20 §2): with the real host compiler (gcc), every
archive is built by default and each report says so, `--no-build` turns it off, C that does not
compile makes the archive invalid, a file the same in two archives compiles once, and without a
host compiler the audit judges with the reader alone and says so in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke
from conftest import REPO, real_dir
from jsonschema import Draft202012Validator

from mlfcheck.audit import ArchiveAudit, HostBuild, audit, discover
from mlfcheck.board.archivebuild import NoCompiler, Options, host_compiler
from mlfcheck.cli.audit import audit as audit_command
from mlfcheck.diff.result import NOT_ASKED
from mlfcheck.reading import schemas

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                                reason="no host C compiler (apt-get install gcc)")
FIXTURES = sorted(str(p) for p in (REPO / "fixtures").glob("*.tar*"))
"""The committed valid fixtures, v1 to v7."""
B001 = str(REPO / "fixtures" / "invalid" / "B001-reads-missing-member.tar")
ESP = "esp32s3-example-v7-aot"


def compiler_name() -> str:
    host = host_compiler()
    assert not isinstance(host, NoCompiler), host.reason
    return host.name


def run_json(*args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = invoke(audit_command, "--format", "json", *args)
    assert "Traceback" not in out + err, out + err
    doc = json.loads(out)
    errors = [e.message for e in Draft202012Validator(
        schemas.load("audit-report.schema.json")).iter_errors(doc)]
    assert errors == []
    return code, doc, err


def test_the_committed_fixtures_are_built_by_default_and_every_report_says_so() -> None:
    name = compiler_name()
    code, doc, err = run_json(*FIXTURES, "--jobs", "2")
    assert (code, err) == (0, "")
    assert doc["judged_by"] == {"reader": True, "compiler": name, "not_run": []}
    for a in doc["archives"]:
        assert a["status"] == "valid" and a["judged_by"] == f"reader + {name}", a["key"]
        assert a["build"]["built"] and a["build"]["not_built"] == [], a["key"]
        assert a["build"] == a["validation"]["build"]
    assert run_json(*FIXTURES, "--jobs", "1")[1] == doc  # one process or two: the same bytes
    _, md, _ = invoke(audit_command, *FIXTURES, "--jobs", "1")
    assert f"**judged by**: the C reader, {name} (each archive built on the host)" in md
    assert md.count(f"| reader + {name}: built ") == len(FIXTURES)
    assert md.count(f"judged by reader + {name} against ") == len(FIXTURES)  # Host builds
    _, html, _ = invoke(audit_command, *FIXTURES, "--jobs", "1", "--format", "html")
    assert f"<p>Judged by: the C reader, {name} (each archive built on the host)</p>" in html
    assert "<h2>Host builds</h2>" in html
    _, xml, _ = invoke(audit_command, *FIXTURES, "--jobs", "1", "--format", "junit")
    judged = [p.get("value") for p in ET.fromstring(xml).iter("property")
              if p.get("name") == "mlfcheck.judged_by"]
    assert judged[0] == f"the C reader, {name} (each archive built on the host)"
    assert len(judged) == 1 + len(FIXTURES)
    assert all(v is not None and v.startswith(f"reader + {name}: built ") for v in judged[1:])


def test_no_build_judges_with_the_reader_alone_and_says_so() -> None:
    code, doc, err = run_json(*FIXTURES[:2], "--jobs", "1", "--no-build")
    assert (code, err) == (0, "")
    assert doc["judged_by"] == {"reader": True, "compiler": None, "not_run": [NOT_ASKED]}
    assert [(a["judged_by"], a["build"]) for a in doc["archives"]] == [("reader", None)] * 2


def test_c_that_does_not_compile_makes_the_archive_invalid_in_the_audit() -> None:
    code, doc, _ = run_json(B001, "--jobs", "1")
    [a] = doc["archives"]
    assert code == 1 and a["status"] == "invalid" and a["fails"]
    [finding] = [f for f in a["validation"]["findings"] if f["severity"] == "error"]
    assert finding["code"] == "B001" and finding["member"] == "codegen/host/src/add_lib1.c"
    assert a["build"]["not_built"] == [{"member": "codegen/host/src/add_lib1.c",
                                        "why": "does not compile"}]
    code, doc, _ = run_json(B001, "--jobs", "1", "--no-build")
    assert code == 0 and doc["archives"][0]["status"] == "valid"


def test_without_a_host_compiler_the_audit_says_so_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    done = subprocess.run([sys.executable, "-m", "mlfcheck", "audit", *FIXTURES[:3],
                           "--jobs", "2", "--format", "json"], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    why = "no host C compiler (gcc or cc) on PATH: apt-get install gcc"
    assert done.stderr == (f"mlfcheck audit: note: {why}; each archive is judged by the C "
                           "reader only\n")
    doc = json.loads(done.stdout)
    assert doc["judged_by"] == {"reader": True, "compiler": None,
                                "not_run": [f"the compiler: {why}"]}
    assert [(a["status"], a["judged_by"], a["build"]) for a in doc["archives"]] == \
        [("valid", "reader", None)] * 3
    assert done.stdout.count(why) == 1


def test_a_file_the_same_in_two_archives_compiles_once(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    archive = REPO / "fixtures" / "v7-multi-module.tar"
    for name in ("a", "b", "c"):
        shutil.copy(archive, tmp_path / f"{name}.tar")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    objects: list[list[Path]] = []

    def count(done: ArchiveAudit) -> None:  # while the audit's build cache is still there
        objects.append(sorted((tmp_path / "tmp").glob("mlfcheck-audit-*/mlfcheck-build-*/*.o")))

    result = audit(discover([str(tmp_path / f"{n}.tar") for n in "abc"]), jobs=1,
                   build=Options(), progress=count)
    assert result.build == HostBuild(True, compiler_name())
    built = [a.report.judged.built for a in result.archives if a.report]
    assert len(built) == 3 and built[0] and built.count(built[0]) == 3
    assert objects[0] and objects == [objects[0]] * 3  # one cache: the 2nd and 3rd added none


@pytest.mark.shared
def test_the_real_esp_archive_does_not_compile_and_needs_esp_dl() -> None:
    name = compiler_name()
    code, doc, _ = run_json(str(real_dir()), "--jobs", "2")
    assert code == 1
    by_key = {a["key"].split("/")[0]: a for a in doc["archives"]}
    esp = by_key.pop(ESP)
    assert esp["status"] == "invalid" and esp["judged_by"] == f"reader + {name}"
    found = [(f["code"], f["member"], f["line"]) for f in esp["validation"]["findings"]
             if f["code"].startswith("B")]
    assert found[0] == ("B001", "codegen/host/src/default_lib0.c", 9796)
    needs = [m for c, m, _ in found if c == "B004"]
    assert len(needs) == len(found) - 1 == 9
    assert {w["why"] for w in esp["build"]["not_built"] if w["member"] in needs} == {
        "needs esp_kernel.h (ESP-DL); pass -I"}
    for key, a in by_key.items():  # every other real archive builds whole, and is valid
        assert a["status"] == "valid" and a["build"]["not_built"] == [], key
        assert a["build"]["linked"] is True, key
