"""Swap the modules of an existing model that torch_rs has drop-ins for, in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

import functools

from torch_rs.nn import FastGELU, GatedMLP, RMSNorm

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


def is_gated_mlp(module: torch.nn.Module) -> bool:
    """Whether `module` is a transformers gated MLP whose activation rs:: fuses."""
    cls = type(module)
    library = cls.__module__.split(".", 1)[0]
    if (library, cls.__name__) not in _LIBRARY_GATED_MLPS:
        return False
    return _gated_activation(getattr(module, "act_fn", None)) is not None


def _gated_mlp_for(original: torch.nn.Module) -> torch.nn.Module:
    return GatedMLP(original.gate_proj, original.up_proj, original.down_proj,
                    _gated_activation(original.act_fn))


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
]


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
    Qwen2/3 and Gemma 1-3 by `GatedMLP`); return how many places were changed (a module shared by two
    parents counts twice).

    Parameters, buffers and state_dict keys are untouched. A shared module is replaced by one
    shared drop-in. `unpatch_model` undoes it.
    """
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
    count = 0
    for parent in model.modules():
        for name, child in list(parent._modules.items()):
            original = getattr(child, "__dict__", {}).get(_ORIGINAL) if child is not None else None
            if original is not None:
                setattr(parent, name, original)
                count += 1
    return count
