"""`mlfcheck diff` on the real re-export pairs: exit codes, formats, schema, config, goldens."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import tarfile
from pathlib import Path

import pytest
from cli_helpers import invoke
from conftest import real_archives, shared_dir
from jsonschema import Draft202012Validator

from mlfcheck.cli.diff import diff
from mlfcheck.diff import diff_archives
from mlfcheck.diff.config import Threshold, load_config
from mlfcheck.diff.rules import Level, Rule
from mlfcheck.errors import UsageError
from mlfcheck.reading import schemas
from mlfcheck.reporters.diff import RENDERERS

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "diff"
REAL = shared_dir() / "fixtures" / "real-mlf"
AOT_A = "gubprof-microspeech-v5-aot-a/model.tar"
AOT_B = "gubprof-microspeech-v5-aot-b/model.tar"
V4 = "gub-microspeech-v4-graph/model.tar"
V5 = "gubprof-microspeech-v5-graph/model.tar"


pytestmark = pytest.mark.usefixtures("in_real_dir")


def run(*args: str) -> tuple[int, str, str]:
    """The CLI judged by the reader alone (the build layer: tests/integration/test_diff_build.py;
    goldens stay the same on any compiler)."""
    return invoke(diff, "--no-build", *args)


def test_the_aot_re_export_pair_has_no_change_and_says_only_function_order_differs() -> None:
    code, out, _ = run(AOT_A, AOT_B, "--fail-on", "info")
    assert code == 0
    assert "no changes; only ordering or volatile differences" in out
    assert "codegen: 2 of 8 functions appear in a different order (ordering only" in out
    assert "codegen (ordering only)" in out.splitlines()[-1]


def test_the_v4_v5_pair_reports_only_the_format_change_on_one_screen() -> None:
    code, out, _ = run(V4, V5)
    assert code == 0
    assert len(out.splitlines()) <= 24 and max(map(len, out.splitlines())) <= 120
    assert "D102  MLF version: 4 → 5" in out
    assert "D103  default: metadata key: runtimes → executors" in out
    assert "runtime-config/ → executor-config/" in out
    unchanged = out.splitlines()[-1]
    for section in ("memory", "codegen", "parameters", "graph config", "IR text"):
        assert section in unchanged
    result = diff_archives(V4, V5)
    assert sorted((c.rule.name, c.effective_level) for c in result.changes) == [
        ("D102", Level.INFO), ("D103", Level.INFO), ("D104", Level.INFO)]


def test_fail_on_picks_the_lowest_failing_level() -> None:
    assert run(V4, V5, "--fail-on", "info")[0] == 1
    assert run(V4, V5, "--fail-on", "warning")[0] == 0
    assert run(V5, V4)[0] == 1  # the version going down is breaking
    assert run(V5, V4, "--fail-on", "never")[0] == 0


def test_include_volatile_shows_the_export_time() -> None:
    code, out, _ = run(AOT_A, AOT_B, "--include-volatile", "--fail-on", "info")
    assert code == 1
    assert "D113  default: export_datetime: 2021-07-28 15:23:18Z → 2021-07-30 15:13:33Z" in out


@pytest.mark.parametrize("args", [("nope.tar", V5), (V5, "nope.tar")])
def test_a_missing_archive_is_exit_2_with_one_line(args: tuple[str, str]) -> None:
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "nope.tar: no such file" in err


def test_a_file_that_is_not_a_tar_is_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar archive" * 64)
    code, _, err = run(str(junk), V5)
    assert code == 2 and "junk.tar" in err and "Traceback" not in err


def _tar(tmp_path: Path, name: str, metadata: bytes) -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("./metadata.json")
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
    return path


def test_unusable_metadata_is_a_verdict_naming_the_archive_and_the_error(tmp_path: Path) -> None:
    broken = _tar(tmp_path, "broken.tar", b'{"version": 5, ')
    code, out, err = run(V5, str(broken))
    assert (code, err) == (1, "")  # a report (D114, test_diff_verdicts.py), not exit 2
    assert "broken.tar (MLF version unknown)" in out and "D114  metadata.json" in out


def test_an_archive_with_validation_errors_fails_the_gate_unless_allowed_and_says_which(
        tmp_path: Path) -> None:
    with tarfile.open(AOT_A) as src:
        members = [(m, src.extractfile(m).read() if m.isfile() else None)  # type: ignore[union-attr]
                   for m in src.getmembers() if "parameters" not in m.name]
    stripped = tmp_path / "no-params.tar"
    with tarfile.open(stripped, "w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    code, out, _ = run(AOT_A, str(stripped))
    assert code == 1  # the gate fails on invalid input ...
    assert "the new archive has 1 validation error; the gate fails unless --allow-invalid" in out
    assert "L001" in out and "parameters/default.params" in out
    assert "D502" in out and "INVALID input" in out.splitlines()[1]
    code, out, _ = run(AOT_A, str(stripped), "--allow-invalid")
    assert code == 0  # ... unless it is allowed, when only the changes count


def test_json_output_validates_against_its_schema_for_every_real_pair() -> None:
    validator = Draft202012Validator(schemas.load("diff-report.schema.json"))
    names = sorted(real_archives())
    for old in names[:4]:
        for new in names[-4:]:
            doc = json.loads(RENDERERS["json"](diff_archives(real_archives()[old],
                                                             real_archives()[new])))
            validator.validate(doc)
            assert doc["format"] == "mlfcheck-diff" and doc["format_version"] == 2


def test_every_format_is_byte_identical_across_runs() -> None:
    for fmt in RENDERERS:
        first, second = run(V4, V5, "--format", fmt), run(V4, V5, "--format", fmt)
        assert first == second


def test_output_file_gets_the_report(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    code, out, _ = run(V4, V5, "--format", "json", "-o", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["summary"]["info"] == 3


# -- configuration ---------------------------------------------------------------------------------


def _config(tmp_path: Path, text: str, name: str = "mlfcheck.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_level_overrides_and_allow_list_change_the_exit_code(tmp_path: Path) -> None:
    cfg = _config(tmp_path, """
