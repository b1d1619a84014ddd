"""PyTorch operators whose kernels are written in Rust.

``import torch_rs`` registers the ``rs::`` operators with PyTorch's dispatcher:

* ``torch.ops.rs.fast_gelu(x)`` — ``F.gelu(x, approximate="tanh")``, faster; also
  ``torch.ops.rs.fast_gelu(x, out=buffer)``. Differentiable twice, traceable by
  ``torch.compile`` and ``torch.export``, batched by ``torch.vmap``.
* ``torch_rs.fast_gelu(x)`` and the module ``torch_rs.nn.FastGELU``, a drop-in for
  ``nn.GELU(approximate="tanh")``.
* ``torch.ops.rs.rms_norm(x, weight, eps, mode)`` / ``torch_rs.rms_norm`` — RMSNorm over the last
  dimension with the cast order and output dtype of Llama's, Gemma's, T5's or torch's RMSNorm
  (``mode``); ``torch.ops.rs.add_rms_norm(x, residual, ...)`` fuses the residual add. Module
  ``torch_rs.nn.RMSNorm``.
* ``torch.ops.rs.silu_mul(gate, up)`` / ``torch.ops.rs.gelu_tanh_mul(gate, up)`` — the gated
  activations of SwiGLU/GeGLU MLPs in one pass; module ``torch_rs.nn.GatedMLP``.
* ``torch.ops.rs.rope(q, k, cos, sin, unsqueeze_dim=1)`` / ``torch_rs.rope`` — transformers'
  ``apply_rotary_pos_emb`` for q and k in one call (any views, grouped-query heads, partial
  rotary).
* ``torch.ops.rs.cross_entropy(logits, target, ignore_index, reduction, label_smoothing)`` —
  the causal-LM loss in float32 whatever the logits' dtype, gradient written once.
* ``torch_rs.patch_model(model)`` swaps a model's tanh-GELU activations, RMSNorms, gated MLPs,
  rotary function and causal-LM loss for the rs:: versions in place;
  ``torch_rs.unpatch_model(model)`` puts them back.
* ``torch_rs.compile_policy("auto" | "kernel" | "decompose")`` — under ``torch.compile``, whether
  inductor keeps a Rust kernel or compiles (and fuses) the replaced module's own ops; "auto" keeps
  the kernel only where it measured faster.
"""

import torch  # noqa: F401  (loads libtorch before the native module links against it)

from torch_rs import _C  # noqa: F401  (runs the C++ TORCH_LIBRARY registration)
from torch_rs import _inductor, _meta  # noqa: F401  (fake kernels and vmap rules)
from torch_rs import nn
from torch_rs._ops import (
    add_rms_norm,
    cross_entropy,
    fast_gelu,
    gelu_tanh_mul,
    rms_norm,
    rope,
    silu_mul,
)
from torch_rs._inductor import compile_policy, get_compile_policy, set_compile_policy
from torch_rs.patch import patch_model, unpatch_model

_inductor.install()

__all__ = [
    "add_rms_norm",
    "compile_policy",
    "cross_entropy",
    "fast_gelu",
    "gelu_tanh_mul",
    "get_compile_policy",
    "nn",
    "patch_model",
    "rms_norm",
    "rope",
    "set_compile_policy",
    "silu_mul",
    "unpatch_model",
]
__version__ = "0.1.0"
