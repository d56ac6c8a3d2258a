"""The ordered table of comparators, most specific first, built from the section modules: the
order of the report's sections, and of the rules' owners (each rule belongs to exactly one)."""

from __future__ import annotations

from mlfcheck.diff.sections import (
    codegen,
    graph,
    io,
    ir,
    layout,
    members,
    memory,
    metadata,
    parameters,
)
from mlfcheck.diff.sections.common import Comparator

COMPARATORS: tuple[Comparator, ...] = (
    metadata.COMPARATOR, layout.COMPARATOR, memory.COMPARATOR, io.COMPARATOR,
    codegen.COMPARATOR, parameters.COMPARATOR, graph.COMPARATOR, ir.COMPARATOR,
    members.COMPARATOR,
)
"""Every comparator, most specific first; each rule belongs to exactly one."""
