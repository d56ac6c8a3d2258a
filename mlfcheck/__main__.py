"""`python -m mlfcheck`: the same as the `mlfcheck` command."""

from mlfcheck.cli import main

main()
