"""The fresh-process exporter: a campaign's server answers with the bytes a newly started
`mlfcheck export` writes, from a process with the oracle's own hash seed, says why an export
failed, leaves nothing running, and a fresh export still works once the server is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfcheck.fuzz.fresh import FRESH_HASH_SEED, FreshExporter, export
from mlfcheck.fuzz.models import Input, Layer, ModelSpec, render

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")

MODEL = ModelSpec((Input((1, 3, 8, 8), "float32"),),
                  (Layer("conv2d", option=3), Layer("relu"), Layer("max_pool2d", option=1)))


def _servers(socket: Path) -> list[int]:
    """Pids of the processes serving `socket` (their command line names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(socket).encode() in \
                    (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:  # it ended meanwhile
            continue
    return found


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.py"
    path.write_text(render(MODEL).source)
    return path


def test_a_served_export_is_the_started_process_s_and_runs_with_the_fresh_hash_seed(
        model: Path, tmp_path: Path) -> None:
    with FreshExporter(tmp_path) as server:
        assert server is not None
        (pid,) = _servers(server)
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"PYTHONHASHSEED={FRESH_HASH_SEED}".encode() in environ
        assert export(model, tmp_path / "served.tar", server) is None
        assert export(model, tmp_path / "again.tar", server) is None
    assert not _servers(server)
    assert export(model, tmp_path / "started.tar", None) is None
    served = (tmp_path / "served.tar").read_bytes()
    assert served[257:262] == b"ustar"  # a tar archive
    assert served == (tmp_path / "started.tar").read_bytes() == \
        (tmp_path / "again.tar").read_bytes()


def test_a_served_export_that_fails_says_why(tmp_path: Path) -> None:
    with FreshExporter(tmp_path) as server:
        why = export(tmp_path / "missing.py", tmp_path / "out.tar", server)
    assert why is not None and "missing.py" in why and "no such file" in why


def test_without_its_server_a_fresh_export_starts_its_own_process(model: Path,
                                                                   tmp_path: Path) -> None:
    gone = tmp_path / "gone.sock"
    assert export(model, tmp_path / "out.tar", gone) is None
    assert (tmp_path / "out.tar").read_bytes()[257:262] == b"ustar"
