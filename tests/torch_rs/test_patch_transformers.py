"""torch_rs.patch_model on transformers models built from small configs (Llama, Qwen2, Qwen3,
Gemma, Phi-3, T5): which modules are swapped, the same logits, loss and gradients before and after
patching (eager and under torch.compile), unpatch_model, parameter identity and state_dict keys.

Tolerance: float32 logits, loss and gradients within rtol 1e-4 / atol 1e-5 of the unpatched
model's: the only differences are the float32 summation order of the norms' mean(x²) and the
activations' exp (an ulp or two per element), carried through the layers.
"""

from __future__ import annotations

import sys

import pytest
import torch

import torch_rs

transformers = pytest.importorskip("transformers")


def _llama():
    config = transformers.LlamaConfig(
        vocab_size=128, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )
    return transformers.LlamaForCausalLM(config)


def _qwen2():
    config = transformers.Qwen2Config(
        vocab_size=128, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )
    return transformers.Qwen2ForCausalLM(config)


def _qwen3():
    config = transformers.Qwen3Config(
        vocab_size=128, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=64,
    )
    return transformers.Qwen3ForCausalLM(config)


def _gemma():
    config = transformers.GemmaConfig(
        vocab_size=128, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=64,
        hidden_activation="gelu_pytorch_tanh",
    )
    return transformers.GemmaForCausalLM(config)


def _phi3():
    # Half of each head rotates (Phi-3's partial rotary); one gate-and-up projection per MLP.
    config = transformers.Phi3Config(
        vocab_size=128, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        partial_rotary_factor=0.5, pad_token_id=0,
    )
    return transformers.Phi3ForCausalLM(config)


def _t5():
    config = transformers.T5Config(
        vocab_size=128, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
        feed_forward_proj="gated-gelu", dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0,
    )
    return transformers.T5ForConditionalGeneration(config)


# (builder, swapped modules: norms, MLPs, tanh-GELU activations)
MODELS = {
    "llama": (_llama, 2 * 2 + 1, 2, 0),
    "qwen2": (_qwen2, 2 * 2 + 1, 2, 0),
    "qwen3": (_qwen3, 2 * 4 + 1, 2, 0),  # q_norm and k_norm too
    "gemma": (_gemma, 2 * 2 + 1, 2, 0),
    "phi3": (_phi3, 2 * 2 + 1, 2, 0),
    # Encoder and decoder norms; T5's gated MLP keeps its own form, its gelu_new is swapped.
    "t5": (_t5, 2 * 2 + 1 + 2 * 3 + 1, 0, 4),
}


def _batch(name):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 128, (2, 12), generator=g)
    if name == "t5":
        labels = torch.randint(0, 128, (2, 7), generator=g)
        return {"input_ids": ids, "labels": labels}
    labels = ids.clone()
    labels[0, :3] = -100
    return {"input_ids": ids, "labels": labels}


def _run(model, batch, owner=None):
    """Logits, loss and the gradients of `owner`'s parameters (the model's own by default; the
    original module for a compiled wrapper)."""
    owner = owner or model
    owner.zero_grad()
    out = model(**batch)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in owner.named_parameters() if p.grad is not None}
    return out.logits.detach(), out.loss.detach(), grads


def _assert_close(actual, expected):
    logits, loss, grads = actual
    torch.testing.assert_close(logits, expected[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(loss, expected[1], rtol=1e-4, atol=1e-5)
    assert grads.keys() == expected[2].keys()
    for name in grads:
        torch.testing.assert_close(grads[name], expected[2][name], rtol=1e-4, atol=1e-5,
                                   msg=name)


@pytest.mark.parametrize("name", MODELS)
def test_patched_model_gives_the_same_logits_loss_and_gradients(name):
    builder, norms, mlps, activations = MODELS[name]
    torch.manual_seed(0)
    model = builder().eval()
    batch = _batch(name)
    expected = _run(model, batch)
    keys = list(model.state_dict())
    parameters = [id(p) for p in model.parameters()]

    assert torch_rs.patch_model(model) == norms + mlps + activations
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(torch_rs.nn.RMSNorm) == norms
    assert kinds.count(torch_rs.nn.GatedMLP) + kinds.count(torch_rs.nn.GateUpMLP) == mlps
    assert list(model.state_dict()) == keys
    assert [id(p) for p in model.parameters()] == parameters
    _assert_close(_run(model, batch), expected)

    module = sys.modules[type(model.model if name != "t5" else model).__module__]
    rotary = getattr(module, "apply_rotary_pos_emb", None)
    if name != "t5":
        assert hasattr(rotary, "__torch_rs_original__")

    assert torch_rs.unpatch_model(model) == norms + mlps + activations
    assert not any(type(m).__module__.startswith("torch_rs") for m in model.modules())
    if name != "t5":
        assert module.apply_rotary_pos_emb is rotary.__torch_rs_original__
    restored = _run(model, batch)
    torch.testing.assert_close(restored[0], expected[0], rtol=0, atol=0)


def _compiled_run(model, batch, policy):
    from torch._inductor.utils import run_and_get_code

    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=False)
    with torch._inductor.config.patch(force_disable_caches=True), torch_rs.compile_policy(policy):
        actual, codes = run_and_get_code(lambda: _run(compiled, batch, model))
    return actual, "\n".join(codes)


@pytest.mark.parametrize("name", ["llama", "gemma"])
def test_patched_model_compiles_and_keeps_the_ops(name):
    builder = MODELS[name][0]
    torch.manual_seed(0)
    model = builder().eval()
    batch = _batch(name)
    expected = _run(model, batch)
    torch_rs.patch_model(model)
    actual, code = _compiled_run(model, batch, "kernel")
    _assert_close(actual, expected)
    assert "torch.ops.rs.rms_norm_forward.default" in code
    assert "torch.ops.rs.rms_norm_backward.default" in code
    act = "silu_mul" if name == "llama" else "gelu_tanh_mul"
    assert f"torch.ops.rs.{act}.default" in code
    assert "torch.ops.rs.rope.default" in code and "torch.ops.rs.rope_backward.default" in code
    assert "torch.ops.rs.cross_entropy_forward.default" in code
    assert "torch.ops.rs.cross_entropy_backward.default" in code
    torch_rs.unpatch_model(model)


def test_patched_model_compiled_with_decompositions_runs_the_unpatched_models_ops():
    torch.manual_seed(0)
    model = _llama().eval()
    batch = _batch("llama")
    expected = _run(model, batch)
    torch_rs.patch_model(model)
    actual, code = _compiled_run(model, batch, "decompose")
    _assert_close(actual, expected)
    assert "torch.ops.rs." not in code
    torch_rs.unpatch_model(model)


def test_two_patched_models_share_the_rotary_swap_until_both_are_unpatched():
    from transformers.models.llama import modeling_llama

    original = modeling_llama.apply_rotary_pos_emb
    a, b = _llama(), _llama()
    torch_rs.patch_model(a)
    torch_rs.patch_model(b)
    torch_rs.patch_model(a)  # idempotent
    torch_rs.unpatch_model(a)
    assert modeling_llama.apply_rotary_pos_emb is not original
    torch_rs.unpatch_model(b)
    assert modeling_llama.apply_rotary_pos_emb is original
