"""Swap the modules of an existing model that torch_rs has drop-ins for, in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

import functools
import sys

from torch_rs.nn import FastGELU, GatedMLP, GateUpMLP, RMSNorm

# tanh-GELU activation classes of model libraries, by (module prefix, class name), so that the
# library need not be imported to recognise them. All compute 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
_LIBRARY_TANH_GELUS = {
    # Hugging Face transformers: "gelu_new" (GPT-2 and many others), "gelu_fast",
    # "gelu_pytorch_tanh" (named differently across releases).
    ("transformers", "NewGELUActivation"),
    ("transformers", "FastGELUActivation"),
    ("transformers", "PytorchGELUTanh"),
    ("transformers", "GELUTanh"),
}

# RMSNorm classes of model libraries whose forward is exactly one of rs::rms_norm's modes, with
# the attribute holding their epsilon.
_LIBRARY_RMS_NORMS = {
    ("transformers", "LlamaRMSNorm"): ("llama", "variance_epsilon"),
    ("transformers", "MistralRMSNorm"): ("llama", "variance_epsilon"),
    ("transformers", "Qwen2RMSNorm"): ("llama", "variance_epsilon"),
    ("transformers", "Qwen3RMSNorm"): ("llama", "variance_epsilon"),
    ("transformers", "Phi3RMSNorm"): ("llama", "variance_epsilon"),
    ("transformers", "GemmaRMSNorm"): ("gemma", "eps"),
    ("transformers", "Gemma2RMSNorm"): ("gemma", "eps"),
    ("transformers", "Gemma3RMSNorm"): ("gemma", "eps"),
    ("transformers", "T5LayerNorm"): ("t5", "variance_epsilon"),
}

# Where a replacement keeps the module it replaced (outside nn.Module's registries, so it is not
# a submodule and does not show in named_modules or state_dict).
_ORIGINAL = "_torch_rs_replaced"


def is_tanh_gelu(module: torch.nn.Module) -> bool:
    """Whether `module` computes the tanh approximation of GELU and nothing else."""
    cls = type(module)
    if cls is torch.nn.GELU:
        return module.approximate == "tanh"
    library = cls.__module__.split(".", 1)[0]
    return (library, cls.__name__) in _LIBRARY_TANH_GELUS


def _rms_norm_kind(module: torch.nn.Module) -> tuple[str, float | None] | None:
    """(mode, eps) of an RMSNorm module rs::rms_norm computes exactly, else None."""
    cls = type(module)
    if cls is torch.nn.RMSNorm:
        # Over one dimension only (rs::rms_norm normalises the last dimension).
        if len(module.normalized_shape) != 1:
            return None
        return "torch", module.eps
    library = cls.__module__.split(".", 1)[0]
    kind = _LIBRARY_RMS_NORMS.get((library, cls.__name__))
    if kind is None:
        return None
    mode, eps_attribute = kind
    return mode, getattr(module, eps_attribute)


def is_rms_norm(module: torch.nn.Module) -> bool:
    """Whether `module` is an RMSNorm that torch_rs.nn.RMSNorm reproduces."""
    return _rms_norm_kind(module) is not None


def _rms_norm_for(original: torch.nn.Module) -> torch.nn.Module:
    mode, eps = _rms_norm_kind(original)
    return RMSNorm.from_module(original, mode, eps)


# MLP classes computing down_proj(act_fn(gate_proj(x)) * up_proj(x)).
_LIBRARY_GATED_MLPS = {
    ("transformers", name)
    for name in (
        "LlamaMLP", "MistralMLP", "Qwen2MLP", "Qwen3MLP", "GemmaMLP", "Gemma2MLP", "Gemma3MLP",
    )
}


def _gated_activation(act: torch.nn.Module) -> str | None:
    """"silu" or "gelu_tanh" when `act` computes exactly F.silu or F.gelu(approximate="tanh")."""
    cls = type(act)
    if cls is torch.nn.SiLU or (cls.__module__.startswith("transformers")
                                and cls.__name__ == "SiLUActivation"):
        return "silu"
    if is_tanh_gelu(act):
        # transformers' GELUTanh may use its Python formula instead of F.gelu.
        inner = getattr(act, "act", None)
        if inner is None or (isinstance(inner, functools.partial)
                             and inner.func is torch.nn.functional.gelu):
            return "gelu_tanh"
    return None


def _library_mlp_activation(module: torch.nn.Module, classes, attribute: str) -> str | None:
    """The fused activation of `module` when its class is one of `classes` (by library and name)
    and its activation (the attribute named) is one rs:: fuses, else None."""
    cls = type(module)
    if (cls.__module__.split(".", 1)[0], cls.__name__) not in classes:
        return None
    return _gated_activation(getattr(module, attribute, None))


def is_gated_mlp(module: torch.nn.Module) -> bool:
    """Whether `module` is a transformers gated MLP whose activation rs:: fuses."""
    return _library_mlp_activation(module, _LIBRARY_GATED_MLPS, "act_fn") is not None


def _gated_mlp_for(original: torch.nn.Module) -> torch.nn.Module:
    return GatedMLP(original.gate_proj, original.up_proj, original.down_proj,
                    _gated_activation(original.act_fn))


# MLP classes computing down_proj(up * act(gate)) with gate, up = gate_up_proj(x).chunk(2, -1).
_LIBRARY_GATE_UP_MLPS = {("transformers", "Phi3MLP")}


def is_gate_up_mlp(module: torch.nn.Module) -> bool:
    """Whether `module` is a transformers MLP with one gate-and-up projection (Phi-3) whose
    activation rs:: fuses."""
    return _library_mlp_activation(module, _LIBRARY_GATE_UP_MLPS, "activation_fn") is not None


def _gate_up_mlp_for(original: torch.nn.Module) -> torch.nn.Module:
    return GateUpMLP(original.gate_up_proj, original.down_proj,
                     _gated_activation(original.activation_fn))


@dataclass(frozen=True)
class Swap:
    """One kind of module patch_model replaces: which modules, and the drop-in built for one.
    The drop-in must reuse the original's parameters and buffers under the same names."""

    matches: Callable[[torch.nn.Module], bool]
    replacement: Callable[[torch.nn.Module], torch.nn.Module]


