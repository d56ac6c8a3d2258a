"""Metamorphic checks: change a generated model file in a way whose effect on the archive is
known (rename an input, swap two independent layers, add an identity layer), export both, and
require `mlfcheck diff` to report exactly the expected kinds of change. This tests the
exporter and the differ together.

One relation holds the integer lowering against the model itself: the int8 kernels the
exporter wrote must compute what the model's dequantize → float op → quantize patterns compute,
within a quantized unit (TFLite's requantization rounds in fixed point, the float model in
float), with off-by-one elements rare. A bug in a multiplier, a shift, a zero point, a bias or
a clamp moves many elements; the kernels' own C build cannot see it, as it runs the same
kernels as TVM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlfcheck.diff import Rule
from mlfcheck.diff.result import Change
from mlfcheck.fuzz.exports import EPOCH
from mlfcheck.fuzz.outcomes import Bucket, PropertyFailure

STORAGE = "storage"
"""A change of the storage list (the memory plan's blocks): D110, or D106 when it appears."""
WORKSPACE_MACRO = "workspace macro"
"""D415 (size macro changed) on the header's WORKSPACE_SIZE."""
_CODE = {"D405", "D406", "D407", "D408", "D412", "D701", "D803"}
"""Kernel bodies, code size (and its growth warning), declarations, IR text and the members
holding them."""
_LAYOUT = _CODE | {"D401", "D402", "D404", "D201", "D202", "D206", "D207", "D208",
                   "D210", "D411", "D501", "D502", "D503", "D504", "D505", STORAGE,
                   WORKSPACE_MACRO}
"""What another arrangement of the same computation may change: code, the memory plan, and
which constant is called p0, p1, ..."""
_EMIT = re.compile(r"^        (v\d+) = bb\.emit\((.*)\)$")


@dataclass(frozen=True)
class Relation:
    """A source transformation and the diff rules it must and may produce."""

    name: str
    required: frozenset[str]
    allowed: frozenset[str]
    """Rule codes (STORAGE for a change of the storage list)."""


RENAME = Relation("rename input x0", frozenset({"D309"}),
                  frozenset(_CODE | {"D309", "D413", "D414", "D415"}))
"""An input renamed (D309), with its struct member and size macro (D413-D415)."""
REORDER = Relation("swap two independent layers", frozenset(), frozenset(_LAYOUT))
IDENTITY = Relation("identity layer before the output", frozenset(), frozenset(_LAYOUT))


def renamed(source: str) -> str | None:
    """The model with its first input called `renamed_x0`."""
    out = source.replace("relax.Var('x0', ", "relax.Var('renamed_x0', ", 1)
    return out if out != source else None


def reordered(source: str) -> str | None:
    """The model with the first two adjacent layers swapped that do not read each other and
    do not both draw weights (which would swap their weights)."""
    lines = source.splitlines()
    for i in range(len(lines) - 1):
        a, b = _EMIT.match(lines[i]), _EMIT.match(lines[i + 1])
        if a and b and not re.search(rf"\b{a.group(1)}\b", b.group(2)) and not (
                "weights(" in a.group(2) and "weights(" in b.group(2)):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
            return "\n".join(lines) + "\n"
    return None


def with_identity(source: str) -> str | None:
    """The model with a reshape to the same shape in front of its single output."""
    match = re.search(r"^        out = bb\.emit_output\((v\d+)\)$", source, re.M)
    if match is None:
        return None
    var = match.group(1)
    return source.replace(match.group(0),
                          f"        same = bb.emit(op.reshape({var}, {var}.ty.shape))\n"
                          "        out = bb.emit_output(same)")


def _kind(change: Change) -> str:
    """The change's rule code, or STORAGE for the storage list changing (D110) or appearing
    or going (D106), or WORKSPACE_MACRO for WORKSPACE_SIZE changing (D415)."""
    if (change.rule is Rule.D110 and change.subject == "storage") or (
            change.rule is Rule.D106 and "storage/" in f"{change.old} {change.new}"):
        return STORAGE
    if change.rule is Rule.D415 and "WORKSPACE_SIZE" in f"{change.subject} {change.old}":
        return WORKSPACE_MACRO
    return change.rule.name


TRANSFORMS = ((RENAME, renamed), (REORDER, reordered), (IDENTITY, with_identity))


def diffs_are_expected(model: Path, first: Path, workdir: Path) -> None:
    """Each applicable transformation of `model`, exported, differs from `first` (the export
    of `model`) by the relation's required rules and nothing outside its allowed ones."""
    from mlfcheck.diff import diff_archives
    from mlfcheck.export import export_model

    source = model.read_text()
    for relation, transform in TRANSFORMS:
        changed = transform(source)
        if changed is None:
            continue
        variant = workdir / "variant.py"
        variant.write_text(changed)
        exported = export_model(str(variant), workdir / "variant.tar", epoch=EPOCH)
        rules = {_kind(c) for c in diff_archives(first, exported.path).changes}
        missing, unexpected = relation.required - rules, rules - relation.allowed
        if missing or unexpected:
            names = sorted(unexpected) or sorted(missing)
            raise PropertyFailure(
                Bucket.METAMORPHIC, f"{relation.name}: " + ("unexpected " if unexpected
                                                            else "missing ") + ",".join(names),
                f"{relation.name}: diff rules {sorted(rules)}; required "
                f"{sorted(relation.required)}, allowed {sorted(relation.allowed)}")
        exported.path.unlink()


UNITS = 1
"""Largest difference accepted between an int8 output of the integer kernels and of the float
model, in quantized units."""
SHARE = 0.2
"""Largest share of an int8 output's elements (on the random input sets: on the constant ones
every element is the same) that may differ at all: TFLite's fixed-point rounding differs from
the float model's only near a tie, or where it rounds twice (to 2**-shift, then to an integer:
on about 2**-(shift + 1) of the elements; the generated models keep shift ≥ 3)."""
FEW = 4
"""Differing elements always accepted (an output of a few elements may hit several near-ties
by chance)."""
_WINDOW = r"(pool_size=\([^)]*\), strides=\([^)]*\)(?:, padding=\([^)]*\))?, layout='NHWC')"
_CONST = r"relax\.const\([^)]*\)"
_AVG_POOLS = (
    re.compile(rf"op\.astype\(op\.nn\.avg_pool2d\(op\.astype\((\w+), 'int32'\), {_WINDOW}\), "
               r"'int8'\)"),
    re.compile(rf"op\.quantize\(op\.nn\.avg_pool2d\(op\.dequantize\((\w+), {_CONST}, {_CONST}\), "
               rf"{_WINDOW}\), {_CONST}, {_CONST}\)"))
"""TFLite's integer average pool as the generated models write it: astype → avg_pool2d on
int32 → astype (TVM's own kernel divides by truncation), or dequantize → avg_pool2d →
quantize with equal quantization (float rounding)."""
_HALF = "relax.const(0.5, 'float32')"


def float_reference(source: str) -> str:
    """The model with each integer average pool (`_AVG_POOLS`) written as the float mean of
    its int8 input rounded half away from zero, as TFLite specifies; exact, as a mean of at
    most 25 small integers is."""
    for pattern in _AVG_POOLS:
        source = pattern.sub(_rounded_mean, source)
    return source


def _rounded_mean(match: re.Match[str]) -> str:
    mean = f"op.nn.avg_pool2d(op.astype({match.group(1)}, 'float32'), {match.group(2)})"
    return (f"op.astype(op.where(op.greater_equal({mean}, relax.const(0.0, 'float32')), "
            f"op.floor(op.add({mean}, {_HALF})), op.negative(op.floor(op.subtract({_HALF}, "
            f"{mean})))), 'int8')")


def patterns_agree(patterns: str, workdir: Path) -> None:
    """The model's int8 patterns alone (`models.render_patterns`), lowered to integer kernels as
    the exporter lowers them, against the same patterns in float (`float_reference`), both on
    TVM's Relax VM over the C builds' input sets: every output within UNITS, and at most SHARE
    of an output's elements differ at all."""
    import numpy as np

    from mlfcheck.export.frontends import load_model
    from mlfcheck.export.integer import lower
    from mlfcheck.export.plan import Tensor
    from mlfcheck.export.verify import reference_vm, run_vm
    from mlfcheck.fuzz.builds import inputs_for

    model, reference = workdir / "patterns.py", workdir / "patterns_float.py"
    model.write_text(patterns)
    reference.write_text(float_reference(patterns))
    imported = load_model(str(model))
    lowered = lower(imported.mod, imported.entry)
    got_vm, want_vm = reference_vm(lowered.mod), reference_vm(load_model(str(reference)).mod)
    params = imported.mod[imported.entry].params
    tensors = tuple(Tensor(p.name, tuple(int(d) for d in p.ty.shape.values), "int8")
                    for p in params)
    runs = {name: (run_vm(got_vm, imported.entry, xs), run_vm(want_vm, imported.entry, xs))
            for name, xs in inputs_for(tensors).items()}
    for i, output in enumerate(imported.output_names or ()):
        diffs = {name: np.abs(got[i].astype(np.int64) - want[i].astype(np.int64)).reshape(-1)
                 for name, (got, want) in runs.items()}
        worst = max(int(d.max(initial=0)) for d in diffs.values())
        random = np.concatenate([d for name, d in diffs.items() if name.startswith("random")])
        differing = int(np.sum(random > 0))
        if worst > UNITS or differing > max(FEW, SHARE * random.size):
            raise PropertyFailure(
                Bucket.NUMERIC_MISMATCH, "integer kernels differ from the float model",
                f"{output} ({_kernel_line(patterns, i)}): up to {worst} units apart; "
                f"{differing} of {random.size} elements differ on the random inputs "
                f"(accepted: {UNITS} unit, on at most {SHARE:.0%} of them)")


def _kernel_line(source: str, i: int) -> str:
    """The i-th pattern's emit line, shortened."""
    lines = [ln.strip() for ln in source.splitlines() if "op.quantize(" in ln
             or "op.astype(op.nn.avg_pool2d" in ln]
    return lines[i][:160] if i < len(lines) else "?"
