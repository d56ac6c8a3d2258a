"""The build layer of a diff: what judged it (`Layers`: the reader, the host compiler, abidiff),
the verdict on a new archive whose C no longer builds (D417), and abidiff's report on both
sides' shared objects, which the codegen section merges with the source comparison."""

from __future__ import annotations

from mlfcheck.diff.result import NOT_ASKED, Change, Layers
from mlfcheck.diff.rules import Rule
from mlfcheck.diff.sections.codegen.abi import AbiOutcome, abi_outcome
from mlfcheck.diff.sections.codegen.section import change
from mlfcheck.findings import Code, Finding
from mlfcheck.reading.loaded import Loaded
from mlfcheck.validate import Report

BUILD_FAILURES = (Code.B001, Code.B002, Code.B005, Code.B006)
"""Findings that say the archive's C does not build (B004, a consumer library's header not
here, does not count: the consumer brings it)."""
SHOWN = 5
"""Errors of a build that no longer builds quoted in the change's details."""


def build_layer(old: Loaded, new: Loaded,
                reports: tuple[Report, Report]) -> tuple[Layers, AbiOutcome | None, list[Change]]:
    """What judged the diff, abidiff's outcome (None without a build) and the D417 change when
    the old archive's C built and the new one's does not."""
    built = (old.built, new.built)
    if built == (None, None):
        return Layers(not_run=(NOT_ASKED,)), None, []
    from mlfcheck.board.archivebuild import ArchiveBuilt, NoCompiler

    done = [b for b in built if isinstance(b, ArchiveBuilt)]
    if len(done) < 2:  # one builder builds both sides: it found no host compiler
        why = next(b.reason for b in built if isinstance(b, NoCompiler))
        return Layers(not_run=(f"the compiler: {why}",)), None, []
    abi = abi_outcome(old, new)
    layers = Layers(compiler=done[0].compiler, abi=abi.tool if abi else None,
                    not_run=(f"abidiff: {abi.why_not}",) if abi and abi.why_not else ())
    return layers, abi, no_longer_builds(*reports, where="on the host")


def no_longer_builds(old: Report | list[str], new: Report | list[str], *,
                     where: str) -> list[Change]:
    """D417 when `old` has no build failure and `new` has some: each a validation report (its
    B001/B002/B005/B006 findings) or the lines of a failed build."""
    before, after = _failures(old), _failures(new)
    if before or not after:
        return []
    return [change(rule=Rule.D417, module="", subject=f"the archive's C ({where})",
                   old="builds", new="does not build",
                   reason="every consumer that builds the old archive fails on the new one",
                   details=tuple(after[:SHOWN]) + ((f"and {len(after) - SHOWN} more",)
                                                   if len(after) > SHOWN else ()))]


def _failures(side: Report | list[str]) -> list[str]:
    if isinstance(side, list):
        return side
    return [_line(f) for f in side.findings if f.code in BUILD_FAILURES]


def _line(f: Finding) -> str:
    return f"{f.code.name} {f.location()}: {f.message}"
