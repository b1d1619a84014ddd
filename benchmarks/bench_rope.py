"""rope: ``torch.ops.rs.rope(q, k, cos, sin)`` against transformers' ``apply_rotary_pos_emb``
(its torch formula, copied here so the benchmark needs no transformers), eager and under
``torch.compile``: forward, and forward + backward (q and k gradients), on the issue's
q 1x32x2048x128 / k 1x8x2048x128 (transposed from (B, S, H, D) projections, as attention
makes them) and a one-token decode step (q 1x32x1x128), float32 and bfloat16, with
``torch.set_num_threads(N_THREADS)``.

``python -m benchmarks.bench_rope`` prints the closing note's interleaved best-of-N ratios.
"""

from .common import TORCH_PEERS, OpBenchmark, case_size

SHAPES = ["decode", "prefill"]
DTYPES = ["float32", "bfloat16"]
HEADS, KV_HEADS, HEAD_DIM = case_size((32, 8, 128), (4, 2, 128))


def _seq(shape):
    # Smoke mode: two tokens for every case (the cases then share their compiled graphs).
    return case_size(1 if shape == "decode" else 2048, 2)


def apply_rotary_pos_emb(torch):
    def rotate_half(x):
        x1 = x[..., : x.shape[-1] // 2]
        x2 = x[..., x.shape[-1] // 2 :]
        return torch.cat((-x2, x1), dim=-1)

    def forward(q, k, cos, sin):
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin

    return forward


def _with_backward(torch, forward):
    def run(q, k, cos, sin, gq, gk):
        return torch.autograd.grad(forward(q, k, cos, sin), (q, k), (gq, gk))

    return run


def _inputs(torch, shape, dtype):
    seq = _seq(shape)
    tdtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(5)
    q = torch.randn(1, seq, HEADS, HEAD_DIM, generator=g).to(tdtype).transpose(1, 2)
    k = torch.randn(1, seq, KV_HEADS, HEAD_DIM, generator=g).to(tdtype).transpose(1, 2)
    angles = torch.arange(seq)[:, None] * (1e4 ** (-torch.arange(0, HEAD_DIM, 2) / HEAD_DIM))
    emb = torch.cat((angles, angles), dim=-1)[None]
    return {
        "q": q.requires_grad_(),
        "k": k.requires_grad_(),
        "cos": emb.cos().to(tdtype),
        "sin": emb.sin().to(tdtype),
        "gq": torch.ones(q.shape, dtype=tdtype),
        "gk": torch.ones(k.shape, dtype=tdtype),
    }


def _no_grad(f, *args):
    import torch

    with torch.no_grad():
        return f(*args)


class Rope(OpBenchmark):
    params = [SHAPES, DTYPES, TORCH_PEERS]
    param_names = ["shape", "dtype", "impl"]
    timeout = 600
    not_compiled = ("forward_backward",)

    def setup_cache(self):
        # Not None: for a None cache asv passes no argument at all, and setup's `paths` would
        # take the first parameter (every case failed with a TypeError).
        return {}

    def make_inputs(self, torch, paths, shape, dtype):
        return _inputs(torch, shape, dtype)

    def ours(self, torch):
        op = torch.ops.rs.rope
        return {"forward": op, "forward_backward": _with_backward(torch, op)}

    def reference(self, torch):
        forward = apply_rotary_pos_emb(torch)
        return {"forward": forward, "forward_backward": _with_backward(torch, forward)}

    def warmup_args(self):
        return {"forward": (self.q, self.k, self.cos, self.sin)}

    def setup(self, paths, *params):
        super().setup(paths, *params)
        if params[-1] == "torch_compile":
            import torch

            self.forward_backward = _with_backward(torch, self.forward)
            self.forward_backward(self.q, self.k, self.cos, self.sin, self.gq, self.gk)

    def time_forward(self, *params):
        """One forward call under no_grad on the same q, k, cos, sin; new outputs each call."""
        _no_grad(self.forward, self.q, self.k, self.cos, self.sin)

    def time_forward_backward(self, *params):
        """Forward with autograd, then the gradients of q and k, same inputs each call."""
        self.forward_backward(self.q, self.k, self.cos, self.sin, self.gq, self.gk)


def main(repeats: int = 7) -> None:
    import torch

    import torch_rs  # noqa: F401

    from .bench_rms_norm import print_interleaved
    from .common import N_THREADS

    torch.set_num_threads(N_THREADS)
    for shape in SHAPES:
        for dtype in DTYPES:
            t = _inputs(torch, shape, dtype)
            args = (t["q"], t["k"], t["cos"], t["sin"])
            eager = apply_rotary_pos_emb(torch)
            compiled = torch.compile(eager, dynamic=False)
            op = torch.ops.rs.rope
            impls = {
                "torch_rs": {"forward": op, "forward_backward": _with_backward(torch, op)},
                "torch": {"forward": eager, "forward_backward": _with_backward(torch, eager)},
                "torch_compile": {
                    "forward": compiled,
                    "forward_backward": _with_backward(torch, compiled),
                },
            }
            calls = {
                "forward": lambda f: _no_grad(f, *args),
                "forward_backward": lambda f: f(*args, t["gq"], t["gk"]),
            }
            number = 200 if shape == "decode" else 3
            print_interleaved(f"{shape:>10} {dtype:>8}", impls, calls, repeats, number)


if __name__ == "__main__":
    main()
