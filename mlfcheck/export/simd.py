"""mlfcheck's C kernel library for int8 conv2d, depthwise conv2d and dense (`simd_kernels.c`).

On a core with the Arm DSP extension these kernels run their dot products on SMLAD/SMLABB; the
library's own `#if` picks that path from the compiler's target, so the archive builds and runs
(in plain C) anywhere else too. The exporter uses them when the archive is for such a core
(`mlfcheck.board.boards.DSP_CPUS`). This module owns the library's source, the weight layouts
its loops read, and the PrimFuncs through which the generated kernels call it (scratch from
TVMBackendAllocWorkspace).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from mlfcheck.export import qkernels

KINDS = ("conv2d", "dense", "depthwise_conv2d")
"""The integer kernel kinds the library computes."""
ATTR = "mlfcheck.simd"
"""PrimFunc attribute of the kernels that call the library."""
CALL_PREFIX = "mlfcheck_"
"""Every function of the library starts with it; the kernels' C includes it when one calls."""


def source() -> str:
    """The library's C source, inserted at the top of the kernels' C file."""
    return resources.files("mlfcheck.export").joinpath("simd_kernels.c").read_text("utf-8")


def depth4(depth: int) -> int:
    """`depth` rounded up to a multiple of four (the library reads groups of four)."""
    return (depth + 3) // 4 * 4


def paired_rows(rows: Any) -> Any:
    """int8 weights (channels, depth) in the library's layout: channels in pairs (a zero channel
    after an odd last one), each pair as groups of four depth values, the first channel's four
    then the second's, the depth rounded up to four with zeros; flat."""
    import numpy as np

    channels, depth = rows.shape
    padded = np.zeros((channels + channels % 2, depth4(depth)), "int8")
    padded[:channels, :depth] = rows
    pairs = padded.reshape(-1, 2, depth4(depth) // 4, 4).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(pairs).reshape(-1)


def conv_weights(hwio: Any) -> Any:
    """conv2d weights HWIO → the library's layout (rows in (ky, kx, input channel) order)."""
    import numpy as np

    kh, kw, cin, cout = hwio.shape
    return paired_rows(np.transpose(hwio, (3, 0, 1, 2)).reshape(cout, kh * kw * cin))


def dense_weights(depth_units: Any) -> Any:
    """dense weights (depth, units) → the library's layout."""
    return paired_rows(depth_units.T)


def requant_arrays(rq: qkernels.Requant, channels: int) -> list[Any]:
    """The (multiplier int32, shift int8) arrays a library kernel takes, one entry per channel
    (`Requant.arrays` gives none for a per-tensor rescaling)."""
    import numpy as np

    return [np.broadcast_to(np.array(rq.multipliers, "int32"), (channels,)).copy(),
            np.broadcast_to(np.array(rq.shifts, "int8"), (channels,)).copy()]


@dataclass(frozen=True)
class _Args:
    """The tensors a library kernel's PrimFunc takes, as (name, shape, dtype)."""

    x: tuple[int, ...]
    weights: int
    channels: int
    out: tuple[int, ...]

    def buffers(self) -> list[tuple[str, tuple[int, ...], str]]:
        return [("x", self.x, "int8"), ("weight", (self.weights,), "int8"),
                ("bias", (self.channels,), "int32"), ("multiplier", (self.channels,), "int32"),
                ("shift", (self.channels,), "int8"), ("out", self.out, "int8")]


def _calling(args: _Args, function: str, scratch: int, scalars: list[int]) -> Any:
    """PrimFunc that calls library `function` with the tensors' data, a scratch block of
    `scratch` bytes from the workspace (none when 0), and `scalars`."""
    from tvm import tirx
    from tvm.tirx.script.builder import ir as builder

    def body(x: Any, w: Any, bias: Any, mult: Any, shift: Any, out: Any) -> None:
        data = [x.data, w.data, bias.data, mult.data, shift.data, out.data]
        if scratch:
            # not "global": TVM would put a block under 1 KiB on the stack
            data.append(builder.alloc_buffer((scratch,), "int8", scope="global.workspace").data)
        builder.evaluate(tirx.call_extern("int32", function, *data, *scalars))

    return qkernels.written(args.buffers(), body).with_attr(ATTR, 1)


def conv2d(geo: qkernels.ConvGeometry, rq: qkernels.Requant, input_zero_point: int,
           weights: int) -> Any:
    """int8 NHWC conv2d or depthwise conv2d through the library (`weights` int8 values in the
    library's layout; the rescaling arrives as `requant_arrays`)."""
    n, h, w, cin = geo.in_shape
    kh, kw = geo.kernel
    cout = geo.out_shape[3]
    depth = depth4(kh * kw * cin)
    scratch = 8 * kh * kw + cin if geo.depthwise else 2 * depth + (depth if cin % 4 else 0)
    scalars = [int(geo.depthwise), n, h, w, cin, kh, kw, *geo.strides, *geo.dilation,
               geo.padding[0], geo.padding[1], geo.out_shape[1], geo.out_shape[2], cout, depth,
               input_zero_point, rq.zero_point, rq.low, rq.high]
    return _calling(_Args(geo.in_shape, weights, cout, geo.out_shape),
                    f"{CALL_PREFIX}conv2d", scratch, scalars)


def dense(batch: int, depth: int, units: int, rq: qkernels.Requant, weights: int) -> Any:
    """int8 (batch, depth) · weights + int32 bias through the library (the rescaling arrives
    as `requant_arrays`)."""
    return _calling(_Args((batch, depth), weights, units, (batch, units)),
                    f"{CALL_PREFIX}dense", 0,
                    [batch, depth, units, rq.zero_point, rq.low, rq.high])
