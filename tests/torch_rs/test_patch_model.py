"""torch_rs.patch_model / unpatch_model: in-place swaps of tanh-GELU modules."""

import pytest
import torch

import torch_rs
from torch_rs.nn import FastGELU


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        shared = torch.nn.GELU(approximate="tanh")
        self.body = torch.nn.Sequential(
            torch.nn.Linear(6, 16), shared, torch.nn.Linear(16, 16), shared, torch.nn.LayerNorm(16)
        )
        self.exact = torch.nn.GELU()  # the erf form: not ours to replace
        self.branch = torch.nn.ModuleList([torch.nn.Linear(16, 4), torch.nn.GELU(approximate="tanh")])
        self.register_buffer("scale", torch.tensor(0.5))

    def forward(self, x):
        h = self.exact(self.body(x))
        return self.branch[1](self.branch[0](h)) * self.scale


def _outputs_and_grads(model, x):
    model.zero_grad()
    y = model(x)
    y.square().sum().backward()
    return y.detach(), [p.grad.clone() for p in model.parameters()]


def test_patch_replaces_tanh_gelus_only_and_keeps_state():
    torch.manual_seed(0)
    model = _Net()
    x = torch.randn(5, 6)
    expected = _outputs_and_grads(model, x)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    originals = [m for m in model.modules() if isinstance(m, torch.nn.GELU)]

    assert torch_rs.patch_model(model) == 3
    assert isinstance(model.body[1], FastGELU) and model.body[1] is model.body[3]
    assert isinstance(model.branch[1], FastGELU)
    assert type(model.exact) is torch.nn.GELU
    assert model.state_dict().keys() == state.keys()
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])
    actual = _outputs_and_grads(model, x)
    torch.testing.assert_close(actual, expected)
    assert torch_rs.patch_model(model) == 0  # idempotent

    assert torch_rs.unpatch_model(model) == 3
    restored = [m for m in model.modules() if isinstance(m, torch.nn.GELU)]
    assert {id(m) for m in restored} == {id(m) for m in originals}
    assert not any(isinstance(m, FastGELU) for m in model.modules())


def test_patched_model_compiles():
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = _Net()
    x = torch.randn(5, 6)
    expected = _outputs_and_grads(model, x)
    torch_rs.patch_model(model)
    compiled = torch.compile(model, fullgraph=True)
    compiled.zero_grad()
    y = compiled(x)
    y.square().sum().backward()
    actual = (y.detach(), [p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(actual, expected)


def test_patch_keeps_training_mode():
    model = torch.nn.Sequential(torch.nn.GELU(approximate="tanh")).eval()
    torch_rs.patch_model(model)
    assert not model[0].training


def _tiny_gpt2():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(
        vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=2,
        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config)


def _gpt2_outputs_and_grads(model, ids):
    model.zero_grad()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    grads = {
        name.removeprefix("_orig_mod."): p.grad.clone()
        for name, p in model.named_parameters()
        if p.grad is not None
    }
    return out.logits.detach(), grads


def test_gpt2_from_transformers():
    model = _tiny_gpt2()
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(1))
    expected = _gpt2_outputs_and_grads(model, ids)
    keys = list(model.state_dict().keys())

    assert torch_rs.patch_model(model) == 2  # one MLP activation per layer
    assert all(isinstance(block.mlp.act, FastGELU) for block in model.transformer.h)
    assert list(model.state_dict().keys()) == keys
    torch.testing.assert_close(_gpt2_outputs_and_grads(model, ids), expected, rtol=1e-4, atol=1e-5)

    torch._dynamo.reset()
    compiled = torch.compile(model)
    torch.testing.assert_close(_gpt2_outputs_and_grads(compiled, ids), expected, rtol=1e-4, atol=1e-5)

    assert torch_rs.unpatch_model(model) == 2
    assert type(model.transformer.h[0].mlp.act).__name__ == "NewGELUActivation"
