"""C generation: the AOT entry `tvmgen_<m>_run()` (lib1.c) and the interface header.

A stateful model's lib1.c also owns its state: `tvmgen_<m>_state`, a static region apart from
the workspace that keeps its value between runs, and `tvmgen_<m>_reset()`, which sets every
state to its reset value (the first run resets it when nothing has).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlfcheck.export.pipeline import kernel_symbol
from mlfcheck.export.plan import ALIGN, Call, Copy, Keep, Plan, Ref, State, Tensor, dl_type

_C_TYPES = {("int", 8): "int8_t", ("int", 16): "int16_t", ("int", 32): "int32_t",
            ("int", 64): "int64_t", ("uint", 8): "uint8_t", ("uint", 16): "uint16_t",
            ("uint", 32): "uint32_t", ("uint", 64): "uint64_t", ("float", 32): "float",
            ("float", 64): "double"}
_PER_LINE = 12


@dataclass(frozen=True)
class Generated:
    """The two generated files of one module."""

    entry_c: str
    header: str


def macro(name: str, *parts: str) -> str:
    """An upper-case macro name: TVMGEN_<NAME>_<PARTS...>."""
    return "_".join(["TVMGEN", name.upper(), *(p.upper() for p in parts)])


def constants_struct(name: str) -> str:
    """The struct that carries constant pointers when parameters are not linked."""
    return f"tvmgen_{name}_constants"


def _element(dtype: str) -> tuple[str, bool]:
    """(C element type, whether values are written as numbers rather than bit patterns)."""
    code, bits, lanes = dl_type(dtype)
    kind = {0: "int", 1: "uint", 2: "float"}.get(code, "")
    if lanes == 1 and (kind, bits) in _C_TYPES:
        return _C_TYPES[(kind, bits)], True
    width = max(8, bits * lanes)
    return _C_TYPES.get(("uint", width), "uint8_t"), False


def _literal(value: float, ctype: str) -> str:
    if ctype not in ("float", "double"):
        return str(int(value))
    suffix = "f" if ctype == "float" else ""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    text = repr(float(value))
    return f"{text}{suffix}" if ("." in text or "e" in text) else f"{text}.0{suffix}"


def constant_array(symbol: str, tensor: Tensor, value: Any, *, static: bool) -> str:
    """A `const` C array holding one constant, element by element (endian-neutral)."""
    import numpy as np

    ctype, numeric = _element(tensor.dtype)
    flat = np.ascontiguousarray(value).reshape(-1)
    if not numeric:
        flat = flat.view(np.dtype(f"uint{np.dtype(flat.dtype).itemsize * 8}")
                         if flat.dtype.itemsize in (1, 2, 4, 8) else np.uint8)
    items = [_literal(v, ctype) for v in flat.tolist()]
    lines = [", ".join(items[i:i + _PER_LINE]) for i in range(0, len(items), _PER_LINE)]
    body = ",\n  ".join(lines)
    storage = "static " if static else ""
    return (f"/* {tensor.name}: {tensor.dtype}{list(tensor.shape)} */\n"
            f"{storage}const {ctype} {symbol}[{max(1, len(items))}] = {{\n  {body}\n}};\n")


def generate(plan: Plan, name: str, *, link_params: bool, summary: str) -> Generated:
    """lib1.c (entry, workspace, linked constants) and tvmgen_<name>.h for one module."""
    return Generated(_entry(plan, name, link_params, summary), _header(plan, name, link_params,
                                                                        summary))


def _run_signature(name: str, link_params: bool) -> str:
    extra = "" if link_params else f",\n{' ' * 22}const struct {constants_struct(name)}* constants"
    return (f"int32_t tvmgen_{name}_run(struct tvmgen_{name}_inputs* inputs,\n"
            f"{' ' * 22}struct tvmgen_{name}_outputs* outputs{extra})")


def _header(plan: Plan, name: str, link_params: bool, summary: str) -> str:
    guard = macro(name, "H_")
    sizes = [f"#define {macro(name, t.name, 'SIZE')} {t.nbytes}"
             for t in plan.inputs + plan.outputs]
    ws_size = macro(name, "WORKSPACE_SIZE")
    lines = [
        f"/* {summary} */", f"#ifndef {guard}", f"#define {guard}", "",
        "#include <stdint.h>", "", "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
        "/* Sizes in bytes of each input and output, of the workspace and of the constants. */",
        *sizes,
        f"#define {ws_size} {plan.arena_size}",
        f"#define {macro(name, 'CONSTANTS_SIZE')} {sum(t.nbytes for t in plan.constants)}", "",
        _struct(f"tvmgen_{name}_inputs", "Input buffers, one per model input.", plan.inputs,
                "void*"),
        _struct(f"tvmgen_{name}_outputs", "Output buffers, one per model output.", plan.outputs,
                "void*"),
    ]
    if not link_params:
        lines.append(_struct(constants_struct(name), "The constants, in the order and shapes of "
                             f"parameters/{name}.params.", plan.constants, "const void*"))
    lines += [
        f"/* The static workspace (in {name}_lib1.c): planned tensors and kernel scratch. */",
        f"extern uint8_t tvmgen_{name}_workspace[{max(1, plan.arena_size)}];", "",
        *_state_declarations(plan, name),
        "/* Run the model once. Returns 0, or the failing kernel's nonzero status (see",
        "   tvmgen_platform_last_error()). Not reentrant: the workspace is shared. */",
        _run_signature(name, link_params) + ";", "",
        "#ifdef __cplusplus", "}", "#endif", "", f"#endif  /* {guard} */", ""]
    return "\n".join(lines)


def _state_declarations(plan: Plan, name: str) -> list[str]:
    """The header's state region and reset function (nothing for a stateless model)."""
    if not plan.states:
        return []
    return [
        "/* What the model keeps between runs (in " + name + "_lib1.c), offset: tensor. */",
        *[f"/*   {st.offset}: {st.name} {st.dtype}{list(st.shape)}, reset to {st.fill} */"
          for st in plan.states],
        f"#define {macro(name, 'STATE_SIZE')} {plan.state_size}",
        f"extern uint8_t tvmgen_{name}_state[{plan.state_size}];", "",
        "/* Set every state to its reset value: call it when a new input stream starts (the",
        "   first run does it when nothing has). */",
        f"void tvmgen_{name}_reset(void);", ""]


