"""Reader fuzzing: mutated real archives through validate, show and diff never escape the CLI's
documented exits, never write outside their temp dir and never follow a link member."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import have_shared, real_dir
from fuzz_helpers import THOROUGH, budget
from hypothesis import HealthCheck, given, settings

from mlfcheck.cli import main
from mlfcheck.fuzz.guard import Guard, guarded
from mlfcheck.fuzz.properties import reader_survives
from mlfcheck.fuzz.reader import (
    CANARY,
    MUTATION_KINDS,
    Mutation,
    MutationSpec,
    load_fixtures,
    materialize,
    mutate,
)
from mlfcheck.fuzz.replay import command_line
from mlfcheck.fuzz.strategies import mutations

pytestmark = pytest.mark.shared
FIXTURES = load_fixtures([real_dir()]) if have_shared() else {}


@settings(max_examples=budget(200, 10_000), deadline=None, derandomize=not THOROUGH,
          database=None, suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.function_scoped_fixture])
@given(spec=mutations(fixtures=sorted(FIXTURES) or ["(no real fixtures)"]))
def test_mutated_archives_exit_through_documented_paths(spec: MutationSpec,
                                                        tmp_path: Path) -> None:
    scratch = Path(tempfile.mkdtemp(dir=tmp_path))
    reader_survives(spec, FIXTURES[spec.fixture], scratch, seconds=20)  # raises when it fails


FOUND = [  # shrunk counterexamples of `mlfcheck fuzz --target reader --examples 10000 --seed 0`
    MutationSpec("gubprof-microspeech-v5-aot-b", "tar", (Mutation("json", 1559, 6988),), "diff"),
    MutationSpec("hannah-m3-v7-graph", "tar", (Mutation("json", 14140, 230),), "diff"),
    MutationSpec("esp32s3-example-v7-aot", "tar", (Mutation("json", 3458, 67),),
                 "diff-reversed"),
    MutationSpec("sine-aot-v5-zephyr", "tar", (Mutation("json", 327, 880),), "diff-reversed"),
    MutationSpec("gub-microspeech-v4-graph", "tar", (Mutation("json", 31977, 331),), "diff"),
    MutationSpec("gubprof-microspeech-v5-graph", "tar", (Mutation("json", 1048575, 3997),),
                 "diff-reversed"),
    MutationSpec("gub-microspeech-v4-graph", "tar", (Mutation("json", 135, 3345),), "diff"),
    MutationSpec("gub-microspeech-v4-graph", "tar", (Mutation("json", 135, 3345),), "show"),
    MutationSpec("esp32s3-example-v7-aot", "tar", (Mutation("json", 1359, 1359),), "validate"),
]


@pytest.mark.parametrize("spec", FOUND, ids=lambda s: f"{s.command}-{s.fixture}")
def test_counterexamples_the_campaign_found_now_exit_as_the_cli_does(spec: MutationSpec,
                                                                     tmp_path: Path) -> None:
    code = reader_survives(spec, FIXTURES[spec.fixture], tmp_path / "a", seconds=20)
    assert code in (1, 2)  # every one of them is broken: never clean
    path = materialize(spec, FIXTURES[spec.fixture], tmp_path / "b")
    pristine = tmp_path / "pristine.tar"
    pristine.write_bytes(FIXTURES[spec.fixture])
    done = CliRunner().invoke(main, command_line(spec, path, pristine))
    assert done.exit_code == code, done.output


@pytest.mark.parametrize("kind", MUTATION_KINDS)
def test_every_mutation_kind_changes_the_archive(kind: str) -> None:
    original = FIXTURES["sine-aot-v5-zephyr"]
    changed = [mutate(MutationSpec("sine-aot-v5-zephyr", "tar", (Mutation(kind, w, v),)),
                      original, "/nonexistent")[1] != original
               for w in range(0, 4000, 997) for v in range(5)]
    assert sum(changed) >= len(changed) * 3 // 4, f"{sum(changed)} of {len(changed)} changed"


def test_materialize_never_writes_outside_its_scratch_folder(tmp_path: Path) -> None:
    scratch = tmp_path / "inner" / "scratch"
    folders = [scratch / str(value) for value in range(30)]
    for value, folder in enumerate(folders):
        spec = MutationSpec("hannah-m3-v7-graph", "folder",
                            (Mutation("rename", 3, value), Mutation("link", 5, value)))
        written = materialize(spec, FIXTURES[spec.fixture], folder)
        assert written.parent == folder and any(written.iterdir())
    outside = [p for p in tmp_path.rglob("*")
               if p not in (tmp_path / "inner", scratch) and not any(
                   p == f or f in p.parents for f in folders)]
    assert outside == []


def test_the_guard_reports_writes_outside_and_opens_of_the_canary(tmp_path: Path) -> None:
    inside = tmp_path / "scratch"
    inside.mkdir()
    (tmp_path / CANARY).write_text("x")
    with guarded(inside) as guard:
        (inside / "ok.txt").write_text("fine")
        assert guard.wrote is None
        (tmp_path / CANARY).read_text()
        (tmp_path / "escaped.txt").write_text("no")
    assert guard.followed is not None and guard.followed.endswith(CANARY)
    assert guard.wrote is not None and "escaped.txt" in guard.wrote


def test_a_process_installs_one_guard_whoever_asks() -> None:
    # Audit hooks cannot be removed: the hook list itself says whether there is a guard.
    assert Guard.installed() is Guard.installed()


def test_a_fifo_in_a_folder_archive_is_never_opened(tmp_path: Path) -> None:
    # Opening a FIFO for reading blocks until a writer comes: a reader that did would time out.
    spec = MutationSpec("sine-aot-v5-zephyr", "folder", (Mutation("device", 0, 2),), "validate")
    folder = materialize(spec, FIXTURES[spec.fixture], tmp_path / "seen")
    assert [p for p in folder.rglob("*") if stat.S_ISFIFO(p.lstat().st_mode)]  # there is one
    assert reader_survives(spec, FIXTURES[spec.fixture], tmp_path / "read", seconds=5) == 1
