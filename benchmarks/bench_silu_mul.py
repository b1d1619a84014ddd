"""silu_mul / gelu_tanh_mul: ``torch.ops.rs.silu_mul(gate, up)`` against ``F.silu(gate) * up``
(and the tanh-GELU pair against ``F.gelu(gate, approximate="tanh") * up``), eager and under
``torch.compile``: forward, and forward + backward (both gradients), on the issue's
4096 x 11008 and a decode-sized 1 x 1024, float32 and bfloat16, with
``torch.set_num_threads(N_THREADS)``.

``python -m benchmarks.bench_silu_mul`` prints the closing note's interleaved best-of-N ratios.
"""

import numpy as np

from .common import SEED, TORCH_PEERS, OpBenchmark, case_size, save_array

SHAPES = ["1x1024", "4096x11008"]
DTYPES = ["float32", "bfloat16"]
ACTIVATIONS = ["silu", "gelu_tanh"]


def _shape(name):
    return tuple(int(s) for s in name.split("x"))


def _cache_elements():
    """Elements of the cached inputs (the largest case; smoke mode: the tiny one)."""
    return case_size(4096 * 11008, 2 * 64)


def _data_shape(name):
    """(rows, d) of the inputs of case ``name``; in smoke mode the same two short rows for
    every case (the cases then share their compiled graphs)."""
    return case_size(_shape(name), (2, 64))


def _reference(torch, activation):
    F = torch.nn.functional
    if activation == "silu":
        return lambda gate, up: F.silu(gate) * up
    return lambda gate, up: F.gelu(gate, approximate="tanh") * up


def _with_backward(torch, forward):
    def run(gate, up, grad):
        return torch.autograd.grad(forward(gate, up), (gate, up), grad)

    return run


def _no_grad(f, *args):
    import torch

    with torch.no_grad():
        return f(*args)


class GatedActivation(OpBenchmark):
    params = [SHAPES, DTYPES, ACTIVATIONS, TORCH_PEERS]
    param_names = ["shape", "dtype", "activation", "impl"]
    timeout = 600
    not_compiled = ("forward_backward",)

    def setup_cache(self):
        rng = np.random.default_rng([SEED, 3])
        n = _cache_elements()
        gate = (3.0 * rng.standard_normal(n)).astype(np.float32)
        up = rng.standard_normal(n).astype(np.float32)
        return save_array("glu-gate", gate), save_array("glu-up", up)

    def make_inputs(self, torch, paths, shape, dtype, activation):
        rows, d = _data_shape(shape)
        tdtype = getattr(torch, dtype)
        gate, up = (
            torch.from_numpy(np.load(p, mmap_mode="r")[: rows * d].copy()).reshape(rows, d)
            for p in paths
        )
        self.activation = activation
        return {
            "gate": gate.to(tdtype).requires_grad_(),
            "up": up.to(tdtype).requires_grad_(),
            "grad": torch.ones(rows, d, dtype=tdtype),
        }

    def ours(self, torch):
        op = torch.ops.rs.silu_mul if self.activation == "silu" else torch.ops.rs.gelu_tanh_mul
        return {"forward": op, "forward_backward": _with_backward(torch, op)}

    def reference(self, torch):
        forward = _reference(torch, self.activation)
        return {"forward": forward, "forward_backward": _with_backward(torch, forward)}

    def warmup_args(self):
        return {"forward": (self.gate, self.up)}

    def setup(self, paths, *params):
        super().setup(paths, *params)
        if params[-1] == "torch_compile":
            import torch

            self.forward_backward = _with_backward(torch, self.forward)
            self.forward_backward(self.gate, self.up, self.grad)

    def time_forward(self, *params):
        """One forward call under no_grad on the same gate and up, a new output each call."""
        _no_grad(self.forward, self.gate, self.up)

    def time_forward_backward(self, *params):
        """Forward with autograd, then both gradients (torch.autograd.grad), same inputs."""
        self.forward_backward(self.gate, self.up, self.grad)


def main(repeats: int = 5) -> None:
    import torch

    import torch_rs  # noqa: F401

    from .bench_rms_norm import print_interleaved
    from .common import N_THREADS

    torch.set_num_threads(N_THREADS)
    for shape in SHAPES:
        rows, d = _shape(shape)
        for dtype in DTYPES:
            tdtype = getattr(torch, dtype)
            gate = (3.0 * torch.randn(rows, d)).to(tdtype).requires_grad_()
            up = torch.randn(rows, d).to(tdtype).requires_grad_()
            grad = torch.ones(rows, d, dtype=tdtype)
            for activation in ACTIVATIONS:
                op = torch.ops.rs.silu_mul if activation == "silu" else torch.ops.rs.gelu_tanh_mul
                eager = _reference(torch, activation)
                compiled = torch.compile(eager, dynamic=False)
                impls = {
                    "torch_rs": {"forward": op, "forward_backward": _with_backward(torch, op)},
                    "torch": {"forward": eager, "forward_backward": _with_backward(torch, eager)},
                    "torch_compile": {
                        "forward": compiled,
                        "forward_backward": _with_backward(torch, compiled),
                    },
                }
                calls = {
                    "forward": lambda f: _no_grad(f, gate, up),
                    "forward_backward": lambda f: f(gate, up, grad),
                }
                number = 1 if rows * d > 1 << 20 else 200
                print_interleaved(f"{shape:>10} {dtype:>8} {activation:>9}", impls, calls,
                                 repeats, number)


if __name__ == "__main__":
    main()
