"""The codegen section's name and the factories that stamp it on what its parts report."""

from __future__ import annotations

from functools import partial

from mlfcheck.diff.result import Change, Note

SECTION = "codegen"
change = partial(Change, section=SECTION)
note = partial(Note, section=SECTION)