def _state_definitions(plan: Plan, name: str) -> list[str]:
    """lib1.c's state region, its reset flag and tvmgen_<m>_reset()."""
    if not plan.states:
        return []
    return [f"uint8_t tvmgen_{name}_state[{plan.state_size}] __attribute__((aligned({ALIGN})));",
            f"static int tvmgen_{name}_state_set;", "",
            f"void tvmgen_{name}_reset(void) {{",
            *[_reset(st, name) for st in plan.states],
            f"  tvmgen_{name}_state_set = 1;", "}", ""]


def _reset(state: State, name: str) -> str:
    """The statement that sets one state to its reset value."""
    where = f"tvmgen_{name}_state + {state.offset}"
    if state.fill == 0:
        return f"  memset({where}, 0, {state.nbytes});  /* {state.name} */"
    ctype, _ = _element(state.dtype)
    count = math.prod(state.shape)
    return (f"  {{  /* {state.name} */\n    {ctype}* p = ({ctype}*)({where});\n"
            f"    int32_t i;\n    for (i = 0; i < {count}; ++i) p[i] = {state.fill};\n  }}")


def _struct(tag: str, comment: str, tensors: Iterable[Tensor], ctype: str) -> str:
    fields = [f"  {ctype} {t.name};  /* {t.dtype}{list(t.shape)} */" for t in tensors]
    if not fields:
        fields = ["  char unused;  /* (none) */"]
    return "\n".join([f"/* {comment} */", f"struct {tag} {{", *fields, "};", ""])


def _entry(plan: Plan, name: str, link_params: bool, summary: str) -> str:
    shapes = _shape_table(plan)
    kernels = sorted({s.kernel for s in plan.steps if isinstance(s, Call)})
    most = max((len(s.args) for s in plan.steps if isinstance(s, Call)), default=1)
    parts = [
        f"/* {summary} */",
        "#include <math.h>", "#include <stdint.h>", "#include <string.h>", "",
        '#include "tvm/ffi/c_api.h"', '#include "tvmgen_platform.h"',
        f'#include "tvmgen_{name}.h"', "",
        "typedef int32_t (*tvmgen_kernel)(void* self, void* args, int32_t num_args, "
        "void* result);", "",
        "/* Kernels, defined in the module's lib0.c (TVM-FFI packed calling convention). */",
        *[f"int32_t {kernel_symbol(name, k)}(void* self, void* args, int32_t num_args, "
          "void* result);" for k in kernels], "",
        f"uint8_t tvmgen_{name}_workspace[{max(1, plan.arena_size)}] "
        f"__attribute__((aligned({ALIGN})));", "",
        *_state_definitions(plan, name),
    ]
    if link_params:
        parts += [constant_array(f"tvmgen_{name}_{t.name}", t, v, static=True)
                  for t, v in zip(plan.constants, plan.constant_values, strict=True)]
    parts += [f"static int64_t tvmgen_{name}_shape{i}[{max(1, len(s))}] = "
              f"{{{', '.join(map(str, s)) or '1'}}};" for s, i in shapes.items()]
    if kernels:  # a model of views and copies only calls no kernel: no helpers, no warnings
        parts += ["", _helpers(name, most)]
    parts += ["", _run_signature(name, link_params) + " {",
              "  int32_t status = 0;",
              *([f"  if (!tvmgen_{name}_state_set) tvmgen_{name}_reset();"] if plan.states
                else []),
              *_body(plan, name, link_params, shapes),
              "  return status;", "}", ""]
    return "\n".join(parts)


