"""Fake (meta) kernels and vmap rules of the rs:: operators.

The C++ library names this module (``set_python_module``) as the home of its fake kernels. The
fake kernels mirror the CPU kernels' checks and output layouts, so torch.compile and
torch.export see the same metadata as eager mode.
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


@torch.library.register_fake("rs::fast_gelu")
def _fast_gelu_fake(x):
    _check("rs::fast_gelu", "input", x)
    return torch.empty_like(x)


@torch.library.register_fake("rs::fast_gelu_backward")
def _fast_gelu_backward_fake(grad, x):
    _check("rs::fast_gelu_backward", "input", x)
    torch._check(grad.dtype == x.dtype, lambda: "rs::fast_gelu_backward: dtypes differ")
    torch._check(grad.shape == x.shape, lambda: "rs::fast_gelu_backward: shapes differ")
    # Same rule as the CPU kernel: the gradient's layout unless only the input is dense.
    use_grad = is_non_overlapping_and_dense_or_false(grad) or not (
        is_non_overlapping_and_dense_or_false(x)
    )
    return torch.empty_like(grad if use_grad else x)


@torch.library.register_fake("rs::fast_gelu_second_derivative")
def _fast_gelu_second_derivative_fake(x):
    _check("rs::fast_gelu_second_derivative", "input", x)
    return torch.empty_like(x)


# Elementwise ops: a batched call is the op on the batched tensor.


def _batch_first(t, dim, batch_size):
    return t.movedim(dim, 0) if dim is not None else t.expand(batch_size, *t.shape)


@torch.library.register_vmap("rs::fast_gelu")
def _fast_gelu_vmap(info, in_dims, x):
    return torch.ops.rs.fast_gelu(x), in_dims[0]


@torch.library.register_vmap("rs::fast_gelu_second_derivative")
def _fast_gelu_second_derivative_vmap(info, in_dims, x):
    return torch.ops.rs.fast_gelu_second_derivative(x), in_dims[0]


@torch.library.register_vmap("rs::fast_gelu_backward")
def _fast_gelu_backward_vmap(info, in_dims, grad, x):
    grad_dim, x_dim = in_dims
    if grad_dim == x_dim:
        return torch.ops.rs.fast_gelu_backward(grad, x), x_dim
    grad = _batch_first(grad, grad_dim, info.batch_size)
    x = _batch_first(x, x_dim, info.batch_size)
    return torch.ops.rs.fast_gelu_backward(grad, x), 0


@torch.library.register_fake("rs::fast_gelu.out")
def _fast_gelu_out_fake(x, *, out):
    _check("rs::fast_gelu.out", "input", x)
    if out.dtype != x.dtype:
        raise TypeError(f"rs::fast_gelu.out: expected out to have dtype {x.dtype}, got {out.dtype}")
    if out.shape != x.shape:
        out.resize_(x.shape)
    return out
