"""Files named on the command line or in manifests (issue 12 §5, §6): configuration, consumer
profiles, audit manifests, schema names and output paths.

Each bad file ends in one line on stderr and exit 2, within seconds, and no error quotes the
file's content. An audit killed by SIGTERM removes its temporary folders.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixture_writer import mf

from mlfcheck.cli import main

SECRET = "AWS_SECRET_ACCESS_KEY=hunter2"
"""Content that must never appear in an error message."""


def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    if cwd is not None:
        os.chdir(cwd)
    started = time.perf_counter()
    result = CliRunner().invoke(main, list(args))
    assert time.perf_counter() - started < 10, args
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text[-2000:]
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def one_line_exit_2(args: list[str], says: str) -> str:
    code, out, err = run(*args)
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert says in lines[0], lines[0]
    assert SECRET not in out + err
    return lines[0]


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no configuration of this repository is found
    path = tmp_path / "a.tar"
    path.write_bytes(mf.tar_bytes(mf.entries_of(mf.aot7())))
    return path


# -- configuration (diff --config, [tool.mlfcheck]) ----------------------------------------------


BAD_CONFIGS = {
    "tool-a-string": ('tool = "mlfcheck"\n', "[tool] must be a table"),
    "mlfcheck-a-number": ("[tool]\nmlfcheck = 3\n", "[tool.mlfcheck] must be a table"),
    "diff-a-list": ("[tool.mlfcheck]\ndiff = [1]\n", "is not of type 'object'"),
    "levels-a-string": ('[tool.mlfcheck.diff]\nlevels = "x"\n', "levels: 'x' is not of type"),
    "threshold-10^400": ("[tool.mlfcheck.diff.thresholds]\nworkspace = 1" + "0" * 400 + "\n",
                         "too large"),
    "threshold-5000-digits": ("[tool.mlfcheck.diff.thresholds]\nworkspace = 1" + "0" * 5000
                              + "\n", "a number is too long"),
    "nested-100k-deep": ("[tool.mlfcheck]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n",
                         "nested too deeply"),
    "allow-not-a-table": ("[tool.mlfcheck.diff]\nallow = [1]\n", "allow[0]: 1 is not of type"),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_a_bad_pyproject_configuration_is_one_line(name: str, archive: Path) -> None:
    text, says = BAD_CONFIGS[name]
    config = archive.parent / "pyproject.toml"
    config.write_text(text, encoding="utf-8")
    one_line_exit_2(["diff", str(archive), str(archive), "--config", str(config)], says)


def test_configuration_that_is_not_utf8_names_the_offset_not_the_bytes(archive: Path) -> None:
    config = archive.parent / "mlfcheck.toml"
    config.write_bytes(b"# " + SECRET.encode() + b"\n\xff\xfe")
    line = one_line_exit_2(["diff", str(archive), str(archive), "--config", str(config)],
                           "not UTF-8 (invalid byte at offset 32)")
    assert "hunter2" not in line


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "folder"])
def test_configuration_profile_and_manifest_must_be_regular_files(special: str,
                                                                  archive: Path) -> None:
    path = Path(special)
    if special == "fifo":
        path = archive.parent / "fifo"
        os.mkfifo(path)
    elif special == "folder":
        path = archive.parent / "folder"
        path.mkdir()
    if special == "folder":  # click refuses it as a usage error (exit 2, with usage)
        assert run("diff", str(archive), str(archive), "--config", str(path))[0] == 2
        assert run("compat", "--profile", str(path), str(archive))[0] == 2
        return
    one_line_exit_2(["diff", str(archive), str(archive), "--config", str(path)],
                    "not a regular file")
    one_line_exit_2(["compat", "--profile", str(path), str(archive)], "not a regular file")
    one_line_exit_2(["audit", str(path), "--jobs", "1"], "not a regular file")


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(archive: Path) -> None:
    big = archive.parent / "mlfcheck.toml"
    with open(big, "wb") as fh:
        fh.truncate(2 << 30)  # a sparse 2 GiB file
    one_line_exit_2(["diff", str(archive), str(archive), "--config", str(big)],
                    "larger than 1048576 bytes")


# -- consumer profiles -----------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "says"), [
    (b"[" * 10_000 + b"]" * 10_000, "nesting deeper than 16"),
    (b'{"name": 1' + b"0" * 5000 + b"}", "too long"),
    (b'{"name": 1e999}', "infinity"),
    (b"\xff\xfe{}", "invalid UTF-8"),
    (b'{"name": "x", "name": "y"}', "duplicate key"),
    (b'["' + SECRET.encode() + b'"]', "not a consumer profile"),
])
def test_a_bad_profile_is_one_line(content: bytes, says: str, archive: Path) -> None:
    profile = archive.parent / "p.json"
    profile.write_bytes(content)
    line = one_line_exit_2(["compat", "--profile", str(profile), str(archive)], says)
    assert len(line) < 600


# -- manifests -------------------------------------------------------------------------------------


def test_a_manifest_naming_a_secret_file_never_echoes_its_content(archive: Path) -> None:
    secret = archive.parent / "environ"
    secret.write_text(f"{SECRET}\nPATH=/usr/bin\n", encoding="utf-8")
    manifest = archive.parent / "release.txt"
    manifest.write_text(f"{archive.name}\n{secret}\n", encoding="utf-8")
    line = one_line_exit_2(["audit", str(manifest), "--jobs", "1"], "no such file")
    assert line.endswith(f"{secret}:1: no such file or directory"), line


def test_an_entry_that_does_not_exist_is_named_by_manifest_and_line(archive: Path) -> None:
    manifest = archive.parent / "release.txt"
    manifest.write_text("# comment\nmissing-" + SECRET + ".tar\n", encoding="utf-8")
    one_line_exit_2(["audit", str(manifest), "--jobs", "1"], f"{manifest}:2: no such file")


def test_manifests_that_list_each_other_are_a_cycle(archive: Path) -> None:
    a, b = archive.parent / "a.txt", archive.parent / "b.txt"
    a.write_text("b.txt\n", encoding="utf-8")
    b.write_text("a.txt\n", encoding="utf-8")
    one_line_exit_2(["audit", str(a), "--jobs", "1"], "a cycle of manifests")


def test_nested_manifests_cannot_fan_out_to_millions_of_entries(archive: Path) -> None:
    folder = archive.parent
    (folder / "m0.txt").write_text("a.tar\n" * 20, encoding="utf-8")
    for level in range(1, 12):
        (folder / f"m{level}.txt").write_text(f"m{level - 1}.txt\n" * 20, encoding="utf-8")
    started = time.perf_counter()
    one_line_exit_2(["audit", str(folder / "m11.txt"), "--jobs", "1"],
                    "manifests expand to more than 100000 entries")
    assert time.perf_counter() - started < 5


def test_manifests_nested_deeper_than_16_are_refused(archive: Path) -> None:
    folder = archive.parent
    (folder / "m0.txt").write_text("a.tar\n", encoding="utf-8")
    for level in range(1, 20):
        (folder / f"m{level}.txt").write_text(f"m{level - 1}.txt\n", encoding="utf-8")
    one_line_exit_2(["audit", str(folder / "m19.txt"), "--jobs", "1"], "nested more than 16")


# -- schema names and output paths -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "../pyproject.toml",
                                  "mlf-v7.schema.json/../../README.md"])
def test_schema_show_accepts_only_shipped_names(name: str) -> None:
    one_line_exit_2(["schema", "show", name], "no schema named")


def test_schema_show_still_prints_a_shipped_schema() -> None:
    code, out, _ = run("schema", "show", "mlf-v7.schema.json")
    assert code == 0 and '"title"' in out


@pytest.mark.parametrize("command", ["validate", "show", "compat"])
def test_an_output_path_that_cannot_be_written_is_one_line(command: str, archive: Path) -> None:
    extra = ["--all"] if command == "compat" else []
    one_line_exit_2([command, *extra, "-o", "/nonexistent/x", str(archive)],
                    "cannot write /nonexistent/x")


# -- SIGTERM ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_audit_killed_by_sigterm_removes_its_temporary_folders(jobs: str,
                                                                  tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    data = mf.tar_bytes(mf.entries_of(mf.aot7()))
    for i in range(400):
        (zoo / f"a{i:03d}.tar").write_bytes(data)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen([sys.executable, "-m", "mlfcheck", "audit", str(zoo), "--jobs", jobs,
                             "--format", "json"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while not [f for f in ours(scratch) if f.parent != scratch]:  # a job's, in the audit's
        assert proc.poll() is None, "the audit ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGTERM)  # as CI does: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert b"Traceback" not in err, err.decode()[-2000:]
    assert ours(scratch) == []


def ours(tmp: Path) -> list[Path]:
    """mlfcheck's temporary folders anywhere below `tmp` (the audit's, its jobs', its
    children's)."""
    return [Path(top, name) for top, folders, _ in os.walk(tmp) for name in folders
            if name.startswith("mlfcheck-")]
