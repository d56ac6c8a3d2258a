"""Checks that the archive's paths are the ones its declared version writes."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlfcheck.findings import Code, Finding
from mlfcheck.reading.layouts import codegen_prefix, expected_members, outside_layout_hint, place_of
from mlfcheck.reading.loaded import Loaded
from mlfcheck.validate.checks.base import check

_SOURCE = re.compile(r"^codegen/host/(?:src|lib)/(?P<stem>[^/]+)\.(?:c|cc|cpp|o)$")


@check(Code.L001, needs="model")
def required_members(ctx: Loaded) -> Iterator[Finding]:
    """Each module has the parameters, IR text and graph config its version requires (§2)."""
    model = ctx.checked_model
    for module in model.modules:
        for expected in expected_members(model.version, module):
            if not ctx.archive.readable(expected.path) and expected.path not in ctx.archive.members:
                yield ctx.at(Code.L001, f"{expected.path} is missing: {expected.why} "
                             f"(module {module.name!r}, v{model.version})",
                             module.pointer or "", )


@check(Code.L002, needs="model")
def unexpected_members(ctx: Loaded) -> Iterator[Finding]:
    """Every member belongs to the declared version's layout; extras are reported once per root."""
    model = ctx.checked_model
    reported: set[str] = set()
    for member in ctx.archive:
        if place_of(model.version, member.name, model.modules):
            continue
        if any(member.name.startswith(r + "/") for r in reported):
            continue
        reported.add(member.name)
        hint = outside_layout_hint(model.version, member.name)
        what = "folder" if member.is_dir else "file"
        yield Finding(Code.L002, f"{what} is not part of the MLF v{model.version} layout{hint}",
                      member=member.name)


@check(Code.L003, needs="model")
def codegen_names(ctx: Loaded) -> Iterator[Finding]:
    """Codegen files are named <m>_lib<N> from v3 (full-model), lib<N> before and for operators."""
    model = ctx.checked_model
    prefixes = {codegen_prefix(model.version, m) for m in model.modules}
    for member in ctx.archive.files("codegen/host"):
        m = _SOURCE.match(member.name)
        if m is None:
            continue
        stem = m.group("stem")
        if not any(re.fullmatch(re.escape(p) + r"\d+", stem) for p in prefixes):
            shown = " or ".join(sorted(f"{p}<N>" for p in prefixes))
            yield Finding(Code.L003, f"expected a name like {shown} in v{model.version}",
                          member=member.name)
