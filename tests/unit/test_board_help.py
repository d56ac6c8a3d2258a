"""The board lists in `mlfcheck size --help` and `mlfcheck export --help` are the board table's,
and building them loads only the table (no cross build, no TVM)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from shared_paths import REPO

from mlfcheck.board.boards import BOARDS
from mlfcheck.cli import main


def _board_help(command: str) -> str:
    """The `--board` line of COMMAND's help, rendered wide enough not to wrap."""
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=1000,
                                max_content_width=1000)
    assert result.exit_code == 0, result.output
    return next(line for line in result.output.splitlines()
                if line.lstrip().startswith("--board NAME"))


@pytest.mark.parametrize("command", ["size", "export"])
def test_help_lists_exactly_the_board_table(command: str) -> None:
    line = _board_help(command)
    first = next(iter(BOARDS))
    listed = re.search(rf"{re.escape(first)}(?:, [\w-]+)*", line)
    assert listed is not None, line
    assert listed.group(0).split(", ") == list(BOARDS)
    assert all(line.count(name) == 1 for name in BOARDS), line


@pytest.mark.parametrize("command", ["size", "export"])
def test_help_loads_the_board_table_and_nothing_heavy(command: str) -> None:
    probe = ("import sys, runpy\nsys.argv = ['mlfcheck', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('mlfcheck', run_name='__main__')\n"
             "except SystemExit as exit:\n    print('EXIT', exit.code)\n"
             "print('LOADED', *sorted(m for m in sys.modules\n"
             "                        if m.startswith(('mlfcheck.', 'tvm'))))\n")
    out = subprocess.run([sys.executable, "-c", probe, command, "--help"], capture_output=True,
                         text=True, cwd=REPO, timeout=60, check=True).stdout
    assert "EXIT 0" in out.splitlines(), out  # the help was printed, not a usage error
    loaded = set(next(x for x in out.splitlines() if x.startswith("LOADED")).split()[1:])
    assert "mlfcheck.board.boards" in loaded
    heavy = ("tvm", "mlfcheck.export", "mlfcheck.board.crossbuild", "mlfcheck.board.footprint")
    assert not [m for m in loaded if m.startswith(heavy)], sorted(loaded)
