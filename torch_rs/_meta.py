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


def _scalar_type_name(dtype: torch.dtype) -> str:
    """c10's name of a dtype ("Float", "Long", "BFloat16"), as C++ messages print it."""
    return {
        torch.float32: "Float", torch.float64: "Double", torch.float16: "Half",
        torch.bfloat16: "BFloat16", torch.int64: "Long", torch.int32: "Int", torch.int16: "Short",
        torch.int8: "Char", torch.uint8: "Byte", torch.bool: "Bool",
        torch.complex64: "ComplexFloat", torch.complex128: "ComplexDouble",
    }.get(dtype, str(dtype))


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
        # torch's out= ops raise this RuntimeError ("Found dtype Long but expected Float").
        raise RuntimeError(
            f"Found dtype {_scalar_type_name(out.dtype)} but expected {_scalar_type_name(x.dtype)}"
        )
    if out.shape != x.shape:
        out.resize_(x.shape)
    return out


for _name in ("rs::fast_gelu", "rs::fast_gelu_backward", "rs::fast_gelu_second_derivative"):
    _register_elementwise_vmap(_name)


# ---- rs::rms_norm family -----------------------------------------------------------------------

_NORM_MODES = ("llama", "gemma", "t5", "torch")
_HALF = (torch.bfloat16, torch.float16)


def _norm_output_dtype(op, mode, x, weight):
    """The reference module's output dtype (see csrc/ops/rms_norm.cpp), or the CPU kernel's
    error for an unsupported weight dtype."""
    if weight is None:
        return x.dtype
    w = weight.dtype
    supported = (
        w == x.dtype
        or (w == torch.float32 and x.dtype != torch.float32)
        or (x.dtype == torch.float32 and w in _HALF and mode != "t5")
    )
    if not supported:
        raise RuntimeError(
            f"{op}: a weight of dtype {w} with an input of dtype {x.dtype} is not supported; use "
            "a weight of the input's dtype or float32"
        )
    if mode in ("llama", "t5") and x.dtype in _HALF and w == torch.float32:
        return torch.float32
    return x.dtype


def _check_norm(op, x, weight, mode):
    if mode not in _NORM_MODES:
        raise ValueError(f"{op}: mode must be 'llama', 'gemma', 't5' or 'torch', but got '{mode}'")
    _check(op, "input", x)
    if x.dim() == 0:
        raise RuntimeError(
            f"{op}: expected input to have at least one dimension (normalised over the last), "
            "but got a 0-dimensional tensor"
        )
    if weight is not None:
        _check(op, "weight", weight)
        torch._check(
            weight.dim() == 1 and weight.shape[0] == x.shape[-1],
            lambda: f"{op}: expected weight of shape [{x.shape[-1]}] (the input's last "
            f"dimension), but got {list(weight.shape)}",
        )
    return _norm_output_dtype(op, mode, x, weight)


def _inv_rms(x):
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    return x.new_empty(x.shape[:-1], dtype=dtype)


def _check_like(op, what, t, x, dtype):
    torch._check(
        t.shape == x.shape,
        lambda: f"{op}: expected {what} to have the input's shape {list(x.shape)}, but got "
        f"{list(t.shape)}",
    )
    if t.dtype != dtype:
        raise RuntimeError(f"{op}: expected {what} to have dtype {dtype}, but got {t.dtype}")


@torch.library.register_fake("rs::rms_norm")
def _rms_norm_fake(x, weight=None, eps=None, mode="llama"):
    dtype = _check_norm("rs::rms_norm", x, weight, mode)
    return x.new_empty(x.shape, dtype=dtype)


@torch.library.register_fake("rs::rms_norm_forward")
def _rms_norm_forward_fake(x, weight, eps, mode):
    dtype = _check_norm("rs::rms_norm", x, weight, mode)
    return x.new_empty(x.shape, dtype=dtype), _inv_rms(x)


@torch.library.register_fake("rs::add_rms_norm")
def _add_rms_norm_fake(x, residual, weight=None, eps=None, mode="llama"):
    dtype = _check_norm("rs::add_rms_norm", x, weight, mode)
    _check("rs::add_rms_norm", "residual", residual)
    _check_like("rs::add_rms_norm", "residual", residual, x, x.dtype)
    return x.new_empty(x.shape, dtype=dtype), x.new_empty(x.shape)


