"""rms_norm / add_rms_norm: ``torch.ops.rs.rms_norm`` (Llama mode) against LlamaRMSNorm's
forward written with torch ops, eager and under ``torch.compile``; ``rs::add_rms_norm`` against
``x + residual`` followed by that norm.

Forward, and forward + backward (gradients of x and the weight), on the issue's 4096 x 4096 and
a decode-sized 1 x 1024, in float32 and bfloat16, with ``torch.set_num_threads(N_THREADS)``.
The input (standard normal times 3) is generated once per run in ``setup_cache`` with numpy.

``python -m benchmarks.bench_rms_norm`` prints the ratios of the closing note instead: the three
implementations timed in one process, interleaved, best of N.
"""

import numpy as np

from .common import SEED, TORCH_PEERS, OpBenchmark, case_size, save_array

SHAPES = ["1x1024", "4096x4096"]
DTYPES = ["float32", "bfloat16"]
EPS = 1e-6


def _shape(name):
    return tuple(int(s) for s in name.split("x"))


def _cache_elements():
    """Elements of the cached inputs (the largest case; smoke mode: the tiny one)."""
    return case_size(4096 * 4096, 2 * 64)


def _data_shape(name):
    """(rows, d) of the inputs of case ``name``; in smoke mode the same two short rows for
    every case (the cases then share their compiled graphs)."""
    return case_size(_shape(name), (2, 64))


def llama_rms_norm(torch):
    def forward(x, weight):
        input_dtype = x.dtype
        h = x.to(torch.float32)
        variance = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(variance + EPS)
        return weight * h.to(input_dtype)

    return forward


def _with_backward(torch, forward):
    def run(x, weight, grad):
        return torch.autograd.grad(forward(x, weight), (x, weight), grad)

    return run


def _add_with_backward(torch, forward):
    def run(x, residual, weight, grad):
        normed, total = forward(x, residual, weight)
        return torch.autograd.grad((normed, total), (x, residual, weight), (grad, grad))

    return run


class RmsNorm(OpBenchmark):
    params = [SHAPES, DTYPES, TORCH_PEERS]
    param_names = ["shape", "dtype", "impl"]
    timeout = 600
    # Compiled with their forward only (autograd around it), in setup below.
    not_compiled = ("forward_backward", "add_forward_backward")

    def setup_cache(self):
        rng = np.random.default_rng([SEED, 2])
        n = _cache_elements()
        x = (3.0 * rng.standard_normal(n)).astype(np.float32)
        r = rng.standard_normal(n).astype(np.float32)
        return save_array("rms-x", x), save_array("rms-residual", r)

    def make_inputs(self, torch, paths, shape, dtype):
        tdtype = getattr(torch, dtype)
        rows, d = _data_shape(shape)
        x_path, r_path = paths
        x = torch.from_numpy(np.load(x_path, mmap_mode="r")[: rows * d].copy())
        r = torch.from_numpy(np.load(r_path, mmap_mode="r")[: rows * d].copy())
        x = x.reshape(rows, d).to(tdtype).requires_grad_()
        residual = r.reshape(rows, d).to(tdtype).requires_grad_()
        weight = (1.0 + 0.1 * torch.arange(d) / d).to(tdtype).requires_grad_()
        grad = torch.ones(rows, d, dtype=tdtype)
        return {"x": x, "residual": residual, "weight": weight, "grad": grad}

    def ours(self, torch):
        def forward(x, weight):
            return torch.ops.rs.rms_norm(x, weight, EPS, "llama")

        def add_forward(x, residual, weight):
            return torch.ops.rs.add_rms_norm(x, residual, weight, EPS, "llama")

        return {
            "forward": forward,
            "add_forward": add_forward,
            "forward_backward": _with_backward(torch, forward),
            "add_forward_backward": _add_with_backward(torch, add_forward),
        }

    def reference(self, torch):
        norm = llama_rms_norm(torch)

        def add_forward(x, residual, weight):
            total = x + residual
            return norm(total, weight), total

        return {
            "forward": norm,
            "add_forward": add_forward,
            "forward_backward": _with_backward(torch, norm),
            "add_forward_backward": _add_with_backward(torch, add_forward),
        }

    def warmup_args(self):
        return {"forward": (self.x, self.weight), "add_forward": (self.x, self.residual, self.weight)}

    def setup(self, paths, *params):
        super().setup(paths, *params)
        if params[-1] == "torch_compile":
            import torch

            self.forward_backward = _with_backward(torch, self.forward)
            self.add_forward_backward = _add_with_backward(torch, self.add_forward)
            self.forward_backward(self.x, self.weight, self.grad)
            self.add_forward_backward(self.x, self.residual, self.weight, self.grad)

    def time_forward(self, *params):
        """One forward call under no_grad on the same x and weight, a new output each call."""
        with _no_grad():
            self.forward(self.x, self.weight)

    def time_add_forward(self, *params):
        """One fused residual-add + forward call under no_grad, same inputs each call."""
        with _no_grad():
            self.add_forward(self.x, self.residual, self.weight)

    def time_forward_backward(self, *params):
        """Forward with autograd, then the gradients of x and weight, same inputs each call."""
        self.forward_backward(self.x, self.weight, self.grad)

    def time_add_forward_backward(self, *params):
        """Residual-add + forward with autograd, then all gradients, same inputs each call."""
        self.add_forward_backward(self.x, self.residual, self.weight, self.grad)


