"""`diff --consumer`: a change is breaking exactly when it breaks that consumer's reads."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from jsonschema import Draft202012Validator

from mlfcheck.cli import main
from mlfcheck.reading import schemas


def diff(old: Path, new: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "json", *args])
    doc = json.loads(result.stdout) if result.stdout.startswith("{") else {}
    return result.exit_code, doc


def breaking(doc: dict) -> list[str]:  # type: ignore[type-arg]
    return sorted(c["rule"] for c in doc["changes"] if c["level"] == "breaking")


def test_v4_to_v5_breaks_the_2021_tvmc_loader_at_runtimes(real: dict[str, Path]) -> None:
    code, doc = diff(real["gub-microspeech-v4-graph"], real["gubprof-microspeech-v5-graph"],
                     "--consumer", "tvmc-2021-07")
    assert code == 1
    assert breaking(doc) == ["D901"]
    (change,) = [c for c in doc["changes"] if c["rule"] == "D901"]
    assert "/runtimes" in change["subject"]
    assert doc["consumer"] == "tvmc-2021-07"
    Draft202012Validator(schemas.load("diff-report.schema.json")).validate(doc)


def test_v4_to_v5_does_not_break_the_zephyr_host_driven_template_which_reads_no_metadata(
        real: dict[str, Path]) -> None:
    code, doc = diff(real["gub-microspeech-v4-graph"], real["gubprof-microspeech-v5-graph"],
                     "--consumer", "zephyr-host-driven")
    assert code == 0 and breaking(doc) == []


def test_graph_to_aot_caps_the_executor_change_and_breaks_stm32_at_the_graph_file(
        real: dict[str, Path]) -> None:
    old, new = real["gubprof-microspeech-v5-graph"], real["gubprof-microspeech-v5-aot-a"]
    _, plain = diff(old, new)
    assert "D111" in breaking(plain)
    code, doc = diff(old, new, "--consumer", "stm32-2021")
    assert code == 1 and breaking(doc) == ["D901"]
    levels = {c["rule"]: c["level"] for c in doc["changes"]}
    assert levels["D111"] == "warning"


def test_a_consumer_that_cannot_read_the_old_archive_has_nothing_to_break(
        real: dict[str, Path]) -> None:
    code, doc = diff(real["gub-microspeech-v4-graph"], real["gubprof-microspeech-v5-graph"],
                     "--consumer", "tvmc-0.8")
    assert code == 0 and breaking(doc) == []
    assert any("cannot read the old archive" in n["text"] for n in doc["notes"])


def test_an_unknown_consumer_is_a_one_line_usage_error(real: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["diff", str(real["hannah-m3-v7-graph"]),
                                       str(real["hannah-m3-v7-graph"]), "--consumer", "nope"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "unknown consumer 'nope'" in result.stderr
