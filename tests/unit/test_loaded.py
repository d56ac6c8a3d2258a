"""The loading layer: each archive's metadata, model and graph config are read once per command,
audit validates each archive once, and the one usability rule is applied everywhere."""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke
from conftest import REPO, real_archives

from mlfcheck import audit as audit_module
from mlfcheck import diff as diff_module
from mlfcheck.audit import audit, discover
from mlfcheck.cli import main
from mlfcheck.reading import loaded
from mlfcheck.reading.archive import Archive
from mlfcheck.reading.loaded import Loaded, Unavailable, UnusableArchive
from mlfcheck.reading.model import Model

V5_GRAPH = "gubprof-microspeech-v5-graph"
V4_GRAPH = "gub-microspeech-v4-graph"


def _count(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
           key: Callable[..., str]) -> Counter[str]:
    """Count calls of `owner.name`, keyed by `key(*args)`."""
    counts: Counter[str] = Counter()
    real = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        counts[key(*args)] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return counts


@pytest.mark.shared
def test_a_diff_parses_each_json_member_and_builds_each_model_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    parses = _count(monkeypatch, loaded, "parse_bytes", lambda data, **_: "json")
    models = Counter[str]()
    real = Model.from_metadata.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Model], meta: dict[str, Any], version: int) -> Model:
        models[json.dumps(meta, sort_keys=True)[:80]] += 1
        return real(cls, meta, version)  # type: ignore[no-any-return]

    monkeypatch.setattr(Model, "from_metadata", classmethod(counting))
    archives = real_archives()
    code, _, _ = invoke(main, "diff", str(archives[V4_GRAPH]), str(archives[V5_GRAPH]))
    assert code == 0
    # metadata.json and graph.json of each side: four documents, each parsed once
    assert parses["json"] == 4
    assert sum(models.values()) == 2 and set(models.values()) == {1}


@pytest.mark.shared
def test_audit_validates_each_archive_and_its_baseline_once(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: Counter[str] = Counter()
    for module in (audit_module, diff_module):
        real = module.validate_loaded

        def counting(ctx: Loaded, *, _real: Any = real, **kwargs: Any) -> Any:
            seen[Path(ctx.archive.path).parent.name] += 1
            return _real(ctx, **kwargs)

        monkeypatch.setattr(module, "validate_loaded", counting)
    archives = real_archives()
    names = [V5_GRAPH, "sine-aot-v5-zephyr"]
    result = audit(discover([str(archives[n]) for n in names]),
                   baseline=discover([str(archives[n]) for n in names]))
    assert all(a.comparison and a.comparison.result for a in result.archives)
    assert seen == {V5_GRAPH: 2, "sine-aot-v5-zephyr": 2}  # once as current, once as baseline


def _tar(path: Path, metadata: bytes) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("./metadata.json")
        info.size = len(metadata)
        import io

        tar.addfile(info, io.BytesIO(metadata))
    return path


@pytest.mark.parametrize(("metadata", "code"), [
    (b"{", "M004"), (b"[]", "S001"), (b'{"version": 99}', "S002"),
    (b'{"version": 7, "modules": 3}', "S003"),
])
def test_one_usability_rule_names_the_first_finding(tmp_path: Path, metadata: bytes,
                                                    code: str) -> None:
    path = _tar(tmp_path / "m.tar", metadata)
    with Archive(path) as archive:
        ctx = Loaded(archive)
        assert isinstance(ctx.model, Unavailable) and ctx.model.finding.code.name == code
        first = ctx.model.finding.message
        # the message carries the finding's text, not its code
        with pytest.raises(UnusableArchive, match=r"m\.tar: cannot compare, metadata is "
                           r"unusable: metadata\.json:") as raised:
            ctx.usable_model(str(path), "compare")
        assert first in str(raised.value)
    exit_code, _, err = invoke(main, "show", str(path))
    assert exit_code == 2 and "metadata is unusable" in err and len(err.splitlines()) == 1
    assert first in err, err
    exit_code, out, err = invoke(main, "diff", str(path), str(path))  # a verdict (D114's rule)
    assert (exit_code, err) == (1, "") and "metadata is unusable" in out and first in out


def test_a_schema_invalid_archive_the_normaliser_reads_is_still_summarised(
        tmp_path: Path) -> None:
    with tarfile.open(REPO / "fixtures" / "v6-graph-add.tar") as src:
        members = {m.name: (m, src.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                   for m in src.getmembers()}
    meta = json.loads(members["./metadata.json"][1])
    meta["surprise"] = True
    out = tmp_path / "v6-extra-key.tar"
    with tarfile.open(out, "w") as tar:
        for name, (info, data) in members.items():
            if name == "./metadata.json":
                data = json.dumps(meta).encode()
                info.size = len(data)
            import io

            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    code, out_text, _ = invoke(main, "validate", str(out))
    assert code == 1 and "S003" in out_text
    code, out_text, _ = invoke(main, "show", str(out))
    assert code == 0 and "MLF v6" in out_text
