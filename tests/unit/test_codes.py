"""Every finding code fires on a fixture made for it and stays silent on every valid archive.

The invalid fixtures under fixtures/invalid/ sit next to golden files (`<stem>.expected.json`:
exit code, sorted codes, and any extra arguments); `fixtures/make_fixtures.py` regenerates the
archives byte-identically, and rewrites the goldens only with MLFCHECK_REGEN_GOLDEN=1.
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fixture_writer import mf

from mlfcheck.cli import main
from mlfcheck.findings import Code
from mlfcheck.validate.checks import CHECKS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
INVALID = sorted(p for p in (FIXTURES / "invalid").glob("*.tar*"))
VALID = sorted(FIXTURES.glob("*.tar*"))
REGEN_HINT = ("if the change is intended, run: MLFCHECK_REGEN_GOLDEN=1 python "
              "fixtures/make_fixtures.py")

EXPECTED_WARNINGS: dict[str, set[str]] = {
    "v5-aot-add.tar.gz": {"A107"},  # gzip'd on purpose: the one compressed valid fixture
    "esp32s3-example-v7-aot": {"C001"},  # runtime/ removed upstream; see PROVENANCE.md
}
"""Findings valid archives are known to get, and why; every other finding is a failure."""

BUILD_FINDINGS: dict[str, set[str]] = {
    # default_lib0.c was edited upstream into C no compiler accepts (a file-scope statement,
    # line 9796); nine files need ESP-DL's esp_kernel.h (not built here, info)
    "esp32s3-example-v7-aot": {"B001", "B004"},
}
"""B codes (`validate --build`) valid archives are known to get, and why."""
HOST_CC = shutil.which("gcc") or shutil.which("cc")

SIZE_LIMIT = 20_000
SIZE_EXCEPTIONS = {"v7-multi-module.tar": 24 * 1024}
"""v7-multi-module.tar carries two modules, the CRT stand-in and a header (§7.4 item 21)."""




def golden_of(path: Path) -> dict[str, Any]:
    return json.loads(mf.golden_path(path).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def validate_json(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """Exit code and the archive's JSON report from `mlfcheck validate --format json`."""
    result = CliRunner().invoke(main, ["validate", "--format", "json", *args, str(path)])
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result.exit_code, json.loads(result.stdout)["archives"][0]


def codes_in(report: dict[str, Any]) -> list[str]:
    return sorted({f["code"] for f in report.get("findings", [])})


def valid_archives() -> dict[str, Path]:
    """The synthetic valid fixtures and the real archives, by name."""
    from conftest import real_archives

    return {**{p.name: p for p in VALID}, **real_archives()}


@cache
def codes_reported_by_valid_archives() -> dict[str, tuple[int, tuple[str, ...]]]:
    """Exit code and codes of every valid archive, computed once for all parametrised tests."""
    out = {}
    for name, path in valid_archives().items():
        exit_code, report = validate_json(path)
        out[name] = (exit_code, tuple(codes_in(report)))
    return out


# (a) golden files ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_fixture_reports_exactly_the_findings_of_its_golden_file(path: Path) -> None:
    golden = golden_of(path)
    args = tuple(golden.pop("args", ()))
    assert mf.observed(path, args) == golden, REGEN_HINT


def test_every_invalid_fixture_has_a_golden_file_and_is_named_after_a_code_it_reports() -> None:
    assert INVALID, "no invalid fixtures; run python fixtures/make_fixtures.py"
    for path in INVALID:
        assert mf.golden_path(path).is_file(), f"{path.name} has no golden; {REGEN_HINT}"
        code = path.name.split("-", 1)[0]
        assert code in Code.__members__, path.name
        assert code in golden_of(path)["codes"], path.name
    goldens = sorted((FIXTURES / "invalid").glob("*.expected.json"))
    assert len(goldens) == len(INVALID), "a golden file without its fixture"


# (b) every code has a failing and a passing input --------------------------------------------


@pytest.mark.parametrize("code", [c.name for c in Code])
def test_code_is_triggered_by_some_invalid_fixture(code: str) -> None:
    assert any(code in golden_of(p)["codes"] for p in INVALID), \
        f"no fixture in fixtures/invalid/ triggers {code}; add a Case to make_fixtures.py"


@pytest.mark.parametrize("code", [c.name for c in Code])
def test_code_is_not_reported_for_any_valid_archive_unless_documented(code: str) -> None:
    offenders = [name for name, (_, codes) in codes_reported_by_valid_archives().items()
                 if code in codes and code not in EXPECTED_WARNINGS.get(name, set())]
    assert not offenders


@cache
def build_codes_of_valid_archives() -> dict[str, tuple[int, tuple[str, ...]]]:
    """Exit code and B codes of every valid archive validated with --build."""
    out = {}
    for name, path in valid_archives().items():
        exit_code, report = validate_json(path, "--build")
        out[name] = (exit_code, tuple(c for c in codes_in(report) if c.startswith("B")))
    return out