@torch.library.register_fake("rs::add_rms_norm_forward")
def _add_rms_norm_forward_fake(x, residual, weight, eps, mode):
    out, total = _add_rms_norm_fake(x, residual, weight, eps, mode)
    return out, total, _inv_rms(x)


@torch.library.register_fake("rs::rms_norm_backward")
def _rms_norm_backward_fake(grad, x, weight, inv_rms, grad_sum, mode, weight_grad):
    op = "rs::rms_norm_backward"
    dtype = _check_norm(op, x, weight, mode)
    _check(op, "grad", grad)
    _check_like(op, "grad", grad, x, dtype)
    if grad_sum is not None:
        _check_like(op, "grad_sum", grad_sum, x, x.dtype)
    dx = x.new_empty(x.shape)
    if weight is not None and weight_grad:
        return dx, weight.new_empty(weight.shape)
    return dx, x.new_empty((0,))


def _unbatched_loop(op, info, in_dims, args):
    """The op on each sample of the batch, stacked: for batchings the kernels cannot do at once
    (a batched weight, or per-sample weight gradients)."""
    results = []
    for i in range(info.batch_size):
        sample = [a if d is None else a.select(d, i) for a, d in zip(args, in_dims)]
        results.append(op(*sample))
    if isinstance(results[0], tuple):
        stacked = tuple(torch.stack(parts) for parts in zip(*results))
        return stacked, (0,) * len(stacked)
    return torch.stack(results), 0


def _rows_batched(info, tensors, dims):
    """Row-like operands with the batch dimension first (unbatched ones expanded): the op
    normalises over the last dimension and treats all others alike."""
    return [
        None if t is None else _batch_first(t, d, info.batch_size)
        for t, d in zip(tensors, dims)
    ]


def _rms_norm_vmap(op):
    # Arguments left at their defaults are not passed (nor given in_dims).
    def rule(info, in_dims, x, weight=None, eps=None, mode="llama"):
        in_dims = tuple(in_dims) + (None,) * (4 - len(in_dims))
        if in_dims[1] is not None:
            return _unbatched_loop(op, info, in_dims, (x, weight, eps, mode))
        (x,) = _rows_batched(info, [x], in_dims[:1])
        result = op(x, weight, eps, mode)
        return result, (0,) * len(result) if isinstance(result, tuple) else 0

    return rule


def _add_rms_norm_vmap(op):
    def rule(info, in_dims, x, residual, weight=None, eps=None, mode="llama"):
        in_dims = tuple(in_dims) + (None,) * (5 - len(in_dims))
        if in_dims[2] is not None:
            return _unbatched_loop(op, info, in_dims, (x, residual, weight, eps, mode))
        x, residual = _rows_batched(info, [x, residual], in_dims[:2])
        result = op(x, residual, weight, eps, mode)
        return result, (0,) * len(result)

    return rule


def _rms_norm_backward_vmap(info, in_dims, grad, x, weight, inv_rms, grad_sum, mode, weight_grad):
    op = torch.ops.rs.rms_norm_backward.default
    args = (grad, x, weight, inv_rms, grad_sum, mode, weight_grad)
    # A batched weight, or a weight gradient per sample: one call per sample.
    if in_dims[2] is not None or (weight is not None and weight_grad):
        return _unbatched_loop(op, info, in_dims, args)
    grad, x, inv_rms, grad_sum = _rows_batched(
        info, [grad, x, inv_rms, grad_sum], (in_dims[0], in_dims[1], in_dims[3], in_dims[4])
    )
    inv_rms = inv_rms.contiguous()  # the kernel reads it as one value per row, in row order
    return op(grad, x, weight, inv_rms, grad_sum, mode, weight_grad), (0, None)


torch.library.register_vmap("rs::rms_norm", _rms_norm_vmap(torch.ops.rs.rms_norm.default))
torch.library.register_vmap(
    "rs::rms_norm_forward", _rms_norm_vmap(torch.ops.rs.rms_norm_forward.default)
)
torch.library.register_vmap(
    "rs::add_rms_norm", _add_rms_norm_vmap(torch.ops.rs.add_rms_norm.default)
)
torch.library.register_vmap(
    "rs::add_rms_norm_forward", _add_rms_norm_vmap(torch.ops.rs.add_rms_norm_forward.default)
)
torch.library.register_vmap("rs::rms_norm_backward", _rms_norm_backward_vmap)


