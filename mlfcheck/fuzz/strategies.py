"""Hypothesis strategies: random Relax model specs and random mutations of real archives.

Strategies are nouns with keyword options. Every choice shrinks towards something readable:
fewer layers, the first operator (relu), chains (selector 0), option 0, one small input.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from mlfcheck.fuzz.models import DTYPES, OPS, Q_OPS, Input, Layer, ModelSpec, Shape
from mlfcheck.fuzz.reader import COMMANDS, CONTAINERS, MUTATION_KINDS, Mutation, MutationSpec

MAX_SELECTOR = 7
MAX_OPTION = 255


@st.composite
def shapes(draw: st.DrawFn, *, max_side: int = 16, max_features: int = 512) -> Shape:
    """An input shape: a row (1, N) or an NCHW image (1, C, H, W); shrinks to (1, 1)."""
    if draw(st.booleans()):
        return (1, draw(st.integers(1, 8)), draw(st.integers(1, max_side)),
                draw(st.integers(1, max_side)))
    return (1, draw(st.integers(1, max_features)))


RARE = ("float16",)
"""Input dtypes drawn a quarter as often as the others (models with them are refused)."""


def inputs(*, dtypes: Sequence[str] = DTYPES) -> st.SearchStrategy[Input]:
    """One model input of one of `dtypes` (those in RARE less often)."""
    common = tuple(d for d in dtypes if d not in RARE)
    weighted = common * 4 + tuple(d for d in dtypes if d in RARE)
    return st.builds(Input, shapes(), st.sampled_from(weighted or tuple(dtypes)))


def selectors() -> st.SearchStrategy[int]:
    """A selector of an earlier value: half the time 0 (the value just made), so most layers
    form chains that reach an output rather than dead branches."""
    return st.one_of(st.just(0), st.integers(0, MAX_SELECTOR))


def layers(*, ops: Sequence[str] = OPS) -> st.SearchStrategy[Layer]:
    """One operator reading earlier values (see Layer for what the numbers select); the
    TFLite-style int8 operators (Q_OPS) are drawn twice as often as the others."""
    weighted = tuple(ops) + tuple(op for op in ops if op in Q_OPS)
    return st.builds(Layer, st.sampled_from(weighted), selectors(),
                     st.integers(0, MAX_SELECTOR), st.integers(0, MAX_OPTION))


def models(*, max_ops: int = 8, min_ops: int = 1, max_inputs: int = 2, max_outputs: int = 3,
           dtypes: Sequence[str] = DTYPES,
           ops: Sequence[str] = OPS) -> st.SearchStrategy[ModelSpec]:
    """A model spec: 1..max_inputs inputs, min_ops..max_ops layers, 1..max_outputs outputs."""
    unknown = set(ops) - set(OPS) or set(dtypes) - set(DTYPES)
    if unknown:
        raise ValueError(f"unknown operators or dtypes: {sorted(unknown)}")
    return st.builds(
        ModelSpec,
        st.lists(inputs(dtypes=dtypes), min_size=1, max_size=max_inputs).map(tuple),
        st.lists(layers(ops=ops), min_size=min_ops, max_size=max(min_ops, max_ops)).map(tuple),
        st.lists(st.integers(0, MAX_SELECTOR), min_size=1, max_size=max_outputs).map(tuple),
        st.integers(0, 2**16))


def mutation_steps() -> st.SearchStrategy[Mutation]:
    """One mutation of an archive (see reader.MUTATION_KINDS)."""
    return st.builds(Mutation, st.sampled_from(MUTATION_KINDS), st.integers(0, 2**20),
                     st.integers(0, 2**16))


def mutations(*, fixtures: Sequence[str], max_steps: int = 3,
              commands: Sequence[str] = COMMANDS) -> st.SearchStrategy[MutationSpec]:
    """A real fixture, a container to present it in, 1..max_steps mutations, a command."""
    if not fixtures:
        raise ValueError("reader fuzzing needs at least one fixture")
    return st.builds(MutationSpec, st.sampled_from(tuple(fixtures)),
                     st.sampled_from(CONTAINERS),
                     st.lists(mutation_steps(), min_size=1, max_size=max_steps).map(tuple),
                     st.sampled_from(tuple(commands)))
