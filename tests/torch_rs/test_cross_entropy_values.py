"""rs::cross_entropy against transformers' ForCausalLMLoss (F.cross_entropy on the logits upcast
to float32) and the causal-LM loss swap.

Tolerances: the loss within 2e-6 relative of the reference's (float32 sums in another order);
gradients in bfloat16/float16 equal to the reference's (its float32 gradient rounded to the
logits' dtype) on at least 99% of the elements and within a few rounding steps elsewhere;
float32 gradients within 1e-6 absolute.
"""

from __future__ import annotations

import pytest
import torch
from op_db import assert_half_matches

import torch_rs
from torch_rs.patch import causal_lm_loss

transformers = pytest.importorskip("transformers")
from transformers.loss.loss_utils import ForCausalLMLoss  # noqa: E402

V = 1000


def _batch(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(3, 17, V, generator=g) * 4).to(dtype)
    labels = torch.randint(0, V, (3, 17), generator=g)
    labels[0, :5] = -100
    return logits, labels


@pytest.mark.parametrize("num_items", [None, 29])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_causal_lm_loss_matches_transformers(dtype, num_items):
    logits, labels = _batch(dtype)
    kwargs = {} if num_items is None else {"num_items_in_batch": torch.tensor(num_items)}

    def run(fn):
        x = logits.clone().requires_grad_()
        loss = fn(x, labels, V, **kwargs)
        (grad,) = torch.autograd.grad(loss, x)
        return loss, grad

    ours, theirs = run(causal_lm_loss), run(ForCausalLMLoss)
    assert ours[0].dtype == theirs[0].dtype == torch.float32
    torch.testing.assert_close(ours[0], theirs[0], rtol=2e-6, atol=0)
    assert ours[1].dtype == dtype
    if dtype == torch.float32:
        torch.testing.assert_close(ours[1], theirs[1], rtol=0, atol=1e-6)
    else:
        assert_half_matches(ours[1], theirs[1])


def test_label_smoothing_and_reductions_match_torch():
    logits, labels = _batch(torch.float32, seed=1)
    x, t = logits.reshape(-1, V), labels.reshape(-1)
    for reduction in ("none", "mean", "sum"):
        for eps in (0.0, 0.1):
            ours = torch_rs.cross_entropy(x, t, -100, reduction, eps)
            theirs = torch.nn.functional.cross_entropy(
                x, t, ignore_index=-100, reduction=reduction, label_smoothing=eps
            )
            torch.testing.assert_close(ours, theirs, rtol=2e-6, atol=1e-6)


def test_extreme_logits_give_finite_losses_and_gradients():
    x = torch.tensor([[1e30, 0.0, -1e30], [-float("inf"), 0.0, 1.0], [88.0, 89.0, -200.0]])
    t = torch.tensor([1, 2, 0])
    ours = torch_rs.cross_entropy(x.clone().requires_grad_(), t, reduction="none")
    theirs = torch.nn.functional.cross_entropy(x.double(), t, reduction="none")
    torch.testing.assert_close(ours.double(), theirs, rtol=1e-6, atol=1e-6)
    xg = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(torch_rs.cross_entropy(xg, t), xg)
    assert torch.isfinite(grad).all()


def test_patched_causal_lm_uses_the_loss_and_unpatch_restores_it():
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1,
    )
    model = transformers.LlamaForCausalLM(config)
    original = model.loss_function
    torch_rs.patch_model(model)
    assert model.loss_function is causal_lm_loss
    torch_rs.unpatch_model(model)
    assert model.loss_function is original