def _no_grad():
    import torch

    return torch.no_grad()


def print_interleaved(title, impls, calls, repeats=7, number=1):
    """Times `calls[name](impls[impl][name])` for every implementation, interleaved (one round
    of every implementation, `repeats` rounds), after one warm-up call each (which compiles);
    prints the best per-call time of each and the ratios to ours ("torch_rs")."""
    import time

    for name, call in calls.items():
        best = {impl: float("inf") for impl in impls}
        for impl in impls:
            call(impls[impl][name])
        for _ in range(repeats):
            for impl, fns in impls.items():
                start = time.perf_counter()
                for _ in range(number):
                    call(fns[name])
                best[impl] = min(best[impl], (time.perf_counter() - start) / number)
        ours = best["torch_rs"]
        parts = [f"ours {ours * 1e3:8.3f} ms"]
        for impl, label in (("torch", "eager"), ("torch_compile", "compiled")):
            if impl in best:
                parts.append(f"{label} {best[impl] * 1e3:8.3f} ms ({best[impl] / ours:5.2f}x)")
        print(f"{title} {name:>21}: " + ", ".join(parts), flush=True)


def main(repeats: int = 7) -> None:
    """Interleaved, best-of-`repeats` times of ours, eager and compiled; prints ms and ratios."""
    import torch

    import torch_rs  # noqa: F401

    from .common import N_THREADS

    torch.set_num_threads(N_THREADS)
    bench = RmsNorm()
    rng = np.random.default_rng([SEED, 2])
    for shape in SHAPES:
        rows, d = _shape(shape)
        for dtype in DTYPES:
            tdtype = getattr(torch, dtype)
            x = torch.from_numpy((3.0 * rng.standard_normal((rows, d))).astype(np.float32))
            x = x.to(tdtype).requires_grad_()
            residual = torch.randn(rows, d).to(tdtype).requires_grad_()
            weight = (1.0 + 0.1 * torch.arange(d) / d).to(tdtype).requires_grad_()
            grad = torch.ones(rows, d, dtype=tdtype)
            impls = {"torch_rs": bench.ours(torch), "torch": bench.reference(torch)}
            reference = bench.reference(torch)
            compiled_norm = torch.compile(reference["forward"], dynamic=False)
            compiled_add = torch.compile(reference["add_forward"], dynamic=False)
            impls["torch_compile"] = {
                "forward": compiled_norm,
                "add_forward": compiled_add,
                "forward_backward": _with_backward(torch, compiled_norm),
                "add_forward_backward": _add_with_backward(torch, compiled_add),
            }
            calls = {
                "forward": lambda f: _timed_no_grad(f, x, weight),
                "add_forward": lambda f: _timed_no_grad(f, x, residual, weight),
                "forward_backward": lambda f: f(x, weight, grad),
                "add_forward_backward": lambda f: f(x, residual, weight, grad),
            }
            number = 1 if rows * d > 1 << 20 else 200
            print_interleaved(f"{shape:>10} {dtype:>8}", impls, calls, repeats, number)


def _timed_no_grad(f, *args):
    import torch

    with torch.no_grad():
        return f(*args)


if __name__ == "__main__":
    main()
