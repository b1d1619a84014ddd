"""rs::rms_norm / rs::add_rms_norm against the reference modules themselves (transformers'
LlamaRMSNorm, Qwen3RMSNorm, GemmaRMSNorm, T5LayerNorm and torch.nn.RMSNorm): cast order and
output dtype per family, and gradients.

Tolerances: float32 outputs within 4 float32 ulps of the module's (only the summation order of
mean(x²) differs); bfloat16/float16 outputs equal to the module's on at least 99% of the elements
and within a few rounding steps elsewhere (op_db.assert_half_matches). Gradients: float32 within
1e-5 relative of the module's autograd; half types at least as close to the float64 gradient as
the module's own (which rounds every intermediate) up to one rounding step.
"""

from __future__ import annotations

import pytest
import torch
from op_db import assert_half_matches
from rms_norm_cases import rms_norm_torch

import torch_rs

transformers = pytest.importorskip("transformers")
from transformers.models.gemma.modeling_gemma import GemmaRMSNorm  # noqa: E402
from transformers.models.llama.modeling_llama import LlamaRMSNorm  # noqa: E402
from transformers.models.qwen3.modeling_qwen3 import Qwen3RMSNorm  # noqa: E402
from transformers.models.t5.modeling_t5 import T5LayerNorm  # noqa: E402

HALF = (torch.bfloat16, torch.float16)
D = 256


def _module(kind, dtype, weight_dtype=None):
    torch.manual_seed(1)
    weight_dtype = weight_dtype or dtype
    if kind == "llama":
        m = LlamaRMSNorm(D, eps=1e-6)
    elif kind == "qwen3":
        m = Qwen3RMSNorm(D, eps=1e-6)
    elif kind == "gemma":
        m = GemmaRMSNorm(D, eps=1e-6)
    elif kind == "t5":
        m = T5LayerNorm(D, eps=1e-6)
    else:
        m = torch.nn.RMSNorm(D, eps=None)
    with torch.no_grad():
        m.weight.copy_(torch.randn(D) * 0.3 + (0.0 if kind == "gemma" else 1.0))
    return m.to(weight_dtype)


def _x(dtype, rows=64, scale=3.0):
    g = torch.Generator().manual_seed(2)
    return (torch.randn(rows, D, generator=g) * scale).to(dtype)


def _assert_matches(ours, theirs):
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    if ours.dtype in HALF:
        assert_half_matches(ours, theirs)
    else:
        ulp = torch.finfo(ours.dtype).eps
        torch.testing.assert_close(ours, theirs, rtol=4 * ulp, atol=4 * ulp)


KINDS = ["llama", "qwen3", "gemma", "t5", "torch"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_forward_matches_the_module(kind, dtype):
    module = _module(kind, dtype)
    x = _x(dtype)
    theirs = module(x)
    patched = torch.nn.Sequential(module)
    torch_rs.patch_model(patched)
    assert type(patched[0]) is torch_rs.nn.RMSNorm
    _assert_matches(patched[0](x), theirs)


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_float32_weight_with_half_input_gives_the_module_dtype(kind, dtype):
    # Llama and T5 return float32 here; Gemma and torch.nn.RMSNorm the input's dtype.
    module = _module(kind, dtype, weight_dtype=torch.float32)
    x = _x(dtype)
    theirs = module(x)
    patched = torch.nn.Sequential(module)
    torch_rs.patch_model(patched)
    _assert_matches(patched[0](x), theirs)


def test_llama_differs_only_where_the_normalised_value_rounds_the_other_way():
    module = _module("llama", torch.bfloat16)
    x = _x(torch.bfloat16, rows=512)
    theirs = module(x)
    ours = torch_rs.rms_norm(x, module.weight, 1e-6, "llama")
    xf = x.float()
    r = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)
    n = (xf * r).to(torch.bfloat16)
    # Where the outputs differ, the module's own n is one bfloat16 step from ours.
    ours_n = (ours.float() / module.weight.float())
    differ = ours != theirs
    assert differ.float().mean() < 0.01
    step = torch.exp2(torch.floor(torch.log2(n.float().abs())) - 7)
    assert ((ours_n - n.float()).abs()[differ] <= 1.01 * step[differ]).all()


