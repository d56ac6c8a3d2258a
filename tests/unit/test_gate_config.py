"""A gate a pull request cannot relax (issue 20 §4): `--no-config` on diff and audit, and every
report format saying which configuration judged and what it overrides."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_helpers import invoke
from gate_helpers import FIXTURE, RELAXING, RENAME, as_tar
from jsonschema import Draft202012Validator

from mlfcheck.cli.audit import audit
from mlfcheck.cli.diff import diff
from mlfcheck.diff import diff_archives
from mlfcheck.diff.config import DiffConfig, Threshold, config_for, load_config
from mlfcheck.diff.result import ConfigOverrides
from mlfcheck.diff.rules import Level, Rule
from mlfcheck.errors import UsageError
from mlfcheck.reading import schemas

HOSTILE = ('[diff.levels]\nD409 = "info"\nD101 = "breaking"\n\n[diff.thresholds]\ncode = "5%"\n'
           'workspace = "4KiB"\n\n[[diff.allow]]\nrule = "D201"\nsubject = "*|<b>*"\n'
           'reason = "see <img src=x onerror=alert(1)> | @team\\u001b[31m"\n')
"""A config that relaxes D409, sets D101 to its own default and code to its own default (neither
an override), sets the workspace threshold, and has an allow entry whose text is markup."""


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The base archive and the pull request's (an entry point renamed), in a working directory
    whose mlfcheck.toml relaxes D409, as a pull request's checkout would have it."""
    (tmp_path / "base.tar").write_bytes(as_tar(FIXTURE))
    (tmp_path / "pr.tar").write_bytes(as_tar(FIXTURE, RENAME))
    (tmp_path / "mlfcheck.toml").write_text(RELAXING, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return "base.tar", "pr.tar"


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schemas.load(name))


# -- --no-config ---------------------------------------------------------------------------------


def test_the_working_directory_config_relaxes_the_gate_and_no_config_does_not(
        pair: tuple[str, str], tmp_path: Path) -> None:
    relaxed, _, _ = invoke(diff, *pair)
    code, out, _ = invoke(diff, *pair, "--no-config")
    assert relaxed == 0  # what a pull request's own mlfcheck.toml does without --no-config
    assert code == 1
    assert "breaking (1 change)" in out
    assert "config: --no-config (defaults)" in out.splitlines()[3]
    base = tmp_path / "base.toml"
    base.write_text('[diff.thresholds]\ncode = "50%"\n', encoding="utf-8")
    code, out, _ = invoke(diff, *pair, "--config", str(base))
    assert code == 1
    assert f"config: {base} (overrides 1 threshold)" in out
    assert "  threshold code: 5% → 50%" in out


@pytest.mark.parametrize("command", [diff, audit], ids=["diff", "audit"])
def test_config_and_no_config_together_are_a_usage_error(pair: tuple[str, str],
                                                         command: object) -> None:
    args = [*pair, "--config", "mlfcheck.toml", "--no-config"]
    if command is audit:
        args = [pair[1], "--baseline", pair[0], "--jobs", "1", *args[2:]]
    code, out, err = invoke(command, *args)  # type: ignore[arg-type]
    assert (code, out) == (2, "")
    assert err.strip().endswith("error: --config and --no-config cannot both be given")
    assert len(err.strip().splitlines()) == 1


def test_config_for_reads_the_nearest_file_unless_told_otherwise(tmp_path: Path) -> None:
    (tmp_path / "mlfcheck.toml").write_text(RELAXING, encoding="utf-8")
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    found = config_for(None, no_config=False, start=inner)
    assert found.source == str(tmp_path / "mlfcheck.toml")
    assert found.level_of(Rule.D409) is Level.INFO
    skipped = config_for(None, no_config=True, start=inner)
    assert skipped == DiffConfig(no_config=True) and skipped.level_of(Rule.D409) is Level.BREAKING
    with pytest.raises(UsageError, match="cannot both be given"):
        config_for("mlfcheck.toml", no_config=True, start=inner)


# -- what the configuration overrides ------------------------------------------------------------


def test_overrides_list_only_what_differs_from_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "mlfcheck.toml"
    path.write_text(HOSTILE, encoding="utf-8")
    config = load_config(path).with_thresholds({"flash": Threshold(10, True)})
    o = config.overrides()
    assert o.levels == ((Rule.D409, Level.INFO),)
    assert o.thresholds == (("flash", "5%", "10%"), ("workspace", "5%", "4096 B"))
    assert o.allow == (("D201 subject='*|<b>*'",
                        "see <img src=x onerror=alert(1)> | @team\x1b[31m"),)
    assert not o.no_config
    assert DiffConfig().overrides() == ConfigOverrides()
    assert DiffConfig(no_config=True).with_thresholds({}).overrides().no_config


