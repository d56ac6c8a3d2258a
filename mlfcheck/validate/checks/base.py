"""How a check declares its codes and what it needs (`check`); checks read a `Loaded` archive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mlfcheck.findings import Code, Finding
from mlfcheck.reading.loaded import Loaded, Unavailable

NEEDS = ("archive", "document", "version", "model")
"""What a check needs, weakest first: the member list, parsed JSON, a known version, a
schema-valid document read into a model."""

CheckFn = Callable[[Loaded], Iterator[Finding]]


@dataclass(frozen=True)
class Check:
    """A registered check: the function, the codes it may yield, and what it needs."""

    fn: CheckFn
    codes: tuple[Code, ...]
    needs: str

    @property
    def name(self) -> str:
        """The function name, used in reports of skipped checks."""
        return self.fn.__name__

    @property
    def doc(self) -> str:
        """First line of the check's docstring: what it enforces."""
        return (self.fn.__doc__ or "").strip().splitlines()[0]


def check(*codes: Code, needs: str) -> Callable[[CheckFn], Check]:
    """Declare a function as a check yielding `codes`, runnable once `needs` is available."""
    assert needs in NEEDS, needs

    def wrap(fn: CheckFn) -> Check:
        return Check(fn, codes, needs)

    return wrap


def unmet_need(ctx: Loaded, needs: str) -> str | None:
    """The first stage `needs` requires that this archive does not reach, or None."""
    stages = {
        "archive": True,
        "document": ctx.doc is not None,
        "version": isinstance(ctx.version, int),
        "model": isinstance(ctx.version, int) and not ctx.schema_findings
        and not isinstance(ctx.model, Unavailable),
    }
    for stage in NEEDS[: NEEDS.index(needs) + 1]:
        if not stages[stage]:
            return stage
    return None