def _helpers(name: str, most: int) -> str:
    return f"""static DLTensor tvmgen_{name}_tensor(void* data, int32_t ndim, int64_t* shape,
                                uint8_t code, uint8_t bits, uint16_t lanes) {{
  DLTensor t;
  memset(&t, 0, sizeof(t));
  t.data = data;
  t.device.device_type = kDLCPU;
  t.ndim = ndim;
  t.dtype.code = code;
  t.dtype.bits = bits;
  t.dtype.lanes = lanes;
  t.shape = shape;
  return t;
}}

static int32_t tvmgen_{name}_call(tvmgen_kernel kernel, DLTensor* tensors, int32_t n,
                                 uint8_t* scratch, size_t scratch_size) {{
  TVMFFIAny args[{most}];
  TVMFFIAny result;
  int32_t i;
  int32_t status;
  memset(args, 0, sizeof(args));
  memset(&result, 0, sizeof(result));
  for (i = 0; i < n; ++i) {{
    args[i].type_index = kTVMFFIDLTensorPtr;
    args[i].v_ptr = &tensors[i];
  }}
  tvmgen_platform_set_scratch(scratch, scratch_size);
  status = kernel(NULL, args, n, &result);
  tvmgen_platform_set_scratch(NULL, 0);
  return status;
}}"""


def _shape_table(plan: Plan) -> dict[tuple[int, ...], int]:
    shapes: dict[tuple[int, ...], int] = {}
    for step in plan.steps:
        if isinstance(step, Call):
            for ref in step.args:
                shapes.setdefault(ref.shape, len(shapes))
    return shapes


def _pointer(plan: Plan, name: str, ref: Ref, link_params: bool) -> str:
    if ref.kind == "storage":
        return f"tvmgen_{name}_workspace + {plan.storage[ref.index].offset + ref.offset}"
    if ref.kind == "input":
        return f"inputs->{plan.inputs[ref.index].name}"
    if ref.kind == "output":
        return f"outputs->{plan.outputs[ref.index].name}"
    if ref.kind == "state":
        return f"tvmgen_{name}_state + {plan.states[ref.index].offset + ref.offset}"
    constant = plan.constants[ref.index].name
    return f"(void*)tvmgen_{name}_{constant}" if link_params else f"(void*)constants->{constant}"


def _body(plan: Plan, name: str, link_params: bool,
          shapes: dict[tuple[int, ...], int]) -> list[str]:
    lines: list[str] = []
    for i, step in enumerate(plan.steps):
        if isinstance(step, Keep):
            st = plan.states[step.state]
            lines.append(f"  memcpy(tvmgen_{name}_state + {st.offset}, "
                         f"{_pointer(plan, name, step.source, link_params)}, {st.nbytes});"
                         f"  /* {st.name} */")
            continue
        if isinstance(step, Copy):
            lines.append(f"  memcpy(outputs->{plan.outputs[step.output].name}, "
                         f"{_pointer(plan, name, step.source, link_params)}, "
                         f"{step.source.nbytes});")
            continue
        scratch = plan.scratch.get(i)
        where = (f"tvmgen_{name}_workspace + {scratch.offset}, {scratch.size}" if scratch
                 else "NULL, 0")
        lines += [f"  {{  /* step {i}: {step.kernel} */",
                  f"    DLTensor t[{len(step.args)}];"]
        for j, ref in enumerate(step.args):
            code, bits, lanes = dl_type(ref.dtype)
            lines.append(f"    t[{j}] = tvmgen_{name}_tensor("
                         f"{_pointer(plan, name, ref, link_params)}, {len(ref.shape)}, "
                         f"tvmgen_{name}_shape{shapes[ref.shape]}, {code}, {bits}, {lanes});")
        lines += [f"    status = tvmgen_{name}_call({kernel_symbol(name, step.kernel)}, t, "
                  f"{len(step.args)}, {where});",
                  "    if (status != 0) return status;", "  }"]
    return lines
