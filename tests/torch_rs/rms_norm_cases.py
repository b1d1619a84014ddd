"""Samples and references of the rs::rms_norm family (used by op_db.py and the values tests).

`rms_norm_torch` is each reference module's forward written with torch ops (LlamaRMSNorm,
GemmaRMSNorm, T5LayerNorm, F.rms_norm), computing in float32 for float32 and half inputs as they
do, and in float64 for float64 inputs (the modules' `.float()` would round float64 inputs to
float32; rs::rms_norm keeps float64 in float64, so gradcheck applies).
"""

from __future__ import annotations

import torch

HALF = (torch.bfloat16, torch.float16)
MODES = ("llama", "gemma", "t5", "torch")


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def rms_norm_torch(x, weight, eps, mode):
    """The reference module's forward for `mode`, in its cast order."""
    c = compute_dtype(x.dtype)
    if eps is None:
        eps = torch.finfo(c).eps
    xc = x.to(c)
    n = xc * torch.rsqrt(xc.pow(2).mean(-1, keepdim=True) + eps)
    if weight is None:
        return n.to(x.dtype)
    if mode == "llama":
        return weight * n.to(x.dtype)
    if mode == "gemma":
        return (n * (1.0 + weight.to(c))).to(x.dtype)
    if mode == "t5":
        if weight.dtype in HALF:
            n = n.to(weight.dtype)
        return weight * n
    return (n * weight).to(x.dtype)


def add_rms_norm_torch(x, residual, weight, eps, mode):
    total = x + residual
    return rms_norm_torch(total, weight, eps, mode), total


def rms_norm_reference(x, weight, eps, mode):
    """In float64 from the same (rounded) inputs."""
    return rms_norm_torch(x.double(), None if weight is None else weight.double(), eps, mode)


def add_rms_norm_reference(x, residual, weight, eps, mode):
    # The sum is rounded to the inputs' dtype first, as x + residual is.
    total = (x + residual).double()
    w = None if weight is None else weight.double()
    return rms_norm_torch(total, w, eps, mode), total


def rms_norm_backward_reference(grad, x, weight, inv_rms, grad_sum, mode, weight_grad):
    """dx = r·(g·w − n·mean(g·w·n)) (+ grad_sum) and dweight = Σ g·n in float64, with n rounded
    to the input's type where the forward rounds it (Llama, and T5 with a half weight)."""
    g, x64, r = grad.double(), x.double(), inv_rms.double().unsqueeze(-1)
    n = x64 * r
    w_eff = None
    if weight is not None:
        w_eff = weight.double() + (1.0 if mode == "gemma" else 0.0)
    gw = g if w_eff is None else g * w_eff
    dx = (gw - n * (gw * n).mean(-1, keepdim=True)) * r
    if grad_sum is not None:
        dx = dx + grad_sum.double()
    if weight is None or not weight_grad:
        return dx, torch.empty(0, dtype=torch.float64)
    rounds = mode == "llama" or (mode == "t5" and weight.dtype == x.dtype)
    n_used = n.to(x.dtype).double() if rounds else n
    dw = (g * n_used).reshape(-1, x.shape[-1]).sum(0)
    return dx, dw


# ---- samples -----------------------------------------------------------------------------------


def _randn(g, *shape, dtype, scale=2.0):
    return (torch.randn(*shape, generator=g) * scale).to(dtype)


def inputs(dtype, large=False):
    """(name, x, weight, eps, mode) covering modes, layouts and edge shapes."""
    g = torch.Generator().manual_seed(0)

    def w(d):
        return (1.0 + 0.5 * torch.randn(d, generator=g)).to(dtype)

    if large:
        return [
            ("large", _randn(g, 1000, 1024, dtype=dtype), w(1024), 1e-6, "llama"),
            ("large_strided", _randn(g, 600, 2048, dtype=dtype)[:, ::2], w(1024), 1e-5, "gemma"),
        ]
    return [
        ("contiguous", _randn(g, 4, 5, 48, dtype=dtype), w(48), 1e-6, "llama"),
        ("transposed", _randn(g, 48, 6, dtype=dtype).t(), w(48), 1e-6, "llama"),
        ("sliced", _randn(g, 10, 100, dtype=dtype)[::2, 1::2], w(50), 1e-5, "torch"),
        ("channels_last", _randn(g, 2, 6, 9, 11, dtype=dtype).to(
            memory_format=torch.channels_last), w(11), 1e-6, "t5"),
        ("gemma", _randn(g, 3, 7, 32, dtype=dtype), w(32) - 1.0, 1e-6, "gemma"),
        ("t5", _randn(g, 6, 40, dtype=dtype), w(40), 1e-6, "t5"),
        ("torch_default_eps", _randn(g, 6, 40, dtype=dtype), w(40), None, "torch"),
        ("no_weight", _randn(g, 5, 24, dtype=dtype), None, 1e-6, "llama"),
        ("expanded", _randn(g, 1, 64, dtype=dtype).expand(5, 64), w(64), 1e-6, "llama"),
        ("one_dim", _randn(g, 37, dtype=dtype), w(37), 1e-6, "gemma"),
        ("width_one", _randn(g, 5, 1, dtype=dtype), w(1), 1e-6, "llama"),
        ("odd_width", _randn(g, 9, 1003, dtype=dtype), w(1003), 1e-6, "torch"),
        ("tiny_values", _randn(g, 4, 16, dtype=dtype, scale=1e-4), w(16), 1e-6, "llama"),
        ("empty", _randn(g, 0, 16, dtype=dtype), w(16), 1e-6, "llama"),
        ("large_rows", _randn(g, 300, 257, dtype=dtype), w(257), 1e-6, "llama"),
    ]


def residuals(x, seed=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(x.shape, generator=g).to(x.dtype)


def backward_args(x, weight, eps, mode, weight_grad=True, with_grad_sum=False, seed=6):
    """(grad, x, weight, inv_rms, grad_sum, mode, weight_grad) for rs::rms_norm_backward."""
    x, weight = x.detach(), None if weight is None else weight.detach()
    out, inv_rms = torch.ops.rs.rms_norm_forward(x, weight, eps, mode)
    g = torch.Generator().manual_seed(seed)
    grad = torch.randn(out.shape, generator=g).to(out.dtype)
    grad_sum = residuals(x, seed + 1) if with_grad_sum else None
    return grad, x, weight, inv_rms, grad_sum, mode, weight_grad
