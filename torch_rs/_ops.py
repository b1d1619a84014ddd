"""Python entry points of the rs:: operators (thin: the work happens below the dispatcher)."""

from __future__ import annotations

import torch

_fast_gelu = torch.ops.rs.fast_gelu.default
_fast_gelu_out = torch.ops.rs.fast_gelu.out


def fast_gelu(x: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """``F.gelu(x, approximate="tanh")`` computed by the Rust kernel.

    float32/float64 are computed in their precision, bfloat16/float16 in float32. With ``out``,
    the result is written into that tensor (resized if needed), as torch's out= variants do.
    """
    if out is None:
        return _fast_gelu(x)
    return _fast_gelu_out(x, out=out)