def test_default_eps_is_torchs():
    x = _x(torch.float32, scale=1e-4)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        xd = x.to(dtype)
        theirs = torch.nn.functional.rms_norm(xd, (D,))
        ours = torch_rs.rms_norm(xd, None, None, "torch")
        _assert_matches(ours, theirs) if dtype != torch.float64 else torch.testing.assert_close(
            ours, theirs
        )


@pytest.mark.parametrize("kind", KINDS)
def test_float32_gradients_match_the_module(kind):
    module = _module(kind, torch.float32)
    x = _x(torch.float32).requires_grad_()
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    (module(x) * g).sum().backward()
    expected = (x.grad.clone(), module.weight.grad.clone())
    x.grad = None
    module.weight.grad = None
    patched = torch.nn.Sequential(module)
    torch_rs.patch_model(patched)
    (patched(x) * g).sum().backward()
    torch.testing.assert_close(x.grad, expected[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(module.weight.grad, expected[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("kind", ["llama", "gemma", "torch"])
def test_half_gradients_are_as_accurate_as_the_modules(kind, dtype):
    module = _module(kind, dtype)
    x = _x(dtype).requires_grad_()
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(3)).to(dtype)

    def grads(fn):
        x.grad = None
        module.weight.grad = None
        fn(x).backward(g)
        return x.grad.double(), module.weight.grad.double()

    # float64 truth: the same formula, from the same rounded inputs.
    x64 = x.detach().double().requires_grad_()
    w64 = module.weight.detach().double().requires_grad_()
    rms_norm_torch(x64, w64, 1e-6, "llama" if kind == "llama" else kind).backward(g.double())
    theirs = grads(module)
    ours = grads(lambda x: torch_rs.rms_norm(x, module.weight, 1e-6, kind))
    step = 2.0**-8 if dtype == torch.bfloat16 else 2.0**-11
    for o, t, truth in zip(ours, theirs, (x64.grad, w64.grad)):
        scale = truth.abs().max()
        ours_error = (o - truth).abs().max() / scale
        their_error = (t - truth).abs().max() / scale
        assert ours_error <= their_error + step, (ours_error, their_error)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_add_rms_norm_is_the_sum_then_the_norm(dtype):
    module = _module("llama", dtype)
    x = _x(dtype)
    residual = _x(dtype, scale=1.0).flip(0)
    normed, total = torch_rs.add_rms_norm(x, residual, module.weight, 1e-6, "llama")
    assert torch.equal(total, x + residual)
    _assert_matches(normed, module(x + residual))


def test_add_rms_norm_gradients_reach_both_inputs():
    module = _module("llama", torch.float64)
    x = _x(torch.float64).requires_grad_()
    residual = _x(torch.float64, scale=1.0).flip(0).requires_grad_()
    g1 = torch.randn(x.shape, dtype=torch.float64)
    g2 = torch.randn(x.shape, dtype=torch.float64)

    def grads(fn):
        x.grad = residual.grad = module.weight.grad = None
        normed, total = fn()
        ((normed * g1).sum() + (total * g2).sum()).backward()
        return x.grad.clone(), residual.grad.clone(), module.weight.grad.clone()

    ours = grads(lambda: torch_rs.add_rms_norm(x, residual, module.weight, 1e-6, "llama"))
    theirs = grads(lambda: (module(x + residual), x + residual))
    # The module computes float64 input in float32.
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert torch.equal(ours[0], ours[1])


def test_nn_rms_norm_without_weight_and_unsupported_shapes():
    x = _x(torch.float32)
    module = torch.nn.Sequential(torch.nn.RMSNorm(D, elementwise_affine=False))
    expected = module(x)
    assert torch_rs.patch_model(module) == 1
    assert module[0].weight is None
    _assert_matches(module[0](x), expected)
    # Over two dimensions: not ours to replace.
    two = torch.nn.Sequential(torch.nn.RMSNorm((4, D)))
    assert torch_rs.patch_model(two) == 0
