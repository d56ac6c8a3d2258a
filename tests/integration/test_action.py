"""The GitHub Action (action.yml): its `run:` steps, run as the runner runs them, gate a pull
request on the base branch's archive and configuration, whatever mlfcheck.toml the pull request
brings.

A real base/PR pair lives in two git repositories, as a runner sees them: `origin` holding the
base branch, and a clone with the pull request's commit checked out. The steps run under
`bash --noprofile --norc -eo pipefail`, each with its own GITHUB_OUTPUT file and the `env:` the
action gives it; `uses:` steps (setup-python) are not run: the tests pass `install: "false"` and
use the mlfcheck under test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from gate_helpers import FIXTURE, RELAXING, RENAME, as_tar
from shared_paths import REPO, real_archives

ACTION = REPO / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CONDITION = re.compile(r"^inputs\.([\w-]+) (==|!=) '([^']*)'$")
STEP_OUTPUT = re.compile(r"^steps\.([\w-]+)\.outputs\.([\w-]+)$")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


# -- running the action's steps ------------------------------------------------------------------


@dataclass
class Ran:
    """How the action ended: the exit code of its last step run, its outputs, the job summary."""

    code: int
    outputs: dict[str, str]
    summary: str
    log: str


def _expand(text: str, inputs: dict[str, str], steps: dict[str, dict[str, str]]) -> str:
    def value(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr.startswith("inputs."):
            return inputs[expr.removeprefix("inputs.")]
        if expr == "github.action_path":
            return str(REPO)
        out = STEP_OUTPUT.match(expr)
        assert out, f"action.yml: this test cannot evaluate ${{{{ {expr} }}}}"
        return steps.get(out.group(1), {}).get(out.group(2), "")
    return EXPRESSION.sub(value, text)


def _runs(step: dict[str, Any], inputs: dict[str, str]) -> bool:
    condition = step.get("if")
    if condition is None:
        return True
    m = CONDITION.match(condition)
    assert m, f"action.yml: this test cannot evaluate if: {condition}"
    return (inputs[m.group(1)] == m.group(3)) == (m.group(2) == "==")


def run_action(workdir: Path, given: dict[str, str], base_ref: str = "main") -> Ran:
    """The action's steps in `workdir`, as a runner would run them on a pull_request event."""
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()} | given
    runner = workdir.parent / "runner"
    runner.mkdir(exist_ok=True)
    summary = runner / "summary.md"
    env = {**os.environ, "GITHUB_BASE_REF": base_ref, "RUNNER_TEMP": str(runner),
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTION_PATH": str(REPO),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    steps: dict[str, dict[str, str]] = {}
    code, log = 0, []
    for n, step in enumerate(action["runs"]["steps"]):
        if not _runs(step, inputs):
            continue
        assert "run" in step, f"step {n} ({step.get('uses')}) would run; the test cannot"
        assert step["shell"] == "bash"
        script, output = runner / f"step{n}.sh", runner / f"step{n}.out"
        script.write_text(_expand(step["run"], inputs, steps), encoding="utf-8")
        output.write_text("")
        step_env = {k: _expand(str(v), inputs, steps) for k, v in step.get("env", {}).items()}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=workdir, env={**env, **step_env, "GITHUB_OUTPUT": str(output)},
                              capture_output=True, text=True, timeout=300, check=False)
        log.append(done.stdout + done.stderr)
        steps[step.get("id", str(n))] = dict(
            line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        code = done.returncode
        if code:
            break
    outputs = {k: _expand(v["value"], inputs, steps) for k, v in action["outputs"].items()}
    return Ran(code, outputs, summary.read_text() if summary.exists() else "", "".join(log))


# -- a base branch and a pull request ------------------------------------------------------------


def git(where: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=where, env={**os.environ, **GIT_ENV}, check=True,
                   capture_output=True, timeout=60)


def pull_request(tmp_path: Path, *, base: dict[str, bytes], change: dict[str, bytes]) -> Path:
    """A clone of an `origin` whose main holds `base`, with a commit that writes `change`
    checked out: the working directory of a pull_request job after actions/checkout."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    for name, data in base.items():
        (origin / name).parent.mkdir(parents=True, exist_ok=True)
        (origin / name).write_bytes(data)
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "base")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(origin), str(checkout))
    git(checkout, "checkout", "-q", "-b", "pr")
    for name, data in change.items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(data)
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "pull request")
    return checkout


def plain_diff(checkout: Path, base: Path, new: str) -> int:
    """Exit code of `mlfcheck diff` run in the checkout the way a workflow did before: with the
    pull request's own mlfcheck.toml."""
    return subprocess.run([sys.executable, "-m", "mlfcheck", "diff", str(base), new],
                          cwd=checkout, capture_output=True, timeout=300,
                          check=False).returncode


# -- the committed fixture: runs without ../shared -----------------------------------------------


def test_a_pull_request_that_adds_a_config_relaxing_d409_still_fails_the_gate(
        tmp_path: Path) -> None:
    checkout = pull_request(
        tmp_path, base={"models/add.tar": as_tar(FIXTURE)},
        change={"models/add.tar": as_tar(FIXTURE, RENAME),
                "mlfcheck.toml": RELAXING.encode()})
    assert plain_diff(checkout, FIXTURE, "models/add.tar") == 0  # the PR's file relaxes it

    ran = run_action(checkout, {"archive": "models/add.tar", "install": "false"})
    assert ran.code == 1, ran.log
    assert ran.outputs["exit-code"] == "1"
    report = (checkout / ran.outputs["report"]).read_text(encoding="utf-8")
    assert "#### breaking (1 change)" in report
    assert "| breaking | D409 | add: entry point tvmgen_add_run: removed" in report
    assert "**config**: --no-config (defaults)" in report  # main has no mlfcheck.toml
    assert "D409: breaking → info" not in report and "allowed" not in report
    assert ran.summary == report


def test_an_empty_config_input_means_no_config_and_a_clean_pair_passes(tmp_path: Path) -> None:
    checkout = pull_request(tmp_path, base={"a.tar": FIXTURE.read_bytes()},
                            change={"mlfcheck.toml": RELAXING.encode()})
    ran = run_action(checkout, {"archive": "a.tar", "config": "", "install": "false"})
    assert ran.code == 0, ran.log
    assert ran.outputs["exit-code"] == "0"
    assert "**config**: --no-config (defaults)" in ran.summary
    assert "no changes" in ran.summary


def test_a_missing_base_archive_is_an_error_before_mlfcheck_runs(tmp_path: Path) -> None:
    checkout = pull_request(tmp_path, base={"README": b"x"},
                            change={"new.tar": FIXTURE.read_bytes()})
    ran = run_action(checkout, {"archive": "new.tar", "install": "false"})
    assert ran.code == 2
    assert "origin/main has no file new.tar to compare with; pass base-archive" in ran.log
    assert ran.outputs["exit-code"] == ""


# -- the real pair: gubprof-microspeech-v5-aot-a (base) and -b (pull request) --------------------


BASE_CONFIG = b'[diff.thresholds]\ncode = "50%"\n'
"""The base branch's own configuration: it loosens a threshold, nothing else."""


@pytest.mark.shared
@pytest.mark.parametrize(("rename", "code"), [(False, 0), (True, 1)],
                         ids=["re-export", "entry-point-renamed"])
def test_the_base_branch_config_judges_the_real_pair(tmp_path: Path, rename: bool,
                                                     code: int) -> None:
    real = real_archives()
    old, new = real["gubprof-microspeech-v5-aot-a"], real["gubprof-microspeech-v5-aot-b"]
    pr = (as_tar(new, ("tvmgen_default_run_model", "tvmgen_default_run2")) if rename
          else new.read_bytes())
    checkout = pull_request(tmp_path, base={"kws/model.tar": old.read_bytes(),
                                            "mlfcheck.toml": BASE_CONFIG},
                            change={"kws/model.tar": pr, "mlfcheck.toml": RELAXING.encode()})
    assert plain_diff(checkout, old, "kws/model.tar") == 0
    ran = run_action(checkout, {"archive": "kws/model.tar", "install": "false"})
    assert ran.code == code, ran.log
    config = tmp_path / "runner" / "mlfcheck-gate" / "config" / "mlfcheck.toml"
    assert config.read_bytes() == BASE_CONFIG
    assert f"**config**: `{config}` (overrides 1 threshold)" in ran.summary
    assert "- threshold code: 5% → 50%" in ran.summary
    assert "D409: breaking → info" not in ran.summary
    assert ("| breaking | D409 |" in ran.summary) is rename
