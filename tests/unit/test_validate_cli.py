"""validate/show/explain/schema through the CLI on real archives; outputs checked by schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from cli_helpers import invoke
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for
from parse_spy import parsed_files

from mlfcheck.cli import main
from mlfcheck.diff.rules import Rule
from mlfcheck.findings import Code
from mlfcheck.reading import schemas

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = Path(os.environ.get("MLFCHECK_SARIF_SCHEMA",
                                   REPO / ".cache" / "sarif" / "sarif-2.1.0.json"))

# Warnings the real archives get, and why they are right (docs/validate.md lists the same).
EXPECTED_REAL_WARNINGS = {
    "esp32s3-example-v7-aot": ["C001"],
}


def run(*args: str) -> tuple[int, str, str]:
    return invoke(main, *args)


def test_every_real_archive_validates_with_exit_zero_and_only_the_documented_warnings(
        real: dict[str, Path]) -> None:
    assert real
    for name, path in real.items():
        code, out, _ = run("validate", "--format", "json", str(path))
        assert code == 0, out
        doc = json.loads(out)
        found = sorted(f["code"] for f in doc["archives"][0]["findings"])
        assert found == EXPECTED_REAL_WARNINGS.get(name, []), name


def test_strict_turns_the_documented_warnings_into_errors(real: dict[str, Path]) -> None:
    code, out, _ = run("validate", "--strict", str(real["esp32s3-example-v7-aot"]))
    assert code == 1
    assert "C001 error" in out


def test_ignore_and_select_filter_by_code_and_prefix(real: dict[str, Path]) -> None:
    esp = str(real["esp32s3-example-v7-aot"])
    _, out, _ = run("validate", "--ignore", "C001", esp)
    assert "C001" not in out and "0 warnings" in out
    _, out, _ = run("validate", "--select", "C00", "--ignore", "C002", esp)
    assert "C001" in out
    _, out, _ = run("validate", "--select", "C", "--ignore", "C00", esp)
    assert "C001" not in out


def test_an_unknown_code_in_select_is_a_usage_error(real: dict[str, Path]) -> None:
    code, _, err = run("validate", "--select", "Z999", str(real["hannah-m3-v7-graph"]))
    assert code == 2
    assert err.strip().count("\n") == 0 and "Z999" in err


def test_json_report_validates_against_its_schema_for_every_real_archive(
        real: dict[str, Path]) -> None:
    code, out, _ = run("validate", "--format", "json", *map(str, real.values()))
    assert code == 0
    doc = json.loads(out)
    Draft202012Validator(schemas.load("validate-report.schema.json")).validate(doc)
    assert [a["path"] for a in doc["archives"]] == [str(p) for p in real.values()]


def test_json_report_of_an_unreadable_archive_still_validates(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive at all" * 40)
    code, out, err = run("validate", "--format", "json", str(bad))
    assert code == 2
    doc = json.loads(out)
    Draft202012Validator(schemas.load("validate-report.schema.json")).validate(doc)
    assert "not a tar archive" in doc["archives"][0]["error"]
    assert "Traceback" not in err


def test_sarif_report_validates_against_the_official_sarif_schema(real: dict[str, Path]) -> None:
    if not SARIF_SCHEMA.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"SARIF schema missing at {SARIF_SCHEMA}; .ci/run fetches it")
        pytest.skip(f"SARIF schema not fetched ({SARIF_SCHEMA}); run .ci/run once")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    code, out, _ = run("validate", "--format", "sarif", *map(str, real.values()))
    assert code == 0
    doc = json.loads(out)
    validator_for(schema)(schema).validate(doc)
    results = doc["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"C001"}
    located = results[0]["locations"][0]["physicalLocation"]
    assert located["artifactLocation"]["uri"] == "metadata.json"
    assert located["region"]["startLine"] > 1


def test_reports_are_byte_identical_across_runs(real: dict[str, Path]) -> None:
    assert real  # with no archive, validate is a usage error, identical every time
    for fmt in ("text", "json", "sarif", "markdown"):
        first = run("validate", "--format", fmt, *map(str, real.values()))[1]
        assert first == run("validate", "--format", fmt, *map(str, real.values()))[1]


def test_text_report_locates_findings_by_line_column_and_pointer(real: dict[str, Path]) -> None:
    _, out, _ = run("validate", str(real["esp32s3-example-v7-aot"]))
    assert ("metadata.json:11:18#/modules/default/external_dependencies/0/url: C001 warning"
            in out)


def test_output_option_writes_the_report_to_a_file(real: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    code, out, _ = run("validate", "--format", "markdown", "-o", str(target),
                       str(real["hannah-m3-v7-graph"]))
    assert code == 0 and out == ""
    assert target.read_text().startswith("| archive | verdict |")


def test_show_reports_memory_io_codegen_and_parameters(real: dict[str, Path]) -> None:
    code, out, _ = run("show", str(real["hannah-m3-v7-graph"]))
    assert code == 0
    assert "workspace 28,128 B (27.5 KiB), constants 17,200 B (16.8 KiB), io 1,552 B" in out
    assert "input                conv2d_input: float32, 1,536 B" in out
    assert "tvmgen_default_fused_nn_dense_add_nn_relu: 14,368 B (14.0 KiB)" in out
    assert "codegen/host/src/default_lib2.c      17,563 B, 9 functions" in out
    assert "8 tensors, 17,200 B (16.8 KiB) (float32 x8)" in out


def test_show_json_validates_against_its_schema_for_every_real_archive(
        real: dict[str, Path]) -> None:
    validator = Draft202012Validator(schemas.load("show-report.schema.json"))
    assert real
    for path in real.values():
        code, out, _ = run("show", "--format", "json", str(path))
        assert code == 0
        validator.validate(json.loads(out))


def test_show_markdown_has_a_table_per_module(real: dict[str, Path]) -> None:
    _, out, _ = run("show", "--format", "markdown", str(real["esp32s3-example-v7-aot"]))
    assert "| TVM version | 0.14.dev0 |" in out
    assert "| `codegen/host/src/default_lib10.c` | 643 | 1 |" in out


def test_explain_prints_every_code_and_rejects_unknown_ones() -> None:
    for c in Code:
        code, out, _ = run("explain", c.name)
        assert code == 0 and c.info.explanation in out
    code, _, err = run("explain", "Q123")
    assert code == 2 and "Q123" in err


def test_schema_list_and_show_print_the_shipped_schemas() -> None:
    code, out, _ = run("schema", "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()][:7] == [
        f"mlf-v{v}.schema.json" for v in range(1, 8)]
    code, out, _ = run("schema", "show", "5")
    assert json.loads(out)["$id"].endswith("mlf-v5.schema.json")
    code, _, err = run("schema", "show", "99")
    assert code == 2 and "known versions" in err


@pytest.mark.parametrize("argv", [["validate", "A"], ["show", "A"], ["explain"], ["schema", "list"],
                                  ["diff", "A", "B"], ["compat", "A", "--all"], ["audit", "A"]])
def test_read_only_commands_never_import_tvm(argv: list[str], real: dict[str, Path]) -> None:
    archives = {"A": str(real["gub-microspeech-v4-graph"]),
                "B": str(real["gubprof-microspeech-v5-graph"])}
    args = [archives.get(a, a) for a in argv]
    probe = ("import sys, runpy\nsys.argv = ['mlfcheck', *sys.argv[1:]]\ncode = 0\n"
             "try:\n    runpy.run_module('mlfcheck', run_name='__main__')\n"
             "except SystemExit as exc:\n    code = exc.code\n"
             "assert not [m for m in sys.modules if m.split('.')[0] == 'tvm'], 'tvm'\n"
             "print('NO-TVM', code)\n")
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    # exit 0 or 1: the command did its work (a usage error, exit 2, stops before it imports)
    assert result.stdout.splitlines()[-1:] in (["NO-TVM 0"], ["NO-TVM 1"]), (
        result.stdout[-500:], result.stderr)


def _loaded_commands(*argv: str) -> set[str]:
    """The subcommand modules imported by running `mlfcheck ARGV` in a fresh interpreter."""
    probe = ("import sys, runpy\nsys.argv = ['mlfcheck', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('mlfcheck', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('LOADED', *sorted(m for m in sys.modules if m.startswith('mlfcheck.cli.')))\n")
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                         cwd=REPO, timeout=60, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("LOADED"))
    return set(line.split()[1:]) - {"mlfcheck.cli._common"}


def test_every_command_loads_lazily_and_has_help() -> None:
    from mlfcheck.cli import COMMANDS

    assert _loaded_commands("--help") == set()
    for name in COMMANDS:
        code, out, _ = run(name, "--help")
        assert code == 0 and out.startswith(f"Usage: main {name}"), name
    assert _loaded_commands("explain", "--help") == {"mlfcheck.cli.explain"}
    code, out, _ = run("--version")
    assert code == 0 and "mlfcheck" in out


def test_explain_knows_diff_rules_and_lists_every_code_and_rule() -> None:
    code, out, _ = run("explain", "d505")
    assert code == 0 and out.startswith(f"D505 ({Rule.D505.level}): {Rule.D505.title}")
    assert Rule.D505.explanation in out
    code, out, _ = run("explain", "--list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(Code) + len(Rule)
    assert f"A101  error     {Code.A101.title}" in lines
    assert f"D101  breaking  {Rule.D101.title}" in lines


def test_the_docs_list_every_finding_code_with_its_severity_and_title() -> None:
    codes_page = (REPO / "docs" / "reference" / "codes.md").read_text(encoding="utf-8")
    for c in Code:
        assert f"| {c.name} | {c.severity} | {c.title} |" in codes_page, c.name


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if "pytest" in line
                   and line.startswith("pip install"))
    assert command in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_a_float_where_metadata_needs_an_integer_is_a_schema_violation(tmp_path: Path) -> None:
    with tarfile.open(REPO / "fixtures" / "v6-graph-add.tar") as tar:
        tar.extractall(tmp_path, filter="data")
    meta_path = tmp_path / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["memory"]["functions"]["main"][0]["device"] = 1.0
    meta_path.write_text(json.dumps(meta))
    code, out, _ = run("validate", str(tmp_path))
    assert code == 1
    assert "S003" in out and "1.0 is not of type 'integer'" in out


def test_every_shipped_schema_is_a_valid_draft_2020_12_schema_with_an_id() -> None:
    for name in schemas.schema_names():
        doc = schemas.load(name)
        Draft202012Validator.check_schema(doc)
        assert doc["$id"].endswith(name) and doc["title"] and doc["description"], name


@pytest.mark.parametrize(("ignore", "parsed"), [
    ((), ["codegen/host/src/add_lib0.c", "codegen/host/src/add_lib1.c",
          "codegen/host/include/tvmgen_add.h"]),
    (("--ignore", "X001,X003,X004,X005,X006,X007"), ["codegen/host/include/tvmgen_add.h"]),
])
def test_validate_parses_the_c_its_checks_need_and_no_more(
        monkeypatch: pytest.MonkeyPatch, ignore: tuple[str, ...], parsed: list[str]) -> None:
    seen = parsed_files(monkeypatch)
    code, out, _ = invoke(main, "validate", str(REPO / "fixtures" / "v5-aot-add.tar.gz"),
                          *ignore)
    assert code == 0, out
    assert sorted(seen) == sorted(parsed)  # each file once; X002 needs only the header
