"""The rs:: operators written with torch's own ops, in the cast order of the modules they replace.

These are what inductor compiles in place of an rs:: kernel when fusing the operation with its
neighbours is worth more than the Rust kernel (``torch_rs._inductor``). Each function computes
what its operator computes (dtypes, shapes, rounding of half types) with the operations of the
replaced module, so that a compiled patched model runs the code of the compiled unpatched one:
``F.gelu``, ``F.silu(gate) * up``, ``LlamaRMSNorm``'s float32 steps, ``apply_rotary_pos_emb``,
``F.cross_entropy(logits.float(), ...)``. The backward functions are the derivatives autograd
would take through those operations, written out (inductor needs plain ops, not autograd).
"""

from __future__ import annotations

import torch

aten = torch.ops.aten
_HALF = (torch.bfloat16, torch.float16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; float32 and the half types compute in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# ---- elementwise ---------------------------------------------------------------------------------


def fast_gelu(x):
    return aten.gelu(x, approximate="tanh")


def fast_gelu_backward(grad, x):
    return aten.gelu_backward(grad, x, approximate="tanh")


def silu_mul(gate, up):
    return aten.silu(gate) * up


def silu_mul_backward(grad, gate, up):
    return aten.silu_backward(grad * up, gate), grad * aten.silu(gate)


def gelu_tanh_mul(gate, up):
    return aten.gelu(gate, approximate="tanh") * up


def gelu_tanh_mul_backward(grad, gate, up):
    d_gate = aten.gelu_backward(grad * up, gate, approximate="tanh")
    return d_gate, grad * aten.gelu(gate, approximate="tanh")


# ---- RMSNorm ---------------------------------------------------------------------------------------


def _eps(x, eps):
    return torch.finfo(compute_dtype(x.dtype)).eps if eps is None else eps


def _inverse_rms(x, eps):
    xc = x.to(compute_dtype(x.dtype))
    return xc, torch.rsqrt(xc.pow(2).mean(-1) + _eps(x, eps))


def _scale(x, n, weight, mode):
    """The reference module's last steps from the normalised float32 rows n."""
    c = compute_dtype(x.dtype)
    if weight is None:
        return n.to(x.dtype)
    if mode == "llama":
        return weight * n.to(x.dtype)
    if mode == "gemma":
        return (n * (1.0 + weight.to(c))).to(x.dtype)
    if mode == "t5":
        return weight * (n.to(weight.dtype) if weight.dtype in _HALF else n)
    return (n * weight).to(x.dtype)


def rms_norm_forward(x, weight, eps, mode):
    xc, inv = _inverse_rms(x, eps)
    return _scale(x, xc * inv.unsqueeze(-1), weight, mode), inv


def rms_norm(x, weight=None, eps=None, mode="llama"):
    return rms_norm_forward(x, weight, eps, mode)[0]


def add_rms_norm_forward(x, residual, weight, eps, mode):
    total = x + residual
    out, inv = rms_norm_forward(total, weight, eps, mode)
    return out, total, inv


def add_rms_norm(x, residual, weight=None, eps=None, mode="llama"):
    out, total, _ = add_rms_norm_forward(x, residual, weight, eps, mode)
    return out, total


def rms_norm_backward(grad, x, weight, inv_rms, grad_sum, mode, weight_grad):
    """dx = r·(gn − n·mean(gn·n)) with gn the gradient reaching the normalised rows n through
    the mode's last steps (rounded where they round), and dweight = Σ grad·(n as multiplied)."""
    c = compute_dtype(x.dtype)
    r = inv_rms.unsqueeze(-1)
    n = x.to(c) * r
    if weight is None:
        gn, n_used = grad.to(c), None
    elif mode == "llama":
        gn, n_used = (grad * weight).to(x.dtype).to(c), n.to(x.dtype)
    elif mode == "gemma":
        gn, n_used = grad.to(c) * (1.0 + weight.to(c)), n
    elif mode == "t5" and weight.dtype in _HALF:
        gn, n_used = (grad * weight).to(c), n.to(weight.dtype)
    else:  # t5 with a float weight, torch
        gn, n_used = grad.to(c) * weight, n
    dx = (r * (gn - n * (gn * n).mean(-1, keepdim=True))).to(x.dtype)
    if grad_sum is not None:
        dx = dx + grad_sum
    if weight is None or not weight_grad:
        return dx, x.new_empty((0,))
    product = grad.to(c) * n_used if mode in ("gemma", "torch") else grad * n_used
    return dx, product.reshape(-1, x.shape[-1]).sum(0).to(weight.dtype)


# ---- rotary embeddings -------------------------------------------------------------------------------


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _rope_one(x, cos, sin):
    """apply_rotary_pos_emb for one tensor; the last dimensions past cos's pass through."""
    rot = cos.shape[-1]
    if rot == x.shape[-1]:
        return x * cos + _rotate_half(x) * sin
    xr, passed = x[..., :rot], x[..., rot:]
    return torch.cat((xr * cos + _rotate_half(xr) * sin, passed), dim=-1)


def rope(q, k, cos, sin, unsqueeze_dim=1):
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    return _rope_one(q, cos, sin), _rope_one(k, cos, sin)


def rope_backward(grad, cos, sin, unsqueeze_dim):
    """The transpose of the rotation: grad·cos − rotate_half(grad·sin)."""
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    rot = cos.shape[-1]
    g = grad[..., :rot] if rot < grad.shape[-1] else grad
    d = g * cos - _rotate_half(g * sin)
    return torch.cat((d, grad[..., rot:]), dim=-1) if rot < grad.shape[-1] else d


# ---- cross-entropy ------------------------------------------------------------------------------------


def cross_entropy_forward(input, target, ignore_index, reduction, label_smoothing):
    """F.cross_entropy(input.float(), ...) as log-sum-exp minus the target's logit per row (and
    minus the mean logit for label smoothing), with ignored rows left out of sums and counts."""
    x = input.to(compute_dtype(input.dtype))
    lse = torch.logsumexp(x, -1)
    kept = target != ignore_index
    picked = x.gather(-1, torch.where(kept, target, 0).unsqueeze(-1)).squeeze(-1)
    row = lse - picked
    if label_smoothing:
        row = (1.0 - label_smoothing) * row + label_smoothing * (lse - x.mean(-1))
    row = torch.where(kept, row, 0.0)
    if reduction == "none":
        return row, lse
    if reduction == "sum":
        return row.sum(), lse
    return row.sum() / kept.sum().to(row.dtype), lse


def cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    return cross_entropy_forward(input, target, ignore_index, reduction, label_smoothing)[0]


def cross_entropy_backward(grad, input, target, lse, ignore_index, reduction, label_smoothing):
    """(softmax − (1−ε)·onehot − ε/C) per kept row, times that row's share of the loss."""
    x = input.to(compute_dtype(input.dtype))
    kept = target != ignore_index
    if reduction == "none":
        row = grad
    elif reduction == "sum":
        row = grad.expand(target.shape)
    else:
        row = grad / kept.sum().to(grad.dtype)
    row = torch.where(kept, row, 0.0).unsqueeze(-1)
    classes = x.shape[-1]
    onehot = (torch.arange(classes, device=x.device) == target.unsqueeze(-1)).to(x.dtype)
    d = torch.exp(x - lse.unsqueeze(-1)) - (1.0 - label_smoothing) * onehot
    if label_smoothing:
        d = d - label_smoothing / classes
    return (row * d).to(input.dtype)

