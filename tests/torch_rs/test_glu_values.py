"""rs::silu_mul / rs::gelu_tanh_mul against the models' own `act_fn(gate) * up` and the MLP
modules of transformers (LlamaMLP, GemmaMLP).

Tolerances: float32 within 2e-6 (SiLU) / 4e-6 (tanh GELU) of the float64 value relative to
max(1, |value|) — our exp and reciprocal differ from torch's by an ulp or two. bfloat16/float16,
forward and both gradients: for SiLU equal to torch's two rounded ops on at least 99% of the
elements and within a few rounding steps elsewhere (op_db.assert_half_matches); for tanh GELU
torch's own 0.5·x·(1 + tanh(·)) loses the negative tail (gelu(-6) is 0 in float32), so ours is
compared that way with the models' cast order around the exact activation (op_db), and with
torch's ops to 2^-7 relative or 1e-5 absolute.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_db import assert_half_matches, assert_within

import torch_rs

ACTS = {
    "silu_mul": F.silu,
    "gelu_tanh_mul": lambda x: F.gelu(x, approximate="tanh"),
}
HALF = (torch.bfloat16, torch.float16)


def _inputs(dtype, n=100_003, scale=4.0):
    g = torch.Generator().manual_seed(11)
    gate = (torch.randn(n, generator=g) * scale).to(dtype)
    up = torch.randn(n, generator=g).to(dtype)
    return gate, up


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name", ACTS)
def test_half_types_round_like_the_two_torch_ops(name, dtype):
    gate, up = _inputs(dtype)
    ours = getattr(torch_rs, name)(gate, up)
    _assert_like_torch(name, ours, ACTS[name](gate) * up)


def _assert_like_torch(name, ours, theirs):
    if name == "silu_mul":
        assert_half_matches(ours, theirs)
    else:
        torch.testing.assert_close(ours.float(), theirs.float(), rtol=2**-7, atol=1e-5)


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name", ACTS)
def test_half_gradients_round_like_autograd_through_the_two_ops(name, dtype):
    gate, up = _inputs(dtype)
    grad = torch.randn(gate.shape, generator=torch.Generator().manual_seed(12)).to(dtype)

    def grads(fn):
        g, u = gate.clone().requires_grad_(), up.clone().requires_grad_()
        return torch.autograd.grad(fn(g, u), (g, u), grad)

    ours = grads(getattr(torch_rs, name))
    theirs = grads(lambda g, u: ACTS[name](g) * u)
    for a, b in zip(ours, theirs):
        _assert_like_torch(name, a, b)


@pytest.mark.parametrize("name", ACTS)
def test_extreme_gates_give_finite_values_and_gradients(name):
    gate = torch.tensor([-1e30, -1e4, -100.0, -88.0, -20.0, 0.0, 20.0, 100.0, 1e4, 1e30])
    up = torch.full_like(gate, 0.5)
    ours = getattr(torch_rs, name)(gate, up)
    expected = ACTS[name](gate.double()) * up.double()
    assert_within(ours, expected, 2e-6)
    g = gate.clone().requires_grad_()
    (d_gate,) = torch.autograd.grad(getattr(torch_rs, name)(g, up).sum(), g)
    assert torch.isfinite(d_gate).all()
    g64 = gate.double().requires_grad_()
    (want,) = torch.autograd.grad((ACTS[name](g64) * up.double()).sum(), g64)
    assert_within(d_gate, torch.nan_to_num(want), 2e-6)


def test_nan_propagates():
    gate = torch.tensor([float("nan"), 1.0])
    up = torch.tensor([1.0, float("nan")])
    for name in ACTS:
        assert getattr(torch_rs, name)(gate, up).isnan().all()


def _config_models():
    from transformers import GemmaConfig, LlamaConfig
    from transformers.models.gemma.modeling_gemma import GemmaMLP
    from transformers.models.llama.modeling_llama import LlamaMLP

    torch.manual_seed(0)
    llama = LlamaMLP(LlamaConfig(hidden_size=64, intermediate_size=176))
    gemma = GemmaMLP(GemmaConfig(hidden_size=64, intermediate_size=176,
                                 hidden_activation="gelu_pytorch_tanh"))
    return {"llama": llama, "gemma": gemma}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("kind", ["llama", "gemma"])
def test_mlp_swap_matches_the_module(kind, dtype):
    pytest.importorskip("transformers")
    mlp = _config_models()[kind].to(dtype)
    x = torch.randn(4, 9, 64).to(dtype)
    expected = mlp(x)
    model = torch.nn.Sequential(mlp)
    keys = list(model.state_dict())
    assert torch_rs.patch_model(model) == 1
    assert isinstance(model[0], torch_rs.nn.GatedMLP)
    assert list(model.state_dict()) == keys
    ours = model(x)
    if dtype == torch.float32:
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)
    else:
        # The product is rounded like the module's; down_proj then sums its rare one-step
        # differences.
        torch.testing.assert_close(ours, expected, rtol=2e-2, atol=2e-2)
    assert torch_rs.unpatch_model(model) == 1
    assert model[0] is mlp
