"""The campaign and `mlfcheck fuzz`: seeded draws, bucketed outcomes, reproducers, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import real_dir
from jsonschema import Draft202012Validator

from mlfcheck.children import Starter
from mlfcheck.cli.fuzz import fuzz
from mlfcheck.fuzz import campaign
from mlfcheck.fuzz.campaign import CampaignResult, Counterexample, draw
from mlfcheck.fuzz.models import render
from mlfcheck.fuzz.mutants import Edit, Mutant, run_with
from mlfcheck.fuzz.outcomes import Bucket
from mlfcheck.fuzz.properties import ALL, C_RUN, PATTERNS
from mlfcheck.fuzz.strategies import models, mutations
from mlfcheck.reading import schemas

REAL = str(real_dir())


def _result(found: bool) -> CampaignResult:
    bad = (Counterexample(Bucket.CRASH, "TypeError in x.py:f", 3, 7, "validate a as tar",
                          "Traceback ...\nTypeError: boom", None),) if found else ()
    counts = {Bucket.OK: 7, Bucket.CRASH: 3} if found else {Bucket.OK: 10}
    return CampaignResult("reader", 1, 10, 10, 2.0, 0.5, counts, bad, False, None, False)


@pytest.mark.shared
@pytest.mark.parametrize(("found", "code"), [(False, 0), (True, 1)])
def test_the_exit_code_says_whether_a_counterexample_was_found(
        monkeypatch: pytest.MonkeyPatch, found: bool, code: int) -> None:
    monkeypatch.setattr(campaign, "run_campaign",
                        lambda options, progress, starter: _result(found))
    done = CliRunner().invoke(fuzz, ["--target", "reader", "--fixtures", REAL])
    assert done.exit_code == code, done.output
    assert "fuzzing" not in done.output  # no progress bar when not on a terminal
    assert ("crash" in done.output) is found
    assert ("no counterexample found" in done.output) is not found


def test_a_campaign_that_cannot_run_exits_2_with_one_line() -> None:
    done = CliRunner().invoke(fuzz, ["--target", "reader"])
    assert done.exit_code == 2
    assert done.stderr.strip() == ("mlfcheck fuzz: error: reader fuzzing needs archives: "
                                   "give --fixtures PATH")


def test_the_same_seed_draws_the_same_examples() -> None:
    assert draw(models(), 15, 3) == draw(models(), 15, 3)
    assert draw(models(), 15, 3) != draw(models(), 15, 4)
    strategy = mutations(fixtures=["a", "b"])
    assert draw(strategy, 30, 1) == draw(strategy, 30, 1)


PLANTED = Mutant("validate-crashes", "validate raises on every archive", (Edit(
    "validate/__init__.py", "    with Archive(path, limits=limits) as archive:\n",
    "    raise LookupError('planted')\n    with Archive(path, limits=limits) as archive:\n"),))


@pytest.mark.shared
@pytest.mark.parametrize("mutant", [None, PLANTED], ids=["real", "planted-crash"])
def test_a_reader_campaign_buckets_every_example_and_writes_reproducers(
        tmp_path: Path, mutant: Mutant | None) -> None:
    out = tmp_path / "out"
    done = run_with(mutant, ["fuzz", "--target", "reader", "--examples", "30", "--seed", "7",
                             "--jobs", "2", "--fixtures", REAL, "--out", str(out),
                             "--format", "json"])
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    Draft202012Validator(schemas.load("fuzz-report.schema.json")).validate(report)
    assert report["format_version"] == 1 and report["ran"] == 30
    assert sum(report["counts"].values()) == 30
    assert (done.returncode == 1) == bool(report["counterexamples"])
    crashes = [c for c in report["counterexamples"] if "LookupError" in c["signature"]]
    assert bool(crashes) is (mutant is not None)
    for c in report["counterexamples"]:
        folder = Path(c["reproducer"])
        record = json.loads((folder / "reproducer.json").read_text())
        assert record["seed"] == 7 and record["replay"][0].startswith("mlfcheck ")
        assert record["bucket"] == c["bucket"] and record["signature"] == c["signature"]
        assert (folder / "input" / "pristine.tar").is_file()
        assert "LookupError" not in c["signature"] or "planted" in (
            folder / "detail.txt").read_text()
    for c in crashes:  # shrunk: one mutation step, read by validate from a plain tar
        assert c["shrunk"].startswith("validate ") and " as tar: " in c["shrunk"]
        assert c["shrunk"].count("(") == 1, c["shrunk"]


@pytest.mark.tvm
def test_an_exporter_campaign_runs_each_model_in_a_child(tmp_path: Path) -> None:
    pytest.importorskip("tvm")
    done = CliRunner().invoke(fuzz, ["--examples", "3", "--seed", "1", "--max-ops", "3",
                                     "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "ran 3 of 3 examples" in done.output and "no counterexample found" in done.output


@pytest.mark.shared
def test_shards_merge_into_the_unsharded_campaign(tmp_path: Path) -> None:
    args = ["fuzz", "--target", "reader", "--examples", "24", "--seed", "3", "--fixtures", REAL,
            "--no-shrink", "--format", "json"]
    whole = run_with(PLANTED, args)
    reports = []
    for k in (1, 2, 3):
        part = run_with(PLANTED, [*args, "--shard", f"{k}/3"])
        assert part.returncode == 1, part.stderr
        (tmp_path / f"{k}.json").write_text(part.stdout)
        reports.append(str(tmp_path / f"{k}.json"))
        assert json.loads(part.stdout)["ran"] == 8
    merged = CliRunner().invoke(fuzz, ["merge", *reports, "--format", "json"])
    assert merged.exit_code == 1, merged.output
    want, got = json.loads(whole.stdout), json.loads(merged.stdout)
    Draft202012Validator(schemas.load("fuzz-report.schema.json")).validate(got)
    assert got["counts"] == want["counts"] and got["ran"] == 24
    assert got["shards"] == [1, 2, 3] and got["shard_count"] == 3
    assert [(c["bucket"], c["signature"], c["count"], c["example"])
            for c in got["counterexamples"]] == [
        (c["bucket"], c["signature"], c["count"], c["example"])
        for c in want["counterexamples"]]
    again = CliRunner().invoke(fuzz, ["merge", reports[0], reports[0]])
    assert again.exit_code == 2
    assert again.stderr.strip() == "mlfcheck fuzz merge: error: shard 1 is given twice"


def test_the_c_run_goes_to_the_models_rich_in_what_only_c_checks() -> None:
    kinds = ("conv2d", "dense", "add", "requantize", "avg_pool2d", "depthwise_conv2d")
    rich = {"kernels": dict.fromkeys(kinds[:campaign.RICH - 2], 1), "copies": 1,
            "bool": True}  # exactly RICH things only C checks
    almost = {**rich, "bool": False}
    integer = {"kernels": {"requantize": 1}, "copies": 0, "bool": True}
    poor = {"kernels": {}, "copies": 0, "bool": True}
    sources = [f"model {i}" for i in range(1024)]
    levels = [campaign.deep_by_content(rich, s) for s in sources]
    assert all(level in (C_RUN, ALL) for level in levels)
    for content in (rich, almost, integer, poor):  # one in ALL_SHARE gets them all, whatever
        every = [campaign.deep_by_content(content, s) == ALL for s in sources]
        assert 0.025 < sum(every) / len(sources) < 0.08
        assert every == [campaign.deep_by_content(rich, s) == ALL for s in sources]
    for content in (poor, almost):  # below RICH: no C run but by that share
        assert {campaign.deep_by_content(content, s) for s in sources} <= {0, PATTERNS, ALL}
    patterns = [campaign.deep_by_content(integer, s) for s in sources]
    assert 0.2 < patterns.count(PATTERNS) / len(sources) < 0.45  # one in PATTERN_SHARE
    assert patterns == [campaign.deep_by_content(integer, s)
                        for s in sources]  # by the source, not by chance


def test_the_distribution_counts_models_per_integer_rule_and_content() -> None:
    specs = draw(models(max_ops=3), 2, 1)
    contents = [{"kernels": {"conv2d": 1, "add": 2}, "copies": 1, "bool": False, "deep": ALL},
                {"kernels": {"conv2d": 2}, "copies": 0, "bool": True, "deep": 0}]
    table = campaign.distribution(specs, [None, None], contents)
    assert table["integer_kernels"] == {"add": 1, "conv2d": 2}
    assert table["content"] == {"bool tensors": 1, "copy steps": 1, "every deep oracle": 1,
                                "int8 patterns checked": 1, "integer kernels": 2,
                                "run in C": 1}



def test_the_examples_most_likely_to_be_deep_start_first(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tvm")
    started: list[Any] = []

    def record(calls: list[Any], **_: Any) -> Iterator[Any]:
        started.extend(calls)
        yield from ()

    monkeypatch.setattr(campaign, "call_all", record)
    options = campaign.Options("exporter", examples=30, seed=3)
    campaign.run_campaign(options, starter=Starter())
    drawn = [render(s).source for s in draw(models(max_ops=30, min_ops=10), 30, 3)]
    specs = {render(s).source: s for s in draw(models(max_ops=30, min_ops=10), 30, 3)}
    costs = [campaign.expected_cost(specs[c.arg["source"]]) for c in started]
    assert len(started) == len(specs) and len(set(costs)) > 2
    assert costs == sorted(costs, reverse=True)  # not the order of the draw:
    assert [c.arg["source"] for c in started] != list(dict.fromkeys(drawn))