# ---- rs::silu_mul / rs::gelu_tanh_mul -----------------------------------------------------------


def _glu_result(op, tensors, names):
    for t, name in zip(tensors, names):
        _check(op, name, t)
    first = tensors[0]
    for t, name in zip(tensors[1:], names[1:]):
        torch._check(
            t.shape == first.shape,
            lambda: f"{op}: expected {name} to have {names[0]}'s shape {list(first.shape)}, but "
            f"got {list(t.shape)}",
        )
        if t.dtype != first.dtype:
            raise RuntimeError(f"{op}: expected {name} to have {names[0]}'s dtype, but got {t.dtype}")
    # Laid out as torch lays out act(gate) (the product then follows that dense result).
    gate = tensors[0] if names[0] != "grad" else tensors[1]
    return torch.empty_like(gate)


for _act in ("silu_mul", "gelu_tanh_mul"):

    def _glu_fake(gate, up, _op=f"rs::{_act}"):
        return _glu_result(_op, (gate, up), ("gate", "up"))

    def _glu_backward_fake(grad, gate, up, _op=f"rs::{_act}_backward"):
        like = _glu_result(_op, (grad, gate, up), ("grad", "gate", "up"))
        return like, torch.empty_like(like)

    torch.library.register_fake(f"rs::{_act}", _glu_fake)
    torch.library.register_fake(f"rs::{_act}_backward", _glu_backward_fake)
    _register_elementwise_vmap(f"rs::{_act}")

    def _glu_backward_vmap(info, in_dims, grad, gate, up, _op=f"{_act}_backward"):
        op = getattr(torch.ops.rs, _op).default
        tensors = [_batch_first(t, d, info.batch_size) for t, d in zip((grad, gate, up), in_dims)]
        return op(*tensors), (0, 0)

    torch.library.register_vmap(f"rs::{_act}_backward", _glu_backward_vmap)


# ---- rs::rope ------------------------------------------------------------------------------------


def _rope_output(op, x, cos, sin, unsqueeze_dim):
    _check(op, "input", x)
    for name, t in (("cos", cos), ("sin", sin)):
        _check(op, name, t)
        if t.dtype != x.dtype:
            raise RuntimeError(
                f"{op}: expected {name} to have the dtype of q and k ({x.dtype}), but got {t.dtype}"
            )
    torch._check(x.dim() >= 1, lambda: f"{op}: expected q and k to have at least one dimension")
    rot = cos.shape[-1]
    torch._check(
        sin.shape[-1] == rot and rot % 2 == 0 and rot <= x.shape[-1],
        lambda: f"{op}: cos and sin must have one even last size no larger than the head "
        f"dimension {x.shape[-1]}, but got {cos.shape[-1]} and {sin.shape[-1]}",
    )
    sizes = list(x.shape[:-1]) + [rot]
    cos.unsqueeze(unsqueeze_dim).expand(sizes)  # raises as the kernel does when it cannot
    sin.unsqueeze(unsqueeze_dim).expand(sizes)
    dense = is_non_overlapping_and_dense_or_false(x)
    if dense and (x.shape[-1] <= 1 or x.stride(-1) == 1):
        return torch.empty_like(x)
    return x.new_empty(x.shape)


@torch.library.register_fake("rs::rope")
def _rope_fake(q, k, cos, sin, unsqueeze_dim=1):
    return (
        _rope_output("rs::rope", q, cos, sin, unsqueeze_dim),
        _rope_output("rs::rope", k, cos, sin, unsqueeze_dim),
    )


@torch.library.register_fake("rs::rope_backward")
def _rope_backward_fake(grad, cos, sin, unsqueeze_dim):
    return _rope_output("rs::rope_backward", grad, cos, sin, unsqueeze_dim)