@pytest.mark.skipif(HOST_CC is None, reason="B codes need a host C compiler (gcc or cc)")
@pytest.mark.parametrize("code", [c.name for c in Code if c.name.startswith("B")])
def test_build_code_is_not_reported_for_any_valid_archive_built_unless_documented(
        code: str) -> None:
    """B codes fire only with --build, so the test above cannot see them: build every valid
    and real archive."""
    offenders = [name for name, (_, codes) in build_codes_of_valid_archives().items()
                 if code in codes and code not in BUILD_FINDINGS.get(name, set())]
    assert not offenders


# (c) the check table -------------------------------------------------------------------------


@pytest.mark.parametrize("code", [c.name for c in Code])
def test_code_belongs_to_exactly_one_check(code: str) -> None:
    owners = [chk.name for chk in CHECKS if Code[code] in chk.codes]
    assert len(owners) == 1, owners


def test_checks_declare_only_known_codes_and_each_code_once() -> None:
    declared = [c for chk in CHECKS for c in chk.codes]
    assert len(declared) == len(set(declared))
    assert set(declared) == set(Code)


@pytest.mark.parametrize("check", CHECKS, ids=[chk.name for chk in CHECKS])
def test_check_has_a_docstring_saying_what_it_enforces(check: Any) -> None:
    assert (check.fn.__doc__ or "").strip()
    assert check.doc


# (d) valid archives validate -----------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_synthetic_valid_archive_validates_with_exit_zero_and_no_unexpected_finding(
        path: Path) -> None:
    exit_code, codes = codes_reported_by_valid_archives()[path.name]
    assert exit_code == 0
    assert set(codes) == EXPECTED_WARNINGS.get(path.name, set())


def test_every_real_archive_validates_with_exit_zero_and_only_documented_warnings(
        real: dict[str, Path]) -> None:
    assert real
    for name in real:
        exit_code, codes = codes_reported_by_valid_archives()[name]
        assert exit_code == 0, name
        assert set(codes) == EXPECTED_WARNINGS.get(name, set()), name


def test_the_synthetic_fixtures_cover_every_version_and_both_styles() -> None:
    names = {p.name for p in VALID}
    assert names == set(mf.VALID)
    assert {n.split("-")[0] for n in names} == {f"v{v}" for v in range(1, 8)}


# (e) determinism and size --------------------------------------------------------------------


def test_regenerating_the_fixtures_gives_byte_identical_files(tmp_path: Path) -> None:
    written = mf.generate(tmp_path)
    fresh = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in written}
    committed = {p.relative_to(FIXTURES).as_posix(): p.read_bytes() for p in VALID + INVALID}
    assert sorted(fresh) == sorted(committed), "fixtures/ is stale; run make_fixtures.py"
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert not changed, f"regenerated bytes differ: {changed}"
    assert not list(tmp_path.rglob("*.expected.json")), "goldens written without the env var"


def test_generated_archives_are_rooted_at_dot_and_owned_by_root_with_a_fixed_mtime() -> None:
    import tarfile

    assert VALID, "no valid fixtures; run python fixtures/make_fixtures.py"
    for path in VALID:
        with tarfile.open(path) as tar:
            members = tar.getmembers()
        assert members[0].name == "."
        assert all(m.name.startswith("./") for m in members[1:]), path.name
        assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
            (0, 0, "root", "root", mf.MTIME)}, path.name
        names = [m.name for m in members]
        assert names == sorted(names, key=lambda n: n.split("/")), path.name


def test_the_fixtures_readme_describes_every_archive() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert VALID and INVALID, "no fixtures; run python fixtures/make_fixtures.py"
    missing = [p.name for p in VALID + INVALID if f"`{p.name}`" not in readme]
    assert not missing


def test_fixtures_stay_small() -> None:
    assert VALID and INVALID, "no fixtures; run python fixtures/make_fixtures.py"
    for path in VALID + INVALID:
        limit = SIZE_EXCEPTIONS.get(path.name, SIZE_LIMIT)
        assert path.stat().st_size < limit, path.name
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert total < 1_000_000


# Gaps once found in the checks, kept as regression tests --------------------------------------


def test_an_operator_that_is_only_declared_and_called_is_reported_x001(tmp_path: Path) -> None:
    files = mf.aot7()
    files["codegen/host/src/add_lib0.c"] = files["codegen/host/src/add_lib0.c"].replace(
        b"fused_cast_multiply_add", b"fused_cast_multiply_add_1")
    path = tmp_path / "declared-only.tar"
    path.write_bytes(mf.tar_bytes(mf.entries_of(files)))
    exit_code, report = validate_json(path)
    assert "X001" in codes_in(report)
    assert exit_code == 1


def test_a_v5_archive_with_its_graph_under_runtime_config_reports_v001(tmp_path: Path) -> None:
    files = mf._with_meta(mf.v6_graph(), mf._set(["version"], 5))
    files = mf._with_meta(files, mf._set(["target"], {"1": mf.TARGET_2022}))
    files["runtime-config/graph/graph.json"] = files.pop("executor-config/graph/graph.json")
    path = tmp_path / "v5-runtime-config.tar"
    path.write_bytes(mf.tar_bytes(mf.entries_of(files)))
    _, report = validate_json(path)
    assert "V001" in codes_in(report)
