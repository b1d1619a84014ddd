"""End to end: a LlamaForCausalLM from a small config (hidden 512, 4 layers, 8 heads, 4 KV
heads, intermediate 1408, vocab 8000), float32, batch 8 x 256 tokens: the training step (forward
with loss, backward) unpatched, patched (``torch_rs.patch_model``) and under ``torch.compile``
(each, and patched + compiled), the peak resident memory of each in a fresh process, and the
one-token decode latency (batch 1, 256 cached tokens) unpatched and patched.

``python -m benchmarks.bench_llama`` prints the figures (needs transformers). Smoke mode
(``common.TINY``): a one-layer model of width 64, batch 2 x 16 tokens, 16 cached tokens.
"""

import contextlib
import json
import subprocess
import sys

from .common import case_size

CONFIG = case_size(
    dict(vocab_size=8000, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
         num_key_value_heads=4, intermediate_size=1408, max_position_embeddings=512),
    dict(vocab_size=256, hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
         num_key_value_heads=2, intermediate_size=128, max_position_embeddings=64),
)
#: The training-step variants: patched with torch_rs or not, under torch.compile or not.
VARIANTS = ("unpatched", "patched", "compiled", "patched+compiled")
#: (batch, tokens) of a training step, and the cached tokens of a decode step.
TRAIN_BATCH = case_size((8, 256), (2, 16))
DECODE_CONTEXT = case_size(256, 16)


@contextlib.contextmanager
def _model(patched):
    """The model, patched by torch_rs or not; unpatched again on exit (patch_model swaps the
    Llama modeling module's rotary function for every model until then)."""
    import torch
    import transformers

    import torch_rs

    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**CONFIG))
    if patched:
        torch_rs.patch_model(model)
    try:
        yield model
    finally:
        if patched:
            torch_rs.unpatch_model(model)


def _variant(variant):
    """(patched, compiled) of a variant name of VARIANTS."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: one of {VARIANTS}")
    parts = variant.split("+")  # whole words: "patched" is a substring of "unpatched"
    return "patched" in parts, "compiled" in parts


def training_step(model, compiled):
    """A callable running one training step of ``model`` (forward with loss, backward) on a
    fixed batch, under torch.compile (compiled on its first call) or not."""
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, CONFIG["vocab_size"], TRAIN_BATCH, generator=g)
    forward = torch.compile(model) if compiled else model

    def step():
        model.zero_grad(set_to_none=True)
        forward(input_ids=ids, labels=ids).loss.backward()

    return step


def run_one(variant, steps=4):
    """Times one variant in this process; returns best step seconds and peak RSS (MiB)."""
    import resource
    import time

    import torch

    from .common import N_THREADS

    torch.set_num_threads(N_THREADS)
    patched, compiled = _variant(variant)
    with _model(patched) as model:
        step = training_step(model, compiled)
        step()  # warm-up (and compilation)
        best = float("inf")
        for _ in range(steps):
            start = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"variant": variant, "step_s": best, "peak_mib": peak}


def decode_latency(patched, repeats=50):
    import time

    import torch

    from .common import N_THREADS

    torch.set_num_threads(N_THREADS)
    with _model(patched) as model, torch.no_grad():
        model.eval()
        ids = torch.randint(0, CONFIG["vocab_size"], (1, DECODE_CONTEXT))
        cache = model(input_ids=ids, use_cache=True).past_key_values
        token = ids[:, -1:]
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            model(input_ids=token, past_key_values=cache, use_cache=True)
            best = min(best, time.perf_counter() - start)
            cache.crop(-1)  # drop the token just added: every step decodes at DECODE_CONTEXT
    return best


def main():
    for variant in VARIANTS:
        out = subprocess.run(
            [sys.executable, "-c",
             f"import json, benchmarks.bench_llama as b; print(json.dumps(b.run_one({variant!r})))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(f"training step {r['variant']:>17}: {r['step_s'] * 1e3:8.1f} ms, "
              f"peak RSS {r['peak_mib']:7.0f} MiB", flush=True)
    for patched in (False, True):
        print(f"decode one token {'patched' if patched else 'unpatched':>9}: "
              f"{decode_latency(patched) * 1e3:7.3f} ms", flush=True)


if __name__ == "__main__":
    main()