[diff]
levels = { D102 = "breaking" }

[[diff.allow]]
rule = "D103"
reason = "we moved to v5 on purpose"

[[diff.allow]]
rule = "D104"
reason = "expired acceptance"
expires = 2020-01-01

[[diff.allow]]
rule = "D201"
module = "default"
reason = "never matches"
""")
    code, out, _ = run(V4, V5, "--config", str(cfg), "--fail-on", "breaking")
    assert code == 1
    assert out.index("breaking (1 change)") < out.index("D102  MLF version") < out.index(
        "info (2 changes)")
    assert "D103  default: metadata key: runtimes → executors (allowed)" in out
    assert "allowed: we moved to v5 on purpose" in out
    assert "config: expired allow-list entry D104 expires=2020-01-01" in out
    assert "config: unused allow-list entry D201 module=default (never matches)" in out
    assert out.splitlines()[1] == "1 breaking · 1 info · 1 allowed by the config"


def test_pyproject_tool_table_is_found_from_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, '[tool.mlfcheck.diff]\nlevels = { D104 = "warning" }\n', "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(str(REAL / V4), str(REAL / V5), "--fail-on", "warning")
    assert code == 1 and out.index("warning (1 change)") < out.index("D104  default: graph config")


def test_an_allow_entry_without_a_reason_is_a_usage_error(tmp_path: Path) -> None:
    cfg = _config(tmp_path, '[[diff.allow]]\nrule = "D201"\n')
    code, _, err = run(V4, V5, "--config", str(cfg))
    assert code == 2 and "[diff].allow[0]: 'reason' is a required property" in err


@pytest.mark.parametrize("text, message", [
    ('[diff]\nlevels = { D999 = "info" }\n', "unknown diff rule 'D999'"),
    ('[diff]\nlevels = { D101 = "fatal" }\n', "unknown level 'fatal'"),
    ('[diff]\nthresholds = { speed = "5%" }\n', "unknown metric 'speed'"),
    ('[diff]\nthresholds = { code = "lots" }\n', "not a number of bytes or a percentage"),
    ('[diff]\nfail = 1\n', "[diff]: unexpected key(s) 'fail'"),
    ('[diff]\nlevels = { D101 = 3 }\n', "[diff].levels.D101: 3 is not of type 'string'"),
    ('[[diff.allow]]\nrule = "D201"\nreason = " "\n', "[diff].allow[0].reason: ' ' does not"),
    ('[[diff.allow]]\nrule = "D201"\nreason = "x"\nexpires = "2025-13-01"\n',
     "expires '2025-13-01' is not a date"),
    ('diff = 3\n', "[diff]: 3 is not of type 'object'"),
    ("[diff\n", "not valid TOML"),
])
def test_config_mistakes_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        load_config(_config(tmp_path, text))


def test_threshold_flag_overrides_the_default_and_rejects_unknown_metrics() -> None:
    code, out, _ = run(V4, V5, "--format", "json", "--threshold", "workspace=4KiB",
                       "--threshold", "code=10%")
    assert code == 0
    assert json.loads(out)["thresholds"] == {"code": "10%", "constants": "5%",
                                             "workspace": "4096 B"}
    code, _, err = run(V4, V5, "--threshold", "speed=1")
    assert code == 2 and "--threshold 'speed=1'" in err


def test_thresholds_compare_growth_in_bytes_or_percent() -> None:
    assert Threshold.parse("10%", what="t").exceeded(100, 111)
    assert not Threshold.parse("10%", what="t").exceeded(100, 110)
    assert Threshold.parse("1KiB", what="t").exceeded(0, 1025)
    assert not Threshold.parse("4096", what="t").exceeded(10_000, 1)
    assert Threshold.parse("0%", what="t").exceeded(0, 1)


def test_allow_entries_match_by_subject_pattern_and_expire_after_their_day(
        tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, """
