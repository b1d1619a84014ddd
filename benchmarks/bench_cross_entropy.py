"""cross_entropy: ``torch.ops.rs.cross_entropy(logits, target)`` against transformers'
causal-LM loss (``F.cross_entropy(logits.float(), target)``), eager and under
``torch.compile``: forward, and forward + backward (the logits' gradient), on the issue's
4096 x 32000 logits and a small 8 x 1024, float32 and bfloat16, with
``torch.set_num_threads(N_THREADS)``.

``python -m benchmarks.bench_cross_entropy`` prints the closing note's interleaved best-of-N
ratios.
"""

from .common import TORCH_PEERS, OpBenchmark, case_size

SHAPES = ["8x1024", "4096x32000"]
DTYPES = ["float32", "bfloat16"]


def _shape(name):
    return tuple(int(s) for s in name.split("x"))


def _reference(torch):
    def loss(logits, target):
        return torch.nn.functional.cross_entropy(logits.float(), target, ignore_index=-100)

    return loss


def _with_backward(torch, forward):
    def run(logits, target):
        return torch.autograd.grad(forward(logits, target), logits)

    return run


def _inputs(torch, shape, dtype):
    n, v = _shape(shape)
    n, v = case_size((n, v), (8, 256))  # smoke mode: one shape, one compiled graph per dtype
    g = torch.Generator().manual_seed(6)
    logits = (torch.randn(n, v, generator=g) * 3).to(getattr(torch, dtype)).requires_grad_()
    target = torch.randint(0, v, (n,), generator=g)
    target[::10] = -100
    return {"logits": logits, "target": target}


def _no_grad(f, *args):
    import torch

    with torch.no_grad():
        return f(*args)


class CrossEntropy(OpBenchmark):
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
        op = torch.ops.rs.cross_entropy
        return {"forward": op, "forward_backward": _with_backward(torch, op)}

    def reference(self, torch):
        forward = _reference(torch)
        return {"forward": forward, "forward_backward": _with_backward(torch, forward)}

    def warmup_args(self):
        return {"forward": (self.logits, self.target)}

    def setup(self, paths, *params):
        super().setup(paths, *params)
        if params[-1] == "torch_compile":
            import torch

            self.forward_backward = _with_backward(torch, self.forward)
            self.forward_backward(self.logits, self.target)

    def time_forward(self, *params):
        """One forward call (the loss) under no_grad on the same logits and targets."""
        _no_grad(self.forward, self.logits, self.target)

    def time_forward_backward(self, *params):
        """The loss with autograd, then the gradient of the logits, same inputs each call."""
        self.forward_backward(self.logits, self.target)


def main(repeats: int = 5) -> None:
    import torch

    import torch_rs  # noqa: F401

    from .bench_rms_norm import print_interleaved
    from .common import N_THREADS

    torch.set_num_threads(N_THREADS)
    for shape in SHAPES:
        for dtype in DTYPES:
            t = _inputs(torch, shape, dtype)
            args = (t["logits"], t["target"])
            eager = _reference(torch)
            compiled = torch.compile(eager, dynamic=False)
            op = torch.ops.rs.cross_entropy
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
                "forward_backward": lambda f: f(*args),
            }
            number = 200 if shape == "8x1024" else 1
            print_interleaved(f"{shape:>10} {dtype:>8}", impls, calls, repeats, number)


if __name__ == "__main__":
    main()