# Checked in order; the first match wins.
SWAPS: list[Swap] = [
    Swap(is_tanh_gelu, lambda original: FastGELU()),
    Swap(is_rms_norm, _rms_norm_for),
    Swap(is_gated_mlp, _gated_mlp_for),
    Swap(is_gate_up_mlp, _gate_up_mlp_for),
]


# Modeling modules whose apply_rotary_pos_emb is the rotate_half form rs::rope computes (Phi-3's
# rotates only cos.shape[-1] leading dimensions of each head, as rs::rope does too).
_ROTARY_MODULES = frozenset(
    f"transformers.models.{name}.modeling_{name}"
    for name in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3")
)
# The functions replaced, and how many patched models use each replacement.
_ROTARY_ORIGINALS: dict[str, Callable] = {}
_ROTARY_USERS: dict[str, int] = {}
# Where a patched model records the modeling modules whose rotary function it swapped.
_ROTARY_PATCHED = "_torch_rs_rotary_modules"


def _rotary_with_rope(original: Callable) -> Callable:
    """apply_rotary_pos_emb through rs::rope, or `original` for what rs::rope does not take
    (cos/sin of another dtype, or requiring grad)."""

    @functools.wraps(original)
    def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
        if (
            cos.dtype != q.dtype
            or k.dtype != q.dtype
            or sin.dtype != q.dtype
            or (torch.is_grad_enabled() and (cos.requires_grad or sin.requires_grad))
        ):
            return original(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
        return torch.ops.rs.rope(q, k, cos, sin, unsqueeze_dim)

    apply_rotary_pos_emb.__torch_rs_original__ = original
    return apply_rotary_pos_emb


def _patch_rotary(model: torch.nn.Module) -> None:
    used = {type(m).__module__ for m in model.modules()} & _ROTARY_MODULES
    done = model.__dict__.setdefault(_ROTARY_PATCHED, set())
    for name in sorted(used - done):
        module = sys.modules[name]
        if name not in _ROTARY_ORIGINALS:
            _ROTARY_ORIGINALS[name] = module.apply_rotary_pos_emb
            module.apply_rotary_pos_emb = _rotary_with_rope(module.apply_rotary_pos_emb)
        _ROTARY_USERS[name] = _ROTARY_USERS.get(name, 0) + 1
        done.add(name)


def _unpatch_rotary(model: torch.nn.Module) -> None:
    for name in model.__dict__.pop(_ROTARY_PATCHED, ()):
        _ROTARY_USERS[name] -= 1
        if _ROTARY_USERS[name] == 0:
            del _ROTARY_USERS[name]
            sys.modules[name].apply_rotary_pos_emb = _ROTARY_ORIGINALS.pop(name)


def causal_lm_loss(
    logits,
    labels,
    vocab_size: int,
    num_items_in_batch=None,
    ignore_index: int = -100,
    shift_labels=None,
    **kwargs,
):
    """transformers' ForCausalLMLoss through rs::cross_entropy: the same shift, flattening and
    reductions, the loss computed in float32 without the float32 copy of the logits that
    ``logits.float()`` makes, and the gradient written into the logits' dtype once."""
    if shift_labels is None:
        labels = torch.nn.functional.pad(labels, (0, 1), value=ignore_index)
        shift_labels = labels[..., 1:].contiguous()
    logits = logits.reshape(-1, vocab_size)
    shift_labels = shift_labels.reshape(-1).to(logits.device)
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = torch.ops.rs.cross_entropy(logits, shift_labels, ignore_index, reduction, 0.0)
    if reduction == "sum":
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    return loss


def _patch_loss(model: torch.nn.Module) -> None:
    for module in model.modules():
        if getattr(module, "loss_type", None) == "ForCausalLM" and (
            "_loss_function" not in module.__dict__
        ):
            module.__dict__["_loss_function"] = causal_lm_loss


def _unpatch_loss(model: torch.nn.Module) -> None:
    for module in model.modules():
        if module.__dict__.get("_loss_function") is causal_lm_loss:
            del module.__dict__["_loss_function"]


def _replacement_for(module: torch.nn.Module) -> torch.nn.Module | None:
    for swap in SWAPS:
        if swap.matches(module):
            replacement = swap.replacement(module)
            replacement.train(module.training)
            replacement.__dict__[_ORIGINAL] = module
            return replacement
    return None


def patch_model(model: torch.nn.Module) -> int:
    """Replace every submodule of `model` that torch_rs has a drop-in for (tanh-GELU
    activations by `FastGELU`; the RMSNorms of Llama, Mistral, Qwen2/3, Phi-3, Gemma 1-3, T5 and
    `torch.nn.RMSNorm` by `RMSNorm`; the SiLU and tanh-GELU gated MLPs of Llama, Mistral,
    Qwen2/3 and Gemma 1-3 by `GatedMLP`, Phi-3's by `GateUpMLP`); return how many places were
    changed (a module shared by two parents counts twice).

    The rotary embedding of Llama, Mistral, Qwen2/3, Gemma 1-3 and Phi-3 attention is a module-level
    function (`apply_rotary_pos_emb`), not a module: it is swapped for `rs::rope` in the modeling
    module of each such model family, which applies to every model of that family until the
    last patched one is unpatched (not counted in the return value). A causal-LM model's loss
    (transformers' `ForCausalLMLoss`) becomes `causal_lm_loss` on `rs::cross_entropy`.

    Parameters, buffers and state_dict keys are untouched. A shared module is replaced by one
    shared drop-in. `unpatch_model` undoes it.
    """
    _patch_rotary(model)
    _patch_loss(model)
    replacements: dict[int, torch.nn.Module | None] = {}
    count = 0
    for parent in model.modules():
        # `_modules` rather than named_children(), which skips repeated (shared) children.
        for name, child in list(parent._modules.items()):
            if child is None:
                continue
            if id(child) not in replacements:
                replacements[id(child)] = _replacement_for(child)
            replacement = replacements[id(child)]
            if replacement is not None:
                setattr(parent, name, replacement)
                count += 1
    return count


def unpatch_model(model: torch.nn.Module) -> int:
    """Put back the modules that `patch_model` replaced; return how many."""
    _unpatch_rotary(model)
    _unpatch_loss(model)
    count = 0
    for parent in model.modules():
        for name, child in list(parent._modules.items()):
            original = getattr(child, "__dict__", {}).get(_ORIGINAL) if child is not None else None
            if original is not None:
                setattr(parent, name, original)
                count += 1
    return count