[[diff.allow]]
rule = "D103"
subject = "metadata*"
reason = "moved to v5"
expires = "2030-01-01"
"""))
    on_the_day = diff_archives(V4, V5, config=cfg, today=dt.date(2030, 1, 1))
    after = diff_archives(V4, V5, config=cfg, today=dt.date(2030, 1, 2))
    assert [c.rule for c in on_the_day.changes if c.allowed_by] == [Rule.D103]
    assert not on_the_day.config_problems
    assert not [c for c in after.changes if c.allowed_by]
    assert [p.kind for p in after.config_problems] == ["expired"]


# -- golden files ----------------------------------------------------------------------------------

CASES = sorted(GOLDEN.glob("*.args"))
EXTENSIONS = {"text": "txt", "json": "json", "markdown": "md"}


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_output_matches_its_golden_file(case: Path) -> None:
    """`<case>.args` holds the CLI arguments; `<case>.expected.<ext>` holds exit code + output."""
    args = case.read_text().split()
    fmt = args[args.index("--format") + 1] if "--format" in args else "text"
    expected = case.with_suffix(f".expected.{EXTENSIONS[fmt]}")
    code, out, _ = run(*args)
    actual = f"exit {code}\n{out}"
    if os.environ.get("MLFCHECK_REGEN_GOLDEN") == "1":
        expected.write_text(actual, encoding="utf-8")
    assert actual == expected.read_text(encoding="utf-8")


def test_text_and_markdown_each_have_a_golden_case_and_every_case_its_golden() -> None:
    formats = {}
    for case in CASES:
        args = case.read_text().split()
        formats[case.stem] = args[args.index("--format") + 1] if "--format" in args else "text"
        assert case.with_suffix(f".expected.{EXTENSIONS[formats[case.stem]]}").is_file(), case
    assert {"text", "markdown"} <= set(formats.values()) <= set(RENDERERS)
