"""`audit --shard K/N` and `audit --merge` (issue 24 §5): the N shard records of an audit merge
into the very report the audit gives run whole, in every format, byte for byte, with the same
exit code and the same lines on stderr; what is not the N shards of one audit is one line and
exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import invoke
from conftest import real_dir

from mlfcheck.cli.audit import audit
from mlfcheck.reporters.audit import RENDERERS
from mlfcheck.version import __version__

pytestmark = pytest.mark.shared


def run(*args: str) -> tuple[int, str, str]:
    """The audit CLI in-process: (exit code, stdout, stderr)."""
    return invoke(audit, *args)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A release (PATH) and its baseline: a breaking change, an unchanged archive, a new one,
    an extracted folder whose C does not build, an unreadable tar, and an archive only the
    baseline has."""
    root = tmp_path_factory.mktemp("release")
    archives = {"new/speech": "gubprof-microspeech-v5-aot-a", "new/hannah": "hannah-m3-v7-graph",
                "new/sine": "sine-aot-v5-zephyr", "old/speech": "gubprof-microspeech-v5-graph",
                "old/sine": "sine-aot-v5-zephyr", "old/gone": "gub-microspeech-v4-graph"}
    for key, fixture in archives.items():
        (root / key).mkdir(parents=True)
        shutil.copy(real_dir() / fixture / "model.tar", root / key / "model.tar")
    shutil.copytree(real_dir() / "esp32s3-example-v7-aot", root / "new" / "esp")
    (root / "new" / "broken.tar").write_bytes(b"\0" * 10 + b"garbage" * 100)
    return str(root / "new"), str(root / "old")


def shards(tmp_path: Path, count: int, *args: str) -> list[str]:
    """Run the audit as `count` shards (records in tmp_path); each exits as its part's audit."""
    records = []
    for k in range(1, count + 1):
        records.append(str(tmp_path / f"shard-{k}-of-{count}.json"))
        code, out, _ = run(*args, "--shard", f"{k}/{count}", "-o", records[-1])
        assert code in (0, 1, 2) and out == ""
    return records


@pytest.fixture(scope="module")
def whole(release: tuple[str, str]) -> dict[str, tuple[int, str, str]]:
    """The audit run whole, in each format: (exit code, stdout, stderr)."""
    new, old = release
    return {fmt: run(new, "--baseline", old, "--no-build", "--jobs", "1", "--format", fmt)
            for fmt in sorted(RENDERERS)}


@pytest.mark.parametrize("count", [1, 2, 7], ids=["1-shard", "2-shards", "more-shards-than-items"])
def test_merged_shards_give_the_whole_audits_report_in_every_format(
        release: tuple[str, str], whole: dict[str, tuple[int, str, str]], tmp_path: Path,
        count: int) -> None:
    new, old = release
    records = shards(tmp_path, count, new, "--baseline", old, "--no-build", "--jobs", "1")
    for fmt, expected in whole.items():
        assert run("--merge", *records, "--format", fmt) == expected
    code, out, err = whole["json"]
    assert code == 2 and "broken.tar" in err  # the unreadable tar, as whole
    assert json.loads(out)["summary"] == {"archives": 5, "valid": 4, "invalid": 0,
                                          "unreadable": 1, "compared": 2, "failing": 1,
                                          "removed": 1}


def test_merged_shards_of_a_built_audit_say_what_judged_as_the_whole(
        release: tuple[str, str], tmp_path: Path) -> None:
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no host C compiler (apt-get install gcc)")
    new, _ = release
    paths = (f"{new}/sine", f"{new}/hannah", f"{new}/broken.tar", "--jobs", "1")
    records = shards(tmp_path, 2, *paths)
    whole = run(*paths, "--format", "markdown")
    assert run("--merge", *records, "--format", "markdown", "-o", str(tmp_path / "r.md")) == (
        whole[0], "", whole[2])
    assert (tmp_path / "r.md").read_text(encoding="utf-8") == whole[1]
    assert whole[1].count("| ✅ valid | reader + gcc") == 2  # each archive built on the host
    assert "| 3 | `broken.tar` | ⛔ unreadable |" in whole[1]


