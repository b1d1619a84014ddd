"""The rs:: operators inside ``torch.compile``d code: what inductor should do with each.

A compiled graph either keeps the Rust kernel as an opaque call (``torch_rs`` policy "kernel")
or compiles the replaced module's own ops, fused with their neighbours ("decompose", the code an
unpatched model compiles to). Each case is an operator with the neighbours it has in real
models (a bias add and a scale around GELU, the residual add before RMSNorm; none for the gated
activation, rotary embedding and loss, which sit between matmuls), forward under no_grad and
forward + backward, at sizes from cache-resident to memory-bound, float32 and bfloat16.

``python -m benchmarks.bench_compile [case]`` prints, per case and size, both times (CPU time,
best of 5, interleaved; run it with ``BENCH_NUM_THREADS=1`` on a shared machine) and
decompose/kernel (> 1: the kernel is faster): the measurements behind
``torch_rs._inductor.KERNEL_WINS``. ``python -m benchmarks.bench_compile models [gpt2|llama]`` times GPT-2 and
Llama from small configs, unpatched and patched, eager and compiled, forward and training step.
(Not an asv suite: it compiles dozens of graphs.)
"""

from .common import N_THREADS, SEED

DTYPES = ["float32", "bfloat16"]


def _cases(torch, dtype):
    """name -> (function of the op's callers, input builder by size, sizes)."""
    import torch_rs

    F = torch.nn.functional
    g = torch.Generator().manual_seed(SEED)

    def randn(*shape, grad=True):
        return torch.randn(*shape, generator=g).to(dtype).requires_grad_(grad)

    def gelu_fused(x, b):
        return torch_rs.fast_gelu(x + b) * 2.0

    def gelu_alone(x):
        return torch_rs.fast_gelu(x)

    def silu_mul(gate, up):
        return torch_rs.silu_mul(gate, up)

    def add_norm(x, residual, weight):
        total = x + residual
        return torch_rs.rms_norm(total, weight, 1e-6, "llama"), total

    def rope(q, k, cos, sin):
        return torch_rs.rope(q, k, cos, sin)

    def loss(logits, target):
        return torch_rs.cross_entropy(logits, target)

    def rope_inputs(seq):
        q = randn(1, seq, 32, 128).transpose(1, 2)
        k = randn(1, seq, 8, 128).transpose(1, 2)
        return q, k, randn(1, seq, 128, grad=False), randn(1, seq, 128, grad=False)

    def loss_inputs(rows):
        return randn(rows, 32000), torch.randint(0, 32000, (rows,), generator=g)

    return {
        "gelu(x+b)*2": (gelu_fused, lambda n: (randn(n // 1024, 1024), randn(1024)),
                        [1 << 16, 1 << 20, 1 << 22, 1 << 24]),
        "gelu(x)": (gelu_alone, lambda n: (randn(n // 1024, 1024),), [1 << 16, 1 << 20, 1 << 24]),
        "silu_mul": (silu_mul, lambda n: (randn(n // 1024, 1024), randn(n // 1024, 1024)),
                     [1 << 16, 1 << 20, 1 << 22, 1 << 24]),
        "add+rms_norm": (add_norm, lambda rows: (randn(rows, 4096), randn(rows, 4096),
                                                 randn(4096)), [16, 256, 1024, 4096]),
        "rope": (rope, rope_inputs, [16, 256, 2048]),
        "cross_entropy": (loss, loss_inputs, [64, 1024, 4096]),
    }


def _fwd_bwd(torch, fn):
    def run(*args):
        out = fn(*args)
        outs = out if isinstance(out, tuple) else (out,)
        inputs = [a for a in args if a.requires_grad]
        return torch.autograd.grad([o.sum() for o in outs], inputs)

    return run


def _best(call, repeats):
    """Best of `repeats` calls, in CPU time of this process (user + system): on a shared
    machine other processes' load does not inflate it; with one thread it is the call's time."""
    import time

    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
    return best


def main(repeats: int = 5, only: str | None = None) -> None:
    import torch

    import torch_rs

    torch.set_num_threads(N_THREADS)
    for dtype_name in DTYPES:
        dtype = getattr(torch, dtype_name)
        for name, (fn, build, sizes) in _cases(torch, dtype).items():
            if only and only not in name:
                continue
            compiled = {}
            for policy in ("kernel", "decompose"):
                torch._dynamo.reset()
                with torch_rs.compile_policy(policy):
                    fwd = torch.compile(fn, dynamic=True)
                    train = _fwd_bwd(torch, torch.compile(fn, dynamic=True))
                    for size in sizes:  # compiles (and warms up) under this policy
                        args = build(size)
                        with torch.no_grad():
                            fwd(*args)
                        train(*args)
                compiled[policy] = (fwd, train)
            for size in sizes:
                args = build(size)
                times = {}
                for _ in range(2):  # interleaved rounds
                    for policy, (fwd, train) in compiled.items():
                        with torch.no_grad():
                            t_fwd = _best(lambda: fwd(*args), repeats)
                        t_train = _best(lambda: train(*args), repeats)
                        old = times.get(policy, (float("inf"), float("inf")))
                        times[policy] = (min(old[0], t_fwd), min(old[1], t_train))
                k, d = times["kernel"], times["decompose"]
                print(f"{dtype_name:>8} {name:>14} {size:>9}: fwd kernel {k[0]*1e3:8.3f} ms "
                      f"decompose {d[0]*1e3:8.3f} ms ({d[0]/k[0]:5.2f}x) | fwd+bwd kernel "
                      f"{k[1]*1e3:8.3f} ms decompose {d[1]*1e3:8.3f} ms ({d[1]/k[1]:5.2f}x)",
                      flush=True)


# ---- whole models ---------------------------------------------------------------------------------


def _model_builders():
    import transformers

    return {
        # GPT-2 (tanh-GELU MLPs): 2 layers, n_embd 256; batch 8 x 256 tokens.
        "gpt2": lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(
            n_layer=2, n_embd=256, n_head=4, vocab_size=8000, n_positions=256)),
        # Llama from the small config (hidden 512, 4 layers, 8 heads, 4 KV heads).
        "llama": lambda: transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=8000, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
            num_key_value_heads=4, intermediate_size=1408, max_position_embeddings=512)),
    }


def models(repeats: int = 5, only: str | None = None) -> None:
    """GPT-2 and Llama from small configs, float32, batch 8 x 256: forward (no_grad) and
    training step (forward with loss, backward), unpatched and patched, eager and compiled
    (default policy), all in one process, interleaved, best of `repeats` (wall time)."""
    import copy
    import time

    import torch

    import torch_rs

    torch.set_num_threads(N_THREADS)
    for name, build in _model_builders().items():
        if only and only != name:
            continue
        torch.manual_seed(SEED)
        unpatched = build().eval()
        patched = copy.deepcopy(unpatched)
        torch_rs.patch_model(patched)
        ids = torch.randint(0, 8000, (8, 256), generator=torch.Generator().manual_seed(SEED))
        variants = {
            "unpatched": unpatched, "patched": patched,
            "unpatched+compiled": torch.compile(unpatched),
            "patched+compiled": torch.compile(patched),
        }

        def forward(model):
            with torch.no_grad():
                model(input_ids=ids)

        def train(model):
            model(input_ids=ids, labels=ids).loss.backward()

        best = {}
        for what, call in (("forward", forward), ("training step", train)):
            for model in variants.values():  # compiles, warms up
                call(model)
            for _ in range(repeats):
                for variant, model in variants.items():
                    start = time.perf_counter()
                    call(model)
                    elapsed = time.perf_counter() - start
                    key = (what, variant)
                    best[key] = min(best.get(key, float("inf")), elapsed)
            base = best[(what, "unpatched")]
            for variant in variants:
                t = best[(what, variant)]
                print(f"{name:>6} {what:>13} {variant:>18}: {t * 1e3:8.1f} ms "
                      f"({base / t:4.2f}x unpatched eager)", flush=True)
        torch_rs.unpatch_model(patched)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["models"]:
        models(only=sys.argv[2] if len(sys.argv) > 2 else None)
    else:
        main(only=sys.argv[1] if len(sys.argv) > 1 else None)