def _rope_vmap(info, in_dims, q, k, cos, sin, unsqueeze_dim=1):
    in_dims = tuple(in_dims) + (None,) * (5 - len(in_dims))
    if in_dims[2] is not None or in_dims[3] is not None:
        return _unbatched_loop(torch.ops.rs.rope.default, info, in_dims,
                               (q, k, cos, sin, unsqueeze_dim))
    # A leading batch dimension on q and k: cos and sin broadcast from the right, as before.
    q, k = _rows_batched(info, [q, k], in_dims[:2])
    return torch.ops.rs.rope(q, k, cos, sin, unsqueeze_dim), (0, 0)


def _rope_backward_vmap(info, in_dims, grad, cos, sin, unsqueeze_dim):
    if in_dims[1] is not None or in_dims[2] is not None:
        return _unbatched_loop(torch.ops.rs.rope_backward.default, info, in_dims,
                               (grad, cos, sin, unsqueeze_dim))
    (grad,) = _rows_batched(info, [grad], in_dims[:1])
    return torch.ops.rs.rope_backward(grad, cos, sin, unsqueeze_dim), 0


torch.library.register_vmap("rs::rope", _rope_vmap)
torch.library.register_vmap("rs::rope_backward", _rope_backward_vmap)


# ---- rs::cross_entropy ---------------------------------------------------------------------------

_REDUCTIONS = ("none", "mean", "sum")


def _check_cross_entropy(op, input, target, reduction, label_smoothing):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(
            f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
        )
    _check(op, "input", input)
    torch._check(
        input.dim() == 2, lambda: f"{op}: expected input of shape (N, C), but got {list(input.shape)}"
    )
    if target.dtype != torch.int64:
        raise RuntimeError(
            f"{op}: expected target to be a tensor of class indices of dtype torch.int64, but "
            f"got {target.dtype}"
        )
    torch._check(
        target.dim() == 1 and target.shape[0] == input.shape[0],
        lambda: f"{op}: expected target of shape [{input.shape[0]}], but got {list(target.shape)}",
    )
    return torch.float64 if input.dtype == torch.float64 else torch.float32


def _cross_entropy_loss(input, dtype, reduction):
    if reduction == "none":
        return input.new_empty(input.shape[:1], dtype=dtype)
    return input.new_empty((), dtype=dtype)


@torch.library.register_fake("rs::cross_entropy")
def _cross_entropy_fake(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    dtype = _check_cross_entropy("rs::cross_entropy", input, target, reduction, label_smoothing)
    return _cross_entropy_loss(input, dtype, reduction)


@torch.library.register_fake("rs::cross_entropy_forward")
def _cross_entropy_forward_fake(input, target, ignore_index, reduction, label_smoothing):
    dtype = _check_cross_entropy("rs::cross_entropy", input, target, reduction, label_smoothing)
    return _cross_entropy_loss(input, dtype, reduction), input.new_empty(input.shape[:1], dtype=dtype)


@torch.library.register_fake("rs::cross_entropy_backward")
def _cross_entropy_backward_fake(grad, input, target, lse, ignore_index, reduction,
                                 label_smoothing):
    _check_cross_entropy("rs::cross_entropy_backward", input, target, reduction, label_smoothing)
    return input.new_empty(input.shape)


def _cross_entropy_vmap(op, n_args):
    # One call per sample (a batched loss is rarely vmapped; mean and sum reduce per sample).
    def rule(info, in_dims, *args):
        in_dims = tuple(in_dims) + (None,) * (n_args - len(in_dims))
        defaults = (-100, "mean", 0.0)
        args = tuple(args) + defaults[len(args) - (n_args - 3):]
        return _unbatched_loop(op, info, in_dims, args)

    return rule


torch.library.register_vmap(
    "rs::cross_entropy", _cross_entropy_vmap(torch.ops.rs.cross_entropy.default, 5)
)
torch.library.register_vmap(
    "rs::cross_entropy_forward", _cross_entropy_vmap(torch.ops.rs.cross_entropy_forward.default, 5)
)


def _cross_entropy_backward_vmap(info, in_dims, *args):
    return _unbatched_loop(torch.ops.rs.cross_entropy_backward.default, info, in_dims, args)


torch.library.register_vmap("rs::cross_entropy_backward", _cross_entropy_backward_vmap)