def test_every_diff_format_names_the_file_and_its_overrides(pair: tuple[str, str],
                                                            tmp_path: Path) -> None:
    (tmp_path / "mlfcheck.toml").write_text(HOSTILE, encoding="utf-8")
    where = str(tmp_path / "mlfcheck.toml")
    _, text, _ = invoke(diff, *pair, "--threshold", "code=1KiB")
    assert text.splitlines()[3:8] == [
        f"config: {where} (overrides 1 level, 2 thresholds, 1 allow-list entry)",
        "  level D409: breaking → info",
        "  threshold code: 5% → 1024 B",
        "  threshold workspace: 5% → 4096 B",
        "  allow D201 subject='*|<b>*': see <img src=x onerror=alert(1)> | @team\\x1b[31m"]

    _, md, _ = invoke(diff, *pair, "--format", "markdown")
    assert f"**config**: `{where}` (overrides 1 level, 1 threshold, 1 allow-list entry)" in md
    assert "- level D409: breaking → info" in md
    assert ("- allow D201 subject='\\*\\|\\<b\\>\\*': see \\<img src=x onerror=alert(1)\\> "
            "\\| @&#8203;team\\\\x1b\\[31m") in md
    assert not re.search(r"(?<!\\)<(img|b)", md) and "\x1b" not in md

    _, out, _ = invoke(diff, *pair, "--format", "json")
    doc = json.loads(out)
    validator("diff-report.schema.json").validate(doc)
    assert doc["config"] == {
        "source": where, "no_config": False,
        "levels": [{"rule": "D409", "default": "breaking", "level": "info"}],
        "thresholds": [{"metric": "workspace", "default": "5%", "value": "4096 B"}],
        "allow": [{"entry": "D201 subject='*|<b>*'",
                   "reason": "see <img src=x onerror=alert(1)> | @team\x1b[31m"}],
        "problems": [{"kind": "unused", "entry": "D201 subject='*|<b>*'",
                      "reason": "see <img src=x onerror=alert(1)> | @team\x1b[31m"}]}


def test_no_config_and_no_file_are_told_apart(pair: tuple[str, str], tmp_path: Path) -> None:
    _, out, _ = invoke(diff, *pair, "--no-config", "--format", "json")
    doc = json.loads(out)
    validator("diff-report.schema.json").validate(doc)
    assert doc["config"] == {"source": None, "no_config": True, "levels": [], "thresholds": [],
                             "allow": [], "problems": []}
    (tmp_path / "mlfcheck.toml").unlink()
    _, md, _ = invoke(diff, *pair, "--format", "markdown")
    assert "**config**: no file (defaults)" in md
    _, md, _ = invoke(diff, *pair, "--format", "markdown", "--no-config")
    assert "**config**: --no-config (defaults)" in md


def test_the_api_result_carries_the_overrides(pair: tuple[str, str], tmp_path: Path) -> None:
    result = diff_archives(*pair, config=load_config(tmp_path / "mlfcheck.toml"))
    assert result.config_source == str(tmp_path / "mlfcheck.toml")
    assert result.config_overrides.levels == ((Rule.D409, Level.INFO),)
    assert [c.allowed_by for c in result.changes if c.rule is Rule.D409] == ["renamed"]


# -- audit ---------------------------------------------------------------------------------------


def _release(tmp_path: Path) -> list[str]:
    for side, rename in (("base", None), ("release", RENAME)):
        (tmp_path / side).mkdir()
        (tmp_path / side / "add.tar").write_bytes(as_tar(FIXTURE, rename))
    return ["release", "--baseline", "base", "--jobs", "1"]


def test_audit_is_judged_without_the_working_directory_config_when_told(
        pair: tuple[str, str], tmp_path: Path) -> None:
    args = _release(tmp_path)
    relaxed, _, _ = invoke(audit, *args, "--format", "json")
    code, out, _ = invoke(audit, *args, "--format", "json", "--no-config")
    assert (relaxed, code) == (0, 1)
    doc = json.loads(out)
    validator("audit-report.schema.json").validate(doc)
    assert doc["config"] == {"source": None, "no_config": True, "levels": [], "thresholds": [],
                             "allow": []}
    assert doc["archives"][0]["baseline"]["diff"]["config"]["no_config"] is True


def test_every_audit_format_names_the_file_and_its_overrides(pair: tuple[str, str],
                                                             tmp_path: Path) -> None:
    (tmp_path / "mlfcheck.toml").write_text(HOSTILE, encoding="utf-8")
    where = str(tmp_path / "mlfcheck.toml")
    args = _release(tmp_path)
    heading = "(overrides 1 level, 1 threshold, 1 allow-list entry)"

    _, out, _ = invoke(audit, *args, "--format", "json")
    doc = json.loads(out)
    validator("audit-report.schema.json").validate(doc)
    assert doc["config"]["source"] == where
    assert doc["config"]["levels"] == [{"rule": "D409", "default": "breaking", "level": "info"}]

    _, md, _ = invoke(audit, *args, "--format", "markdown")
    assert f"**config**: `{where}` {heading}" in md.splitlines()[4]
    assert not re.search(r"(?<!\\)<(img|b)", md) and "\x1b" not in md

    _, html, _ = invoke(audit, *args, "--format", "html")
    assert f"<p>Diff configuration: <code>{where}</code> {heading}</p>" in html
    assert "<li>level D409: breaking → info</li>" in html
    assert "&lt;img src=x onerror=alert(1)&gt; | @team\\x1b[31m</li>" in html

    _, xml, _ = invoke(audit, *args, "--format", "junit")
    properties = [(p.get("name"), p.get("value"))
                  for p in ET.fromstring(xml).iter("property")
                  if p.get("name", "").startswith("mlfcheck.config")]
    assert properties == [
        ("mlfcheck.config", f"{where} {heading}"),
        ("mlfcheck.config.override", "level D409: breaking → info"),
        ("mlfcheck.config.override", "threshold workspace: 5% → 4096 B"),
        ("mlfcheck.config.override",
         "allow D201 subject='*|<b>*': see <img src=x onerror=alert(1)> | @team\\x1b[31m")]
