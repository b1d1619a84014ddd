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


def rms_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float | None = None,
    mode: str = "llama",
) -> torch.Tensor:
    """RMSNorm over the last dimension, computed by the Rust kernel.

    ``mode`` is the reference module whose cast order and output dtype are reproduced:
    ``"llama"`` (``LlamaRMSNorm``; also Mistral, Qwen2, Qwen3, Phi-3: ``weight * (x·r).to(x.dtype)``),
    ``"gemma"`` (``GemmaRMSNorm``: ``((x·r) * (1 + weight)).type_as(x)``), ``"t5"``
    (``T5LayerNorm``) or ``"torch"`` (``torch.nn.RMSNorm``: ``((x·r) * weight).type_as(x)``),
    with r = rsqrt(mean(x², -1) + eps). bfloat16/float16 are computed in float32 and float64 in
    float64. ``eps=None`` is torch's default, the float32 (float64 for float64 input) machine
    epsilon. The output is contiguous.
    """
    return torch.ops.rs.rms_norm(x, weight, eps, mode)


def add_rms_norm(
    x: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float | None = None,
    mode: str = "llama",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rms_norm(x + residual, weight, eps, mode), x + residual)`` in one pass over memory; the
    sum is rounded to the inputs' dtype before it is normalised, as ``x + residual`` would be."""
    return torch.ops.rs.add_rms_norm(x, residual, weight, eps, mode)


def silu_mul(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """``F.silu(gate) * up`` (the SwiGLU of Llama, Mistral and Qwen MLPs) in one pass, rounded
    as those two ops round half types; the backward recomputes the activation."""
    return torch.ops.rs.silu_mul(gate, up)


def gelu_tanh_mul(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """``F.gelu(gate, approximate="tanh") * up`` (Gemma's GeGLU) in one pass, rounded as those
    two ops round half types; the backward recomputes the activation."""
    return torch.ops.rs.gelu_tanh_mul(gate, up)


def rope(
    q: torch.Tensor,
    k: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    unsqueeze_dim: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' ``apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)``
    (``x·cos + rotate_half(x)·sin``) for q and k in one call, rounded as its torch ops round
    half types. cos and sin (the dtype of q and k) may cover only the first dimensions of each
    head (partial rotary: the rest pass through) and have a batch of 1 or B; q and k may be
    any views and have different head counts. No gradient flows to cos and sin.
    """
    return torch.ops.rs.rope(q, k, cos, sin, unsqueeze_dim)


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """``F.cross_entropy(input.float(), target, ...)`` for (N, C) logits and int64 class
    indices, computed in float32 (float64 for float64 logits) whatever the logits' dtype, as
    transformers' causal-LM loss does; the loss is float32 (float64). The backward writes
    ``softmax − target`` straight into the logits-shaped gradient (logits' dtype)."""
    return torch.ops.rs.cross_entropy(input, target, ignore_index, reduction, label_smoothing)
