"""Fake (meta) kernels and vmap rules of the rs:: operators.

Every C++ schema fragment names this module (``set_python_module``) as the home of its fake
kernels, so they must be registered here. The fake kernels mirror the CPU kernels' checks and
output layouts, so torch.compile and torch.export see the same metadata as eager mode.
"""

import torch
from torch._prims_common import is_non_overlapping_and_dense_or_false

_FLOATING = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
_FAKE_DEVICES = ("cpu", "meta")


def _check(op: str, what: str, t: torch.Tensor) -> None:
    if t.device.type not in _FAKE_DEVICES:
        raise NotImplementedError(
            f"{op} has no kernel for device '{t.device}' yet (only CPU tensors are supported); "
            "move the tensor to the CPU"
        )
    if t.dtype not in _FLOATING:
        raise TypeError(
            f"{op}: expected {what} to be a floating-point tensor (float32, float64, bfloat16 "
            f"or float16), but got {t.dtype}"
        )


def _elementwise_result(*inputs: torch.Tensor) -> torch.Tensor:
    """A new result laid out as the CPU kernels lay it out: like the first non-overlapping and
    dense input (TensorIterator's first operand wins), else like the first input."""
    for t in inputs:
        if is_non_overlapping_and_dense_or_false(t):
            return torch.empty_like(t)
    return torch.empty_like(inputs[0])


def _batch_first(t, dim, batch_size):
    return t.movedim(dim, 0) if dim is not None else t.expand(batch_size, *t.shape)


def _register_elementwise_vmap(qualname: str) -> None:
    """Elementwise ops: a batched call is the op on the batched tensors."""
    op = getattr(torch.ops.rs, qualname.split("::")[1])

    def rule(info, in_dims, *tensors):
        if all(dim == in_dims[0] for dim in in_dims):
            return op(*tensors), in_dims[0]
        tensors = [_batch_first(t, d, info.batch_size) for t, d in zip(tensors, in_dims)]
        return op(*tensors), 0

    torch.library.register_vmap(qualname, rule)


# ---- rs::fast_gelu family ----------------------------------------------------------------------


@torch.library.register_fake("rs::fast_gelu")
def _fast_gelu_fake(x):
    _check("rs::fast_gelu", "input", x)
    return _elementwise_result(x)


@torch.library.register_fake("rs::fast_gelu_backward")
def _fast_gelu_backward_fake(grad, x):
    _check("rs::fast_gelu_backward", "input", x)
    torch._check(grad.dtype == x.dtype, lambda: "rs::fast_gelu_backward: dtypes differ")
    torch._check(grad.shape == x.shape, lambda: "rs::fast_gelu_backward: shapes differ")
    return _elementwise_result(grad, x)


@torch.library.register_fake("rs::fast_gelu_second_derivative")
def _fast_gelu_second_derivative_fake(x):
    _check("rs::fast_gelu_second_derivative", "input", x)
    return _elementwise_result(x)


@torch.library.register_fake("rs::fast_gelu.out")
def _fast_gelu_out_fake(x, *, out):
    _check("rs::fast_gelu.out", "input", x)
    if out.dtype != x.dtype:
        raise TypeError(f"rs::fast_gelu.out: expected out to have dtype {x.dtype}, got {out.dtype}")
    if out.shape != x.shape:
        out.resize_(x.shape)
    return out


for _name in ("rs::fast_gelu", "rs::fast_gelu_backward", "rs::fast_gelu_second_derivative"):
    _register_elementwise_vmap(_name)
