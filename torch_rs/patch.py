"""Swap the tanh-GELU modules of an existing model for `torch_rs.nn.FastGELU`, in place."""

from __future__ import annotations

import torch

from torch_rs.nn import FastGELU

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

# Where a FastGELU keeps the module it replaced (outside nn.Module's registries, so it is not
# a submodule and does not show in named_modules or state_dict).
_ORIGINAL = "_torch_rs_replaced"


def is_tanh_gelu(module: torch.nn.Module) -> bool:
    """Whether `module` computes the tanh approximation of GELU and nothing else."""
    cls = type(module)
    if cls is torch.nn.GELU:
        return module.approximate == "tanh"
    library = cls.__module__.split(".", 1)[0]
    return (library, cls.__name__) in _LIBRARY_TANH_GELUS


def patch_model(model: torch.nn.Module) -> int:
    """Replace every tanh-GELU submodule of `model` with `FastGELU`; return how many places
    were changed (a module shared by two parents counts twice).

    Parameters, buffers and state_dict keys are untouched (activations have none). A shared
    module is replaced by one shared FastGELU. `unpatch_model` undoes it.
    """
    replacements: dict[int, FastGELU] = {}
    count = 0
    for parent in model.modules():
        # `_modules` rather than named_children(), which skips repeated (shared) children.
        for name, child in list(parent._modules.items()):
            if child is None or not is_tanh_gelu(child):
                continue
            replacement = replacements.get(id(child))
            if replacement is None:
                replacement = FastGELU()
                replacement.train(child.training)
                replacement.__dict__[_ORIGINAL] = child
                replacements[id(child)] = replacement
            setattr(parent, name, replacement)
            count += 1
    return count


def unpatch_model(model: torch.nn.Module) -> int:
    """Put back the modules that `patch_model` replaced; return how many."""
    count = 0
    for parent in model.modules():
        for name, child in list(parent._modules.items()):
            original = getattr(child, "__dict__", {}).get(_ORIGINAL) if child is not None else None
            if isinstance(child, FastGELU) and original is not None:
                setattr(parent, name, original)
                count += 1
    return count
