"""rs::rope against transformers' own apply_rotary_pos_emb and its autograd: the same bits in
every dtype (the same three rounded products and sums per element), for the layouts attention
produces (q/k transposed from (B, S, H, D) views), grouped-query heads and cos/sin batches of 1
or B; and the rotary swap inside a Llama attention layer.
"""

from __future__ import annotations

import pytest
import torch

import torch_rs

pytest.importorskip("transformers")
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb  # noqa: E402

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]


def _qkv(dtype, batch=2, seq=33, heads=8, kv_heads=2, head_dim=64, cos_batch=1):
    g = torch.Generator().manual_seed(21)
    q = torch.randn(batch, seq, heads, head_dim, generator=g).to(dtype).transpose(1, 2)
    k = torch.randn(batch, seq, kv_heads, head_dim, generator=g).to(dtype).transpose(1, 2)
    angles = torch.arange(seq)[:, None] * torch.rand(head_dim // 2, generator=g)
    emb = torch.cat((angles, angles), dim=-1).expand(cos_batch, seq, head_dim)
    return q, k, emb.cos().to(dtype), emb.sin().to(dtype)


@pytest.mark.parametrize("cos_batch", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_forward_is_bitwise_transformers(dtype, cos_batch):
    q, k, cos, sin = _qkv(dtype, cos_batch=cos_batch)
    ours = torch_rs.rope(q, k, cos, sin)
    theirs = apply_rotary_pos_emb(q, k, cos, sin)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
        assert a.stride() == b.stride()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_gradients_are_bitwise_autograd_through_transformers(dtype):
    q, k, cos, sin = _qkv(dtype)
    g = torch.Generator().manual_seed(22)
    gq = torch.randn(q.shape, generator=g).to(dtype)
    gk = torch.randn(k.shape, generator=g).to(dtype)

    def grads(fn):
        q_, k_ = q.detach().requires_grad_(), k.detach().requires_grad_()
        out = fn(q_, k_, cos, sin)
        return torch.autograd.grad(out, (q_, k_), (gq, gk))

    for a, b in zip(grads(torch_rs.rope), grads(apply_rotary_pos_emb)):
        assert torch.equal(a, b)


def test_unsqueeze_dim_two_for_bshd_layouts():
    q, k, cos, sin = _qkv(torch.float32, cos_batch=2)
    q, k = q.transpose(1, 2), k.transpose(1, 2)  # (B, S, H, D)
    ours = torch_rs.rope(q, k, cos, sin, 2)
    theirs = apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)


def test_results_do_not_depend_on_thread_count():
    q, k, cos, sin = _qkv(torch.bfloat16, batch=1, seq=512, heads=16, kv_heads=4)
    results = []
    for threads in (1, 2, 3):
        torch.set_num_threads(threads)
        results.append(torch_rs.rope(q, k, cos, sin))
    torch.set_num_threads(2)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))