def test_a_shard_exits_as_its_part_of_the_audit(release: tuple[str, str],
                                                tmp_path: Path) -> None:
    new, old = release
    args = (new, "--baseline", old, "--no-build", "--jobs", "1")
    # items in discovery order: broken.tar, esp, hannah, sine, speech (breaking)
    codes = [run(*args, "--shard", f"{k}/5", "-o", str(tmp_path / f"{k}.json"))[0]
             for k in range(1, 6)]
    assert codes == [2, 0, 0, 0, 1]
    record = json.loads((tmp_path / "5.json").read_text(encoding="utf-8"))
    assert (record["format"], record["tool"]["version"]) == ("mlfcheck-audit-shard",
                                                             __version__)
    assert record["shard"] == [5, 5] and len(record["keys"]) == 5
    assert [a["item"]["key"] for a in record["result"]["archives"]] == ["speech/model.tar"]


@pytest.fixture(scope="module")
def records(release: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The three shard records of the release's audit (no build)."""
    new, old = release
    return shards(tmp_path_factory.mktemp("records"), 3, new, "--baseline", old, "--no-build",
                  "--jobs", "1")


def one_line_exit_2(*args: str) -> str:
    code, out, err = run(*args)
    assert (code, out, len(err.splitlines())) == (2, "", 1), err
    return err.strip()


def test_merging_what_is_not_every_shard_of_one_audit_is_one_line(
        release: tuple[str, str], records: list[str], tmp_path: Path) -> None:
    new, old = release
    assert one_line_exit_2("--merge", *records[:2]).endswith(
        "shard 3/3 is missing (give all 3 records)")
    assert one_line_exit_2("--merge", *records, records[0]).endswith(
        f"{records[0]}: shard 1/3 is {records[0]} again")
    other = shards(tmp_path, 3, new, "--baseline", old, "--no-build", "--jobs", "1",
                   "--fail-on", "never")
    assert one_line_exit_2("--merge", records[0], *other[1:]).endswith(
        "are not shards of one audit: --fail-on differ")
    (tmp_path / "halves").mkdir()
    halves = shards(tmp_path / "halves", 2, new, "--no-build", "--jobs", "1")
    assert one_line_exit_2("--merge", *records, *halves).endswith(
        f"{halves[0]}: shard 1/2, but {records[0]} is one of 3")


def test_a_file_that_is_not_a_shard_record_is_one_line(
        release: tuple[str, str], records: list[str], tmp_path: Path) -> None:
    new, _ = release
    report = tmp_path / "report.json"
    run(new, "--no-build", "--format", "json", "-o", str(report))
    assert one_line_exit_2("--merge", str(report)).endswith(
        "not a shard record of mlfcheck audit --shard")
    doc = json.loads(Path(records[0]).read_text(encoding="utf-8"))
    doc["result"]["archives"][0]["item"]["kind"] = 7
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    assert one_line_exit_2("--merge", str(edited), *records[1:]).endswith(
        "not a shard record: unexpected value at /result/archives/0/item/kind")
    doc["tool"]["version"] = "0.0.1"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    assert "a shard record of another mlfcheck version" in one_line_exit_2(
        "--merge", str(edited), *records[1:])
    (tmp_path / "garbage.json").write_bytes(b"\xff\xfe not json")
    assert "is not UTF-8" in one_line_exit_2("--merge", str(tmp_path / "garbage.json"))


def test_shard_and_merge_refuse_what_does_not_apply(release: tuple[str, str],
                                                   records: list[str]) -> None:
    new, _ = release
    assert one_line_exit_2(new, "--shard", "1/2", "--format", "markdown").endswith(
        "--shard writes a shard record; give --format to 'mlfcheck audit --merge'")
    assert one_line_exit_2("--merge", *records, "--jobs", "2").endswith(
        "--merge reads shard records: --jobs belongs to the --shard runs")
    for wrong in ("0/2", "3/2", "1/0", "a/b", "²/3", "1/2/3"):
        assert one_line_exit_2(new, "--shard", wrong).endswith(
            f"--shard {wrong!r} is not K/N with 1 ≤ K ≤ N")
